"""Payment pages and API: an order's payment, treasury confirmation, refunds, the Stripe webhook."""
from __future__ import annotations

import logging

import marshmallow as ma
import stripe
from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mall.api import api_blueprint
from mall.authz import require
from mall.extensions import csrf, db
from mall.problems import Problem, ServiceError

from . import payments, stripe_gateway
from .models import Order, Payment

log = logging.getLogger(__name__)

bp = Blueprint("payments", __name__)
blp = api_blueprint("payments", __name__, description="Payments: official card, treasury transfer, refunds")

Money = lambda **kw: ma.fields.Decimal(as_string=True, places=2, **kw)  # noqa: E731


def _order(order_id: int) -> Order:
    from . import services

    return services.get_visible_order(order_id)


@bp.app_context_processor
def _payment_helpers():
    """``order_payment(order)`` for the payment panel on the order page."""
    return {"order_payment": payments.payment_of}


# --------------------------------------------------------------------------- webhook

@bp.route("/payments/stripe/webhook", methods=["POST"])
@csrf.exempt
def stripe_webhook():
    """Stripe events, signed with STRIPE_WEBHOOK_SECRET; each event id is acted on once."""
    payload = request.get_data(cache=False)
    try:
        event = stripe_gateway.construct_event(payload, request.headers.get("Stripe-Signature"))
    except stripe.SignatureVerificationError:
        return jsonify({"error": {"code": "bad_signature", "message": "签名校验失败"}}), 400
    except ValueError as exc:
        log.warning("stripe webhook refused: %s", exc)
        return jsonify({"error": {"code": "bad_payload", "message": "回调内容无效或未配置签名密钥"}}), 400
    try:
        result = payments.handle_stripe_event(event)
        db.session.commit()
    except IntegrityError:  # the same event delivered twice at once: the other delivery acts
        db.session.rollback()
        result = "duplicate"
    except ServiceError as exc:  # e.g. the order could not move to paid: Stripe retries later
        db.session.rollback()
        log.warning("stripe event %s not applied: %s", event.get("id"), exc)
        return jsonify({"error": {"code": exc.code, "message": str(exc)}}), 409
    return jsonify({"received": True, "result": result})


# --------------------------------------------------------------------------- pages

@bp.route("/orders/<int:order_id>/payment")
@login_required
def payment_page(order_id):
    order = _order(order_id)
    return render_template("payments/order_payment.html", order=order)


def _page_action(order_id: int, action):
    order = _order(order_id)
    try:
        message = action(order)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        if exc.status in (401, 403, 404):
            raise
        for p in exc.problems:
            flash(p.message, "danger")
    else:
        flash(message, "success")
    nxt = request.form.get("next") or ""
    safe = nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt
    return redirect(nxt if safe else url_for("payments.payment_page", order_id=order_id))


@bp.route("/orders/<int:order_id>/payment/treasury-paid", methods=["POST"])
@login_required
def treasury_paid_page(order_id):
    def act(order):
        p = payments.mark_treasury_paid(order, current_user, voucher_no=request.form.get("voucher_no"),
                                        note=request.form.get("note"))
        return f"已确认国库集中支付（指令号{p.treasury_instruction_no}），订单已支付"
    return _page_action(order_id, act)


@bp.route("/orders/<int:order_id>/payment/refund", methods=["POST"])
@login_required
def refund_page(order_id):
    def act(order):
        r = payments.refund(order, request.form.get("amount", ""), request.form.get("reason", ""), current_user)
        return f"已退款¥{r.amount:,.2f}"
    return _page_action(order_id, act)


@bp.route("/orders/<int:order_id>/payment/capture", methods=["POST"])
@login_required
def capture_page(order_id):
    def act(order):
        if not payments.retry_capture(order, current_user):
            payment = payments.payment_of(order)
            raise ServiceError(Problem("capture_failed", payment.failure_message or "扣款未成功"), status=409)
        return "公务卡扣款成功，订单已支付"
    return _page_action(order_id, act)


@bp.route("/orders/<int:order_id>/payment/switch-to-treasury", methods=["POST"])
@login_required
def switch_page(order_id):
    def act(order):
        p = payments.switch_to_treasury(order, current_user)
        return f"已改为国库集中支付，支付指令号{p.treasury_instruction_no}"
    return _page_action(order_id, act)


@bp.route("/payments/treasury")
@login_required
def treasury_queue():
    """Finance side: treasury instructions waiting for the transfer."""
    require("payment.treasury_paid")
    status = request.args.get("status", "instructed")
    q = select(Payment).where(Payment.method == "treasury")
    if status in ("instructed", "paid"):
        q = q.where(Payment.status == status)
    page = db.paginate(q.order_by(Payment.id.desc()), page=request.args.get("page", 1, type=int),
                       per_page=30, error_out=False)
    return render_template("payments/treasury.html", page=page, status=status)


# --------------------------------------------------------------------------- API

class RefundSchema(ma.Schema):
    id = ma.fields.Integer()
    amount = Money()
    reason = ma.fields.String()
    status = ma.fields.String()
    stripe_refund_id = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class PaymentSchema(ma.Schema):
    order_id = ma.fields.Integer()
    method = ma.fields.String(metadata={"description": "card (公务卡) / treasury (国库集中支付)"})
    status = ma.fields.String(metadata={"description": "authorized / captured / canceled / partially_refunded / "
                                                       "refunded / failed; instructed / paid"})
    status_label = ma.fields.String()
    amount = Money()
    refunded_amount = Money()
    currency = ma.fields.String()
    card_last4 = ma.fields.String(allow_none=True)
    stripe_payment_intent_id = ma.fields.String(allow_none=True)
    treasury_instruction_no = ma.fields.String(allow_none=True)
    settlement_ref = ma.fields.String(allow_none=True)
    failure_message = ma.fields.String(allow_none=True)
    authorized_at = ma.fields.DateTime(allow_none=True)
    settled_at = ma.fields.DateTime(allow_none=True)
    refunds = ma.fields.List(ma.fields.Nested(RefundSchema))


class TreasuryPaidInSchema(ma.Schema):
    voucher_no = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=60),
                                  metadata={"description": "支付凭证号 of the treasury transfer"})
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=500))


class RefundInSchema(ma.Schema):
    amount = ma.fields.Decimal(required=True, as_string=True, places=None)
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


def _payment_or_404(order: Order) -> Payment:
    payment = payments.payment_of(order)
    if payment is None:
        raise ServiceError(Problem("no_payment", "该订单尚无支付记录"), status=404)
    return payment


@blp.route("/orders/<int:order_id>/payment")
class OrderPayment(MethodView):
    @blp.response(200, PaymentSchema)
    def get(self, order_id):
        """The order's payment (one per order) with its refunds."""
        return _payment_or_404(_order(order_id))


@blp.route("/orders/<int:order_id>/payment/treasury-paid")
class TreasuryPaid(MethodView):
    @blp.arguments(TreasuryPaidInSchema)
    @blp.response(200, PaymentSchema)
    @blp.alt_response(409, description="no instruction yet, or the order is not accepted")
    def post(self, data, order_id):
        """Finance side (auditor / operator): the treasury transfer is done → payment paid, order paid.
        Repeating it changes nothing."""
        order = _order(order_id)
        payment = payments.mark_treasury_paid(order, current_user, voucher_no=data.get("voucher_no"),
                                              note=data.get("note"))
        db.session.commit()
        return payment


@blp.route("/orders/<int:order_id>/payment/refunds")
class Refunds(MethodView):
    @blp.arguments(RefundInSchema)
    @blp.response(201, RefundSchema)
    @blp.alt_response(422, description="refund_exceeds_paid with the figures")
    def post(self, data, order_id):
        """Refund part or all of a captured card payment (the order's supplier, or operators)."""
        order = _order(order_id)
        row = payments.refund(order, data["amount"], data["reason"], current_user)
        db.session.commit()
        return row


@blp.route("/orders/<int:order_id>/payment/capture")
class Capture(MethodView):
    @blp.response(200, PaymentSchema)
    def post(self, order_id):
        """Retry the capture of an accepted order's card payment (buyer or operator)."""
        order = _order(order_id)
        payments.retry_capture(order, current_user)
        db.session.commit()
        return _payment_or_404(order)
