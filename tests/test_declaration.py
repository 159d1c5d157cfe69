"""SME declarations (中小企业声明函): size computed from the industry thresholds, the new one
replaces the current one, the supplier's size and its products' SME labels follow."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from catalog.models import Product
from mall.audit import AuditRecord
from mall.extensions import db
from mall.problems import ServiceError
from mall.timeutil import today
from suppliers import services
from suppliers.models import SmeDeclaration, SupplierProfile

WAN = Decimal(10000)


def declare(user, **kw):
    data = dict(industry="software", year=today().year - 1, staff=50, revenue=3000 * WAN, total_assets=800 * WAN)
    data.update(kw)
    return services.submit_declaration(user=user, **data)


def current_rows(org_id):
    return db.session.scalars(select(SmeDeclaration).where(SmeDeclaration.supplier_id == org_id,
                                                           SmeDeclaration.is_current.is_(True))).all()


def test_declaration_computes_size_with_explanation(make):
    u = make.user("supplier", organisation=make.supplier_org(sme_size=None))
    d = declare(u)
    db.session.commit()
    assert d.size == "small" and d.is_current and d.declared_by_id == u.id
    assert "软件和信息技术服务业" in d.explanation and "小型企业" in d.explanation
    assert d.revenue == Decimal("30000000.00") and d.total_assets == Decimal("8000000.00")
    assert db.session.get(SupplierProfile, u.organisation_id).sme_size == "small"


@pytest.mark.parametrize("industry,staff,revenue_wan,size", [
    ("industry", 300, 2000, "medium"), ("industry", 299, 2000, "small"), ("industry", 19, 5000, "micro"),
    ("retail", 5, 50, "micro"), ("wholesale", 250, 50000, "large"), ("agriculture", 0, 600, "medium"),
])
def test_sizes_follow_the_thresholds(make, industry, staff, revenue_wan, size):
    u = make.user("supplier")
    assert declare(u, industry=industry, staff=staff, revenue=revenue_wan * WAN).size == size


def test_new_declaration_replaces_current_and_relabels_products(make):
    org = make.supplier_org(sme_size="small")
    u = make.user("supplier", organisation=org)
    products = [make.product(org) for _ in range(3)]
    other = make.product(make.supplier_org(sme_size="small"))
    first = declare(u)
    db.session.commit()
    assert all(p.is_sme for p in products)
    second = declare(u, staff=500, revenue=20000 * WAN)  # software: ≥300 staff and ≥¥1亿 → large
    db.session.commit()
    db.session.expire_all()
    assert second.size == "large"
    assert [d.id for d in current_rows(org.id)] == [second.id]
    assert db.session.get(SmeDeclaration, first.id).is_current is False
    assert db.session.get(SupplierProfile, org.id).sme_size == "large"
    assert db.session.scalar(select(func.count()).select_from(Product).where(
        Product.supplier_id == org.id, Product.is_sme.is_(True))) == 0
    assert db.session.get(Product, other.id).is_sme is True  # other suppliers untouched
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "product.sme_flags")).all()[-1]
    assert rec.after == {"is_sme": False, "products": 3} and rec.object_id == str(org.id)
    declare(u)  # back to small
    db.session.commit()
    db.session.expire_all()
    assert all(db.session.get(Product, p.id).is_sme for p in products)


def test_goods_from_a_large_manufacturer_are_not_sme_products(make):
    org = make.supplier_org(sme_size=None)
    u = make.user("supplier", organisation=org)
    p = make.product(org)
    d = declare(u, manufacturer_name="某大型电子制造有限公司", manufacturer_size="large")
    db.session.commit()
    db.session.expire_all()
    assert d.size == "small" and db.session.get(SupplierProfile, org.id).sme_size == "small"
    assert db.session.get(Product, p.id).is_sme is False
    declare(u, manufacturer_name="某小型家具厂", manufacturer_size="micro")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Product, p.id).is_sme is True


@pytest.mark.parametrize("kw,code", [
    (dict(industry="mining"), "industry_invalid"),
    (dict(staff=-1), "staff_out_of_range"),
    (dict(staff="十个"), "staff_invalid"),
    (dict(year=today().year + 1), "year_out_of_range"),
    (dict(revenue="很多"), "revenue_invalid"),
    (dict(revenue=Decimal("-1")), "revenue_negative"),
    (dict(total_assets=""), "total_assets_required"),
    (dict(manufacturer_name="某厂"), "manufacturer_size_required"),
    (dict(manufacturer_size="small"), "manufacturer_name_required"),
])
def test_invalid_declarations_are_refused_and_change_nothing(make, kw, code):
    org = make.supplier_org(sme_size="small")
    u = make.user("supplier", organisation=org)
    with pytest.raises(ServiceError) as exc:
        declare(u, **kw)
    assert code in [p.code for p in exc.value.problems]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SmeDeclaration)) == 0
    assert db.session.get(SupplierProfile, org.id).sme_size == "small"


def test_only_the_supplier_itself_may_declare(make):
    victim = make.supplier_org(sme_size="large")
    buyer = make.user("buyer")
    intruder = make.user("supplier")
    for user, kw in ((buyer, {}), (intruder, {"supplier_id": victim.id})):
        with pytest.raises(ServiceError) as exc:
            declare(user, **kw)
        assert exc.value.status == 403
        db.session.rollback()
    assert db.session.get(SupplierProfile, victim.id).sme_size == "large"
    assert db.session.scalar(select(func.count()).select_from(SmeDeclaration)) == 0


def test_declaration_page_in_wan_yuan(client, auth, make):
    org = make.supplier_org(sme_size=None)
    u = make.user("supplier", organisation=org)
    auth.login(u.username)
    html = client.get("/store/declaration").get_data(as_text=True)
    assert "中小企业声明函" in html and "营业收入（万元）" in html and "尚未提交" in html
    form = {"industry": "retail", "year": str(today().year - 1), "staff": "12", "revenue": "150.5",
            "total_assets": "80", "manufacturer_name": "", "manufacturer_size": ""}
    html = client.post("/store/declaration", data=form).get_data(as_text=True)
    assert "请确认声明内容真实" in html
    assert db.session.scalar(select(func.count()).select_from(SmeDeclaration)) == 0
    resp = client.post("/store/declaration", data=dict(form, confirm="y"), follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "小型企业" in html and "零售业" in html and "150.50万元" in html
    d = db.session.scalars(select(SmeDeclaration)).one()
    assert d.revenue == Decimal("1505000.00") and d.size == "small" and d.staff == 12
    html = client.post("/store/declaration", data=dict(form, confirm="y", staff="-3")).get_data(as_text=True)
    assert "从业人员须在0至" in html


def test_declaration_is_public_on_storefront_and_api(client, make):
    org = make.supplier_org(name="福州小微软件有限公司", sme_size=None)
    u = make.user("supplier", organisation=org)
    declare(u, manufacturer_name=None)
    db.session.commit()
    html = client.get(f"/suppliers/{org.id}").get_data(as_text=True)
    assert "中小企业声明函" in html and "软件和信息技术服务业" in html and "3,000.00万元" in html
    assert "小型企业" in html and "划型依据" in html
    data = client.get(f"/api/v1/suppliers/{org.id}").get_json()
    assert data["sme_size"] == "small" and data["is_sme"] is True and data["sme_size_label"] == "小型企业"
    decl = data["declaration"]
    assert decl["industry"] == "software" and decl["revenue"] == "30000000.00" and decl["staff"] == 50
    assert "小型企业" in decl["explanation"]
    assert client.get(f"/api/v1/suppliers/{u.organisation_id + 1000}").status_code == 404
    buyer_unit = make.org("budget_unit")
    assert client.get(f"/api/v1/suppliers/{buyer_unit.id}").status_code == 404
