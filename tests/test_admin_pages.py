"""Operator pages (/admin): every page renders for operators and works end to end; other roles
are refused (403) and nothing changes; anonymous visitors are sent to sign in."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from catalog import agreements as svc
from catalog.models import (Agreement, AgreementPrice, AgreementSupplier, PolicyVersion, Product, Solicitation,
                            Zone)
from mall.audit import AuditRecord
from mall.extensions import db
from mall.timeutil import today
from suppliers.models import SupplierProfile


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def world(make):
    """A policy in force, an active agreement with an entrant and a product, an open agreement with a
    pending application, a solicitation and a pavilion applicant."""
    policy = make.policy(name="2025年版", effective_from=dt.date(2025, 1, 1))
    sup = make.supplier_org(name="福州联创科技有限公司", contact_name="林工", contact_phone="13800000001")
    a = make.agreement(number="FA-2026-001", suppliers=(sup,), prices=((sup, "联想", "启天M455", "4999.00"),))
    product = make.product(sup, zone="central", category_code="A02010105", price="4800", brand="联想",
                           model="启天M455", agreement_price=a.prices[0])
    open_a = make.agreement(number="FA-OPEN-9", kind="open", categories=("A05040101",),
                            suppliers=(make.supplier_org(),))
    applicant = make.supplier_org(name="闽侯纸业有限公司")
    entrant = AgreementSupplier(agreement_id=open_a.id, supplier_id=applicant.id, status="applied",
                                applied_at=dt.datetime(2025, 3, 3, 2, 0, tzinfo=dt.timezone.utc))
    db.session.add(entrant)
    db.session.commit()
    farmer = make.supplier_org(name="东乡农产品合作社", pavilion_status="applied")
    prof = db.session.get(SupplierProfile, farmer.id)
    prof.pavilion_county = "甘肃省临夏州东乡族自治县"
    db.session.commit()
    solicitation = make.solicitation()
    return {"policy": policy, "supplier": sup, "agreement": a, "product": product, "open": open_a,
            "application": entrant, "farmer": farmer, "solicitation": solicitation}


PAGES = [
    (lambda w: "/admin/", "运营管理（交易中心）"),
    (lambda w: "/admin/policies", "2025年版"),
    (lambda w: "/admin/policies/new", "新建版本"),
    (lambda w: f"/admin/policies/{w['policy'].id}", "已于"),
    (lambda w: "/admin/agreements", "FA-2026-001"),
    (lambda w: "/admin/agreements/new", "新建框架协议"),
    (lambda w: f"/admin/agreements/{w['agreement'].id}/edit", "FA-2026-001"),
    (lambda w: f"/admin/agreements/{w['agreement'].id}/entrants", "启天M455"),
    (lambda w: "/admin/applications", "闽侯纸业有限公司"),
    (lambda w: "/admin/solicitations", "办公桌公开征集"),
    (lambda w: "/admin/zones", "特色馆"),
    (lambda w: "/admin/pavilion", "东乡农产品合作社"),
]


def test_operator_pages_render(client, make, auth, world):
    op = make.user("operator")
    auth.login(op.username)
    for url, text in PAGES:
        resp = client.get(url(world))
        assert resp.status_code == 200, url(world)
        assert text in resp.get_data(as_text=True), (url(world), text)


@pytest.mark.parametrize("role", ["buyer", "supplier", "auditor"])
def test_other_roles_are_refused_every_page(client, make, auth, world, role):
    auth.login(make.user(role).username)
    for url, _ in PAGES:
        resp = client.get(url(world))
        assert resp.status_code == 403, url(world)
        assert "无权" in resp.get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    for url, _ in PAGES:
        resp = client.get(url(world))
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url(world)


@pytest.mark.parametrize("role", ["buyer", "supplier", "auditor"])
def test_other_roles_change_nothing(client, make, auth, world, role):
    auth.login(make.user(role).username)
    a, w = world["agreement"], world
    before_audit = _count(AuditRecord)
    posts = [
        ("/admin/policies/new", {"name": "x", "effective_from": "2030-01-01"}),
        (f"/admin/policies/{w['policy'].id}", {"name": "改名"}),
        (f"/admin/policies/{w['policy'].id}/publish", {}),
        ("/admin/agreements/new", {"number": "FA-X", "title": "x"}),
        (f"/admin/agreements/{a.id}/edit", {"title": "改名"}),
        (f"/admin/agreements/{a.id}/status", {"to": "suspended", "note": "x"}),
        (f"/admin/agreements/{a.id}/entrants", {"action": "add_entrant", "entrant-supplier": str(w["farmer"].id)}),
        (f"/admin/agreements/{a.id}/entrants", {"action": "add_price", "price-supplier_id": str(w["supplier"].id),
                                                "price-brand": "x", "price-model": "y", "price-max_price": "1"}),
        ("/admin/applications", {"entrant_id": str(w["application"].id), "decision": "admit"}),
        ("/admin/solicitations", {"action": "create", "new-category_code": "A05010301", "new-title": "x",
                                  "new-valid_from": "2026-01-01"}),
        ("/admin/solicitations", {"action": "close", "solicitation_id": str(w["solicitation"].id), "note": "x"}),
        ("/admin/zones", {"code": "self", "action": "toggle"}),
        ("/admin/pavilion", {"supplier_id": str(w["farmer"].id), "decision": "qualified"}),
    ]
    for url, data in posts:
        assert client.post(url, data=data).status_code == 403, url
    db.session.expire_all()
    assert _count(AuditRecord) == before_audit
    assert db.session.get(Agreement, a.id).status == "active" and db.session.get(Agreement, a.id).title == "测试框架协议"
    assert _count(Agreement) == 2 and _count(AgreementPrice) == 1 and _count(PolicyVersion) == 1
    assert db.session.get(PolicyVersion, w["policy"].id).name == "2025年版"
    assert db.session.get(AgreementSupplier, w["application"].id).status == "applied"
    assert _count(Solicitation) == 1 and db.session.get(Solicitation, w["solicitation"].id).status == "open"
    assert db.session.get(Zone, "self").enabled is True
    assert db.session.get(SupplierProfile, w["farmer"].id).pavilion_status == "applied"


# ------------------------------------------------------------------ operator flows

POLICY_FORM = {
    "name": "2027年版", "effective_from": "2099-01-01", "effective_to": "",
    "decentralized_threshold_goods": "1000000", "decentralized_threshold_services": "1000000",
    "decentralized_threshold_works": "1200000", "open_tender_threshold_goods": "2000000",
    "open_tender_threshold_services": "2000000", "open_tender_threshold_works": "4000000",
    "direct_purchase_limit": "200000", "sme_price_deduction": "15", "split_window_days": "90",
    "split_action": "flag", "cumulative_warning_ratio": "80",
    "items": "A02010105\nA02020400 50000 多功能一体机", "note": "",
}


def test_operator_creates_and_publishes_a_policy_version(client, make, auth):
    auth.login(make.user("operator").username)
    form = client.get("/admin/policies/new").get_data(as_text=True)
    assert 'value="1000000"' in form  # first version: the central figures as defaults
    bad = client.post("/admin/policies/new", data={**POLICY_FORM, "open_tender_threshold_goods": "800000",
                                                   "sme_price_deduction": "30"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 200
    assert "货物公开招标数额标准¥800,000.00低于货物分散采购限额标准¥1,000,000.00" in html
    assert "中小企业价格扣除比例30.00%超出财库〔2022〕19号规定的10.00%–20.00%" in html
    assert _count(PolicyVersion) == 0
    resp = client.post("/admin/policies/new", data=POLICY_FORM)
    assert resp.status_code == 302
    p = db.session.scalars(select(PolicyVersion)).one()
    assert p.status == "draft" and p.sme_price_deduction == Decimal("0.1500")
    assert p.cumulative_warning_ratio == Decimal("0.8000") and p.split_action == "flag" and len(p.items) == 2
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'value="15"' in page and "A02020400 50000.00 多功能一体机" in page
    resp = client.post(f"/admin/policies/{p.id}/publish", data={"note": "印发"}, follow_redirects=True)
    assert "已发布“2027年版”" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(PolicyVersion, p.id).status == "published"


def test_version_in_force_can_only_be_given_an_end_date_from_the_page(client, make, auth, world):
    auth.login(make.user("operator").username)
    p = world["policy"]
    page = client.get(f"/admin/policies/{p.id}").get_data(as_text=True)
    assert "readonly" in page and 'value="10"' in page and 'value="80"' in page
    # the form as shown, with an end date: a faithful round trip of every frozen figure
    import re
    fields = dict(re.findall(r'name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    fields["items"] = re.search(r'name="items"[^>]*>\n?([^<]*)</textarea>', page).group(1)
    fields["split_action"] = "refuse"
    end = (today() + dt.timedelta(days=40)).isoformat()
    resp = client.post(f"/admin/policies/{p.id}", data={**fields, "effective_to": end}, follow_redirects=True)
    assert "已保存" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(PolicyVersion, p.id).effective_to.isoformat() == end
    html = client.post(f"/admin/policies/{p.id}", data={**fields, "direct_purchase_limit": "300000"}) \
        .get_data(as_text=True)
    assert "数额和品目不能再修改" in html and "单笔直购限额" in html
    db.session.expire_all()
    assert db.session.get(PolicyVersion, p.id).direct_purchase_limit == Decimal("200000.00")


def test_operator_builds_an_agreement_end_to_end(client, make, auth, world):
    auth.login(make.user("operator").username)
    sup = make.supplier_org(name="福建惠普代理有限公司")
    start = today()
    resp = client.post("/admin/agreements/new", data={
        "number": "FA-2026-PRN", "title": "打印机框架协议", "kind": "closed", "subject": "goods",
        "zone_code": "central", "second_stage": "competition", "term_start": start.isoformat(),
        "term_end": (start + dt.timedelta(days=400)).isoformat(), "categories": "A02021000"})
    assert "协议期限401天" in resp.get_data(as_text=True) and "最长1年" in resp.get_data(as_text=True)
    resp = client.post("/admin/agreements/new", data={
        "number": "FA-2026-PRN", "title": "打印机框架协议", "kind": "closed", "subject": "goods",
        "zone_code": "central", "second_stage": "competition", "term_start": start.isoformat(),
        "term_end": (start + dt.timedelta(days=300)).isoformat(), "categories": "A02021000"})
    assert resp.status_code == 302
    a = db.session.scalars(select(Agreement).where(Agreement.number == "FA-2026-PRN")).one()
    url = f"/admin/agreements/{a.id}/entrants"
    # activation without entrants is refused with the rule
    html = client.post(f"/admin/agreements/{a.id}/status", data={"to": "active"}, follow_redirects=True) \
        .get_data(as_text=True)
    assert "没有入围供应商，不能生效" in html
    # add the entrant by its 统一社会信用代码
    html = client.post(url, data={"action": "add_entrant", "entrant-supplier": sup.uscc},
                       follow_redirects=True).get_data(as_text=True)
    assert "已将福建惠普代理有限公司加入入围供应商" in html
    html = client.post(url, data={"action": "add_entrant", "entrant-supplier": "不存在的公司"}).get_data(as_text=True)
    assert "未找到该供应商" in html
    # one price, then a bulk entry with a bad line saves nothing
    resp = client.post(url, data={"action": "add_price", "price-supplier_id": str(sup.id), "price-brand": "惠普",
                                  "price-model": "LaserJet M208dw", "price-max_price": "1,899.00",
                                  "price-category_code": "A02021000"})
    assert resp.status_code == 302
    html = client.post(url, data={"action": "add_prices_bulk", "bulk-supplier_id": str(sup.id),
                                  "bulk-lines": "惠普, M232dw, 1599\n惠普, M437n, 无"}).get_data(as_text=True)
    assert "第2条：最高限制单价“无”不是有效的数字" in html
    assert _count(AgreementPrice) == 2  # the world's price and the single one
    html = client.post(url, data={"action": "add_prices_bulk", "bulk-supplier_id": str(sup.id),
                                  "bulk-lines": "惠普, M232dw, 1599\n惠普, M437n, 5,999.00"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已录入2条协议价格" in html and "¥5,999.00" in html
    html = client.post(f"/admin/agreements/{a.id}/status", data={"to": "active", "note": "征集结果公告期满"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已改为“有效”" in html
    # closed and active: no new entrants
    html = client.post(url, data={"action": "add_entrant", "entrant-supplier": str(make.supplier_org().id)}) \
        .get_data(as_text=True)
    assert "封闭式" in html and "不得增加入围供应商" in html
    # the public page shows it
    public = client.get(f"/agreements/{a.id}").get_data(as_text=True)
    assert "福建惠普代理有限公司" in public and "LaserJet M208dw" in public and "二次竞价" in public


def test_suspending_from_the_page_halts_products_and_needs_a_reason(client, make, auth, world):
    auth.login(make.user("operator").username)
    a, prod = world["agreement"], world["product"]
    html = client.post(f"/admin/agreements/{a.id}/status", data={"to": "suspended"}, follow_redirects=True) \
        .get_data(as_text=True)
    assert "暂停框架协议须填写原因" in html
    assert db.session.get(Agreement, a.id).status == "active"
    html = client.post(f"/admin/agreements/{a.id}/status", data={"to": "suspended", "note": "价格高于市场价，暂停核查"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已改为“暂停”：停售商品1件" in html
    db.session.expire_all()
    assert db.session.get(Product, prod.id).halted_reason == "框架协议FA-2026-001已暂停"
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "agreement.status")).one()
    assert rec.note == "价格高于市场价，暂停核查" and rec.actor_role == "operator"
    html = client.post(f"/admin/agreements/{a.id}/status", data={"to": "active", "note": "核查完毕"},
                       follow_redirects=True).get_data(as_text=True)
    assert "恢复销售1件" in html


def test_applications_page_shows_deadline_and_decides(client, make, auth, world):
    auth.login(make.user("operator").username)
    html = client.get("/admin/applications").get_data(as_text=True)
    # applied Monday 3 March 2025 (10:00 in Shanghai) → 7 working days → Wednesday 12 March
    assert "2025-03-12" in html and "已超期" in html
    app_id = world["application"].id
    html = client.post("/admin/applications", data={"entrant_id": str(app_id), "decision": "reject"},
                       follow_redirects=True).get_data(as_text=True)
    assert "不同意加入须填写理由" in html
    html = client.post("/admin/applications", data={"entrant_id": str(app_id), "decision": "admit", "note": "合格"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已同意闽侯纸业有限公司加入框架协议FA-OPEN-9" in html and "没有待审核的申请" in html
    db.session.expire_all()
    assert db.session.get(AgreementSupplier, app_id).status == "admitted"


def test_solicitations_refuse_centralized_items_and_close_with_reason(client, make, auth, world):
    auth.login(make.user("operator").username)
    html = client.post("/admin/solicitations", data={"action": "create", "new-category_code": "A02010105",
                                                     "new-title": "台式机征集", "new-valid_from": "2026-01-01"}) \
        .get_data(as_text=True)
    assert "属于集中采购目录（2025年版" in html and "不能在自采区公开征集" in html
    html = client.post("/admin/solicitations", data={"action": "create", "new-category_code": "A05010301",
                                                     "new-title": "办公椅公开征集", "new-valid_from": "2026-01-01",
                                                     "new-conditions": "具备ISO9001认证"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已发布征集“办公椅公开征集”" in html and "办公椅" in html
    html = client.post("/admin/solicitations", data={"action": "create", "new-category_code": "A05010301",
                                                     "new-title": "重复", "new-valid_from": "2026-06-01"}) \
        .get_data(as_text=True)
    assert "已有进行中的征集" in html
    sid = world["solicitation"].id
    html = client.post("/admin/solicitations", data={"action": "close", "solicitation_id": str(sid)},
                       follow_redirects=True).get_data(as_text=True)
    assert "结束征集须填写原因" in html
    client.post("/admin/solicitations", data={"action": "close", "solicitation_id": str(sid), "note": "征集期满"})
    db.session.expire_all()
    assert db.session.get(Solicitation, sid).status == "closed"
    assert _count(Solicitation) == 2


def test_zones_toggle_and_describe(client, make, auth):
    auth.login(make.user("operator").username)
    html = client.post("/admin/zones", data={"code": "pavilion", "action": "toggle", "note": "年度盘点"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已停用特色馆" in html
    client.post("/admin/zones", data={"code": "pavilion", "action": "describe",
                                      "description": "脱贫地区农副产品，助力乡村振兴"})
    db.session.expire_all()
    zone = db.session.get(Zone, "pavilion")
    assert zone.enabled is False and zone.description == "脱贫地区农副产品，助力乡村振兴"
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "zone.disabled")).one()
    assert rec.note == "年度盘点"
    client.post("/admin/zones", data={"code": "pavilion", "action": "toggle"})
    db.session.expire_all()
    assert db.session.get(Zone, "pavilion").enabled is True
    assert client.post("/admin/zones", data={"code": "nowhere", "action": "toggle"}).status_code == 404


def test_pavilion_review(client, make, auth, world):
    auth.login(make.user("operator").username)
    fid = world["farmer"].id
    html = client.post("/admin/pavilion", data={"supplier_id": str(fid), "decision": "rejected"},
                       follow_redirects=True).get_data(as_text=True)
    assert "须填写理由" in html
    html = client.post("/admin/pavilion?status=applied", data={"supplier_id": str(fid), "decision": "qualified",
                                                               "note": "县乡村振兴局推荐"},
                       follow_redirects=True).get_data(as_text=True)
    assert "东乡农产品合作社：认定" in html
    db.session.expire_all()
    prof = db.session.get(SupplierProfile, fid)
    assert prof.pavilion_status == "qualified" and prof.pavilion_note == "县乡村振兴局推荐"
    # a qualification can be revoked with a reason; deciding again on a qualified one is refused
    html = client.post("/admin/pavilion", data={"supplier_id": str(fid), "decision": "qualified"},
                       follow_redirects=True).get_data(as_text=True)
    assert "不能认定" in html
    client.post("/admin/pavilion", data={"supplier_id": str(fid), "decision": "rejected", "note": "产地不符"})
    db.session.expire_all()
    assert db.session.get(SupplierProfile, fid).pavilion_status == "rejected"
    assert _count_actions("supplier.pavilion_review") == 1 and _count_actions("supplier.pavilion_revoke") == 1


def _count_actions(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action))


def test_entrant_management_from_the_page(client, make, auth, world):
    auth.login(make.user("operator").username)
    a = world["agreement"]
    entrant = next(e for e in a.entrants if e.supplier_id == world["supplier"].id)
    url = f"/admin/agreements/{a.id}/entrants"
    html = client.post(url, data={"action": "suspend", "entrant_id": str(entrant.id)}, follow_redirects=True) \
        .get_data(as_text=True)
    assert "暂停入围供应商须填写原因" in html
    html = client.post(url, data={"action": "suspend", "entrant_id": str(entrant.id), "note": "逾期供货"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已暂停入围供应商福州联创科技有限公司" in html
    db.session.expire_all()
    assert db.session.get(AgreementSupplier, entrant.id).status == "suspended"
    assert db.session.get(Product, world["product"].id).halted_reason is not None
    assert client.post(url, data={"action": "bogus"}).status_code == 400
    assert client.post(url, data={"action": "suspend", "entrant_id": "99999"}).status_code == 404


def test_admin_home_counts_overdue_applications(client, make, auth, world):
    auth.login(make.user("operator").username)
    html = client.get("/admin/").get_data(as_text=True)
    assert "超过7个工作日未审核" in html and "2025年版" in html
    assert svc.review_deadline(world["application"]) == dt.date(2025, 3, 12)


GARBAGE = [{}, {"action": "add_price"}, {"action": "add_prices_bulk", "bulk-lines": ",,,\n\n||"},
           {"action": "add_entrant", "entrant-supplier": "x" * 5000}, {"action": "suspend", "entrant_id": "abc"},
           {"action": "suspend", "entrant_id": "99999999999999"}, {"supplier_id": "99999999999", "decision": "qualified"},
           {"action": "remove_price", "price_id": "-1"}, {"action": "create", "new-category_code": "💥",
                                                          "new-valid_from": "yesterday"},
           {"action": "close", "solicitation_id": "1e9"}, {"code": "central", "action": "describe",
                                                           "description": "长" * 3000},
           {"to": "🙂", "note": "x" * 2000}, {"supplier_id": "NaN", "decision": "maybe"},
           {"entrant_id": "1", "decision": "admit", "note": "x" * 600},
           {"number": "FA\x00", "title": "标题\x00", "entrant-supplier": "\x00", "note": "\x00原因",
            "new-category_code": "A05010301\x00", "new-title": "\x00", "description": "\x00"},
           {"name": "版" * 300, "effective_from": "2027-13-01", "decentralized_threshold_goods": "1e400",
            "sme_price_deduction": "NaN", "split_window_days": "9" * 40, "items": "A02010105 abc\n" * 3}]


def test_garbage_input_never_fails_the_server(client, make, auth, world):
    auth.login(make.user("operator").username)
    a, p = world["agreement"], world["policy"]
    urls = ["/admin/policies/new", f"/admin/policies/{p.id}", f"/admin/policies/{p.id}/publish",
            "/admin/agreements/new", f"/admin/agreements/{a.id}/edit", f"/admin/agreements/{a.id}/entrants",
            f"/admin/agreements/{a.id}/status", "/admin/applications", "/admin/solicitations", "/admin/zones",
            "/admin/pavilion"]
    before = _count(AuditRecord)
    assert client.get("/admin/agreements/99999999999/entrants").status_code == 404
    assert client.get("/admin/agreements?q=%00").status_code == 200
    assert client.get("/agreements?q=%00&category=%00").status_code == 200
    for url in urls:
        for data in GARBAGE:
            resp = client.post(url, data=data)
            assert resp.status_code < 500, (url, data, resp.status_code)
    db.session.expire_all()
    assert _count(AuditRecord) == before  # nothing was half-saved
    assert db.session.get(Agreement, a.id).status == "active"


def test_editing_an_active_agreement_from_the_page_keeps_its_terms(client, make, auth, world):
    import re

    auth.login(make.user("operator").username)
    a = world["agreement"]
    page = client.get(f"/admin/agreements/{a.id}/edit").get_data(as_text=True)
    fields = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    fields.update(kind="closed", subject="goods", zone_code="central", second_stage="direct",
                  categories=re.search(r'name="categories"[^>]*>\n?([^<]*)</textarea>', page).group(1))
    resp = client.post(f"/admin/agreements/{a.id}/edit", data={**fields, "title": "2026年度台式计算机框架协议"})
    assert resp.status_code == 302
    html = client.post(f"/admin/agreements/{a.id}/edit",
                       data={**fields, "term_end": (a.term_end + dt.timedelta(days=1)).isoformat()}) \
        .get_data(as_text=True)
    assert "不能修改期限截止日期" in html
    db.session.expire_all()
    a = db.session.get(Agreement, a.id)
    assert a.title == "2026年度台式计算机框架协议" and a.term_end == today() - dt.timedelta(days=30) + dt.timedelta(days=360)
