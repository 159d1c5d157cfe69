"""The order lifecycle: every edge allowed or refused by role (refusals change nothing),
impossible edges, notes, working-day deadlines, the overdue-cancellation and reminder tasks."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from mall.audit import AuditRecord
from mall.extensions import db
from mall.problems import ServiceError
from mall.timeutil import LOCAL_TZ
from orders import lifecycle
from orders.workdays import WorkCalendar, calendar
from tests.test_checkout import _fast_password_hashing, build_world, fresh  # noqa: F401 (autouse fixture)

ROLES = ("buyer", "supplier", "auditor", "operator")
HAPPY = ["confirmed", "shipped", "delivered", "accepted", "paid", "archived"]


def local(y, m, d, h=10, minute=0):
    return dt.datetime(y, m, d, h, minute, tzinfo=LOCAL_TZ)


class Actors:
    def __init__(self, make, w):
        self.w = w
        self.by_role = {"buyer": w.buyer, "supplier": w.supplier_user,
                        "auditor": make.user("auditor"), "operator": make.user("operator")}

    def __getitem__(self, role):
        return self.by_role[role]


def settle_payment(order):
    """What the payment side does before 'paid': a settled payment covering the total."""
    from orders.models import Payment

    p = db.session.scalars(select(Payment).where(Payment.order_id == order.id)).first()
    if p is None:
        p = Payment(order_id=order.id, method=order.payment_method, status="instructed", amount=order.total)
        db.session.add(p)
    p.status = "captured" if order.payment_method == "card" else "paid"
    db.session.flush()


def order_in(w, actors, status, payment_method="treasury", now=None):
    """An order brought to ``status`` through the lifecycle itself."""
    from orders import services

    order, _ = services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.central.id, 2)],
                                    payment_method=payment_method, now=now)
    db.session.commit()
    if status == "submitted":
        return order
    if status in ("rejected", "cancelled"):
        actor = actors["supplier"] if status == "rejected" else actors["buyer"]
        services.transition(order, status, user=actor, note="测试原因")
        db.session.commit()
        return order
    for target in HAPPY:
        if target == "paid":
            settle_payment(order)
        if order.status == "paid" and target == "paid":
            continue
        edge = lifecycle.edge(order.status, target)
        role = next(r for r in edge.allowed_roles(order.payment_method) if r != lifecycle.SYSTEM)
        services.transition(order, target, user=actors[role], note="验收合格" if target == "accepted" else None)
        db.session.commit()
        if order.status == status:
            break
    assert order.status == status
    return order


def state(order, w):
    db.session.expire_all()
    o = db.session.get(type(order), order.id)
    b = fresh(w.budget)
    return {"status": o.status, "history": len(o.history), "reserved": b.reserved, "spent": b.spent,
            "stock": fresh(w.central).stock, "sales": fresh(w.central).sales_count,
            "audit": db.session.scalar(select(func.count()).select_from(AuditRecord))}


# ------------------------------------------------------------------ the table

def test_table_shape():
    keys = {(e.source, e.target) for e in lifecycle.TRANSITIONS}
    assert keys == {("submitted", "confirmed"), ("submitted", "rejected"), ("submitted", "cancelled"),
                    ("confirmed", "shipped"), ("confirmed", "cancelled"), ("shipped", "delivered"),
                    ("delivered", "accepted"), ("accepted", "paid"), ("paid", "archived")}
    assert lifecycle.edge("accepted", "paid").allowed_roles("card") == ("system", "buyer")
    assert set(lifecycle.edge("accepted", "paid").allowed_roles("treasury")) == {"system", "auditor", "operator"}
    assert all(e.note_required for e in lifecycle.TRANSITIONS if e.target in ("rejected", "cancelled", "accepted"))


EDGE_ROLE_CASES = [(e.source, e.target, pm, role)
                   for e in lifecycle.TRANSITIONS
                   for pm in (("treasury", "card") if e.target == "paid" else ("treasury",))
                   for role in ROLES]


@pytest.mark.parametrize("source,target,payment_method,role", EDGE_ROLE_CASES,
                         ids=[f"{s}->{t}-{pm}-{r}" for s, t, pm, r in EDGE_ROLE_CASES])
def test_every_edge_by_every_role(make, monkeypatch, source, target, payment_method, role):
    from orders import services

    w = build_world(make)
    actors = Actors(make, w)
    if payment_method == "card":
        # the payment side authorises cards at placement; here only the lifecycle is under test
        from orders.events import order_authorizing, order_placed

        monkeypatch.setattr(order_authorizing, "receivers", {})
        monkeypatch.setattr(order_placed, "receivers", {})
    order = order_in(w, actors, source, payment_method=payment_method)
    if target == "paid":
        settle_payment(order)
        db.session.commit()
    before = state(order, w)
    edge = lifecycle.edge(source, target)
    allowed = role in edge.allowed_roles(payment_method)
    note = "说明" if edge.note_required else None
    if allowed:
        change = services.transition(order, target, user=actors[role], note=note)
        db.session.commit()
        after = state(order, w)
        assert after["status"] == target and after["history"] == before["history"] + 1
        assert change.actor_role == role and change.from_status == source
        assert after["audit"] > before["audit"]
        rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "order.transition")
                                 .order_by(AuditRecord.seq.desc())).first()
        assert rec.before == {"status": source} and rec.after == {"status": target} and rec.actor_role == role
        total = Decimal("9600.00")
        if target in ("rejected", "cancelled"):
            assert after["reserved"] == before["reserved"] - total and after["stock"] == before["stock"] + 2
        elif target == "paid":
            assert after["reserved"] == before["reserved"] - total and after["spent"] == before["spent"] + total
        elif target == "accepted":
            assert after["sales"] == before["sales"] + 2
        else:
            assert (after["reserved"], after["spent"], after["stock"]) == \
                (before["reserved"], before["spent"], before["stock"])
    else:
        with pytest.raises(ServiceError) as exc:
            services.transition(order, target, user=actors[role], note=note)
        db.session.rollback()
        assert exc.value.status == 403 and exc.value.code == "transition_not_allowed_for_role"
        assert state(order, w) == before


@pytest.mark.parametrize("source,target", [("submitted", "paid"), ("submitted", "shipped"), ("confirmed", "rejected"),
                                           ("delivered", "confirmed"), ("cancelled", "confirmed"),
                                           ("rejected", "submitted"), ("archived", "paid"), ("shipped", "cancelled")])
def test_impossible_edges_are_409_and_change_nothing(make, source, target):
    from orders import services

    w = build_world(make)
    actors = Actors(make, w)
    order = order_in(w, actors, source)
    before = state(order, w)
    for role in ROLES:
        with pytest.raises(ServiceError) as exc:
            services.transition(order, target, user=actors[role], note="x")
        db.session.rollback()
        assert exc.value.status == 409 and exc.value.code == "invalid_transition"
    assert state(order, w) == before


def test_reason_required_for_rejection_cancellation_and_acceptance_note(make):
    from orders import services

    w = build_world(make)
    actors = Actors(make, w)
    order = order_in(w, actors, "submitted")
    for target, role in (("rejected", "supplier"), ("cancelled", "buyer")):
        with pytest.raises(ServiceError) as exc:
            services.transition(order, target, user=actors[role], note="   ")
        db.session.rollback()
        assert exc.value.code == "note_required" and exc.value.status == 422
    delivered = order_in(w, actors, "delivered")
    with pytest.raises(ServiceError) as exc:
        services.transition(delivered, "accepted", user=actors["buyer"])
    db.session.rollback()
    assert "验收意见" in exc.value.problems[0].message
    services.transition(order, "rejected", user=actors["supplier"], note="型号已停产")
    db.session.commit()
    assert fresh(order).closed_reason == "型号已停产"


def test_parties_of_other_orders_see_404(make):
    from orders import services

    w = build_world(make)
    actors = Actors(make, w)
    order = order_in(w, actors, "submitted")
    stranger_buyer = make.user("buyer")
    stranger_supplier = make.user("supplier")
    for u, target in ((stranger_buyer, "cancelled"), (stranger_supplier, "confirmed")):
        with pytest.raises(ServiceError) as exc:
            services.transition(order, target, user=u, note="x")
        db.session.rollback()
        assert exc.value.status == 404
    assert fresh(order).status == "submitted"


def test_paid_needs_a_settled_payment(make):
    from orders import services
    from orders.models import Payment

    w = build_world(make)
    actors = Actors(make, w)
    order = order_in(w, actors, "accepted")
    with pytest.raises(ServiceError) as exc:
        services.transition(order, "paid", user=actors["operator"])
    db.session.rollback()
    assert exc.value.code == "payment_not_settled" and exc.value.status == 409
    assert fresh(w.budget).reserved == Decimal("9600.00")
    # a partial payment is not enough
    p = db.session.scalars(select(Payment).where(Payment.order_id == order.id)).first()
    if p is None:
        p = Payment(order_id=order.id, method="treasury", status="instructed", amount=order.total)
        db.session.add(p)
    p.status, p.amount = "paid", Decimal("9599.99")
    db.session.commit()
    with pytest.raises(ServiceError):
        services.transition(order, "paid", user=actors["operator"])
    db.session.rollback()


def test_system_transitions_and_concurrent_change_is_409(make):
    from orders import services
    from orders.models import Order

    w = build_world(make)
    actors = Actors(make, w)
    order = order_in(w, actors, "submitted")
    assert order.status == "submitted"          # this session's view
    # somebody else confirmed it meanwhile, in another connection
    with db.engine.begin() as conn:
        conn.execute(Order.__table__.update().where(Order.__table__.c.id == order.id).values(status="confirmed"))
    with pytest.raises(ServiceError) as exc:
        services.transition(order, "cancelled", system=True, note="超时")
    db.session.rollback()
    assert exc.value.status == 409
    assert fresh(order).status == "confirmed" and fresh(w.budget).reserved == Decimal("9600.00")


def test_transition_sends_signal_with_change(make):
    from orders import services
    from orders.events import order_transitioned

    w = build_world(make)
    actors = Actors(make, w)
    order = order_in(w, actors, "submitted")
    seen = []

    def receiver(o, change=None, **kw):
        seen.append((o.id, change.from_status, change.to_status, change.id is not None))

    order_transitioned.connect(receiver)
    try:
        services.transition(order, "confirmed", user=actors["supplier"])
        db.session.commit()
    finally:
        order_transitioned.disconnect(receiver)
    assert seen == [(order.id, "submitted", "confirmed", True)]


# ------------------------------------------------------------------ working days and deadlines

def test_workdays_weekends_holidays_and_makeup_days():
    cal = calendar({})
    assert cal.add_workdays(dt.date(2026, 3, 13), 2) == dt.date(2026, 3, 17)     # Fri → Tue
    assert cal.add_workdays(dt.date(2026, 9, 30), 2) == dt.date(2026, 10, 9)     # 国庆 1–7 off
    assert cal.is_workday(dt.date(2026, 10, 10))                                  # Saturday worked (调休)
    assert not cal.is_workday(dt.date(2026, 10, 5)) and not cal.is_workday(dt.date(2026, 3, 14))
    assert cal.add_workdays(dt.date(2026, 2, 13), 1) == dt.date(2026, 2, 14)     # Sat 2-14 is a makeup day
    assert cal.add_workdays(dt.date(2026, 2, 14), 1) == dt.date(2026, 2, 24)     # 春节 15–23 off
    assert cal.workdays_between(dt.date(2026, 3, 13), dt.date(2026, 3, 20)) == 5
    # configurable: an extra local holiday, or a calendar of its own
    cal2 = calendar({"ORDER_HOLIDAYS": ["2026-03-16"]})
    assert cal2.add_workdays(dt.date(2026, 3, 13), 2) == dt.date(2026, 3, 18)
    only = calendar({"ORDER_HOLIDAYS_REPLACE": True, "ORDER_HOLIDAYS": []})
    assert only.is_workday(dt.date(2026, 10, 5)) and not only.is_workday(dt.date(2026, 10, 10))


def test_deadline_is_end_of_nth_working_day_local_time():
    cal = WorkCalendar()
    d = cal.deadline(local(2026, 3, 13, 15, 0), 2)               # Friday afternoon
    assert d == local(2026, 3, 18, 0, 0).astimezone(dt.timezone.utc)
    # 23:30 local on Friday is still Friday (UTC date differs)
    assert cal.deadline(local(2026, 3, 13, 23, 30), 2) == d


def test_order_gets_confirm_deadline_from_config(app, make):
    from orders import services

    w = build_world(make, budget_year=2026)
    order, _ = services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 1)],
                                    now=local(2026, 3, 13, 15))
    assert order.confirm_deadline == local(2026, 3, 18, 0, 0)
    db.session.rollback()
    w = build_world(make, budget_year=2026)
    app.config["ORDER_CONFIRM_WORKDAYS"] = 3
    try:
        order, _ = services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.desk.id, 1)],
                                        now=local(2026, 3, 13, 15))
    finally:
        app.config.pop("ORDER_CONFIRM_WORKDAYS")
    assert order.confirm_deadline == local(2026, 3, 19, 0, 0)
    db.session.rollback()


# ------------------------------------------------------------------ scheduled tasks

def _placed_on(w, now):
    from orders import services

    order, _ = services.place_order(w.buyer, budget_line_id=w.budget.id, lines=[(w.central.id, 2)], now=now)
    db.session.commit()
    return order


def test_cancel_overdue_is_idempotent_audited_and_releases(make):
    from orders import services
    from orders.tasks import cancel_overdue

    w = build_world(make, budget_year=2026)
    overdue = _placed_on(w, local(2026, 3, 13, 15))       # deadline 2026-03-18 00:00
    confirmed = _placed_on(w, local(2026, 3, 13, 15))
    services.transition(confirmed, "confirmed", user=w.supplier_user)
    db.session.commit()
    assert fresh(w.budget).reserved == Decimal("19200.00") and fresh(w.central).stock == 46

    early = cancel_overdue(now=local(2026, 3, 17, 23, 59))
    assert early["cancelled"] == [] and fresh(overdue).status == "submitted"

    result = cancel_overdue(now=local(2026, 3, 18, 9, 0))
    assert result["cancelled"] == [overdue.number]
    o = fresh(overdue)
    assert o.status == "cancelled" and "2个工作日" in o.closed_reason
    assert o.history[-1].actor_role == "system" and o.history[-1].actor_id is None
    assert fresh(confirmed).status == "confirmed"
    assert fresh(w.budget).reserved == Decimal("9600.00") and fresh(w.central).stock == 48
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "order.transition",
                                                       AuditRecord.object_id == str(overdue.id))).all()
    assert len(rec) == 1 and rec[0].actor_name == "system" and rec[0].after == {"status": "cancelled"}

    again = cancel_overdue(now=local(2026, 3, 19, 9, 0))
    assert again["cancelled"] == []
    assert fresh(w.budget).reserved == Decimal("9600.00") and fresh(w.central).stock == 48
    assert len(fresh(overdue).history) == 2


def test_cancel_overdue_runs_as_celery_task(make):
    from orders.tasks import cancel_overdue_task

    w = build_world(make, budget_year=2025)
    old = _placed_on(w, dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.timezone.utc))
    result = cancel_overdue_task.apply().get()
    assert result["cancelled"] == [old.number] and fresh(old).status == "cancelled"
    from mall.celery_app import BEAT_SCHEDULE

    tasks = {v["task"] for v in BEAT_SCHEDULE.values()}
    assert {"orders.cancel_overdue", "orders.send_reminders"} <= tasks


def test_reminders_are_created_once(make):
    from orders import services
    from orders.models import Notification
    from orders.tasks import send_reminders

    w = build_world(make, budget_year=2026)
    order = _placed_on(w, local(2026, 3, 13, 15))           # deadline end of Tue 17th
    far = send_reminders(now=local(2026, 3, 13, 16))         # deadline more than one working day away
    assert far["confirm"] == 0
    first = send_reminders(now=local(2026, 3, 16, 9))       # Monday: deadline on the next working day
    second = send_reminders(now=local(2026, 3, 17, 9))
    assert first["confirm"] == 1 and second["confirm"] == 0
    notes = db.session.scalars(select(Notification).where(Notification.kind == "order.confirm_reminder")).all()
    assert len(notes) == 1 and notes[0].recipient_org_id == w.supplier.id and order.number in notes[0].title
    # a delivered order waiting five working days: the buyer is reminded to accept, once
    services.transition(order, "confirmed", user=w.supplier_user, now=local(2026, 3, 16, 10))
    services.transition(order, "shipped", user=w.supplier_user, now=local(2026, 3, 16, 11))
    services.transition(order, "delivered", user=w.supplier_user, now=local(2026, 3, 16, 12))
    db.session.commit()
    assert send_reminders(now=local(2026, 3, 20, 9))["accept"] == 0   # 4 working days
    assert send_reminders(now=local(2026, 3, 23, 9))["accept"] == 1   # 5 working days
    assert send_reminders(now=local(2026, 3, 24, 9))["accept"] == 0
    accept = db.session.scalars(select(Notification).where(Notification.kind == "order.accept_reminder")).all()
    assert len(accept) == 1 and accept[0].recipient_org_id == w.unit.id
