"""Checkout: services and API — placement, refusals, idempotency, budget and stock, snapshots."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from mall.audit import AuditRecord
from mall.extensions import db
from mall.problems import ServiceError
from tests.conftest import bearer


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    """Users made by the factories get a cheap (still verifiable) password hash: scrypt costs
    ~0.4 s per user, which dominated these tests. Sign-in still checks the password."""
    from functools import partial

    from werkzeug.security import generate_password_hash

    import mall.accounts.models as account_models

    monkeypatch.setattr(account_models, "generate_password_hash",
                        partial(generate_password_hash, method="pbkdf2:sha256:1000"))


@dataclass
class World:
    buyer: object
    unit: object
    supplier: object
    supplier_user: object
    budget: object
    central: object      # 台式计算机 in 集采区 under an agreement (ceiling ¥5,000, price ¥4,800)
    desk: object         # 办公桌 in 自采区 (solicited), price ¥1,200
    agreement: object
    policy: object
    token: str = ""


def build_world(make, *, budget_amount="500000.00", central_stock=50, desk_stock=50, budget_year=None,
                **policy_kw) -> World:
    """A small mall: a policy in force, an agreement with one admitted supplier, two products,
    a buyer unit with one budget line of the current year."""
    from catalog.models import AgreementPrice

    pol = make.policy(**policy_kw)
    supplier = make.supplier_org(name="福州联信科技有限公司")
    supplier_user = make.user("supplier", organisation=supplier)
    agreement = make.agreement(categories=("A02010105",), suppliers=(supplier,),
                               prices=((supplier, "联想", "启天M450", "5000.00"),),
                               term_start=dt.date(2025, 1, 1), term_end=dt.date(2035, 12, 31))
    ap = db.session.scalars(select(AgreementPrice).where(AgreementPrice.agreement_id == agreement.id)).one()
    central = make.product(supplier, zone="central", category_code="A02010105", price="4800.00", brand="联想",
                           model="启天M450", title="联想启天M450台式计算机", agreement_price=ap,
                           stock=central_stock, market_price=Decimal("5600.00"))
    make.solicitation("A05010201")
    desk = make.product(supplier, zone="self", category_code="A05010201", price="1200.00", title="钢木办公桌",
                        stock=desk_stock, market_price=Decimal("1500.00"))
    unit = make.org("budget_unit", name="福州市教育局")
    buyer = make.user("buyer", organisation=unit)
    budget = make.budget_line(unit, amount=budget_amount, year=budget_year)
    return World(buyer=buyer, unit=unit, supplier=supplier, supplier_user=supplier_user, budget=budget,
                 central=central, desk=desk, agreement=agreement, policy=pol, token=make.token(buyer))


def order_payload(w: World, *lines, budget_line_id=None, payment_method="treasury", note=None):
    return {"budget_line_id": budget_line_id or w.budget.id,
            "lines": [{"product_id": p.id, "quantity": q} for p, q in lines] or
                     [{"product_id": w.central.id, "quantity": 2}],
            "payment_method": payment_method, **({"note": note} if note else {})}


def fresh(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def order_count() -> int:
    from orders.models import Order

    return db.session.scalar(select(func.count()).select_from(Order))


# ------------------------------------------------------------------ services

def test_place_order_reserves_budget_and_stock_and_snapshots_rules(make):
    from orders import services

    w = build_world(make)
    order, evaluation = services.place_order(w.buyer, budget_line_id=w.budget.id,
                                             lines=[(w.central.id, 3), (w.central.id, 1)], payment_method="treasury")
    db.session.commit()
    order = fresh(order)
    assert order.status == "submitted" and order.payment_method == "treasury"
    assert order.number.startswith("GM") and order.number.endswith(f"{order.id:06d}")
    assert len(order.lines) == 1 and order.lines[0].quantity == 4          # same product merged
    assert order.total == Decimal("19200.00")
    # savings against the agreement ceiling: (5000 − 4800) × 4
    assert order.lines[0].reference_price == Decimal("5000.00")
    assert order.savings == Decimal("800.00") and order.reference_total == Decimal("20000.00")
    assert order.agreement_id == w.agreement.id and order.zone_code == "central"
    assert order.policy_snapshot["name"] == "2025年版"
    assert order.policy_snapshot["direct_purchase_limit"] == "200000.00"
    assert order.policy_snapshot["open_tender_threshold_services"] == "2000000.00"
    assert order.policy_snapshot["centralized_items"] == {"A02010105": "A02010105"}   # the catalog item applied
    assert [r["rule"] for r in order.rule_results] == ["order", "centralized_catalog", "agreement",
                                                       "direct_purchase_limit", "cumulative_threshold",
                                                       "split_purchase", "budget", "stock"]
    assert all(r["ok"] for r in order.rule_results)
    assert fresh(w.budget).reserved == Decimal("19200.00")
    assert fresh(w.central).stock == 46
    assert [(c.from_status, c.to_status) for c in order.history] == [(None, "submitted")]
    assert order.confirm_deadline is not None
    actions = set(db.session.scalars(select(AuditRecord.action)))
    assert {"order.create", "budget_line.reserve", "product.stock_reserve"} <= actions


def test_self_zone_savings_use_market_price(make):
    from orders import services

    w = build_world(make)
    order, _ = services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 2)])
    db.session.commit()
    assert order.lines[0].reference_price == Decimal("1500.00")
    assert order.savings == Decimal("600.00")


def test_refusal_changes_nothing(make):
    from orders import services

    w = build_world(make, budget_amount="5000.00")
    audit_before = db.session.scalar(select(func.count()).select_from(AuditRecord))
    with pytest.raises(ServiceError) as exc:
        services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.central.id, 2)])
    db.session.rollback()
    codes = [p.code for p in exc.value.problems]
    assert codes == ["budget_insufficient"]
    assert "可用余额¥5,000.00不足以支付订单金额¥9,600.00" in exc.value.problems[0].message
    assert order_count() == 0
    assert fresh(w.budget).reserved == 0 and fresh(w.central).stock == 50
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)) == audit_before


def test_all_lines_must_be_of_one_supplier(make):
    from orders import services

    w = build_world(make)
    other = make.supplier_org(name="另一家供应商")
    chair = make.product(other, zone="self", category_code="A05010201", price="300.00")
    with pytest.raises(ServiceError) as exc:
        services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 1), (chair.id, 1)])
    assert "mixed_suppliers" in [p.code for p in exc.value.problems]


def test_unknown_product_and_bad_quantity_are_problems_not_crashes(make):
    from orders import services

    w = build_world(make)
    with pytest.raises(ServiceError) as exc:
        services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(999999, 1)])
    assert exc.value.problems[0].code == "product_not_found"
    with pytest.raises(ServiceError) as exc:
        services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 0)])
    assert "invalid_quantity" in [p.code for p in exc.value.problems]
    with pytest.raises(ServiceError) as exc:
        services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, "abc")])
    assert exc.value.problems[0].code == "invalid_input"


def test_only_buyers_place_orders(make):
    from orders import services

    w = build_world(make)
    with pytest.raises(ServiceError) as exc:
        services.place_order(w.supplier_user, budget_line_id=w.budget.id, lines=[(w.desk.id, 1)])
    assert exc.value.status == 403


def test_budget_line_of_another_unit_is_refused(make):
    from orders import services

    w = build_world(make)
    other_unit = make.org("budget_unit")
    foreign = make.budget_line(other_unit)
    with pytest.raises(ServiceError) as exc:
        services.place_order(w.buyer, budget_line_id=foreign.id, lines=[(w.desk.id, 1)])
    assert [p.code for p in exc.value.problems] == ["budget_line_not_owned"]
    assert fresh(foreign).reserved == 0


def test_stock_shortfall_refused(make):
    from orders import services

    w = build_world(make, desk_stock=3)
    with pytest.raises(ServiceError) as exc:
        services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 4)])
    p = exc.value.problems[0]
    assert p.code == "stock_insufficient" and p.figures["stock"] == 3 and p.figures["shortfall"] == 1
    assert "需要4件，现有3件" in p.message


def test_split_flag_creates_risk_flag_for_auditors(make):
    from orders import services
    from orders.models import RiskFlag

    w = build_world(make, split_action="flag", decentralized_threshold_goods=Decimal("30000"))
    services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.central.id, 4)])   # 19,200
    db.session.commit()
    order, ev = services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.central.id, 3)])  # +14,400
    db.session.commit()
    assert [p.code for p in ev.warnings] == ["split_purchase_flagged"]
    flags = db.session.scalars(select(RiskFlag)).all()
    assert len(flags) == 1 and flags[0].order_id == order.id and flags[0].kind == "split_suspected"
    assert flags[0].status == "open" and flags[0].figures["combined"] == "33600.00"
    assert any(r["rule"] == "split_purchase" and r["problems"] for r in fresh(order).rule_results)


def test_orders_avoiding_the_mini_competition_together_are_placed_and_flagged(client, make):
    from orders.models import RiskFlag

    w = build_world(make, direct_purchase_limit=Decimal("20000"))
    first = client.post("/api/v1/orders", json=order_payload(w, (w.central, 4)), headers=bearer(w.token))  # 19,200
    assert first.status_code == 201 and first.get_json()["warnings"] == []
    second = client.post("/api/v1/orders", json=order_payload(w, (w.central, 3)), headers=bearer(w.token))  # 14,400
    assert second.status_code == 201, second.get_json()
    assert [p["code"] for p in second.get_json()["warnings"]] == ["split_below_competition_flagged"]
    flag = db.session.scalars(select(RiskFlag)).one()
    assert (flag.order_id, flag.kind, flag.status) == (second.get_json()["id"], "split_suspected", "open")
    assert flag.figures["combined"] == "33600.00" and flag.figures["limit"] == "20000.00"


def test_order_placed_signal_sent_inside_transaction_and_can_refuse(make):
    from orders import services
    from orders.events import order_placed
    from mall.problems import Problem

    w = build_world(make)
    seen = []

    def receiver(order, **kw):
        seen.append((order.number, order.status, order.id is not None))
        if order.note == "模拟支付授权失败":
            raise ServiceError(Problem("card_declined", "公务卡授权失败"))

    order_placed.connect(receiver)
    try:
        services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 1)])
        db.session.commit()
        with pytest.raises(ServiceError):
            services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 1)], note="模拟支付授权失败")
        db.session.rollback()
    finally:
        order_placed.disconnect(receiver)
    assert len(seen) == 2 and seen[0][1] == "submitted" and seen[0][2]
    assert order_count() == 1                                   # the refused one left nothing
    assert fresh(w.desk).stock == 49 and fresh(w.budget).reserved == Decimal("1200.00")


# ------------------------------------------------------------------ API

def test_api_create_order_201_shape(client, make):
    w = build_world(make)
    resp = client.post("/api/v1/orders", json=order_payload(w, (w.central, 2), note="请工作日送货"),
                       headers=bearer(w.token))
    assert resp.status_code == 201, resp.get_json()
    data = resp.get_json()
    assert data["number"].startswith("GM") and data["status"] == "submitted"
    assert data["total"] == "9600.00" and data["savings"] == "400.00"
    assert data["lines"][0]["product_id"] == w.central.id and data["lines"][0]["unit_price"] == "4800.00"
    assert data["supplier"]["name"] == "福州联信科技有限公司"
    assert data["allowed_transitions"] == [{"to": "cancelled", "action": "取消订单", "note_required": True,
                                            "note_label": "取消原因"}]
    assert data["policy_snapshot"]["name"] == "2025年版"
    assert data["warnings"] == []


def test_api_refusal_422_problems_shape(client, make):
    w = build_world(make, budget_amount="1000.00")
    resp = client.post("/api/v1/orders", json=order_payload(w, (w.central, 50)), headers=bearer(w.token))
    assert resp.status_code == 422
    problems = resp.get_json()["problems"]
    codes = {p["code"] for p in problems}
    assert {"direct_limit_exceeded", "budget_insufficient"} <= codes
    p = next(p for p in problems if p["code"] == "direct_limit_exceeded")
    assert p["rule"] == "direct_purchase_limit" and p["severity"] == "error"
    assert p["figures"]["total"] == "240000.00" and p["figures"]["limit"] == "200000.00"
    assert p["figures"]["hint"] == "mini_competition"
    assert "二次竞价" in p["message"] and "¥240,000.00" in p["message"]
    assert order_count() == 0


def test_api_validation_errors_are_422_not_500(client, make):
    w = build_world(make)
    for body in ({}, {"budget_line_id": "x", "lines": []}, {"budget_line_id": w.budget.id, "lines": [{"product_id": 1}]},
                 {"budget_line_id": w.budget.id, "lines": [{"product_id": w.desk.id, "quantity": -1}]},
                 {"budget_line_id": w.budget.id, "lines": [{"product_id": w.desk.id, "quantity": 1}],
                  "payment_method": "cash"}):
        resp = client.post("/api/v1/orders", json=body, headers=bearer(w.token))
        assert resp.status_code == 422, body
        assert resp.get_json()["error"]["code"] == "validation_error"
    resp = client.post("/api/v1/orders", data="not json", headers={**bearer(w.token), "Content-Type": "application/json"})
    assert resp.status_code in (400, 422)
    assert order_count() == 0


def test_api_requires_token(client, make):
    w = build_world(make)
    assert client.post("/api/v1/orders", json=order_payload(w)).status_code == 401
    assert client.get("/api/v1/orders").status_code == 401


def test_api_check_reports_problems_and_warnings_without_placing(client, make):
    w = build_world(make)
    ok = client.post("/api/v1/orders/check", json=order_payload(w, (w.desk, 1)), headers=bearer(w.token))
    assert ok.status_code == 200 and ok.get_json()["ok"] is True and ok.get_json()["problems"] == []
    # 自采区 办公桌: 1,000,000 threshold, 80% warning from 800,000 — 680 desks = 816,000
    w.desk.stock = 1000
    w.budget.amount = Decimal("2000000")
    db.session.commit()
    resp = client.post("/api/v1/orders/check", json=order_payload(w, (w.desk, 680)), headers=bearer(w.token))
    data = resp.get_json()
    assert resp.status_code == 200 and data["ok"] is False
    codes = {p["code"]: p["severity"] for p in data["problems"]}
    assert codes["direct_limit_exceeded"] == "error" and codes["cumulative_threshold_warning"] == "warning"
    assert data["total"] == "816000.00"
    assert order_count() == 0 and fresh(w.budget).reserved == 0


def test_idempotency_key_returns_first_result(client, make):
    w = build_world(make)
    headers = {**bearer(w.token), "Idempotency-Key": "checkout-7f3a"}
    first = client.post("/api/v1/orders", json=order_payload(w, (w.desk, 2)), headers=headers)
    second = client.post("/api/v1/orders", json=order_payload(w, (w.desk, 2)), headers=headers)
    assert first.status_code == 201 and second.status_code == 201
    assert second.get_json()["number"] == first.get_json()["number"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert order_count() == 1
    assert fresh(w.desk).stock == 48 and fresh(w.budget).reserved == Decimal("2400.00")
    # the same key with another body is refused clearly, nothing placed
    other = client.post("/api/v1/orders", json=order_payload(w, (w.desk, 3)), headers=headers)
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert order_count() == 1
    # a new key places a new order
    third = client.post("/api/v1/orders", json=order_payload(w, (w.desk, 2)),
                        headers={**bearer(w.token), "Idempotency-Key": "checkout-7f3b"})
    assert third.status_code == 201 and order_count() == 2


def test_idempotency_refusal_is_not_stored(client, make):
    w = build_world(make, desk_stock=1)
    headers = {**bearer(w.token), "Idempotency-Key": "retry-after-restock"}
    assert client.post("/api/v1/orders", json=order_payload(w, (w.desk, 2)), headers=headers).status_code == 422
    w.desk.stock = 5
    db.session.commit()
    assert client.post("/api/v1/orders", json=order_payload(w, (w.desk, 2)), headers=headers).status_code == 201


def test_idempotency_keys_are_per_user(client, make):
    w = build_world(make)
    colleague = make.user("buyer", organisation=w.unit)
    t2 = make.token(colleague)
    key = {"Idempotency-Key": "same-key"}
    a = client.post("/api/v1/orders", json=order_payload(w, (w.desk, 1)), headers={**bearer(w.token), **key})
    b = client.post("/api/v1/orders", json=order_payload(w, (w.desk, 1)), headers={**bearer(t2), **key})
    assert a.status_code == b.status_code == 201 and a.get_json()["id"] != b.get_json()["id"]


def test_budget_reserve_release_spend_through_lifecycle(client, make):
    from orders import services
    from orders.models import Payment

    w = build_world(make)
    created = client.post("/api/v1/orders", json=order_payload(w, (w.central, 2)), headers=bearer(w.token)).get_json()
    oid = created["id"]
    assert fresh(w.budget).reserved == Decimal("9600.00")
    st = make.token(w.supplier_user)
    for to in ("confirmed", "shipped", "delivered"):
        r = client.post(f"/api/v1/orders/{oid}/transitions", json={"to": to}, headers=bearer(st))
        assert r.status_code == 200, r.get_json()
    r = client.post(f"/api/v1/orders/{oid}/transitions", json={"to": "accepted", "note": "数量型号一致，验收合格"},
                    headers=bearer(w.token))
    assert r.status_code == 200 and r.get_json()["acceptance_note"] == "数量型号一致，验收合格"
    assert fresh(w.central).sales_count == 2
    # treasury payment marked by an auditor once the transfer is recorded
    auditor = make.user("auditor")
    at = make.token(auditor)
    r = client.post(f"/api/v1/orders/{oid}/transitions", json={"to": "paid"}, headers=bearer(at))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "payment_not_settled"
    assert fresh(w.budget).reserved == Decimal("9600.00")
    # the payment side records the transfer (acceptance created the treasury instruction)
    payment = db.session.scalars(select(Payment).where(Payment.order_id == oid)).first()
    if payment is None:
        payment = Payment(order_id=oid, method="treasury", status="instructed", amount=Decimal("9600.00"))
        db.session.add(payment)
    payment.status = "paid"
    db.session.commit()
    r = client.post(f"/api/v1/orders/{oid}/transitions", json={"to": "paid"}, headers=bearer(at))
    assert r.status_code == 200
    b = fresh(w.budget)
    assert b.reserved == 0 and b.spent == Decimal("9600.00") and b.available == Decimal("490400.00")
    # and the released path: another order cancelled by the buyer
    second = client.post("/api/v1/orders", json=order_payload(w, (w.desk, 3)), headers=bearer(w.token)).get_json()
    assert fresh(w.budget).reserved == Decimal("3600.00") and fresh(w.desk).stock == 47
    r = client.post(f"/api/v1/orders/{second['id']}/transitions", json={"to": "cancelled", "note": "需求取消"},
                    headers=bearer(w.token))
    assert r.status_code == 200 and r.get_json()["closed_reason"] == "需求取消"
    assert fresh(w.budget).reserved == 0 and fresh(w.desk).stock == 50
    assert services.prior_orders(db.session, w.unit.id, fresh(w.budget).year, ["A05010201"]) == ()


def test_order_history_is_year_totals_and_window_orders_in_one_statement(client, make):
    """The checkout reads the unit's year totals and the split window's orders with one statement;
    it answers what the two separate queries answer."""
    import datetime as dt

    from orders import services

    w = build_world(make)
    for qty in (1, 2):
        r = client.post("/api/v1/orders", json=order_payload(w, (w.desk, qty)), headers=bearer(w.token))
        assert r.status_code == 201, r.get_json()
    year = fresh(w.budget).year
    codes = ["A05010201", "A02010105"]
    since = dt.date(year, 1, 1)
    totals, prior = services.order_history(db.session, w.unit.id, year, codes, since=since)
    assert totals == services.year_totals(db.session, w.unit.id, year, codes) == {"A05010201": Decimal("3600.00")}
    by_id = lambda rows: sorted(rows, key=lambda p: (p.order_id, p.category_code))  # noqa: E731
    assert by_id(prior) == by_id(services.prior_orders(db.session, w.unit.id, year, codes, since=since))
    assert sorted(p.amount for p in prior) == [Decimal("1200.00"), Decimal("2400.00")]
    later = dt.date(year + 1, 1, 1)  # a window starting after every order: totals stay, no orders
    assert services.order_history(db.session, w.unit.id, year, codes, since=later) == (totals, ())
    assert services.order_history(db.session, w.unit.id, year, [], since=since) == ({}, ())


def test_api_lists_are_role_scoped_and_others_orders_are_404(client, make):
    w = build_world(make)
    mine = client.post("/api/v1/orders", json=order_payload(w, (w.desk, 1)), headers=bearer(w.token)).get_json()
    other_unit = make.org("budget_unit")
    other_buyer = make.user("buyer", organisation=other_unit)
    make.budget_line(other_unit)
    ot = make.token(other_buyer)
    other_supplier = make.user("supplier")
    auditor_t = make.token(make.user("auditor"))
    operator_t = make.token(make.user("operator"))
    st = make.token(w.supplier_user)

    def numbers(token, **params):
        r = client.get("/api/v1/orders", query_string=params, headers=bearer(token))
        assert r.status_code == 200
        return [o["number"] for o in r.get_json()["items"]]

    assert numbers(w.token) == [mine["number"]]
    assert numbers(st) == [mine["number"]]
    assert numbers(auditor_t) == [mine["number"]] and numbers(operator_t) == [mine["number"]]
    assert numbers(ot) == [] and numbers(make.token(other_supplier)) == []
    assert numbers(w.token, status="confirmed") == [] and numbers(w.token, status="submitted") == [mine["number"]]
    assert client.get("/api/v1/orders", query_string={"status": "bogus"}, headers=bearer(w.token)).status_code == 422
    r = client.get(f"/api/v1/orders/{mine['id']}", headers=bearer(w.token))
    assert r.status_code == 200 and r.get_json()["history"][0]["to_status"] == "submitted"
    assert r.get_json()["rule_results"][0]["rule"] == "order"
    assert client.get(f"/api/v1/orders/{mine['id']}", headers=bearer(ot)).status_code == 404
    assert client.get(f"/api/v1/orders/{mine['id']}", headers=bearer(make.token(other_supplier))).status_code == 404
    assert client.get("/api/v1/orders/999999", headers=bearer(w.token)).status_code == 404
    # another unit cannot transition it either (404, and nothing changes)
    r = client.post(f"/api/v1/orders/{mine['id']}/transitions", json={"to": "cancelled", "note": "x"}, headers=bearer(ot))
    assert r.status_code == 404
    assert client.get(f"/api/v1/orders/{mine['id']}", headers=bearer(w.token)).get_json()["status"] == "submitted"


def test_api_budget_lines_for_buyers_unit(client, make):
    w = build_world(make)
    make.budget_line(make.org("budget_unit"))
    r = client.get("/api/v1/budget-lines", headers=bearer(w.token))
    assert r.status_code == 200
    assert [(b["id"], b["available"]) for b in r.get_json()] == [(w.budget.id, "500000.00")]
    assert client.get("/api/v1/budget-lines", headers=bearer(make.token(w.supplier_user))).status_code == 403


def test_openapi_lists_order_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for p in ("/api/v1/orders", "/api/v1/orders/check", "/api/v1/orders/{order_id}",
              "/api/v1/orders/{order_id}/transitions", "/api/v1/budget-lines"):
        assert p in paths
    params = paths["/api/v1/orders"]["post"].get("parameters", [])
    assert any(p["name"] == "Idempotency-Key" for p in params)


# ------------------------------------------------------------------ cart pages

def test_double_click_checkout_creates_one_order(client, auth, make):
    w = build_world(make)
    auth.login(w.buyer.username)
    assert client.post("/cart/add", data={"product_id": w.desk.id, "quantity": 2}).status_code == 302
    page = client.get("/cart").get_data(as_text=True)
    import re

    token = re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)
    key = re.search(r'data-group="([^"]+)"', page).group(1)
    form = {"token": token, "group": key, f"budget_{key}": w.budget.id, f"payment_{key}": "treasury"}
    first = client.post("/cart/checkout", data=form)
    second = client.post("/cart/checkout", data=form)
    assert first.status_code == 302 and "/orders/" in first.headers["Location"]
    assert second.status_code == 302 and second.headers["Location"] == first.headers["Location"]
    assert order_count() == 1
    assert fresh(w.desk).stock == 48
    follow = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "未重复下单" in follow


def test_cart_checkout_places_one_order_per_supplier_and_shows_refusals(client, auth, make):
    w = build_world(make)
    other = make.supplier_org(name="闽江家具有限公司")
    chair = make.product(other, zone="self", category_code="A05010201", price="300.00", title="人体工学椅", stock=1)
    auth.login(w.buyer.username)
    client.post("/cart/add", data={"product_id": w.desk.id, "quantity": 1})
    client.post("/cart/add", data={"product_id": chair.id, "quantity": 1})
    chair.stock = 0  # sold out meanwhile
    db.session.commit()
    page = client.get("/cart").get_data(as_text=True)
    assert "闽江家具有限公司" in page and "福州联信科技有限公司" in page
    assert "库存不足" in page
    import re

    token = re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)
    keys = re.findall(r'data-group="([^"]+)"', page)
    form = {"token": token, "group": ""}
    for k in keys:
        form[f"budget_{k}"] = w.budget.id
    resp = client.post("/cart/checkout", data=form, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert order_count() == 1
    assert "订单已提交" in html and "闽江家具有限公司的订单未提交" in html and "库存不足" in html
    # the placed group left the cart, the refused one stayed
    from orders.models import CartItem

    assert [i.product_id for i in db.session.scalars(select(CartItem))] == [chair.id]


def test_late_refusal_by_the_conditional_update_leaves_no_trace(make, monkeypatch):
    """If a stale read let the rules pass, the conditional stock update still refuses; the budget
    reservation made just before is rolled back and no audit record of it survives."""
    from orders import rules, services

    w = build_world(make, desk_stock=1)
    monkeypatch.setattr(rules, "RULES", [(n, (lambda ctx: []) if n == "stock" else f) for n, f in rules.RULES])
    with pytest.raises(ServiceError) as exc:
        services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 2)])
    assert exc.value.code == "stock_insufficient"
    db.session.rollback()
    assert not db.session.info.get("audit_pending")
    monkeypatch.undo()
    services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 1)])
    db.session.commit()
    reserves = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "budget_line.reserve")).all()
    assert len(reserves) == 1 and reserves[0].after == {"reserved": "1200.00"}
    assert fresh(w.budget).reserved == Decimal("1200.00") and fresh(w.desk).stock == 0


def test_order_history_reads_the_units_orders_first_even_without_statistics(client, make):
    """PostgreSQL, before its statistics exist (a new or restored database under load), must read
    a unit's history through the unit's orders and their lines of the 品目, never by walking every
    line of the 品目 in the city (that grew with the square of a unit's orders: 57 ms at 978)."""
    import datetime as dt

    from orders import services

    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner")
    w = build_world(make)
    r = client.post("/api/v1/orders", json=order_payload(w, (w.desk, 1)), headers=bearer(w.token))
    assert r.status_code == 201, r.get_json()
    year = fresh(w.budget).year
    stmt = services._order_history_statement()
    params = {"unit_id": w.unit.id, "year": year, "codes": ["A05010201"],
              "start": services._window_start(dt.date(year, 1, 1))}
    sql = str(stmt.params(params).compile(db.engine, compile_kwargs={"literal_binds": True}))
    conn = db.session.connection()
    conn.exec_driver_sql("DELETE FROM pg_statistic WHERE starelid IN ('order_line'::regclass, "
                         "'purchase_order'::regclass)")
    conn.exec_driver_sql("UPDATE pg_class SET reltuples = -1, relpages = 0 "
                         "WHERE oid IN ('order_line'::regclass, 'purchase_order'::regclass)")
    plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql.replace("%", "%%")).scalar()

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)
    # every access to order_line is an index lookup by the order's id (and 品目)
    line_scans = [n for n in nodes(plan[0]["Plan"]) if n.get("Relation Name") == "order_line"]
    assert line_scans and all(n.get("Index Name") == "ix_order_line_order_category"
                              and "order_id" in n.get("Index Cond", "") for n in line_scans), line_scans
    db.session.rollback()
    assert services.order_history(db.session, w.unit.id, year, ["A05010201"],
                                  since=dt.date(year, 1, 1))[0] == {"A05010201": Decimal("1200.00")}
