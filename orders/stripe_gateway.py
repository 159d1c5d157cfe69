"""The card gateway edge: Stripe PaymentIntents (公务卡) in CNY, through the real ``stripe`` library.

This is the only module that talks to Stripe. Everything else in the mall handles money as
``Decimal`` yuan; amounts cross this edge as integer fen (yuan × 100, exact — an amount with
a fraction of a fen is refused, never rounded).

Every call carries an idempotency key chosen by the caller from the order and the action
(``orders.payments.idempotency_key``), so a retried call — by the library's own network
retries or by the mall after a crash — returns the first result instead of charging twice.

Configuration (``app.config``): ``STRIPE_API_KEY``, ``STRIPE_API_BASE`` (e.g. the localstripe
URL ``http://127.0.0.1:8420`` in tests; unset = api.stripe.com), ``STRIPE_WEBHOOK_SECRET``,
``STRIPE_MAX_NETWORK_RETRIES`` (default 2), ``STRIPE_TIMEOUT`` (seconds, default 20).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

import stripe
from flask import current_app

CURRENCY = "cny"
FEN = Decimal(100)

# Chinese wording of the decline codes buyers meet most often
DECLINE_MESSAGES = {
    "card_declined": "发卡行拒绝交易",
    "insufficient_funds": "卡内额度不足",
    "expired_card": "卡片已过期",
    "incorrect_cvc": "安全码错误",
    "processing_error": "发卡行处理失败",
    "lost_card": "卡片已挂失",
    "stolen_card": "卡片已挂失",
    "authentication_required": "需要持卡人验证",
}


class GatewayError(Exception):
    """A refused or failed gateway call.

    ``declined``: the card was refused (the buyer must use another card or method);
    ``retryable``: the gateway could not be reached or failed — the same call with the same
    idempotency key may be repeated later.
    """

    def __init__(self, message: str, code: str = "gateway_error", *, declined: bool = False,
                 retryable: bool = False, stripe_message: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.declined = declined
        self.retryable = retryable
        self.stripe_message = stripe_message


@dataclass(frozen=True)
class IntentState:
    id: str
    status: str                  # requires_capture / succeeded / canceled / requires_payment_method / ...
    amount_fen: int
    amount_received_fen: int
    card_last4: Optional[str]
    failure_message: Optional[str]

    @property
    def amount(self) -> Decimal:
        return from_fen(self.amount_fen)


@dataclass(frozen=True)
class RefundState:
    id: str
    status: str
    amount_fen: int


def to_fen(amount: Decimal | str | int) -> int:
    """Decimal yuan → integer fen, exactly; refuses fractions of a fen and non-positive amounts."""
    try:
        value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"金额格式错误：{amount!r}") from exc
    fen = value * FEN
    if not value.is_finite() or fen != fen.to_integral_value():
        raise ValueError(f"金额{value}元不是整分，不能提交支付网关")
    if fen <= 0:
        raise ValueError(f"支付金额必须大于0（当前{value}元）")
    return int(fen)


def from_fen(fen: int) -> Decimal:
    return (Decimal(int(fen)) / FEN).quantize(Decimal("0.01"))


def client() -> stripe.StripeClient:
    """One StripeClient per application and configuration (it keeps an HTTP connection pool)."""
    cfg = current_app.config
    ident = (cfg.get("STRIPE_API_KEY"), cfg.get("STRIPE_API_BASE"), cfg.get("STRIPE_MAX_NETWORK_RETRIES", 2),
             cfg.get("STRIPE_TIMEOUT", 20))
    cache = current_app.extensions.setdefault("govmall_stripe", {})
    if cache.get("ident") != ident:
        api_key, api_base, retries, timeout = ident
        if not api_key:
            raise GatewayError("未配置支付网关密钥（GOVMALL_STRIPE_API_KEY）", "gateway_not_configured")
        kwargs: dict[str, Any] = {"max_network_retries": int(retries),
                                  "http_client": stripe.RequestsClient(timeout=int(timeout))}
        if api_base:
            kwargs["base_addresses"] = {"api": api_base.rstrip("/")}
        cache["client"] = stripe.StripeClient(api_key, **kwargs)
        cache["ident"] = ident
    return cache["client"]


def _translate(exc: stripe.StripeError) -> GatewayError:
    if isinstance(exc, stripe.CardError):
        code = exc.code or "card_declined"
        text = DECLINE_MESSAGES.get(code, "发卡行拒绝交易")
        return GatewayError(f"{text}（{code}）", code, declined=True, stripe_message=exc.user_message)
    if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError)):
        return GatewayError("支付网关暂时无法连接", "gateway_unavailable", retryable=True,
                            stripe_message=str(exc))
    if isinstance(exc, stripe.AuthenticationError):
        return GatewayError("支付网关密钥无效", "gateway_auth_failed", stripe_message=str(exc))
    if isinstance(exc, stripe.IdempotencyError):
        return GatewayError("同一幂等键被用于不同的支付请求", "idempotency_conflict", stripe_message=str(exc))
    if isinstance(exc, stripe.InvalidRequestError):
        return GatewayError("支付网关拒绝了该请求", getattr(exc, "code", None) or "invalid_request",
                            stripe_message=exc.user_message or str(exc))
    status = getattr(exc, "http_status", None) or 0
    return GatewayError("支付网关处理失败", "gateway_error", retryable=status >= 500 or status == 0,
                        stripe_message=str(exc))


def _state(pi) -> IntentState:
    data = pi.to_dict() if hasattr(pi, "to_dict") else dict(pi)
    last4 = None
    pm = data.get("payment_method")
    if isinstance(pm, dict):
        last4 = (pm.get("card") or {}).get("last4")
    error = data.get("last_payment_error") or {}
    return IntentState(id=data["id"], status=data.get("status") or "", amount_fen=int(data.get("amount") or 0),
                       amount_received_fen=int(data.get("amount_received") or 0), card_last4=last4,
                       failure_message=error.get("message") if isinstance(error, dict) else None)


def authorize(*, amount_fen: int, payment_method: str, idempotency_key: str, metadata: dict[str, str],
              description: str) -> IntentState:
    """Create and confirm a PaymentIntent with manual capture: the amount is held on the card."""
    try:
        pi = client().v1.payment_intents.create(
            params={"amount": amount_fen, "currency": CURRENCY, "capture_method": "manual", "confirm": True,
                    "payment_method": payment_method, "metadata": {**metadata, "description": description[:500]},
                    "expand": ["payment_method"]},
            options={"idempotency_key": idempotency_key})
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    return _state(pi)


def retrieve(intent_id: str) -> IntentState:
    try:
        return _state(client().v1.payment_intents.retrieve(intent_id, params={"expand": ["payment_method"]}))
    except stripe.StripeError as exc:
        raise _translate(exc) from exc


def capture(intent_id: str, *, idempotency_key: str) -> IntentState:
    """Capture the held amount (after acceptance). A capture already done reports its state."""
    try:
        return _state(client().v1.payment_intents.capture(intent_id, options={"idempotency_key": idempotency_key}))
    except stripe.StripeError as exc:
        error = _translate(exc)
        if error.retryable or error.declined:
            raise error from exc
        state = retrieve(intent_id)  # e.g. captured by an earlier attempt whose answer was lost
        if state.status in ("succeeded", "canceled"):
            return state
        raise error from exc


def cancel(intent_id: str, *, idempotency_key: str) -> IntentState:
    """Release the held amount (rejection or cancellation before capture)."""
    try:
        return _state(client().v1.payment_intents.cancel(intent_id, options={"idempotency_key": idempotency_key}))
    except stripe.StripeError as exc:
        error = _translate(exc)
        if error.retryable:
            raise error from exc
        state = retrieve(intent_id)
        if state.status in ("canceled", "succeeded"):
            return state
        raise error from exc


def refund(intent_id: str, *, amount_fen: int, idempotency_key: str, metadata: dict[str, str]) -> RefundState:
    try:
        r = client().v1.refunds.create(params={"payment_intent": intent_id, "amount": amount_fen,
                                               "metadata": metadata},
                                       options={"idempotency_key": idempotency_key})
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    return RefundState(id=r.id, status=r.status, amount_fen=int(r.amount))


def construct_event(payload: bytes, sig_header: str | None) -> dict:
    """Verify a webhook's ``Stripe-Signature`` with STRIPE_WEBHOOK_SECRET and parse it.

    Raises ``stripe.SignatureVerificationError`` (bad or missing signature, stale timestamp)
    or ``ValueError`` (not JSON, or no secret configured).
    """
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise ValueError("未配置 STRIPE_WEBHOOK_SECRET，拒绝处理回调")
    tolerance = int(current_app.config.get("STRIPE_WEBHOOK_TOLERANCE", stripe.Webhook.DEFAULT_TOLERANCE))
    event = stripe.Webhook.construct_event(payload, sig_header, secret, tolerance=tolerance)
    return event.to_dict()
