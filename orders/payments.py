"""Payment of orders: official card (公务卡) through Stripe, or treasury transfer (国库集中支付).

Card (``order.payment_method == "card"``):
- at submission (``order_placed``) the order total is *authorised* on the card — a
  PaymentIntent with ``capture_method=manual``, confirmed at once. A declined card refuses
  the order: the receiver raises ServiceError and nothing of the order is saved;
- at acceptance (``order_transitioned`` to ``accepted``) the amount is *captured*; the order
  then moves to ``paid`` through the core's ``orders.services.transition``. A capture that
  fails for a passing reason (gateway unreachable) leaves the payment authorised and is
  retried (page action, API, and the Celery task ``orders.retry_card_captures``);
- at rejection or cancellation the authorisation is *cancelled* (the hold is released), or
  a captured payment is refunded in full;
- refunds, full or partial, by the order's supplier (the merchant returning money) or the
  trading center's operators, with a reason; recorded as PaymentRefund rows and on
  ``Payment.refunded_amount``.

Treasury (``"treasury"``): at acceptance a payment instruction is recorded (status
``instructed``, instruction number ``GK<date><order id>``); the finance side (auditors of
the finance bureau, or operators) marks it paid with the voucher number → order ``paid``.

Gateway calls use idempotency keys derived from the order and the action
(:func:`idempotency_key`), so a retry never charges, captures or refunds twice. If the
transaction that authorised a card is rolled back (a later rule refused the order, or the
commit failed), the authorisation is cancelled after the rollback. One Payment per order
is guaranteed by a unique constraint on ``payment.order_id``.
"""
from __future__ import annotations

import logging
import re
from decimal import Decimal, InvalidOperation

from flask import current_app, has_request_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mall import audit
from mall.authz import require
from mall.extensions import db
from mall.problems import Problem, ServiceError
from mall.timeutil import as_utc, today, utcnow

from . import stripe_gateway as gateway
from .events import order_authorizing, order_not_placed, order_placed, order_transitioned
from .models import Order, Payment, PaymentRefund, StripeEvent

log = logging.getLogger(__name__)

CARD = "card"
CARD_TOKEN = r"^pm_[A-Za-z0-9_]{1,200}$"  # a card token (Stripe PaymentMethod id) from the issuing bank
TREASURY = "treasury"
CLOSED_STATUSES = ("rejected", "cancelled")
PLACEHOLDER_KEY = "sk_test_govmall"  # the embedded default's key: no gateway configured


# --------------------------------------------------------------------------- helpers

def idempotency_key(order: Order, action: str) -> str:
    """Stable for one order and action: the same retry reuses it, another order never does.

    The placing time (to the microsecond) is part of it, so an order id reused after a
    rolled-back attempt (SQLite) or a re-created test database never meets an old key.
    """
    placed = as_utc(order.placed_at)
    stamp = placed.strftime("%Y%m%d%H%M%S%f") if placed else "0"
    return f"govmall-order-{order.id}-{order.number}-{stamp}-{action}"


def payment_of(order: Order) -> Payment | None:
    return db.session.scalar(select(Payment).where(Payment.order_id == order.id))


def gateway_configured() -> bool:
    cfg = current_app.config
    key = cfg.get("STRIPE_API_KEY")
    return bool(key) and (key != PLACEHOLDER_KEY or bool(cfg.get("STRIPE_API_BASE")))


def _money(value) -> str:
    return f"¥{Decimal(value):,.2f}"


def _problem(code: str, message: str, status: int = 422, **figures) -> ServiceError:
    return ServiceError(Problem(code, message, rule=f"payment.{code}", figures=figures), status=status)


def _core_transition(order: Order, to_status: str, actor, note: str) -> None:
    """Move the order through the core's lifecycle (``orders.services.transition``): as ``actor``
    (whose role the lifecycle table checks), or as the system when there is none."""
    from . import services

    if actor is None:
        services.transition(order, to_status, note=note, system=True)
    else:
        services.transition(order, to_status, user=actor, note=note)


def _current_user_or_none():
    if not has_request_context():
        return None
    from flask_login import current_user

    return current_user if getattr(current_user, "is_authenticated", False) else None


# --------------------------------------------------------------------------- rollback compensation
# A card authorised inside a transaction that is then rolled back must not stay held: the
# intents authorised in the transaction are remembered on the session and cancelled after
# a rollback of the outermost transaction (a commit forgets them).

_PENDING_VOIDS = "govmall_stripe_voids"


def _remember_void(intent_id: str, key: str) -> None:
    db.session().info.setdefault(_PENDING_VOIDS, []).append((intent_id, key))


@event.listens_for(Session, "after_commit")
def _forget_voids(session):
    session.info.pop(_PENDING_VOIDS, None)


@event.listens_for(Session, "after_transaction_end")
def _void_after_rollback(session, transaction):
    if transaction.parent is not None or transaction.nested:
        return
    voids = session.info.pop(_PENDING_VOIDS, None)
    for intent_id, key in voids or ():
        try:
            gateway.cancel(intent_id, idempotency_key=key)
            log.info("card authorisation %s released after rollback", intent_id)
        except gateway.GatewayError as exc:  # the hold expires at the card network anyway
            log.error("could not release authorisation %s after rollback: %s", intent_id, exc.message)


# --------------------------------------------------------------------------- card: authorise

def invalid_card_token(value: str | None) -> Problem | None:
    """The problem with a card token the buyer typed or sent (None: none given, or well formed)."""
    if value is None or re.fullmatch(CARD_TOKEN, value):
        return None
    return Problem("invalid_card_payment_method", "公务卡支付令牌须以 pm_ 开头（发卡行提供）",
                   field="card_payment_method")


def authorize_card(order: Order, payment_method_id: str | None = None, hold=None) -> Payment:
    """The order's card payment: on the ``hold`` taken while it was placed (hold_card), else
    held now; refuses the order if the card is declined."""
    existing = payment_of(order)
    if existing is not None:  # a repeated signal or replayed request: one payment per order
        return existing
    state = hold if hold is not None else hold_card(order, payment_method_id)
    payment = Payment(order_id=order.id, method=CARD, status="authorized", amount=order.total, currency="CNY",
                      stripe_payment_intent_id=state.id, authorized_at=utcnow(), card_last4=state.card_last4,
                      refunded_amount=Decimal("0"))
    db.session.add(payment)
    db.session.flush()
    return payment


def hold_card(order, payment_method_id: str | None = None):
    """Hold ``order.total`` on the official card (``order``: an Order, or the OrderRef of one being
    placed); the gateway's state. A rollback of this transaction releases the hold."""
    if not gateway_configured():
        raise _problem("card_gateway_not_configured",
                       "未配置公务卡支付网关（GOVMALL_STRIPE_API_KEY / GOVMALL_STRIPE_API_BASE），请选择国库集中支付",
                       status=503)
    # the buyer's card token, else the card the deployment registered for all its units (if any)
    pm = payment_method_id or current_app.config.get("STRIPE_DEFAULT_PAYMENT_METHOD")
    if not pm:
        raise ServiceError(Problem("card_payment_method_missing",
                                   "公务卡支付须填写公务卡支付令牌（发卡行提供，以 pm_ 开头），订单未提交",
                                   field="card_payment_method"))
    try:
        fen = gateway.to_fen(order.total)
    except ValueError as exc:
        raise _problem("amount_not_payable", f"订单金额无法提交支付网关：{exc}", total=order.total) from exc
    key = idempotency_key(order, "authorize")
    try:
        state = gateway.authorize(amount_fen=fen, payment_method=pm, idempotency_key=key,
                                  metadata={"order_id": str(order.id), "order_number": order.number,
                                            "order_placed_at": as_utc(order.placed_at).isoformat()},
                                  description=f"政府采购网上商城订单 {order.number}")
    except gateway.GatewayError as exc:
        if exc.declined:
            raise _problem("card_declined", f"公务卡授权被拒绝：{exc.message}，订单金额{_money(order.total)}未能冻结，订单未提交",
                           status=402, total=order.total, gateway_code=exc.code) from exc
        if exc.retryable:
            raise _problem("payment_gateway_unavailable", "支付网关暂时无法连接，订单未提交，请稍后重试",
                           status=503) from exc
        raise _problem("card_authorization_failed", f"公务卡授权失败：{exc.message}，订单未提交",
                       status=402, gateway_code=exc.code) from exc
    if state.status != "requires_capture":
        _release_quietly(state.id, idempotency_key(order, "authorize-void"))
        raise _problem("card_authorization_incomplete",
                       f"公务卡授权未完成（网关状态：{state.status}），订单未提交；需持卡人验证的卡暂不支持",
                       status=402, gateway_status=state.status)
    _remember_void(state.id, idempotency_key(order, "authorize-void"))
    return state


def _release_quietly(intent_id: str, key: str) -> None:
    try:
        gateway.cancel(intent_id, idempotency_key=key)
    except gateway.GatewayError as exc:
        log.error("could not cancel intent %s: %s", intent_id, exc.message)


# --------------------------------------------------------------------------- card: capture / cancel

def capture_card(order: Order) -> bool:
    """Capture an authorised card payment; True when the money is captured.

    A passing failure (gateway unreachable) keeps the payment authorised with the reason
    recorded, to be retried; an authorisation that no longer exists marks it ``canceled``
    (the buyer then pays by treasury transfer: :func:`switch_to_treasury`).
    """
    payment = payment_of(order)
    if payment is None or payment.method != CARD:
        return False
    if payment.status == "captured":
        return True
    if payment.status != "authorized":
        return False
    try:
        state = gateway.capture(payment.stripe_payment_intent_id, idempotency_key=idempotency_key(order, "capture"))
    except gateway.GatewayError as exc:
        payment.failure_message = (f"扣款未成功：{exc.message}" + ("，将自动重试" if exc.retryable else ""))[:500]
        db.session.flush()
        return False
    return _apply_capture_state(order, payment, state)


def _apply_capture_state(order: Order, payment: Payment, state: gateway.IntentState) -> bool:
    if state.status == "succeeded":
        payment.status = "captured"
        payment.settled_at = utcnow()
        payment.failure_message = None
        if state.amount_received_fen and gateway.from_fen(state.amount_received_fen) != payment.amount:
            payment.failure_message = f"网关实收金额{gateway.from_fen(state.amount_received_fen)}元与订单金额不符"
        db.session.flush()
        audit.record("payment.capture", "order", order.id, after={"payment_status": "captured", "amount": payment.amount},
                     note=f"公务卡扣款{_money(payment.amount)}")
        if order.status == "accepted":
            # the gateway confirmed the money: the system records the payment (lifecycle role "system")
            _core_transition(order, "paid", None, f"公务卡扣款成功（{_money(payment.amount)}）")
        return True
    if state.status == "canceled":
        payment.status = "canceled"
        payment.failure_message = "公务卡授权已失效（已撤销或超过授权有效期），请改用国库集中支付"
    else:
        payment.failure_message = f"扣款未成功（网关状态：{state.status}）"
    db.session.flush()
    return False


def release_card(order: Order, reason: str) -> None:
    """On rejection or cancellation: cancel the hold, or refund a captured payment in full."""
    payment = payment_of(order)
    if payment is None or payment.method != CARD:
        return
    if payment.status == "authorized":
        try:
            state = gateway.cancel(payment.stripe_payment_intent_id, idempotency_key=idempotency_key(order, "cancel"))
        except gateway.GatewayError as exc:
            raise _problem("payment_release_failed",
                           f"无法撤销公务卡授权（{exc.message}），订单状态未改变，请稍后重试", status=503) from exc
        if state.status == "succeeded":  # captured meanwhile (e.g. by a retry): give the money back
            payment.status = "captured"
            payment.settled_at = payment.settled_at or utcnow()
            db.session.flush()
        else:
            payment.status = "canceled"
            payment.failure_message = None
            db.session.flush()
            audit.record("payment.cancel", "order", order.id, after={"payment_status": "canceled"},
                         note=f"订单{reason}，释放公务卡授权{_money(payment.amount)}")
            return
    if payment.status in ("captured", "partially_refunded") and payment.refundable > 0:
        _refund(order, payment, payment.refundable, f"订单{reason}，全额退回", actor=None)


# --------------------------------------------------------------------------- refunds

def parse_amount(raw, field: str = "amount") -> Decimal:
    try:
        value = Decimal(str(raw).strip().replace(",", "").replace("¥", ""))
    except (InvalidOperation, ValueError, AttributeError):
        raise ServiceError(Problem("invalid_amount", f"金额格式错误：{raw}", field=field)) from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise ServiceError(Problem("invalid_amount", f"金额须为大于0、最多两位小数的数字（收到：{raw}）", field=field))
    return value


def refund(order: Order, amount, reason: str, user=None) -> PaymentRefund:
    """Refund part or all of a captured card payment (supplier of the order or operators)."""
    require("payment.refund", order, user=user)
    # locked: two refunds at once would both pass the limit below and build the same gateway key
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id).with_for_update()
                                .execution_options(populate_existing=True))
    if payment is None or payment.method != CARD:
        raise ServiceError(Problem("refund_not_card", "只有公务卡支付的订单可以原路退款；国库集中支付的退回按财政退库办理"))
    value = parse_amount(amount)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(Problem("refund_reason_required", "请填写退款原因", field="reason"))
    if len(reason) > 500:
        raise ServiceError(Problem("refund_reason_too_long", "退款原因不能超过500字", field="reason"))
    if payment.status not in ("captured", "partially_refunded"):
        raise ServiceError(Problem("refund_not_captured", f"支付状态为“{payment.status_label}”，尚未扣款，不能退款",
                                   figures={"status": payment.status}), status=409)
    if value > payment.refundable:
        raise ServiceError(Problem("refund_exceeds_paid",
                                   f"退款金额{_money(value)}超过可退金额{_money(payment.refundable)}"
                                   f"（已扣款{_money(payment.amount)}，已退{_money(payment.refunded_amount)}）",
                                   rule="payment.refund_limit", field="amount",
                                   figures={"amount": value, "refundable": payment.refundable}))
    actor = user if user is not None else _current_user_or_none()
    return _refund(order, payment, value, reason, actor=actor)


def _refund(order: Order, payment: Payment, value: Decimal, reason: str, actor) -> PaymentRefund:
    # the key names the state it applies to: a retry of the same refund reuses it; the next
    # refund (after this one is recorded) starts from another refunded amount
    key = idempotency_key(order, f"refund-{gateway.to_fen(payment.refunded_amount) if payment.refunded_amount else 0}"
                                 f"-{gateway.to_fen(value)}")
    row = PaymentRefund(payment_id=payment.id, amount=value, reason=reason[:500], status="pending",
                        actor_id=getattr(actor, "id", None))
    db.session.add(row)
    _return_to_budget(order, value, f"订单{order.number}公务卡退款{_money(value)}，退回预算指标")  # undone if the gateway fails
    try:
        result = gateway.refund(payment.stripe_payment_intent_id, amount_fen=gateway.to_fen(value),
                                idempotency_key=key, metadata={"order_number": order.number, "reason": reason[:400]})
    except gateway.GatewayError as exc:
        raise _problem("refund_failed", f"退款未成功：{exc.message}", status=503 if exc.retryable else 422) from exc
    row.status = "succeeded" if result.status in ("succeeded", "pending") else result.status
    row.stripe_refund_id = result.id
    payment.refunded_amount = (payment.refunded_amount or Decimal(0)) + value
    payment.status = "refunded" if payment.refunded_amount >= payment.amount else "partially_refunded"
    db.session.flush()
    audit.record("payment.refund", "order", order.id,
                 after={"refund": value, "refunded_amount": payment.refunded_amount, "payment_status": payment.status},
                 note=reason)
    return row


def _return_to_budget(order: Order, value: Decimal, note: str) -> None:
    """Money refunded to the card goes back to the budget line it was spent from. The budget is
    spent when the order is paid; a payment captured before that (and refunded because the order
    was then cancelled) was never spent: releasing the reservation already gave it back."""
    from . import services

    if order.paid_at is not None:
        services.unspend_budget(db.session, order, value, note)


# --------------------------------------------------------------------------- treasury

def instruction_number(order: Order) -> str:
    return f"GK{today():%Y%m%d}{order.id:08d}"


def instruct_treasury(order: Order) -> Payment:
    """Record the treasury payment instruction of an accepted order (once)."""
    payment = payment_of(order)
    if payment is not None:
        return payment
    payment = Payment(order_id=order.id, method=TREASURY, status="instructed", amount=order.total, currency="CNY",
                      treasury_instruction_no=instruction_number(order), refunded_amount=Decimal("0"))
    db.session.add(payment)
    db.session.flush()
    return payment


def mark_treasury_paid(order: Order, user=None, voucher_no: str | None = None, note: str | None = None) -> Payment:
    """The finance side confirms the treasury transfer: payment paid, order paid."""
    require("payment.treasury_paid", order, user=user)
    payment = payment_of(order)
    if payment is None or payment.method != TREASURY:
        raise ServiceError(Problem("no_treasury_instruction", "该订单没有国库集中支付指令（订单验收后才生成支付指令）"),
                           status=409)
    if payment.status == "paid":  # double click / replayed request: already done
        return payment
    if payment.status != "instructed":
        raise ServiceError(Problem("treasury_not_instructed", f"支付指令状态为“{payment.status_label}”，不能确认支付"),
                           status=409)
    voucher_no = (voucher_no or "").strip() or None
    if voucher_no and len(voucher_no) > 60:
        raise ServiceError(Problem("voucher_too_long", "支付凭证号不能超过60个字符", field="voucher_no"))
    if order.status != "accepted":
        raise ServiceError(Problem("order_not_accepted", f"订单状态为“{order.status_label}”，验收后才能确认国库支付",
                                   figures={"status": order.status}), status=409)
    actor = user if user is not None else _current_user_or_none()
    payment.status = "paid"
    payment.settled_at = utcnow()
    payment.settlement_ref = voucher_no
    db.session.flush()
    audit.record("payment.treasury_paid", "order", order.id,
                 after={"instruction_no": payment.treasury_instruction_no, "voucher_no": voucher_no,
                        "amount": payment.amount}, note=note)
    _core_transition(order, "paid", actor,
                     f"国库集中支付已完成（指令号{payment.treasury_instruction_no}" +
                     (f"，凭证号{voucher_no}" if voucher_no else "") + "）" + (f"：{note}" if note else ""))
    return payment


def retry_capture(order: Order, user=None) -> bool:
    require("payment.capture_retry", order, user=user)
    payment = payment_of(order)
    if payment is None or payment.method != CARD or payment.status != "authorized":
        raise ServiceError(Problem("nothing_to_capture", "没有待扣款的公务卡授权"), status=409)
    if order.status != "accepted":
        raise ServiceError(Problem("order_not_accepted", f"订单状态为“{order.status_label}”，验收后才能扣款"), status=409)
    return capture_card(order)


def switch_to_treasury(order: Order, user=None) -> Payment:
    """A card authorisation that lapsed before capture: the accepted order is paid by treasury."""
    require("payment.capture_retry", order, user=user)
    payment = payment_of(order)
    if payment is None or payment.method != CARD or payment.status not in ("canceled", "failed"):
        raise ServiceError(Problem("switch_not_allowed", "只有授权已失效的公务卡支付可以改为国库集中支付"), status=409)
    if order.status != "accepted":
        raise ServiceError(Problem("order_not_accepted", f"订单状态为“{order.status_label}”，验收后才能改为国库集中支付"),
                           status=409)
    payment.method = TREASURY
    payment.status = "instructed"
    payment.treasury_instruction_no = instruction_number(order)
    payment.failure_message = None
    order.payment_method = TREASURY
    db.session.flush()
    audit.record("payment.switch_to_treasury", "order", order.id, after={"method": TREASURY},
                 note="公务卡授权失效，改为国库集中支付")
    return payment


# --------------------------------------------------------------------------- webhook

def handle_stripe_event(event: dict) -> str:
    """Apply a verified webhook event once; returns what was done ("duplicate" for a replay)."""
    event_id = str(event.get("id") or "")
    if not event_id:
        raise ValueError("event without id")
    if db.session.get(StripeEvent, event_id) is not None:
        return "duplicate"
    obj = (event.get("data") or {}).get("object") or {}
    kind = str(event.get("type") or "")
    row = StripeEvent(id=event_id, type=kind[:100], object_id=str(obj.get("id") or "")[:100] or None,
                      livemode=bool(event.get("livemode")), result="pending")
    db.session.add(row)
    db.session.flush()  # a concurrent delivery of the same event fails here (primary key)
    row.result = _apply_event(kind, obj)
    db.session.flush()
    return row.result


def _apply_event(kind: str, obj: dict) -> str:
    intent_id = obj.get("id") if obj.get("object") == "payment_intent" else obj.get("payment_intent")
    if not intent_id:
        return "ignored"
    # locked, like a refund or capture in progress: the event is applied after it, to its result
    payment = db.session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == intent_id)
                                .with_for_update().execution_options(populate_existing=True))
    if payment is None:
        return "unknown_intent"
    order = db.session.get(Order, payment.order_id)
    if kind == "payment_intent.succeeded":
        if payment.status == "authorized":
            received = int(obj.get("amount_received") or obj.get("amount") or 0)
            state = gateway.IntentState(id=intent_id, status="succeeded", amount_fen=int(obj.get("amount") or 0),
                                        amount_received_fen=received, card_last4=None, failure_message=None)
            _apply_capture_state(order, payment, state)
            return "captured"
        return "no_change"
    if kind == "payment_intent.canceled":
        if payment.status == "authorized":
            payment.status = "canceled"
            payment.failure_message = "网关通知：授权已撤销或过期" + \
                ("，请改用国库集中支付" if order.status == "accepted" else "")
            return "canceled"
        return "no_change"
    if kind == "payment_intent.payment_failed":
        if payment.status == "authorized":
            error = obj.get("last_payment_error") or {}
            payment.failure_message = f"网关通知：支付失败（{error.get('code') or ''} {error.get('message') or ''}）"[:500]
            return "failure_recorded"
        return "no_change"
    if kind == "charge.refunded":
        refunded = gateway.from_fen(int(obj.get("amount_refunded") or 0))
        if refunded > (payment.refunded_amount or 0):
            more = min(refunded, payment.amount) - (payment.refunded_amount or 0)
            _return_to_budget(order, more, f"订单{order.number}公务卡退款{_money(more)}（支付网关通知），退回预算指标")
            payment.refunded_amount = min(refunded, payment.amount)
            payment.status = "refunded" if payment.refunded_amount >= payment.amount else "partially_refunded"
            return "refund_recorded"
        return "no_change"
    return "ignored"


# --------------------------------------------------------------------------- signal receivers

def _on_order_authorizing(ref, payment_method_id=None, **kwargs):
    if ref.payment_method == CARD:
        return hold_card(ref, payment_method_id)
    return None


def _on_order_not_placed(ref, hold=None, **kwargs) -> None:
    """Release now (not at the end of the outer transaction, which a savepoint's failure need
    not roll back), and forget the pending void."""
    if hold is None:
        return
    pending = db.session().info.get(_PENDING_VOIDS) or []
    db.session().info[_PENDING_VOIDS] = [v for v in pending if v[0] != hold.id]
    _release_quietly(hold.id, idempotency_key(ref, "authorize-void"))


def _on_order_placed(order: Order, **kwargs) -> None:
    if order.payment_method == CARD:
        authorize_card(order, hold=kwargs.get("hold"))


def _on_order_transitioned(order: Order, change=None, **kwargs) -> None:
    to_status = change.to_status if change is not None else order.status
    if to_status == "accepted":
        if order.payment_method == CARD:
            payment = payment_of(order)
            if payment is not None and payment.status == "authorized":
                capture_card(order)
            elif payment is not None and payment.status == "captured":  # captured early (webhook)
                _core_transition(order, "paid", None, f"公务卡已扣款（{_money(payment.amount)}）")
        elif order.payment_method == TREASURY:
            instruct_treasury(order)
    elif to_status in CLOSED_STATUSES:
        reason = "被供应商拒绝" if to_status == "rejected" else "已取消"
        if order.payment_method == CARD:
            release_card(order, reason)
        else:
            payment = payment_of(order)
            if payment is not None and payment.status == "instructed":
                payment.status = "canceled"
                payment.failure_message = f"订单{reason}，支付指令撤回"
                db.session.flush()


order_authorizing.connect(_on_order_authorizing)
order_not_placed.connect(_on_order_not_placed)
order_placed.connect(_on_order_placed)
order_transitioned.connect(_on_order_transitioned)
