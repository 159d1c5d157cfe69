"""Supervision: the nightly scan, auditor pages and filters, .xlsx export, flag clearing,
queries (问询), suspensions and take-downs, and what auditors may not do."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select

from mall.audit import AuditRecord
from mall.authz import PERMISSIONS, can
from mall.extensions import db
from mall.timeutil import utcnow
from orders.models import Notification, Order, RiskFlag
from tests.conftest import bearer
from tests.supervision_helpers import order

D = Decimal


def _flags(kind=None):
    q = select(RiskFlag)
    if kind:
        q = q.where(RiskFlag.kind == kind)
    return db.session.scalars(q.order_by(RiskFlag.id)).all()


# ---------------------------------------------------------------- the scan

def test_scan_raises_each_kind_with_figures_and_a_rerun_adds_nothing(make):
    from suppliers.models import SmeDeclaration
    from supervision import services
    from supervision.tasks import scan_risks

    unit = make.org("budget_unit", name="市第一中学")
    supplier = make.supplier_org(name="华信科技有限公司")
    other = make.supplier_org(name="远大办公用品有限公司")
    base = utcnow() - dt.timedelta(days=30)
    # three desktops orders of one unit within the window: ¥1,050,000 ≥ ¥1,000,000 (splitting)
    o1 = order(make, unit=unit, supplier=supplier, lines=[("A02010105", "5000.00", 80)], placed_at=base)
    o2 = order(make, unit=unit, supplier=supplier, lines=[("A02010105", "5000.00", 70)],
               placed_at=base + dt.timedelta(days=3))
    o3 = order(make, unit=unit, supplier=supplier, lines=[("A02010105", "5000.00", 60)],
               placed_at=base + dt.timedelta(days=6))
    # a chair 50% above its market price, and an order just under the ¥200,000 direct-purchase limit
    o4 = order(make, unit=unit, supplier=supplier, lines=[("A05010301", "1500.00", 1, "1500.00", "1000.00")],
               placed_at=base + dt.timedelta(days=7), zone="self")
    o5 = order(make, unit=unit, supplier=other, lines=[("A05010201", "19500.00", 10)],
               placed_at=base + dt.timedelta(days=8), zone="self")
    # still not confirmed two days after its deadline
    o6 = order(make, unit=unit, supplier=supplier, lines=[("A05040101", "150.00", 10)], status="submitted",
               placed_at=utcnow() - dt.timedelta(days=5), confirm_deadline=utcnow() - dt.timedelta(days=2))
    decl = SmeDeclaration(supplier_id=supplier.id, industry="software", year=2024, staff=800,
                          revenue=D("300000000"), total_assets=D("100000000"), size="large", declared_size="small",
                          is_current=True)
    db.session.add(decl)
    db.session.commit()

    result = scan_risks.delay().get()
    by_kind = result["created_by_kind"]
    assert by_kind["split_suspected"] == 1
    assert by_kind["price_above_market"] == 1
    assert by_kind["near_threshold"] == 1
    assert by_kind["late_confirmation"] == 1
    assert by_kind["sme_declaration_mismatch"] == 1
    assert by_kind["supplier_concentration"] == 1  # 6 orders, 5 from 华信 (¥1,051,650 of ¥1,246,650)

    split = _flags("split_suspected")[0]
    assert split.order_id == o3.id and split.source == "scan" and split.status == "open"
    assert split.figures["orders"] == [o1.number, o2.number, o3.number]
    assert "市第一中学" in split.message and "¥1,050,000.00" in split.message
    assert _flags("price_above_market")[0].order_id == o4.id
    assert _flags("near_threshold")[0].order_id == o5.id
    assert _flags("late_confirmation")[0].order_id == o6.id
    concentration = _flags("supplier_concentration")[0]
    assert concentration.order_id is None and concentration.unit_id == unit.id
    assert concentration.supplier_id == supplier.id
    assert _flags("sme_declaration_mismatch")[0].supplier_id == supplier.id

    # flags are audited (digital witness)
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)
                             .where(AuditRecord.action == "risk_flag.create")) == result["created"]

    total = len(_flags())
    again = services.scan_risks()
    db.session.commit()
    assert again["created"] == 0 and again["findings"] == result["findings"]
    assert len(_flags()) == total


def test_scan_does_not_duplicate_a_checkout_flag_nor_revive_a_cleared_one(make, client, auth):
    from supervision import services

    unit = make.org("budget_unit")
    supplier = make.supplier_org()
    base = utcnow() - dt.timedelta(days=20)
    order(make, unit=unit, supplier=supplier, lines=[("A02010105", "5000.00", 120)], placed_at=base)
    crossing = order(make, unit=unit, supplier=supplier, lines=[("A02010105", "5000.00", 90)],
                     placed_at=base + dt.timedelta(days=1))
    db.session.add(RiskFlag(order_id=crossing.id, kind="split_suspected", message="下单时发现疑似拆分",
                            figures={}, status="open"))
    db.session.commit()
    assert services.scan_risks()["created_by_kind"].get("split_suspected", 0) == 0
    db.session.commit()

    over = order(make, unit=unit, supplier=supplier, lines=[("A05010301", "2000.00", 1, "2000.00", "1000.00")],
                 zone="self")
    services.scan_risks()
    db.session.commit()
    flag = _flags("price_above_market")[0]
    auditor = make.user("auditor", username="auditor-x")
    auth.login(auditor.username)
    resp = client.post(f"/supervision/flags/{flag.id}/clear", data={"reason": "市场价已上涨，经核实价格合理"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(RiskFlag, flag.id).status == "cleared"
    with client.application.test_request_context():
        services.scan_risks()
        db.session.commit()
    assert len(_flags("price_above_market")) == 1 and over.id == flag.order_id


def test_scan_racing_another_scan_keeps_one_flag_per_key(make, monkeypatch):
    """Two scans at once: the second one's batch hits the unique dedup key and falls back to
    one-by-one inserts, creating only what the first did not."""
    from supervision import services

    supplier = make.supplier_org()
    order(make, supplier=supplier, lines=[("A05010301", "2000.00", 1, "2000.00", "1000.00")], zone="self")
    order(make, supplier=supplier, lines=[("A05010201", "3000.00", 1, "3000.00", "1000.00")], zone="self")
    services.scan_risks()
    db.session.commit()
    first = _flags("price_above_market")
    assert len(first) == 2
    db.session.delete(first[1])
    db.session.commit()
    monkeypatch.setattr(services, "existing_keys", lambda keys: set())  # as if the other scan had not committed
    result = services.scan_risks()
    db.session.commit()
    assert result["created"] == 1
    assert len(_flags("price_above_market")) == 2


# ---------------------------------------------------------------- clearing flags

def test_clearing_a_flag_needs_a_reason_is_audited_and_refused_for_others(make, client, auth):
    o = order(make)
    flag = RiskFlag(order_id=o.id, kind="price_above_market", message="价格高于市场参考价", figures={"x": "1"},
                    status="open", dedup_key="t:1", source="scan")
    db.session.add(flag)
    db.session.commit()
    buyer = make.user("buyer")
    auth.login(buyer.username)
    assert client.post(f"/supervision/flags/{flag.id}/clear", data={"reason": "x"}).status_code == 403
    auth.logout()
    operator = make.user("operator")
    auth.login(operator.username)
    assert client.post(f"/supervision/flags/{flag.id}/clear", data={"reason": "x"}).status_code == 403
    auth.logout()
    auditor = make.user("auditor")
    auth.login(auditor.username)
    resp = client.post(f"/supervision/flags/{flag.id}/clear", data={"reason": "  "}, follow_redirects=True)
    assert "请填写核销理由" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(RiskFlag, flag.id).status == "open"
    client.post(f"/supervision/flags/{flag.id}/clear", data={"reason": "已核实预算调整批复（财预〔2025〕12号）"})
    db.session.expire_all()
    f = db.session.get(RiskFlag, flag.id)
    assert f.status == "cleared" and f.cleared_by_id == auditor.id and f.cleared_reason.startswith("已核实")
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "risk_flag.clear")).one()
    assert rec.note.startswith("已核实预算调整") and rec.actor_id == auditor.id and rec.object_id == str(flag.id)
    resp = client.post(f"/supervision/flags/{flag.id}/clear", data={"reason": "again"}, follow_redirects=True)
    assert "不能重复核销" in resp.get_data(as_text=True)


# ---------------------------------------------------------------- orders, filters and export

def test_auditor_order_list_filters(make, client, auth):
    unit_a = make.org("budget_unit", name="市财政局机关")
    unit_b = make.org("budget_unit", name="市人民医院")
    sme = make.supplier_org(name="小微电脑有限公司", sme_size="micro")
    big = make.supplier_org(name="大型集团有限公司", sme_size="large")
    a = order(make, unit=unit_a, supplier=sme, lines=[("A02010105", "4000.00", 2)], number="GM-A")
    b = order(make, unit=unit_b, supplier=big, lines=[("A05010201", "1200.00", 5)], zone="self", number="GM-B",
              status="paid")
    c = order(make, unit=unit_b, supplier=sme, lines=[("A02021000", "2500.00", 1)], number="GM-C",
              placed_at=utcnow() - dt.timedelta(days=40))
    db.session.add(RiskFlag(order_id=b.id, kind="near_threshold", message="m", figures={}, status="open"))
    db.session.commit()
    auditor = make.user("auditor")
    auth.login(auditor.username)

    def numbers(**args):
        resp = client.get("/supervision/orders", query_string=args)
        assert resp.status_code == 200
        html = resp.get_data(as_text=True)
        return {n for n in ("GM-A", "GM-B", "GM-C") if f">{n}</a>" in html}

    assert numbers() == {"GM-A", "GM-B", "GM-C"}
    assert numbers(unit="人民医院") == {"GM-B", "GM-C"}
    assert numbers(unit=str(unit_a.id)) == {"GM-A"}
    assert numbers(supplier="小微") == {"GM-A", "GM-C"}
    assert numbers(zone="self") == {"GM-B"}
    assert numbers(pinmu="A02000000") == {"GM-A", "GM-C"}       # 品目 subtree
    assert numbers(pinmu="A0201") == {"GM-A"}                   # short for A02010000
    assert numbers(min="5000", max="8000") == {"GM-B", "GM-A"}
    assert numbers(status="paid") == {"GM-B"}
    assert numbers(sme="1") == {"GM-A", "GM-C"}
    assert numbers(sme="0") == {"GM-B"}
    assert numbers(flags="open") == {"GM-B"}
    assert numbers(flags="none") == {"GM-A", "GM-C"}
    assert numbers(flag_kind="near_threshold") == {"GM-B"}
    week_ago = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    assert numbers(**{"from": week_ago}) == {"GM-A", "GM-B"}
    # bad input is reported and ignored, never a 500
    resp = client.get("/supervision/orders", query_string={"min": "abc", "pinmu": "Z999", "from": "2025-13-01",
                                                           "status": "nope", "page": "99999999999999"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "最低金额“abc”不是有效的数字" in html and "品目编码“Z999”" in html and "开始日期“2025-13-01”" in html
    # the full record of an order
    resp = client.get(f"/supervision/orders/{b.id}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "GM-B" in html and "市人民医院" in html and "金额略低于限额标准" in html
    assert client.get("/supervision/orders/999999").status_code == 404
    assert a and c


def test_export_filtered_orders_to_xlsx(make, client, auth):
    unit = make.org("budget_unit", name="市档案馆")
    s = make.supplier_org(name="档案设备有限公司")
    order(make, unit=unit, supplier=s, lines=[("A02010105", "4321.50", 2)], number="GM-X1")
    order(make, unit=unit, supplier=s, lines=[("A05010201", "1000.00", 1)], zone="self", number="GM-X2")
    order(make, lines=[("A02010105", "100.00", 1)], number="GM-OTHER")
    auth.login(make.user("auditor").username)
    resp = client.get("/supervision/orders.xlsx", query_string={"unit": "档案馆"})
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = load_workbook(io.BytesIO(resp.data))
    rows = list(wb["订单"].iter_rows(values_only=True))
    assert rows[0][0] == "订单号" and rows[0][7] == "订单金额（元）"
    assert sorted(r[0] for r in rows[1:]) == ["GM-X1", "GM-X2"]
    x1 = next(r for r in rows[1:] if r[0] == "GM-X1")
    assert x1[2] == "市档案馆" and D(str(x1[7])) == D("8643.00") and "A02010105 台式计算机" in x1[6]
    meta = dict(r[:2] for r in wb["筛选条件"].iter_rows(values_only=True))
    assert meta["unit"] == "档案馆" and meta["订单数"] == 2


def test_supervision_pages_are_for_auditors_and_operators(make, client, auth):
    o = order(make)
    for role in ("buyer", "supplier"):
        auth.login(make.user(role).username)
        for url in ("/supervision/orders", f"/supervision/orders/{o.id}", "/supervision/orders.xlsx",
                    f"/supervision/orders/{o.id}/archive", "/supervision/flags", "/stats",
                    f"/supervision/archive/export?order={o.number}", "/supervision/enforcement"):
            assert client.get(url).status_code == 403, (role, url)
        auth.logout()
    assert client.get("/supervision/orders").status_code == 302  # to the sign-in page
    auth.login(make.user("operator").username)
    assert client.get("/supervision/orders").status_code == 200
    assert client.get("/supervision/flags").status_code == 200


# ---------------------------------------------------------------- queries (问询)

def test_query_to_the_supplier_is_answered_and_tracked(make, client, auth):
    supplier = make.supplier_org(name="问询测试供应商有限公司")
    supplier_user = make.user("supplier", organisation=supplier)
    o = order(make, supplier=supplier)
    auditor = make.user("auditor")
    auth.login(auditor.username)
    resp = client.post(f"/supervision/orders/{o.id}/queries",
                       data={"party": "supplier", "question": "请说明该批台式计算机单价高于市场价的原因"})
    assert resp.status_code == 302
    from supervision.models import Query

    q = db.session.scalars(select(Query)).one()
    assert q.addressed_org_id == supplier.id and q.status == "open" and q.asked_by_id == auditor.id
    note = db.session.scalars(select(Notification).where(Notification.recipient_org_id == supplier.id)).one()
    assert o.number in note.title
    auth.logout()

    # a buyer of another unit can neither see nor answer it
    stranger = make.user("buyer")
    auth.login(stranger.username)
    assert client.get(f"/supervision/queries/{q.id}").status_code == 403
    assert client.post(f"/supervision/queries/{q.id}", data={"answer": "x"}).status_code == 403
    auth.logout()

    auth.login(supplier_user.username)
    listing = client.get("/supervision/queries").get_data(as_text=True)
    assert o.number in listing and "待答复" in listing
    page = client.get(f"/supervision/queries/{q.id}").get_data(as_text=True)
    assert "请说明该批台式计算机单价" in page and 'id="answer-form"' in page
    assert "请填写答复内容" in client.post(f"/supervision/queries/{q.id}", data={"answer": ""},
                                           follow_redirects=True).get_data(as_text=True)
    client.post(f"/supervision/queries/{q.id}", data={"answer": "该型号为定制配置，已附配置清单"})
    db.session.expire_all()
    q = db.session.get(Query, q.id)
    assert q.status == "answered" and q.answer.startswith("该型号") and q.answered_by_id == supplier_user.id
    # answering twice is refused
    resp = client.post(f"/supervision/queries/{q.id}", data={"answer": "改口"}, follow_redirects=True)
    assert "不能再答复" in resp.get_data(as_text=True)
    # the supplier may not close it
    assert client.post(f"/supervision/queries/{q.id}/close", data={}).status_code == 403
    auth.logout()

    auth.login(auditor.username)
    client.post(f"/supervision/queries/{q.id}/close", data={"note": "说明合理"})
    db.session.expire_all()
    assert db.session.get(Query, q.id).status == "closed"
    actions = set(db.session.scalars(select(AuditRecord.action).where(AuditRecord.action.like("query.%"))))
    assert {"query.ask", "query.answer", "query.close"} <= actions


def test_query_api_and_validation(make, client):
    o = order(make)
    buyer = make.user("buyer", organisation=db.session.get(type(o.buyer_unit), o.buyer_unit_id))
    auditor = make.user("auditor")
    ta, tb = make.token(auditor), make.token(buyer)
    bad = client.post("/api/v1/supervision/queries", headers=bearer(ta),
                      json={"order_id": o.id, "party": "bank", "question": ""})
    assert bad.status_code == 422
    codes = {p["code"] for p in bad.get_json()["problems"]}
    assert codes == {"invalid_choice", "required"}
    assert client.post("/api/v1/supervision/queries", headers=bearer(ta),
                       json={"order_id": 999999, "party": "buyer", "question": "?"}).status_code == 404
    assert client.post("/api/v1/supervision/queries", headers=bearer(tb),
                       json={"order_id": o.id, "party": "buyer", "question": "?"}).status_code == 403
    r = client.post("/api/v1/supervision/queries", headers=bearer(ta),
                    json={"order_id": o.id, "party": "buyer", "question": "请提供验收单"})
    assert r.status_code == 201
    qid = r.get_json()["id"]
    mine = client.get("/api/v1/supervision/queries", headers=bearer(tb)).get_json()
    assert [x["id"] for x in mine] == [qid]
    r = client.post(f"/api/v1/supervision/queries/{qid}/answer", headers=bearer(tb), json={"answer": "已上传验收单"})
    assert r.status_code == 200 and r.get_json()["status"] == "answered"


# ---------------------------------------------------------------- enforcement

def test_suspending_a_supplier_stops_its_products_and_is_published(make, client, auth):
    from catalog.queries import sellable_products
    from suppliers.models import SupplierProfile

    supplier = make.supplier_org(name="违规供应商有限公司")
    product = make.product(supplier)
    o = order(make, supplier=supplier)
    assert product.id in {p.id for p in db.session.scalars(sellable_products())}
    auditor = make.user("auditor")
    auth.login(auditor.username)
    resp = client.post(f"/supervision/suppliers/{supplier.id}/suspend",
                       data={"reason": "提供虚假中小企业声明函", "order_id": o.id})
    assert resp.status_code == 302
    db.session.expire_all()
    profile = db.session.get(SupplierProfile, supplier.id)
    assert profile.status == "suspended" and profile.status_reason == "提供虚假中小企业声明函"
    assert product.id not in {p.id for p in db.session.scalars(sellable_products())}
    resp = client.post(f"/supervision/suppliers/{supplier.id}/suspend", data={"reason": "again"}, follow_redirects=True)
    assert "已处于暂停交易状态" in resp.get_data(as_text=True)
    auth.logout()

    public = client.get("/public/enforcement").get_data(as_text=True)
    assert "违规供应商有限公司" in public and "提供虚假中小企业声明函" in public and "暂停供应商交易" in public
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "supplier.suspend")).one()
    assert rec.note == "提供虚假中小企业声明函" and rec.actor_id == auditor.id

    auth.login(auditor.username)
    client.post(f"/supervision/suppliers/{supplier.id}/reinstate", data={"reason": "已整改"})
    db.session.expire_all()
    assert db.session.get(SupplierProfile, supplier.id).status == "active"
    assert product.id in {p.id for p in db.session.scalars(sellable_products())}


def test_taking_down_and_restoring_a_product(make, client, auth):
    from catalog.models import Product

    supplier = make.supplier_org()
    product = make.product(supplier, price="3000.00")
    operator = make.user("operator")
    token = make.token(operator)
    r = client.post(f"/api/v1/supervision/products/{product.id}/takedown", headers=bearer(token),
                    json={"reason": "售价高于市场参考价50%"})
    assert r.status_code == 200 and r.get_json()["kind"] == "product_takedown"
    db.session.expire_all()
    p = db.session.get(Product, product.id)
    assert p.status == "taken_down" and p.status_reason == "售价高于市场参考价50%"
    assert client.post(f"/api/v1/supervision/products/{product.id}/takedown", headers=bearer(token),
                       json={"reason": "x"}).status_code == 409
    assert client.post(f"/api/v1/supervision/products/{product.id}/takedown", headers=bearer(token),
                       json={}).status_code == 422
    assert "售价高于市场参考价50%" in client.get("/public/enforcement").get_data(as_text=True)
    r = client.post(f"/api/v1/supervision/products/{product.id}/restore", headers=bearer(token),
                    json={"reason": "供应商已调价"})
    assert r.status_code == 200
    db.session.expire_all()
    assert db.session.get(Product, product.id).status == "listed"
    supplier_user = make.user("supplier", organisation=supplier)
    assert client.post(f"/api/v1/supervision/products/{product.id}/takedown", headers=bearer(make.token(supplier_user)),
                       json={"reason": "x"}).status_code == 403


# ---------------------------------------------------------------- auditors do not shop

COMMERCIAL = ["cart.use", "order.create", "product.create", "product.update", "store.manage", "declaration.submit",
              "pavilion.apply", "agreement.apply", "agreement.manage", "policy.manage", "zone.manage",
              "solicitation.manage", "pavilion.review", "competition.create", "competition.bid", "loan.apply",
              "bank.manage", "budget.read", "query.answer", "user.manage", "organisation.manage"]


def test_every_commercial_write_is_refused_for_auditors(make):
    auditor = make.user("auditor")
    o = order(make)
    for action in COMMERCIAL:
        if action not in PERMISSIONS:
            continue
        assert not can(auditor, action), action
        assert not can(auditor, action, o), action
    # what auditors may do
    for action in ("audit.read", "supervision.act", "stats.read", "supplier.suspend", "product.takedown",
                   "order.view", "query.view", "loan.view"):
        assert can(auditor, action), action


def test_auditor_commercial_requests_are_refused_and_change_nothing(make, client):
    from supervision.models import LoanApplication, PartnerBank

    supplier = make.supplier_org()
    o = order(make, supplier=supplier)
    product = make.product(supplier)
    auditor = make.user("auditor")
    t = make.token(auditor)
    before = (db.session.scalar(select(func.count()).select_from(PartnerBank)),
              db.session.scalar(select(func.count()).select_from(LoanApplication)),
              db.session.scalar(select(func.count()).select_from(Order)))
    assert client.post("/api/v1/banks", headers=bearer(t), json={"name": "某银行", "contact_name": "张三",
                                                                  "phone": "0591-1234567"}).status_code == 403
    assert client.post("/api/v1/loans", headers=bearer(t), json={"order_id": o.id, "bank_id": 1,
                                                                  "amount": "100"}).status_code == 403
    q = client.post("/api/v1/supervision/queries", headers=bearer(t),
                    json={"order_id": o.id, "party": "buyer", "question": "请说明"}).get_json()
    assert client.post(f"/api/v1/supervision/queries/{q['id']}/answer", headers=bearer(t),
                       json={"answer": "自问自答"}).status_code == 403
    # other packages' commercial endpoints refuse too (whichever exist in this build)
    for method, url, body in (("post", "/api/v1/orders", {"budget_line_id": o.budget_line_id,
                                                          "lines": [{"product_id": product.id, "quantity": 1}]}),
                              ("post", f"/api/v1/orders/{o.id}/transitions", {"to": "cancelled"}),
                              ("post", f"/api/v1/orders/{o.id}/transitions", {"to": "shipped"}),
                              ("post", "/api/v1/products", {"title": "x", "price": "1.00"}),
                              ("patch", f"/api/v1/products/{product.id}", {"price": "1.00"})):
        resp = getattr(client, method)(url, headers=bearer(t), json=body)
        assert resp.status_code in (403, 404, 405), (url, resp.status_code)
    after = (db.session.scalar(select(func.count()).select_from(PartnerBank)),
             db.session.scalar(select(func.count()).select_from(LoanApplication)),
             db.session.scalar(select(func.count()).select_from(Order)))
    assert before == after
    db.session.expire_all()
    assert db.session.get(Order, o.id).status == "confirmed"
    assert db.session.get(type(product), product.id).price == product.price


def test_includes_for_order_pages_and_dashboards(make, app):
    """supervision/_order_queries.html and _my_queries.html show a party only its own queries."""
    from flask import render_template
    from flask_login import login_user
    from supervision.models import Query

    supplier = make.supplier_org()
    su = make.user("supplier", organisation=supplier)
    o = order(make, supplier=supplier)
    auditor = make.user("auditor")
    db.session.add_all([
        Query(order_id=o.id, addressed_party="supplier", addressed_org_id=supplier.id, question="请说明供货渠道",
              asked_by_id=auditor.id, status="open"),
        Query(order_id=o.id, addressed_party="buyer", addressed_org_id=o.buyer_unit_id, question="请提供验收单",
              asked_by_id=auditor.id, status="open")])
    db.session.commit()
    with app.test_request_context("/"):
        login_user(su)
        html = render_template("supervision/_order_queries.html", order=o)
        dash = render_template("supervision/_my_queries.html")
    assert "请说明供货渠道" in html and "请提供验收单" not in html
    assert "请说明供货渠道" in dash and "待答复" in dash and "请提供验收单" not in dash
    with app.test_request_context("/"):
        login_user(auditor)
        html = render_template("supervision/_order_queries.html", order=o)
        assert render_template("supervision/_my_queries.html").strip() == ""
    assert "请说明供货渠道" in html and "请提供验收单" in html


def test_nightly_scan_is_scheduled_and_runs_from_the_command_line(make, runner):
    from mall.celery_app import BEAT_SCHEDULE, celery

    assert "supervision.scan_risks" in celery.tasks
    assert any(e["task"] == "supervision.scan_risks" for e in BEAT_SCHEDULE.values())
    order(make, lines=[("A05010301", "2000.00", 1, "2000.00", "1000.00")], zone="self")
    result = runner.invoke(args=["supervision", "scan"])
    assert result.exit_code == 0 and "new flags: 1" in result.output
    assert "new flags: 0" in runner.invoke(args=["supervision", "scan"]).output
