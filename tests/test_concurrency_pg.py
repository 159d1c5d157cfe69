"""Concurrency proof on PostgreSQL: 50 parallel checkouts racing for one budget line, for the
last units of stock, and with one Idempotency-Key — no overspend, no oversell, no lost order.

Run with ``GOVMALL_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<db>``.
Each thread has its own application context, hence its own session and connection.
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from mall.extensions import db
from tests.test_checkout import _fast_password_hashing, build_world  # noqa: F401 (autouse fixture)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("GOVMALL_TEST_DATABASE_URL", "").startswith(("postgresql", "postgres://")),
                       reason="needs GOVMALL_TEST_DATABASE_URL pointing to PostgreSQL"),
]

THREADS = 50


@pytest.fixture
def wide_app(app):
    """The same database with a pool wide enough for every thread to hold a connection at once."""
    from mall import create_app

    cfg = {k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "CELERY_BROKER_URL",
                                       "CELERY_ALWAYS_EAGER", "UPLOAD_FOLDER")}
    wide = create_app({**cfg, "TESTING": True, "ENV": "testing", "WTF_CSRF_ENABLED": False,
                       "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": THREADS + 5, "max_overflow": 5,
                                                     "pool_pre_ping": True}})
    yield wide
    with wide.app_context():
        db.engine.dispose()
    from mall.celery_app import init_celery

    init_celery(app)  # give Celery back to the session's app


def race(app, n, attempt):
    """Run ``attempt(i)`` in n threads started together; returns [(i, "ok", value) | (i, "refused", codes)]."""
    from mall.problems import ServiceError

    barrier = threading.Barrier(n)
    results, errors = [], []
    lock = threading.Lock()

    def worker(i):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                value = attempt(i)
                db.session.commit()
                outcome = (i, "ok", value)
            except ServiceError as exc:
                db.session.rollback()
                outcome = (i, "refused", tuple(p.code for p in exc.problems if p.severity == "error"))
            except Exception as exc:  # noqa: BLE001 - reported below, fails the test
                db.session.rollback()
                with lock:
                    errors.append((i, repr(exc)))
                return
            finally:
                db.session.remove()
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == n                       # every attempt has an answer
    return results


def test_fifty_checkouts_race_for_one_budget_line(make, wide_app):
    from mall.accounts.models import User
    from orders import services
    from orders.models import BudgetLine, Order

    assert db.engine.dialect.name == "postgresql"
    w = build_world(make, budget_amount="48000.00", desk_stock=10000)   # room for exactly 10 orders of ¥4,800
    clerks = [w.buyer.id] + [make.user("buyer", organisation=w.unit).id for _ in range(4)]
    budget_id, desk_id = w.budget.id, w.desk.id

    def attempt(i):
        user = db.session.get(User, clerks[i % len(clerks)])
        order, _ = services.place_order(user, budget_line_id=budget_id, lines=[(desk_id, 4)])
        return order.id

    results = race(wide_app, THREADS, attempt)
    ok = [r for r in results if r[1] == "ok"]
    refused = [r for r in results if r[1] == "refused"]
    assert len(ok) == 10 and len(refused) == 40
    assert all(codes == ("budget_insufficient",) for _, _, codes in refused), Counter(r[2] for r in refused)
    db.session.expire_all()
    budget = db.session.get(BudgetLine, budget_id)
    placed = db.session.scalars(select(Order).where(Order.budget_line_id == budget_id)).all()
    assert sorted(o.id for o in placed) == sorted(r[2] for r in ok)            # no lost, no phantom order
    assert budget.reserved == sum(o.total for o in placed) == Decimal("48000.00")
    assert budget.available == 0 and budget.reserved + budget.spent <= budget.amount
    assert len({o.number for o in placed}) == 10
    assert fresh_stock(desk_id) == 10000 - 4 * 10


def fresh_stock(product_id):
    from catalog.models import Product

    db.session.expire_all()
    return db.session.get(Product, product_id).stock


def test_fifty_checkouts_race_for_the_last_units(make, wide_app):
    from mall.accounts.models import User
    from orders import services
    from orders.models import OrderLine

    w = build_world(make, budget_amount="5000000.00", central_stock=7)
    # buyers of ten different units, each with its own budget line
    buyers = []
    for _ in range(10):
        unit = make.org("budget_unit")
        buyers.append((make.user("buyer", organisation=unit).id, make.budget_line(unit, amount="100000").id))
    product_id = w.central.id

    def attempt(i):
        user_id, budget_id = buyers[i % len(buyers)]
        order, _ = services.place_order(db.session.get(User, user_id), budget_line_id=budget_id,
                                        lines=[(product_id, 1)])
        return order.id

    results = race(wide_app, THREADS, attempt)
    ok = [r for r in results if r[1] == "ok"]
    refused = [r for r in results if r[1] == "refused"]
    assert len(ok) == 7 and len(refused) == 43
    assert all(codes == ("stock_insufficient",) for _, _, codes in refused)
    sold = db.session.scalar(select(func.sum(OrderLine.quantity)).where(OrderLine.product_id == product_id))
    assert sold == 7 and fresh_stock(product_id) == 0


def test_concurrent_duplicates_with_one_idempotency_key_make_one_order(make, wide_app):
    from mall.accounts.models import User
    from orders import services
    from orders.models import Order

    w = build_world(make)
    buyer_id, budget_id, desk_id = w.buyer.id, w.budget.id, w.desk.id
    request_hash = services.fingerprint({"lines": [[desk_id, 2]]})

    def attempt(i):
        user = db.session.get(User, buyer_id)

        def produce():
            order, _ = services.place_order(user, budget_line_id=budget_id, lines=[(desk_id, 2)])
            return 201, {"id": order.id, "number": order.number}

        status, body, replayed = services.run_idempotent(user, "double-submit-1", "api.orders.create",
                                                         request_hash, produce)
        return body["id"], replayed

    results = race(wide_app, 20, attempt)
    assert all(r[1] == "ok" for r in results)
    ids = {r[2][0] for r in results}
    assert len(ids) == 1
    assert sum(1 for r in results if not r[2][1]) == 1                      # one placed, 19 replayed
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    assert fresh_stock(desk_id) == 48


def test_a_slow_card_gateway_does_not_hold_up_other_buyers_of_the_product(make, wide_app, monkeypatch):
    """The card is held before the product rows are locked: while one unit's hold waits on the
    gateway, another unit's order of the same product goes through at once."""
    import time

    from orders import payments, services

    w = build_world(make, desk_stock=100)
    other_unit = make.org("budget_unit", name="福州市卫生健康委员会")
    other = make.user("buyer", organisation=other_unit)
    other_budget = make.budget_line(other_unit, amount="500000.00")
    ids = {"buyer": w.buyer.id, "other": other.id, "budget": w.budget.id, "other_budget": other_budget.id,
           "desk": w.desk.id}
    gateway_entered, release = threading.Event(), threading.Event()

    class Hold:
        id, card_last4, status = "pi_slow_gateway", "4242", "requires_capture"

    def slow_hold(order, payment_method_id=None):
        gateway_entered.set()
        assert release.wait(20)
        return Hold()

    monkeypatch.setattr(payments, "hold_card", slow_hold)
    timings = {}

    def card_order():
        from mall.accounts.models import User

        with wide_app.app_context():
            services.place_order(db.session.get(User, ids["buyer"]), budget_line_id=ids["budget"],
                                 lines=[(ids["desk"], 1)], payment_method="card")
            db.session.commit()
            timings["card_done"] = time.monotonic()
            db.session.remove()

    slow = threading.Thread(target=card_order)
    slow.start()
    assert gateway_entered.wait(20)                  # the card order is waiting on the gateway
    from mall.accounts.models import User

    with wide_app.app_context():
        start = time.monotonic()
        order, _ = services.place_order(db.session.get(User, ids["other"]), budget_line_id=ids["other_budget"],
                                        lines=[(ids["desk"], 2)])
        db.session.commit()
        elapsed = time.monotonic() - start
        db.session.remove()
    release.set()
    slow.join(30)
    assert not slow.is_alive() and "card_done" in timings
    assert elapsed < 5, f"the treasury order waited {elapsed:.1f} s behind the card gateway"
    assert fresh_stock(ids["desk"]) == 100 - 2 - 1
