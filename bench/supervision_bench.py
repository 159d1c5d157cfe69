"""Supervision benchmark: the nightly risk scan, statistics, the auditors' order list, the OCDS
export and an archive package over a city-sized year of orders, on PostgreSQL.

    GOVMALL_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/govmall_bench_sup \\
        .venv/bin/python -m bench.supervision_bench [--orders 20000] [--units 300] [--suppliers 150]

Steps: a fresh schema in the given (throw-away) database; bulk-inserted orders of this year and
last year (1–3 lines each, status history, a planted splitting pattern, over-priced lines and
late orders); then timings of ``scan_risks`` (first run and an idempotent rerun), ``stats.figures``
per grouping, the filtered order list query, the OCDS export of every order (validating a
1,000-release page with libcoveocds) and a one-month archive package. Prints the figures.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODES = [("A02010105", 4800, 6200), ("A02010108", 5200, 8000), ("A02021000", 1300, 2600),
         ("A05010201", 900, 2600), ("A05010301", 400, 1500), ("A05040101", 150, 200), ("C16040000", 8000, 60000)]


def make_app(url: str, instance: str):
    os.environ["GOVMALL_INSTANCE_PATH"] = instance
    from mall import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "CELERY_ALWAYS_EAGER": True, "CELERY_BROKER_URL": "memory://",
                       "TESTING": True})


def seed(n_orders: int, n_units: int, n_suppliers: int, rng: random.Random) -> dict:
    from sqlalchemy import insert, text

    from catalog.models import Product
    from mall.accounts import uscc
    from mall.accounts.models import Organisation, User
    from mall.cli import load_base_data
    from mall.extensions import db
    from mall.timeutil import utcnow
    from orders.models import BudgetLine, Order, OrderLine, OrderStatusChange
    from suppliers.models import SupplierProfile

    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.create_all()
    load_base_data()
    orgs, n = [], 0
    for i in range(n_units + n_suppliers):
        n += 1
        kind = "budget_unit" if i < n_units else "supplier"
        orgs.append({"id": n, "kind": kind, "name": f"{'预算单位' if kind == 'budget_unit' else '供应商'}{i:04d}",
                     "uscc": uscc.make(f"91350100{n:09d}"), "created_at": utcnow(),
                     "canteen_food_budget": Decimal(rng.choice([0, 200000, 500000])) if kind == "budget_unit" else None})
    db.session.execute(insert(Organisation), orgs)
    units = [o["id"] for o in orgs if o["kind"] == "budget_unit"]
    suppliers = [o["id"] for o in orgs if o["kind"] == "supplier"]
    db.session.execute(insert(SupplierProfile), [{"organisation_id": s, "status": "active", "pavilion_status": "none",
                                                  "sme_size": rng.choice(["micro", "small", "medium", "large"]),
                                                  "created_at": utcnow()} for s in suppliers])
    db.session.execute(insert(User), [{"id": u, "username": f"b{u}", "display_name": "采购人", "password_hash": "x",
                                       "role": "buyer", "organisation_id": u, "active": True, "failed_logins": 0,
                                       "created_at": utcnow()} for u in units])
    year = utcnow().year
    lines_b = [{"id": i + 1, "unit_id": u, "year": y, "project_code": f"P{u}-{y}", "project_name": "办公设备",
                "economic_class": "31002", "economic_class_name": "办公设备购置", "amount": Decimal("9999999"),
                "reserved": 0, "spent": 0, "created_at": utcnow()}
               for i, (u, y) in enumerate((u, y) for u in units for y in (year - 1, year))]
    db.session.execute(insert(BudgetLine), lines_b)
    budget = {(b["unit_id"], b["year"]): b["id"] for b in lines_b}
    products, pid = {}, 0
    for s in suppliers:
        for code, low, high in CODES:
            pid += 1
            price = Decimal(rng.randint(low, high))
            products[(s, code)] = (pid, price)
    db.session.execute(insert(Product), [{"id": p, "supplier_id": s, "zone_code": "central" if c.startswith("A02") else "self",
                                          "category_code": c, "title": f"商品{p}", "brand": "品牌", "model": f"M{p}",
                                          "specs": {}, "unit": "件", "price": price, "market_price": price * Decimal("1.1"),
                                          "stock": 100, "status": "listed", "is_sme": False, "sales_count": 0,
                                          "search_dirty": False, "created_at": utcnow(), "updated_at": utcnow()}
                                         for (s, c), (p, price) in products.items()])
    snapshot = {"name": "2025年版", "decentralized_threshold_goods": "1000000.00",
                "decentralized_threshold_services": "1000000.00", "direct_purchase_limit": "200000.00",
                "split_window_days": 90}
    now = utcnow()
    orders, lines, history, line_id, hist_id = [], [], [], 0, 0
    for i in range(1, n_orders + 1):
        y = year if i % 3 else year - 1
        placed = (now - dt.timedelta(days=rng.randint(1, 300))) if y == year else \
            now.replace(year=year - 1) - dt.timedelta(days=rng.randint(0, 200))
        u, s = rng.choice(units), rng.choice(suppliers)
        status = rng.choices(["confirmed", "delivered", "accepted", "paid", "submitted", "cancelled"],
                             [20, 10, 10, 50, 5, 5])[0]
        total = ref = Decimal(0)
        for code, _, _ in rng.sample(CODES, rng.randint(1, 3)):
            pid, price = products[(s, code)]
            qty = rng.randint(1, 20)
            unit_price = price if rng.random() > 0.02 else price * Decimal("1.6")  # 2% over-priced
            line_id += 1
            lines.append({"id": line_id, "order_id": i, "product_id": pid, "category_code": code, "title": f"商品{pid}",
                          "unit": "件", "quantity": qty, "unit_price": unit_price, "reference_price": price * Decimal("1.05"),
                          "line_total": unit_price * qty, "savings": (price * Decimal("1.05") - unit_price) * qty})
            total += unit_price * qty
            ref += price * Decimal("1.05") * qty
        orders.append({"id": i, "number": f"GMB{i:08d}", "buyer_unit_id": u, "buyer_user_id": u, "supplier_id": s,
                       "budget_line_id": budget[(u, y)], "zone_code": "central", "status": status,
                       "payment_method": "treasury", "total": total, "reference_total": ref, "savings": ref - total,
                       "budget_year": y, "is_sme": rng.random() < 0.7, "policy_snapshot": snapshot, "rule_results": [],
                       "placed_at": placed, "confirm_deadline": placed + dt.timedelta(days=2)})
        flow = ["submitted"] + {"confirmed": ["confirmed"], "delivered": ["confirmed", "delivered"],
                                "accepted": ["confirmed", "delivered", "accepted"],
                                "paid": ["confirmed", "delivered", "accepted", "paid"], "submitted": [],
                                "cancelled": ["cancelled"]}[status]
        for k, st in enumerate(flow):
            hist_id += 1
            history.append({"id": hist_id, "order_id": i, "from_status": flow[k - 1] if k else None, "to_status": st,
                            "actor_role": "system", "created_at": placed + dt.timedelta(hours=6 * k)})
    for chunk in range(0, len(orders), 5000):
        db.session.execute(insert(Order), orders[chunk:chunk + 5000])
    for chunk in range(0, len(lines), 10000):
        db.session.execute(insert(OrderLine), lines[chunk:chunk + 10000])
    for chunk in range(0, len(history), 10000):
        db.session.execute(insert(OrderStatusChange), history[chunk:chunk + 10000])
    for table in ("organisation", "user_account", "budget_line", "product", "purchase_order", "order_line",
                  "order_status_change"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    db.session.commit()
    return {"orders": len(orders), "lines": len(lines), "year": year}


def timed(label: str, fn):
    t0 = time.perf_counter()
    result = fn()
    print(f"{label}: {time.perf_counter() - t0:.2f}s")
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20000)
    ap.add_argument("--units", type=int, default=300)
    ap.add_argument("--suppliers", type=int, default=150)
    args = ap.parse_args()
    url = os.environ.get("GOVMALL_BENCH_PG_URL")
    if not url:
        raise SystemExit("set GOVMALL_BENCH_PG_URL to a throw-away PostgreSQL database")
    with tempfile.TemporaryDirectory() as instance:
        app = make_app(url, instance)
        with app.test_request_context():
            from flask_login import login_user
            from sqlalchemy import select

            from mall.accounts.models import User
            from mall.extensions import db
            from supervision import archive, filters, ocds, services, stats

            info = timed("seed", lambda: seed(args.orders, args.units, args.suppliers, random.Random(7)))
            print(f"orders: {info['orders']:,}, lines: {info['lines']:,}")
            first = timed("scan_risks (first run)", services.scan_risks)
            db.session.commit()
            print(f"  checked {first['orders_checked']:,} orders, findings {first['findings']:,}, "
                  f"flags created {first['created']:,} {first['created_by_kind']}")
            again = timed("scan_risks (rerun)", services.scan_risks)
            db.session.commit()
            print(f"  flags created on rerun: {again['created']}")
            for g in stats.GROUPS:
                timed(f"stats.figures(group_by={g})", lambda g=g: stats.figures(info["year"], g))
            f, _ = filters.parse({"pinmu": "A02", "min": "10000", "flags": "open"})
            timed("order list (品目 A02…, ≥¥10,000, open flags), page 1",
                  lambda: db.session.scalars(filters.orders_query(f).limit(30)).all())
            releases = timed("OCDS releases (all orders, CLI export path)", ocds.all_releases)
            print(f"  releases: {len(releases):,}, JSON {len(json.dumps(releases, ensure_ascii=False)) / 1e6:.1f} MB")
            package = ocds.package(releases[:1000], uri="http://localhost/api/v1/ocds/releases")
            from libcoveocds.api import ocds_json_output
            from libcoveocds.config import LibCoveOCDSConfig

            cfg = LibCoveOCDSConfig()
            cfg.config["standard_zip"] = "file:///work/shared/data/ocds/standard-1__1__5.zip"
            cfg.config["context"] = "api"
            with tempfile.TemporaryDirectory() as out:
                p = Path(out) / "p.json"
                p.write_text(json.dumps(package, ensure_ascii=False))
                report = timed("libcoveocds on 1,000 releases", lambda: ocds_json_output(
                    out, str(p), None, json_data=package, lib_cove_ocds_config=cfg))
            print(f"  validation errors: {len(report['validation_errors'])}")
            auditor_org = db.session.execute(select(User.organisation_id)).first()
            auditor = User(username="bench-auditor", display_name="审计", password_hash="x", role="auditor",
                           organisation_id=auditor_org[0])
            db.session.add(auditor)
            db.session.commit()
            login_user(auditor)
            end = dt.date.today()
            orders_, scope = archive.orders_for_scope(None, end - dt.timedelta(days=30), end)
            data = timed(f"archive package ({len(orders_):,} orders of 30 days)",
                         lambda: archive.build_package(orders_, scope))
            db.session.rollback()
            print(f"  zip: {len(data) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
