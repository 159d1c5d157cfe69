"""The public storefront, the supplier's agreements page (apply to open agreements) and the
特色馆 application."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from catalog.models import AgreementSupplier
from mall.extensions import db
from mall.timeutil import today
from suppliers.models import SupplierProfile


def entrant(agreement_id, supplier_id):
    db.session.expire_all()
    return db.session.scalars(select(AgreementSupplier).where(AgreementSupplier.agreement_id == agreement_id,
                                                              AgreementSupplier.supplier_id == supplier_id)).first()


# ------------------------------------------------------------------ public storefront

def test_storefront_shows_company_sme_badge_agreements_and_listed_products(client, make):
    org = make.supplier_org(name="福州办公家具有限公司", sme_size="micro", contact_phone="0591-88888888")
    a = make.agreement(categories=("A02010105",), suppliers=(org,), number="FA-2025-7001")
    make.agreement(categories=("A02021000",), suppliers=(org,), number="FA-2024-0009",
                   term_start=today() - dt.timedelta(days=400), term_end=today() - dt.timedelta(days=40))
    make.product(org, title="在售的办公桌", status="listed")
    make.product(org, title="还是草稿的椅子", status="draft")
    make.product(org, title="暂停销售的电脑", status="listed", halted_reason="框架协议已到期")
    make.product(make.supplier_org(), title="别家的商品", status="listed")
    resp = client.get(f"/suppliers/{org.id}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "福州办公家具有限公司" in html and "微型企业" in html and 'id="sme-badge"' in html
    assert "FA-2025-7001" in html and "FA-2024-0009" not in html  # only agreements in force
    assert "在售的办公桌" in html
    assert "还是草稿的椅子" not in html and "暂停销售的电脑" not in html and "别家的商品" not in html
    assert "尚未提交中小企业声明函" in html and "0591-88888888" in html
    assert f'href="/agreements/{a.id}"' in html
    data = client.get(f"/api/v1/suppliers/{org.id}").get_json()
    assert [x["number"] for x in data["agreements"]] == ["FA-2025-7001"]
    assert data["sme_size"] == "micro" and data["declaration"] is None
    assert data["storefront_url"] == f"/suppliers/{org.id}"


def test_storefront_pages_products(app, client, make):
    org = make.supplier_org()
    titles = [make.product(org, title=f"商品{i:02d}", status="listed").title for i in range(5)]
    old = app.config["PAGE_SIZE"]
    app.config["PAGE_SIZE"] = 2
    try:
        pages = [client.get(f"/suppliers/{org.id}?page={n}").get_data(as_text=True) for n in (1, 2, 3)]
    finally:
        app.config["PAGE_SIZE"] = old
    for t in titles:
        assert sum(t in html for html in pages) == 1
    assert "下一页" in pages[0]


def test_storefront_zone_filter(client, make):
    org = make.supplier_org(pavilion_status="qualified")
    make.product(org, title="特色馆土豆", zone="pavilion", category_code="A07031201", status="listed")
    make.product(org, title="自采区桌子", status="listed")
    html = client.get(f"/suppliers/{org.id}?zone=pavilion").get_data(as_text=True)
    assert "特色馆土豆" in html and "自采区桌子" not in html and "特色馆认定供应商" in html


def test_suspended_supplier_storefront(client, make):
    org = make.supplier_org(status="suspended")
    make.product(org, title="暂停期间的商品", status="listed")
    html = client.get(f"/suppliers/{org.id}").get_data(as_text=True)
    assert "已被暂停交易" in html and "暂停期间的商品" not in html


def test_storefront_only_for_suppliers(client, make):
    assert client.get("/suppliers/999999").status_code == 404
    unit = make.org("budget_unit")
    assert client.get(f"/suppliers/{unit.id}").status_code == 404


def test_store_overview(client, auth, make):
    u = make.user("supplier")
    make.product(u.organisation, status="listed", price="120.00", market_price="100.00", title="偏贵的桌子")
    auth.login(u.username)
    html = client.get("/store").get_data(as_text=True)
    assert "店铺管理" in html and "在售商品" in html and "偏贵的桌子" in html and "价格诚信" in html


# ------------------------------------------------------------------ agreements

@pytest.fixture
def supplier(make):
    return make.user("supplier")


def test_agreements_page_lists_entrants_prices_and_open_agreements(client, auth, make, supplier):
    org = supplier.organisation
    admitted = make.agreement(suppliers=(org,), number="FA-IN-0001", prices=((org, "联想", "启天M437", "5800.00"),))
    closed = make.agreement(number="FA-CLOSED-01")
    opened = make.agreement(kind="open", number="FA-OPEN-0001", categories=("A02021000",))
    expired_open = make.agreement(kind="open", number="FA-OPEN-OLD", status="expired")
    auth.login(supplier.username)
    html = client.get("/store/agreements").get_data(as_text=True)
    assert 'data-agreement="FA-IN-0001"' in html and "已入围" in html
    assert "启天M437" in html and "¥5,800.00" in html
    assert "FA-OPEN-0001" in html and "FA-CLOSED-01" not in html and "FA-OPEN-OLD" not in html
    assert admitted and closed and opened and expired_open


def test_apply_to_open_agreement(client, auth, make, supplier):
    a = make.agreement(kind="open", number="FA-OPEN-0002")
    auth.login(supplier.username)
    resp = client.post("/store/agreements", data={"agreement_id": a.id}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "已提交加入框架协议FA-OPEN-0002的申请" in html
    e = entrant(a.id, supplier.organisation_id)
    assert e.status == "applied" and e.applied_at is not None
    assert 'data-agreement="FA-OPEN-0002"' in html and "申请中" in html
    html = client.post("/store/agreements", data={"agreement_id": a.id}, follow_redirects=True).get_data(as_text=True)
    assert "无需重复申请" in html
    assert db.session.scalar(select(func.count()).select_from(AgreementSupplier)) == 1


def test_closed_agreement_refuses_applications(client, auth, make, supplier):
    a = make.agreement(kind="closed", number="FA-CLOSED-02")
    auth.login(supplier.username)
    html = client.post("/store/agreements", data={"agreement_id": a.id}, follow_redirects=True).get_data(as_text=True)
    assert "封闭式" in html and "FA-CLOSED-02" in html
    assert entrant(a.id, supplier.organisation_id) is None


def test_out_of_term_open_agreement_refuses_applications(client, auth, make, supplier):
    a = make.agreement(kind="open", number="FA-OPEN-LATE", term_start=today() - dt.timedelta(days=400),
                       term_end=today() - dt.timedelta(days=1))
    auth.login(supplier.username)
    html = client.post("/store/agreements", data={"agreement_id": a.id}, follow_redirects=True).get_data(as_text=True)
    assert "不接受加入申请" in html and entrant(a.id, supplier.organisation_id) is None


def test_rejected_supplier_may_apply_again(client, auth, make, supplier):
    a = make.agreement(kind="open")
    db.session.add(AgreementSupplier(agreement_id=a.id, supplier_id=supplier.organisation_id, status="rejected",
                                     decision_note="资质不全"))
    db.session.commit()
    auth.login(supplier.username)
    client.post("/store/agreements", data={"agreement_id": a.id})
    e = entrant(a.id, supplier.organisation_id)
    assert e.status == "applied" and e.decided_at is None


def test_suspended_supplier_cannot_apply(client, auth, make):
    u = make.user("supplier", organisation=make.supplier_org(status="suspended"))
    a = make.agreement(kind="open")
    auth.login(u.username)
    html = client.post("/store/agreements", data={"agreement_id": a.id}, follow_redirects=True).get_data(as_text=True)
    assert "暂停交易" in html and entrant(a.id, u.organisation_id) is None


def test_apply_needs_a_supplier_and_a_real_agreement(client, auth, make, supplier):
    a = make.agreement(kind="open")
    auth.login(make.user("buyer").username)
    assert client.post("/store/agreements", data={"agreement_id": a.id}).status_code == 403
    auth.logout()
    auth.login(supplier.username)
    for bad in (999999, "x"):
        html = client.post("/store/agreements", data={"agreement_id": bad}, follow_redirects=True).get_data(as_text=True)
        assert "框架协议不存在" in html
    assert db.session.scalar(select(func.count()).select_from(AgreementSupplier)) == 0


# ------------------------------------------------------------------ 特色馆

def test_pavilion_application(client, auth, make, supplier):
    auth.login(supplier.username)
    assert "申请特色馆资格" in client.get("/store/pavilion").get_data(as_text=True)
    html = client.post("/store/pavilion", data={"county": "", "note": ""}).get_data(as_text=True)
    assert "请填写注册所在县" in html
    resp = client.post("/store/pavilion", data={"county": "甘肃省临夏州东乡族自治县", "note": "主营东乡土豆、百合"},
                       follow_redirects=True)
    assert "特色馆资格申请已提交" in resp.get_data(as_text=True)
    db.session.expire_all()
    prof = db.session.get(SupplierProfile, supplier.organisation_id)
    assert (prof.pavilion_status, prof.pavilion_county, prof.pavilion_note) == \
        ("applied", "甘肃省临夏州东乡族自治县", "主营东乡土豆、百合")
    html = client.post("/store/pavilion", data={"county": "别的县"}).get_data(as_text=True)
    assert "正在审核中" in html
    db.session.expire_all()
    assert db.session.get(SupplierProfile, supplier.organisation_id).pavilion_county == "甘肃省临夏州东乡族自治县"


@pytest.mark.parametrize("status,ok", [("qualified", False), ("rejected", True), ("none", True)])
def test_pavilion_reapplication_rules(client, auth, make, status, ok):
    u = make.user("supplier", organisation=make.supplier_org(pavilion_status=status))
    auth.login(u.username)
    client.post("/store/pavilion", data={"county": "云南省怒江州福贡县"})
    db.session.expire_all()
    prof = db.session.get(SupplierProfile, u.organisation_id)
    assert prof.pavilion_status == ("applied" if ok else "qualified")


def test_pavilion_needs_a_supplier(client, auth, make):
    auth.login(make.user("buyer").username)
    assert client.post("/store/pavilion", data={"county": "某县"}).status_code == 403
