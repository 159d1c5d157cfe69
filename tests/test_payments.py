"""Payments: official card through Stripe PaymentIntents (against a private localstripe), treasury
transfer, refunds, the signed and idempotent webhook."""
from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
import stripe
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mall.extensions import db
from tests.conftest import bearer
from tests.payments_localstripe import WEBHOOK_SECRET, OrderWorld, fast_passwords, localstripe  # noqa: F401


@pytest.fixture
def card(app, localstripe, monkeypatch):  # noqa: F811
    """Card payments against localstripe with Stripe's test card ``pm_card_visa``."""
    monkeypatch.setitem(app.config, "STRIPE_DEFAULT_PAYMENT_METHOD", "pm_card_visa")
    return stripe.StripeClient("sk_test_inspect", base_addresses={"api": localstripe})


@pytest.fixture
def world(make):
    return OrderWorld(make)


def fresh(model, ident):
    db.session.expire_all()
    return db.session.get(model, ident)


def payment_of(order_id):
    from orders.models import Payment

    db.session.expire_all()
    return db.session.scalar(select(Payment).where(Payment.order_id == order_id))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def intents_for(client, order) -> list:
    """The PaymentIntents localstripe holds for this order (ids repeat across tests: the
    placing time tells the orders apart)."""
    from mall.timeutil import as_utc

    placed = as_utc(order.placed_at).isoformat()
    return [pi for pi in client.v1.payment_intents.list(params={"limit": 1000}).data
            if pi.metadata.to_dict().get("order_number") == order.number
            and pi.metadata.to_dict().get("order_placed_at") == placed]


# --------------------------------------------------------------------------- gateway edge

def test_amounts_cross_the_gateway_in_exact_fen():
    from orders.stripe_gateway import from_fen, to_fen

    assert to_fen(Decimal("14399.97")) == 1439997
    assert to_fen(Decimal("0.01")) == 1
    assert from_fen(1439997) == Decimal("14399.97")
    for bad in (Decimal("10.005"), Decimal("0"), Decimal("-5.00"), "abc", Decimal("NaN")):
        with pytest.raises(ValueError):
            to_fen(bad)


# --------------------------------------------------------------------------- card: the whole life

def test_card_authorised_at_submission_then_captured_on_acceptance(client, world, card):
    from orders.models import Order

    resp = client.post("/api/v1/orders", headers=bearer(world.buyer_token), json={
        "budget_line_id": world.budget.id, "lines": [{"product_id": world.product.id, "quantity": 3}],
        "payment_method": "card"})
    assert resp.status_code == 201, resp.get_json()
    order = fresh(Order, resp.get_json()["id"])
    assert order.total == Decimal("14399.97")

    payment = payment_of(order.id)
    assert (payment.method, payment.status, payment.amount) == ("card", "authorized", Decimal("14399.97"))
    assert payment.card_last4 == "4242"
    pi = card.v1.payment_intents.retrieve(payment.stripe_payment_intent_id)
    assert (pi.status, pi.amount, pi.currency, pi.capture_method) == ("requires_capture", 1439997, "cny", "manual")
    assert pi.metadata.to_dict()["order_number"] == order.number

    # the API shows it to the parties
    got = client.get(f"/api/v1/orders/{order.id}/payment", headers=bearer(world.supplier_token)).get_json()
    assert got["status"] == "authorized" and got["amount"] == "14399.97"

    world.deliver_and_accept(order)
    order = fresh(Order, order.id)
    payment = payment_of(order.id)
    assert payment.status == "captured" and payment.settled_at is not None
    assert card.v1.payment_intents.retrieve(payment.stripe_payment_intent_id).status == "succeeded"
    # captured → the order moved on to paid through the core lifecycle (system), budget spent
    assert order.status == "paid" and order.paid_at is not None
    assert [c.to_status for c in order.history][-2:] == ["accepted", "paid"]
    assert order.history[-1].actor_role == "system"
    budget = fresh(type(world.budget), world.budget.id)
    assert budget.spent == Decimal("14399.97") and budget.reserved == Decimal("0.00")


def test_the_buyer_names_the_card_in_the_api_and_in_the_cart(client, auth, world, localstripe):  # noqa: F811
    """No deployment-wide card (STRIPE_DEFAULT_PAYMENT_METHOD unset): the buyer's own card token
    is held, a missing or malformed token refuses the order and places nothing."""
    from orders.models import Order

    def order_body(**extra):
        return {"budget_line_id": world.budget.id, "lines": [{"product_id": world.product.id, "quantity": 1}],
                "payment_method": "card", **extra}

    headers = bearer(world.buyer_token)
    missing = client.post("/api/v1/orders", headers=headers, json=order_body())
    assert missing.status_code == 422 and missing.get_json()["error"]["code"] == "card_payment_method_missing"
    assert [p["code"] for p in missing.get_json()["problems"]] == ["card_payment_method_missing"]  # one shape
    assert "pm_" in missing.get_json()["error"]["message"]
    bad = client.post("/api/v1/orders", headers=headers, json=order_body(card_payment_method="6225 8801 2345 6789"))
    assert bad.status_code == 422 and "card_payment_method" in bad.get_json()["error"]["details"]["json"]
    assert count(Order) == 0
    # a card the issuing bank tokenised for this buyer (here: registered with localstripe)
    gateway = stripe.StripeClient("sk_test_bank", base_addresses={"api": localstripe})
    own = gateway.v1.payment_methods.create(params={"type": "card", "card": {
        "number": "5555555555554444", "exp_month": 12, "exp_year": 2031, "cvc": "123"}}).id
    ok = client.post("/api/v1/orders", headers=headers, json=order_body(card_payment_method=own))
    assert ok.status_code == 201, ok.get_json()
    payment = payment_of(ok.get_json()["id"])
    assert (payment.status, payment.card_last4) == ("authorized", "4444")   # the buyer's card, not a default

    # the cart: choosing 公务卡 shows the token field; the order is held on the card entered
    auth.login(world.buyer.username)
    client.post("/cart/add", data={"product_id": world.product.id, "quantity": 1})
    page = client.get("/cart").get_data(as_text=True)
    group = re.search(r'data-group="([^"]+)"', page).group(1)
    page = client.get("/cart", query_string={f"payment_{group}": "card"}).get_data(as_text=True)
    assert re.search(rf'name="card_{group}"[^>]*placeholder="发卡行提供，以 pm_ 开头" required>', page)
    token = re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)
    form = {"token": token, "group": group, f"budget_{group}": world.budget.id, f"payment_{group}": "card"}
    resp = client.post("/cart/checkout", data={**form, f"card_{group}": "4242424242424242"}, follow_redirects=True)
    assert "公务卡支付令牌须以 pm_ 开头" in resp.get_data(as_text=True) and count(Order) == 1
    resp = client.post("/cart/checkout", data={**form, f"card_{group}": "pm_card_visa"})
    assert resp.status_code == 302 and "/orders/" in resp.headers["Location"]
    order = db.session.scalars(select(Order).order_by(Order.id.desc())).first()
    assert (order.payment_method, payment_of(order.id).card_last4) == ("card", "4242")


@pytest.mark.parametrize("target,actor,note", [("rejected", "supplier", "型号停产，无法供货"),
                                               ("cancelled", "buyer", "需求取消")])
def test_rejection_or_cancellation_releases_the_hold(world, card, target, actor, note):
    order = world.place(payment_method="card")
    intent = payment_of(order.id).stripe_payment_intent_id
    world.move(order, (target, world.supplier_user if actor == "supplier" else world.buyer, note))
    payment = payment_of(order.id)
    assert payment.status == "canceled"
    assert card.v1.payment_intents.retrieve(intent).status == "canceled"
    assert fresh(type(world.budget), world.budget.id).reserved == Decimal("0.00")


def test_declined_card_refuses_the_order_and_saves_nothing(client, app, world, card, monkeypatch):
    from orders.models import Order, Payment

    monkeypatch.setitem(app.config, "STRIPE_DEFAULT_PAYMENT_METHOD", "pm_card_chargeCustomerFail")
    resp = client.post("/api/v1/orders", headers=bearer(world.buyer_token), json={
        "budget_line_id": world.budget.id, "lines": [{"product_id": world.product.id, "quantity": 2}],
        "payment_method": "card"})
    assert resp.status_code == 402, resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == "card_declined" and "公务卡授权被拒绝" in err["message"] and "¥9,599.98" in err["message"]
    assert count(Order) == 0 and count(Payment) == 0
    assert fresh(type(world.budget), world.budget.id).reserved == Decimal("0.00")
    assert fresh(type(world.product), world.product.id).stock == 50


def test_without_a_gateway_card_orders_are_refused_not_faked(app, world, monkeypatch):
    from mall.problems import ServiceError
    from orders.models import Order

    monkeypatch.setitem(app.config, "STRIPE_API_BASE", None)
    monkeypatch.setitem(app.config, "STRIPE_API_KEY", "sk_test_govmall")
    with pytest.raises(ServiceError) as exc:
        world.place(payment_method="card")
    db.session.rollback()
    assert exc.value.code == "card_gateway_not_configured" and exc.value.status == 503
    assert count(Order) == 0


def test_idempotent_retry_reuses_the_payment_intent(world, card):
    """A retry after the first answer was lost (here: the Payment row is gone) sends the same
    idempotency key, so Stripe answers the first PaymentIntent instead of holding money twice."""
    from orders import payments
    from orders.models import Order

    order = world.place(payment_method="card")
    first = payment_of(order.id)
    intent = first.stripe_payment_intent_id
    db.session.delete(first)
    db.session.commit()

    order = fresh(Order, order.id)
    again = payments.authorize_card(order)
    db.session.commit()
    assert again.stripe_payment_intent_id == intent
    assert [pi.id for pi in intents_for(card, order)] == [intent]
    # and a repeated order_placed (double click reaching the receiver twice) adds nothing
    from orders.events import order_placed

    order_placed.send(fresh(Order, order.id))
    db.session.commit()
    from orders.models import Payment

    assert db.session.scalar(select(func.count()).select_from(Payment).where(Payment.order_id == order.id)) == 1
    assert len(intents_for(card, order)) == 1


def test_replayed_checkout_request_makes_one_order_one_payment(client, world, card):
    from orders.models import Order, Payment

    body = {"budget_line_id": world.budget.id, "lines": [{"product_id": world.product.id, "quantity": 1}],
            "payment_method": "card"}
    headers = {**bearer(world.buyer_token), "Idempotency-Key": "checkout-7f3a"}
    first = client.post("/api/v1/orders", headers=headers, json=body)
    second = client.post("/api/v1/orders", headers=headers, json=body)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert count(Order) == 1 and count(Payment) == 1
    assert len(intents_for(card, fresh(Order, first.get_json()["id"]))) == 1


def test_one_payment_per_order_is_a_database_constraint(world):
    from orders.models import Payment

    order = world.place()
    db.session.add(Payment(order_id=order.id, method="treasury", status="instructed", amount=order.total))
    db.session.commit()
    db.session.add(Payment(order_id=order.id, method="treasury", status="instructed", amount=order.total))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_authorisation_is_released_when_the_placing_transaction_rolls_back(world, card):
    from orders import services

    order, _ = services.place_order(world.buyer, budget_line_id=world.budget.id,
                                    lines=[(world.product.id, 1)], payment_method="card")
    intent = payment_of(order.id).stripe_payment_intent_id
    pis_before = intents_for(card, order)
    db.session.rollback()  # e.g. the commit failed after the card was authorised
    pis = [card.v1.payment_intents.retrieve(pi.id) for pi in pis_before]
    assert [pi.id for pi in pis] == [intent] and pis[0].status == "canceled"


def test_a_refusal_after_the_hold_releases_it_at_once_even_inside_a_savepoint(world, card, monkeypatch):
    """The hold is taken before the product rows are locked; when the locked rows then refuse
    (the last units sold meanwhile) the hold is cancelled at once, not left to the end of an outer
    transaction that a savepoint's failure does not roll back (a 二次竞价 award tries bids so)."""
    from mall.problems import ServiceError
    from orders import payments, services

    held = []
    real_hold, real_lock = payments.hold_card, services._lock_products
    monkeypatch.setattr(payments, "hold_card", lambda ref, pm=None: held.append(real_hold(ref, pm)) or held[-1])
    monkeypatch.setattr(services, "_lock_products",
                        lambda session, ids: {pid: (0,) + tuple(v[1:]) for pid, v in real_lock(session, ids).items()})
    savepoint = db.session.begin_nested()
    with pytest.raises(ServiceError) as refused:
        services.place_order(world.buyer, budget_line_id=world.budget.id, lines=[(world.product.id, 1)],
                             payment_method="card")
    savepoint.rollback()
    db.session.commit()                                  # the outer transaction goes on
    assert [p.code for p in refused.value.problems if p.severity == "error"] == ["stock_insufficient"]
    assert len(held) == 1 and card.v1.payment_intents.retrieve(held[0].id).status == "canceled"


def test_a_failure_after_the_order_is_written_releases_the_hold(world, card, monkeypatch):
    """The last step (recording the payment) fails: the hold taken before the locks is cancelled."""
    from mall.problems import Problem, ServiceError
    from orders import payments, services

    held = []
    real_hold = payments.hold_card
    monkeypatch.setattr(payments, "hold_card", lambda ref, pm=None: held.append(real_hold(ref, pm)) or held[-1])

    def fail(order, payment_method_id=None, hold=None):
        raise ServiceError(Problem("payment_record_failed", "支付记录写入失败（测试）"))

    monkeypatch.setattr(payments, "authorize_card", fail)
    with pytest.raises(ServiceError):
        services.place_order(world.buyer, budget_line_id=world.budget.id, lines=[(world.product.id, 1)],
                             payment_method="card")
    db.session.rollback()
    assert len(held) == 1 and card.v1.payment_intents.retrieve(held[0].id).status == "canceled"


# --------------------------------------------------------------------------- refunds

def test_refunds_partial_then_full_with_limits(client, world, card):
    order = world.place(payment_method="card")
    world.deliver_and_accept(order)
    url = f"/api/v1/orders/{order.id}/payment/refunds"

    # the buyer may not refund (the supplier returns money; operators may)
    resp = client.post(url, headers=bearer(world.buyer_token), json={"amount": "100.00", "reason": "退货"})
    assert resp.status_code == 403

    resp = client.post(url, headers=bearer(world.supplier_token), json={"amount": "100.00", "reason": "一台外观瑕疵，折价"})
    assert resp.status_code == 201, resp.get_json()
    payment = payment_of(order.id)
    assert payment.status == "partially_refunded" and payment.refunded_amount == Decimal("100.00")
    intent = card.v1.payment_intents.retrieve(payment.stripe_payment_intent_id, params={"expand": ["latest_charge"]})
    assert intent.latest_charge.amount_refunded == 10000
    budget = fresh(type(world.budget), world.budget.id)
    assert budget.spent == Decimal("14299.97")           # the refund went back to the budget line
    assert budget.available == Decimal("500000.00") - Decimal("14299.97")

    resp = client.post(url, headers=bearer(world.supplier_token), json={"amount": "14300.00", "reason": "超额"})
    assert resp.status_code == 422
    problem = resp.get_json()["problems"][0]
    assert problem["code"] == "refund_exceeds_paid" and problem["figures"]["refundable"] == "14299.97"
    assert payment_of(order.id).refunded_amount == Decimal("100.00")

    for bad in ({"amount": "abc", "reason": "x"}, {"amount": "-1", "reason": "x"}, {"amount": "1.001", "reason": "x"},
                {"amount": "10.00", "reason": ""}):
        assert client.post(url, headers=bearer(world.operator_token), json=bad).status_code == 422

    resp = client.post(url, headers=bearer(world.operator_token), json={"amount": "14299.97", "reason": "整单退货"})
    assert resp.status_code == 201
    payment = payment_of(order.id)
    assert payment.status == "refunded" and payment.refunded_amount == payment.amount
    assert [r.amount for r in payment.refunds] == [Decimal("100.00"), Decimal("14299.97")]
    assert all(r.stripe_refund_id.startswith("re_") for r in payment.refunds)
    budget = fresh(type(world.budget), world.budget.id)
    assert (budget.spent, budget.reserved, budget.available) == (Decimal("0.00"), Decimal("0.00"), Decimal("500000.00"))
    from mall.audit import AuditRecord

    returned = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "budget_line.refund")
                                  .order_by(AuditRecord.id)).all()
    assert [(r.before["spent"], r.after["spent"]) for r in returned] == [("14399.97", "14299.97"), ("14299.97", "0.00")]


def test_a_payment_captured_before_acceptance_and_refunded_on_cancellation_leaves_spent_alone(client, world, card):
    """Captured early (the gateway reports it), then the order is cancelled: the full refund goes
    back to the card, the reservation is released, and no other order's spent money moves."""
    from orders.models import Order

    paid = world.place(quantity=1, payment_method="card")
    world.deliver_and_accept(paid)                      # spent: 4,799.99
    order = world.place(payment_method="card")
    intent = payment_of(order.id).stripe_payment_intent_id
    pi = card.v1.payment_intents.capture(intent).to_dict()
    body, headers = _signed({"id": "evt_early_capture", "object": "event", "type": "payment_intent.succeeded",
                             "livemode": False, "created": pi["created"], "data": {"object": pi}})
    assert client.post("/payments/stripe/webhook", data=body, headers=headers).get_json()["result"] == "captured"
    assert fresh(Order, order.id).status == "submitted"
    world.move(order, ("cancelled", world.buyer, "需求取消"))
    assert payment_of(order.id).status == "refunded"
    budget = fresh(type(world.budget), world.budget.id)
    assert (budget.spent, budget.reserved) == (Decimal("4799.99"), Decimal("0.00"))


def test_a_refund_made_at_the_gateway_returns_money_to_the_budget_once(client, world, card):
    order = world.place(payment_method="card")
    world.deliver_and_accept(order)
    intent = payment_of(order.id).stripe_payment_intent_id
    card.v1.refunds.create(params={"payment_intent": intent, "amount": 39999})   # e.g. in the bank's console
    charge = card.v1.payment_intents.retrieve(intent, params={"expand": ["latest_charge"]}).latest_charge.to_dict()
    event = {"id": "evt_refund_1", "object": "event", "type": "charge.refunded", "livemode": False,
             "created": charge["created"], "data": {"object": charge}}
    for _ in range(2):                                   # delivered twice: applied once
        body, headers = _signed(event)
        assert client.post("/payments/stripe/webhook", data=body, headers=headers).status_code == 200
    payment = payment_of(order.id)
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", Decimal("399.99"))
    assert fresh(type(world.budget), world.budget.id).spent == Decimal("14399.97") - Decimal("399.99")


# --------------------------------------------------------------------------- capture retry and webhook

def _signed(payload: dict, secret: str = WEBHOOK_SECRET) -> tuple[str, dict]:
    body = json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


def test_capture_failure_keeps_acceptance_then_webhook_settles_it_once(client, app, world, card, monkeypatch):
    from orders.models import Order, StripeEvent

    order = world.place(payment_method="card")
    intent = payment_of(order.id).stripe_payment_intent_id
    good_base = app.config["STRIPE_API_BASE"]
    # the gateway is unreachable at acceptance: the acceptance stands, the capture waits
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setitem(app.config, "STRIPE_MAX_NETWORK_RETRIES", 0)
    world.deliver_and_accept(order)
    assert fresh(Order, order.id).status == "accepted"
    payment = payment_of(order.id)
    assert payment.status == "authorized" and "支付网关暂时无法连接" in payment.failure_message
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", good_base)

    # meanwhile the capture happens at the gateway; Stripe tells the mall by webhook
    card.v1.payment_intents.capture(intent)
    events = [e for e in card.v1.events.list(params={"type": "payment_intent.succeeded", "limit": 1000}).data
              if e.data.object.id == intent]
    assert len(events) == 1
    body, headers = _signed(events[0].to_dict())

    # a forged signature is refused and changes nothing
    forged = dict(headers, **{"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body, "whsec_wrong")})
    assert client.post("/payments/stripe/webhook", data=body, headers=forged).status_code == 400
    assert client.post("/payments/stripe/webhook", data=body, headers={"Content-Type": "application/json"}).status_code == 400
    assert count(StripeEvent) == 0 and payment_of(order.id).status == "authorized"

    resp = client.post("/payments/stripe/webhook", data=body, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["result"] == "captured"
    order = fresh(Order, order.id)
    assert payment_of(order.id).status == "captured" and order.status == "paid"
    changes = len(order.history)

    # the same event again (Stripe retries deliveries): acted on once
    resp = client.post("/payments/stripe/webhook", data=body, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["result"] == "duplicate"
    assert count(StripeEvent) == 1 and len(fresh(Order, order.id).history) == changes


def test_webhook_cancellation_and_failure_update_the_payment(client, world, card):
    order = world.place(payment_method="card")
    intent = payment_of(order.id).stripe_payment_intent_id
    pi = card.v1.payment_intents.cancel(intent).to_dict()   # e.g. the hold expired at the card network
    body, headers = _signed({"id": "evt_cancel_1", "object": "event", "type": "payment_intent.canceled",
                             "livemode": False, "created": pi["created"], "data": {"object": pi}})
    resp = client.post("/payments/stripe/webhook", data=body, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["result"] == "canceled"
    assert payment_of(order.id).status == "canceled"

    # an event about an intent the mall does not know is acknowledged and ignored
    body, headers = _signed({"id": "evt_other", "object": "event", "type": "payment_intent.succeeded",
                             "data": {"object": {"id": "pi_unknown", "object": "payment_intent"}}})
    assert client.post("/payments/stripe/webhook", data=body, headers=headers).get_json()["result"] == "unknown_intent"


def test_retry_capture_action_and_switch_to_treasury(client, app, world, card, monkeypatch):
    from orders.models import Order

    order = world.place(payment_method="card")
    good_base = app.config["STRIPE_API_BASE"]
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setitem(app.config, "STRIPE_MAX_NETWORK_RETRIES", 0)
    world.deliver_and_accept(order)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", good_base)
    # the supplier may not trigger the buyer's capture; the buyer may
    assert client.post(f"/api/v1/orders/{order.id}/payment/capture", headers=bearer(world.supplier_token)).status_code == 403
    resp = client.post(f"/api/v1/orders/{order.id}/payment/capture", headers=bearer(world.buyer_token))
    assert resp.status_code == 200 and resp.get_json()["status"] == "captured"
    assert fresh(Order, order.id).status == "paid"

    # an authorisation that lapsed before capture: the accepted order is paid by treasury instead
    other = world.place(payment_method="card")
    card.v1.payment_intents.cancel(payment_of(other.id).stripe_payment_intent_id)
    world.deliver_and_accept(other)
    assert payment_of(other.id).status == "canceled"
    from orders import payments

    payments.switch_to_treasury(fresh(Order, other.id), world.buyer)
    db.session.commit()
    payment = payment_of(other.id)
    assert (payment.method, payment.status) == ("treasury", "instructed")
    assert payment.treasury_instruction_no.startswith("GK")


# --------------------------------------------------------------------------- treasury

def test_treasury_instruction_after_acceptance_and_finance_marks_paid(client, world):
    from orders.models import Order

    order = world.place(payment_method="treasury")
    url = f"/api/v1/orders/{order.id}/payment/treasury-paid"
    resp = client.post(url, headers=bearer(world.auditor_token), json={})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "no_treasury_instruction"

    world.deliver_and_accept(order)
    payment = payment_of(order.id)
    assert (payment.method, payment.status, payment.amount) == ("treasury", "instructed", Decimal("14399.97"))
    assert re.fullmatch(r"GK\d{8}" + f"{order.id:08d}", payment.treasury_instruction_no)

    # the buyer and the supplier are not the finance side
    for token in (world.buyer_token, world.supplier_token):
        assert client.post(url, headers=bearer(token), json={}).status_code == 403
    assert payment_of(order.id).status == "instructed"

    resp = client.post(url, headers=bearer(world.auditor_token), json={"voucher_no": "ZF2025-000123", "note": "已划款"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "paid" and resp.get_json()["settlement_ref"] == "ZF2025-000123"
    order = fresh(Order, order.id)
    assert order.status == "paid" and order.history[-1].actor_role == "auditor"
    assert "ZF2025-000123" in order.history[-1].note
    assert fresh(type(world.budget), world.budget.id).spent == Decimal("14399.97")

    # a replayed request (double click) changes nothing
    again = client.post(url, headers=bearer(world.auditor_token), json={"voucher_no": "ZF2025-000123"})
    assert again.status_code == 200
    assert len(fresh(Order, order.id).history) == len(order.history)


def test_treasury_page_action_and_queue(client, auth, world):
    from orders.models import Order

    order = world.place(payment_method="treasury")
    world.deliver_and_accept(order)
    auth.login(world.operator.username)
    detail = client.get(f"/orders/{order.id}").get_data(as_text=True)   # the order page carries the panel
    assert 'id="payment-panel"' in detail and 'id="treasury-paid-form"' in detail
    page = client.get("/payments/treasury")
    assert page.status_code == 200 and order.number in page.get_data(as_text=True)
    resp = client.post(f"/orders/{order.id}/payment/treasury-paid",
                       data={"voucher_no": "PZ-88", "next": "https://evil.example/"}, follow_redirects=True)
    assert resp.status_code == 200 and "已确认国库集中支付" in resp.get_data(as_text=True)
    assert fresh(Order, order.id).status == "paid"
    assert "PZ-88" in client.get(f"/orders/{order.id}/payment").get_data(as_text=True)


def test_payment_page_only_for_the_parties(client, auth, make, world):
    order = world.place(payment_method="treasury")
    stranger = make.user("supplier")
    auth.login(stranger.username)
    assert client.get(f"/orders/{order.id}/payment").status_code == 404
    auth.logout()
    auth.login(world.buyer.username)
    page = client.get(f"/orders/{order.id}/payment").get_data(as_text=True)
    assert "订单验收后生成支付指令" in page and "treasury-paid-form" not in page


def test_periodic_task_retries_failed_captures(app, world, card, monkeypatch):
    from orders.models import Order
    from orders.notify_tasks import retry_card_captures

    order = world.place(payment_method="card")
    good_base = app.config["STRIPE_API_BASE"]
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setitem(app.config, "STRIPE_MAX_NETWORK_RETRIES", 0)
    world.deliver_and_accept(order)
    assert retry_card_captures.delay().get() == {"candidates": 1, "captured": 0}   # still unreachable
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", good_base)
    assert retry_card_captures.delay().get() == {"candidates": 1, "captured": 1}
    assert fresh(Order, order.id).status == "paid" and payment_of(order.id).status == "captured"
    assert retry_card_captures.delay().get() == {"candidates": 0, "captured": 0}


def test_capture_reported_before_acceptance_pays_the_order_at_acceptance(client, world, card):
    from orders.models import Order

    order = world.place(payment_method="card")
    intent = payment_of(order.id).stripe_payment_intent_id
    card.v1.payment_intents.capture(intent)            # captured at the gateway ahead of time
    event = [e for e in card.v1.events.list(params={"type": "payment_intent.succeeded", "limit": 1000}).data
             if e.data.object.id == intent][0]
    body, headers = _signed(event.to_dict())
    assert client.post("/payments/stripe/webhook", data=body, headers=headers).get_json()["result"] == "captured"
    assert fresh(Order, order.id).status == "submitted" and payment_of(order.id).status == "captured"
    world.deliver_and_accept(order)
    assert fresh(Order, order.id).status == "paid"
