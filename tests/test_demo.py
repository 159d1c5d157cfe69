"""The demo mall generator (mall/demo.py): a complete, valid, reproducible world."""
from __future__ import annotations

import collections
import datetime as dt
from decimal import Decimal

import pytest
from flask_login import current_user
from sqlalchemy import func, select, text

from mall import demo
from mall.accounts import uscc
from mall.accounts.models import Organisation, User
from mall.extensions import db
from mall.timeutil import today

SMALL = 300


def _seed(products=SMALL, rng_seed=2025, progress=None):
    return demo.seed(db.session, products=products, rng_seed=rng_seed, progress=progress)


def _wipe():
    """Empty the data tables (as the conftest does after each test), keeping 品目 and zones."""
    from tests.conftest import KEEP_TABLES

    db.session.remove()
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(t.delete())


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_organisations_budgets_and_suppliers_are_complete_and_valid(ctx):
    from orders.models import BudgetLine
    from suppliers.models import SmeDeclaration, SupplierProfile
    from suppliers.sme import classify

    summary = _seed()
    assert summary["products"] == SMALL

    # every organisation has a valid, unique 统一社会信用代码
    codes = db.session.scalars(select(Organisation.uscc)).all()
    assert codes and all(uscc.is_valid(c) for c in codes)
    assert len(set(codes)) == len(codes)

    kinds = collections.Counter(db.session.scalars(select(Organisation.kind)))
    assert kinds["trading_center"] == 1 and kinds["finance_bureau"] == 1
    assert kinds["budget_unit"] >= 30 and kinds["supplier"] >= 300

    # budget units: a real hierarchy, a region, 2–4 budget lines of this year, canteens with a food budget
    units = db.session.scalars(select(Organisation).where(Organisation.kind == "budget_unit")).all()
    assert sum(1 for u in units if u.parent_id) >= 20
    assert all(u.region_code and u.region_name.startswith("福建省福州市") for u in units)
    by_name = {u.name: u for u in units}
    assert by_name["福州市第一中学"].parent.name == "福州市教育局"
    assert by_name["福州市第一医院"].parent.name == "福州市卫生健康委员会"
    for name, unit in by_name.items():
        if name.endswith(("中学", "小学", "医院")):
            assert unit.canteen_food_budget and unit.canteen_food_budget > 0, name
    lines = collections.defaultdict(list)
    for line in db.session.scalars(select(BudgetLine)):
        lines[line.unit_id].append(line)
    assert set(lines) == {u.id for u in units}
    for unit_lines in lines.values():
        assert 2 <= len(unit_lines) <= 4
        for line in unit_lines:
            assert line.year == today().year and isinstance(line.amount, Decimal) and line.amount > 0
            assert line.economic_class in {"30201", "31002", "30216", "30227", "30231", "31007", "30213",
                                           "30218", "31003"}
            assert line.available == line.amount

    # suppliers: a profile and one current SME declaration each, whose figures give the declared size
    profiles = {p.organisation_id: p for p in db.session.scalars(select(SupplierProfile))}
    declarations = db.session.scalars(select(SmeDeclaration).where(SmeDeclaration.is_current.is_(True))).all()
    assert len(profiles) == kinds["supplier"] == len(declarations)
    for d in declarations:
        assert classify(d.industry, d.staff, d.revenue).size == d.size == profiles[d.supplier_id].sme_size
        assert d.year == today().year - 1 and d.total_assets > 0
        if d.manufacturer_name:
            assert d.manufacturer_size == d.size
    sme_share = sum(1 for p in profiles.values() if p.is_sme) / len(profiles)
    assert 0.70 <= sme_share <= 0.80
    assert sum(1 for d in declarations if d.manufacturer_name) >= 20  # goods makers declare as manufacturers
    qualified = [p for p in profiles.values() if p.pavilion_status == "qualified"]
    assert len(qualified) >= 10
    assert all(p.pavilion_county and p.pavilion_county.endswith(("县", "旗")) for p in qualified)
    assert "甘肃省临夏州东乡族自治县" in {p.pavilion_county for p in qualified}


def test_catalog_versions_agreements_and_solicitations(ctx):
    from catalog import pinmu
    from catalog.models import Agreement, AgreementPrice, PolicyVersion, Solicitation
    from catalog.policy import centralized_item_for, policy_in_force

    _seed()
    day = today()
    versions = {p.name: p for p in db.session.scalars(select(PolicyVersion))}
    v25, v26 = versions["2025年版"], versions["2026年版"]
    assert (v25.effective_from, v25.effective_to) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert (v26.effective_from, v26.effective_to) == (dt.date(2026, 1, 1), None)
    assert (v25.direct_purchase_limit, v26.direct_purchase_limit) == (Decimal("200000"), Decimal("300000"))
    for v in (v25, v26):
        assert v.decentralized_threshold_goods == v.decentralized_threshold_services == Decimal("1000000")
        assert v.decentralized_threshold_works == Decimal("1200000")
        assert v.open_tender_threshold_goods == Decimal("2000000")
        assert v.open_tender_threshold_works == Decimal("4000000")
        assert v.sme_price_deduction == Decimal("0.10") and v.split_window_days == 90
    items = {i.category_code: i for i in v26.items}
    for code in ("A02010104", "A02010105", "A02010108", "A02010109", "A02021000", "A02020100", "A02061804",
                 "A05010201", "A05010301", "A05040101", "A08060301", "C16040000", "C23120301"):
        assert code in items and code in pinmu.tree(), code
    assert items["A02020400"].min_amount == Decimal("50000")
    assert items["A02010200"].min_amount == Decimal("10000")
    assert policy_in_force(dt.date(2025, 6, 1)).name == "2025年版"
    assert policy_in_force(dt.date(2026, 11, 22)).name == "2026年版"

    agreements = db.session.scalars(select(Agreement)).all()
    assert len(agreements) >= 10
    statuses = collections.Counter(a.status for a in agreements)
    assert statuses["active"] >= 8 and statuses["expired"] == 1 and statuses["suspended"] == 1
    assert collections.Counter(a.kind for a in agreements)["open"] >= 2
    stages = {a.second_stage for a in agreements}
    assert {"direct", "competition", "rotation"} <= stages
    policy = policy_in_force(day)
    for a in agreements:
        limit = 1 if a.subject == "goods" else 2
        assert a.term_end < demo.add_years(a.term_start, limit), a.number
        if a.status == "active":
            assert a.valid_on(day), a.number
        assert all(centralized_item_for(policy, c) for c in a.category_codes), a.number
        admitted = [e for e in a.entrants if e.status == "admitted"]
        assert admitted and all(e.supplier.kind == "supplier" for e in admitted)
        if a.second_stage == "rotation":
            assert a.subject == "services"
            assert sorted(e.rotation_position for e in admitted) == list(range(1, len(admitted) + 1))
        # every entrant has agreement prices, on the agreement's 品目
        priced = {p.supplier_id for p in a.prices}
        assert {e.supplier_id for e in admitted} <= priced, a.number
        assert all(p.category_code in a.category_codes and p.max_price > 0 for p in a.prices)
    assert _count(AgreementPrice) >= 300

    solicitations = db.session.scalars(select(Solicitation)).all()
    assert len({s.category_code for s in solicitations}) >= 15
    for s in solicitations:
        node = pinmu.tree()[s.category_code]
        assert not node.children, f"{s.category_code} is not a leaf 品目"
        assert s.open_on(day)
        assert centralized_item_for(policy, s.category_code) is None, f"{s.category_code} is centralized"
    solicited = {s.category_code for s in solicitations}
    assert {"A05040201", "A05040203"} <= solicited           # toner and ink cartridges …
    assert not solicited & {"A02021000", "A02021001", "A02021002", "A02021003", "A02021004"}  # … not printers


def test_every_product_obeys_the_rules_of_its_zone(ctx):
    from catalog.models import (Agreement, AgreementPrice, AgreementSupplier, PriceHistory, Product,
                                Solicitation)
    from catalog.policy import centralized_item_for, policy_in_force
    from suppliers.models import SupplierProfile

    _seed(products=600)
    day = today()
    policy = policy_in_force(day)
    solicited = {s.category_code for s in db.session.scalars(select(Solicitation)) if s.open_on(day)}
    profiles = {p.organisation_id: p for p in db.session.scalars(select(SupplierProfile))}
    admitted = {(e.agreement_id, e.supplier_id) for e in db.session.scalars(select(AgreementSupplier))
                if e.status == "admitted"}
    prices = {p.id: p for p in db.session.scalars(select(AgreementPrice))}
    agreements = {a.id: a for a in db.session.scalars(select(Agreement))}
    history = collections.defaultdict(list)
    for h in db.session.scalars(select(PriceHistory)):
        history[h.product_id].append(h.price)

    products = db.session.scalars(select(Product)).all()
    assert len(products) == 600
    zones = collections.Counter(p.zone_code for p in products)
    assert zones["central"] > 150 and zones["self"] > 150 and zones["pavilion"] > 30
    halted = 0
    for p in products:
        assert p.title and p.brand and p.model and p.unit and p.specs, p.id
        assert isinstance(p.price, Decimal) and p.price > 0 and p.market_price > p.price
        assert p.status in ("listed", "delisted", "draft") and p.stock >= 0
        assert (p.listed_at is None) == (p.status == "draft")
        assert p.is_sme == profiles[p.supplier_id].is_sme
        assert history[p.id] == [p.price]                     # the first price history row
        if p.zone_code == "central":
            ap = prices[p.agreement_price_id]
            a = agreements[ap.agreement_id]
            assert (ap.supplier_id, ap.brand, ap.model) == (p.supplier_id, p.brand, p.model)
            assert ap.category_code == p.category_code and p.category_code in a.category_codes
            assert (a.id, p.supplier_id) in admitted
            assert p.price <= ap.max_price
            assert centralized_item_for(policy, p.category_code) is not None
            if p.halted_reason is None:
                assert a.valid_on(day), p.id
            else:
                halted += 1
                assert not a.valid_on(day)
                assert p.halted_reason in (f"框架协议{a.number}已到期", f"框架协议{a.number}已暂停")
        else:
            assert p.agreement_price_id is None and p.halted_reason is None
            if p.zone_code == "self":
                assert p.category_code in solicited, p.category_code
            else:
                assert profiles[p.supplier_id].pavilion_status == "qualified"
                assert p.category_code.startswith("A07")
    assert halted > 0  # the expired and the suspended agreement stopped their listings

    # the toner cartridges of the 自采区 are consumables, never printers
    for p in products:
        if p.category_code in ("A05040201", "A05040202", "A05040203"):
            assert "适用机型" in p.title and "打印机" not in p.title


def test_demo_users_of_every_role_sign_in(app, client):
    with app.app_context():
        _seed(products=60)
        users = {u.username: u for u in db.session.scalars(select(User))}
        units = _count(Organisation, Organisation.kind == "budget_unit")
        suppliers = _count(Organisation, Organisation.kind == "supplier")
        assert {f"buyer_u{i:02d}" for i in range(1, units + 1)} <= set(users)
        assert {f"supplier_s{i:03d}" for i in range(1, suppliers + 1)} <= set(users)
        expected = {"buyer": ("buyer", "福州市第一中学"), "buyer2": ("buyer", None), "supplier": ("supplier", None),
                    "supplier2": ("supplier", None), "auditor": ("auditor", "福州市财政局"),
                    "operator": ("operator", "福州市公共资源交易中心")}
        for name, (role, org) in expected.items():
            assert users[name].role == role
            if org:
                assert users[name].organisation.name == org
        assert users["buyer2"].organisation_id != users["buyer"].organisation_id
        assert users["buyer2"].organisation.kind == "budget_unit"

        from catalog.models import Agreement, AgreementSupplier, Product
        from suppliers.models import SupplierProfile

        day = today()
        sup = users["supplier"].organisation_id
        assert db.session.get(SupplierProfile, sup).is_sme
        active = [db.session.get(Agreement, e.agreement_id) for e in
                  db.session.scalars(select(AgreementSupplier).where(AgreementSupplier.supplier_id == sup))]
        assert any(a.valid_on(day) for a in active)
        zones = set(db.session.scalars(select(Product.zone_code).where(Product.supplier_id == sup)))
        assert {"central", "self"} <= zones
        sup2 = users["supplier2"].organisation_id
        assert db.session.get(SupplierProfile, sup2).pavilion_status == "qualified"
        assert _count(Product, Product.supplier_id == sup2, Product.zone_code == "pavilion") > 0

    for username in ("buyer", "buyer2", "supplier", "supplier2", "auditor", "operator", "buyer_u05",
                     "supplier_s042"):
        with client:
            resp = client.post("/login", data={"username": username, "password": demo.DEMO_PASSWORD})
            assert resp.status_code == 302 and "/login" not in resp.headers["Location"], username
            assert current_user.is_authenticated and current_user.username == username
        client.post("/logout")
    with client:
        resp = client.post("/login", data={"username": "buyer", "password": "wrong-password"})
        assert resp.status_code == 200 and not current_user.is_authenticated


def test_same_seed_same_mall_other_seed_other_mall(ctx):
    world = demo.build_world(2025, dt.date(2026, 11, 22))
    titles = [r["title"] for r in demo.iter_products(world, 500)]
    again = [r["title"] for r in demo.iter_products(demo.build_world(2025, dt.date(2026, 11, 22)), 500)]
    other = [r["title"] for r in demo.iter_products(demo.build_world(7, dt.date(2026, 11, 22)), 500)]
    assert titles == again and titles != other
    assert len(set(titles)) > 400

    def snapshot():
        from catalog.models import Agreement, Product

        return (db.session.execute(select(Product.title, Product.price, Organisation.name, Organisation.uscc)
                                   .join(Organisation, Organisation.id == Product.supplier_id)
                                   .order_by(Product.id)).all(),
                db.session.execute(select(Agreement.number, Agreement.title).order_by(Agreement.id)).all(),
                db.session.scalars(select(User.username).order_by(User.id)).all())

    _seed(products=200, rng_seed=7)
    first = snapshot()
    _wipe()
    _seed(products=200, rng_seed=7)
    assert snapshot() == first


def test_products_are_written_in_batches_with_progress_and_one_audit_record(ctx, monkeypatch):
    from catalog.models import Product
    from mall.audit import AuditRecord, verify

    monkeypatch.setattr(demo, "BATCH_SIZE", 100)
    messages = []
    summary = _seed(products=250, progress=messages.append)
    batches = [m for m in messages if m.startswith("商品")]
    assert len(batches) == 3 and "250/250" in batches[-1]
    assert _count(Product) == 250 == summary["products"]
    assert summary["products_central"] + summary["products_self"] + summary["products_pavilion"] == 250
    records = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "demo.seed")).all()
    assert len(records) == 1 and records[0].after["products"] == 250
    assert _count(AuditRecord, AuditRecord.object_type == "product") == 0  # no row-by-row records
    assert not db.session.info.get("audit_disabled")                     # auditing is back on
    assert verify(db.session)["ok"]
    # new rows after the bulk load get fresh ids (PostgreSQL sequences moved past the explicit ones)
    from tests import factories

    sup = db.session.scalar(select(Organisation).where(Organisation.kind == "supplier"))
    p = factories.product(sup, category_code="A05040401")
    assert p.id > 250


def test_cli_seed_demo_builds_once_and_refuses_a_second_time(runner):
    result = runner.invoke(args=["seed-demo", "--products", "80", "--seed", "11"])
    assert result.exit_code == 0, result.output
    assert "demo data" in result.output and "'products': 80" in result.output
    again = runner.invoke(args=["seed-demo", "--products", "80"])
    assert again.exit_code == 1 and "拒绝重复生成演示数据" in again.output


def test_helpers_make_valid_codes():
    assert uscc.is_valid(uscc.make("91350100" + demo.org_code("MA2XN123")))
    # 13·3 + 2·7 + 1·9 + 4·10 + 3·5 + 5·8 + 6·4 + 9·2 = 199; 11 − 199 mod 11 = 10 → X
    assert demo.org_code("D2143569") == "D2143569X"
    isbn = demo.isbn13("100", 12345).replace("-", "")
    assert len(isbn) == 13 and sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(isbn)) % 10 == 0
    assert demo.money(12.345) == Decimal("12.35") and demo.money(4321.4) == Decimal("4321.00")
    assert demo.money_below(Decimal("999.00"), 1.0) == Decimal("999.00")
    with pytest.raises(ValueError):
        demo.seed(None, products=-1)
