"""Framework agreements (财政部令第110号): terms, transitions, entrants and prices, applications to
open agreements, products following their agreement (the sweep), the public pages and the API."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import pytest
from flask_login import login_user
from sqlalchemy import func, select

from catalog import agreements as svc
from catalog.models import Agreement, AgreementPrice, AgreementSupplier, Product
from catalog.queries import sellable_products
from mall.audit import AuditRecord
from mall.extensions import db
from mall.problems import ServiceError
from mall.timeutil import today
from tests.conftest import bearer


@pytest.fixture
def acting(app, ctx):
    """Run service calls as a signed-in user (services check permissions on current_user)."""
    @contextmanager
    def as_user(user):
        with app.test_request_context("/"):
            login_user(user)
            yield user
    return as_user


def _codes(exc: ServiceError) -> list[str]:
    return [p.code for p in exc.problems]


def _audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditRecord))


def _sellable(product_id: int) -> bool:
    return db.session.scalars(sellable_products().where(Product.id == product_id)).first() is not None


def _central(make, number="FA-2026-001", status="active", **kw):
    """An agreement for desktops with one entrant, its agreement price and a listed product."""
    sup = make.supplier_org(contact_name="王经理", contact_phone="0591-88886666")
    a = make.agreement(categories=("A02010105",), suppliers=(sup,), status=status, number=number,
                       prices=((sup, "联想", "启天M455", "4999.00"),), **kw)
    prod = make.product(sup, zone="central", category_code="A02010105", price="4800.00", brand="联想",
                        model="启天M455", agreement_price=a.prices[0])
    return a, sup, prod


def _draft_payload(**over):
    start = today() + dt.timedelta(days=1)
    data = {"number": "FA-2027-010", "title": "台式计算机框架协议", "kind": "closed", "subject": "goods",
            "second_stage": "direct", "zone_code": "central", "term_start": start.isoformat(),
            "term_end": (start + dt.timedelta(days=364)).isoformat(), "categories": ["A02010105", "A02010108"],
            "procuring_body": "福州市公共资源交易中心"}
    data.update(over)
    return data


# ------------------------------------------------------------------ term limits

def test_goods_term_over_one_year_refused_naming_length_and_limit(client, make):
    t = make.token(make.user("operator"))
    body = _draft_payload(term_start="2026-01-01", term_end="2027-01-01")
    resp = client.post("/api/v1/agreements", json=body, headers=bearer(t))
    assert resp.status_code == 422
    problem = resp.get_json()["problems"][0]
    assert problem["code"] == "term_too_long"
    assert "366天" in problem["message"] and "最长1年" in problem["message"] and "2026-12-31" in problem["message"]
    assert problem["figures"]["term_days"] == 366 and problem["figures"]["limit_years"] == 1
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == 0
    # exactly one year is allowed
    ok = client.post("/api/v1/agreements", json=_draft_payload(term_start="2026-01-01", term_end="2026-12-31"),
                     headers=bearer(t))
    assert ok.status_code == 201 and ok.get_json()["status"] == "draft"


def test_services_may_run_two_years_not_more(client, make):
    t = make.token(make.user("operator"))
    body = _draft_payload(subject="services", categories=["C16040000"], second_stage="rotation",
                          term_start="2026-03-01", term_end="2028-02-29")
    assert client.post("/api/v1/agreements", json=body, headers=bearer(t)).status_code == 201
    body.update(number="FA-2027-011", term_end="2028-03-01")
    resp = client.post("/api/v1/agreements", json=body, headers=bearer(t))
    assert resp.status_code == 422
    msg = resp.get_json()["problems"][0]["message"]
    assert "732天" in msg and "服务项目框架协议最长2年" in msg


def test_term_limit_from_29_february():
    assert svc.max_term_end("goods", dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)
    assert svc.term_problems("goods", dt.date(2024, 2, 29), dt.date(2025, 2, 28)) == []
    assert svc.term_problems("goods", dt.date(2024, 3, 1), dt.date(2024, 2, 1))[0].code == "term_end_before_start"


def test_categories_must_exist_and_match_the_subject(client, make):
    t = make.token(make.user("operator"))
    resp = client.post("/api/v1/agreements", json=_draft_payload(categories=["A02010105", "C16040000", "A99"]),
                       headers=bearer(t))
    assert resp.status_code == 422
    codes = {p["code"]: p["message"] for p in resp.get_json()["problems"]}
    assert "unknown_category" in codes and "A99" in codes["unknown_category"]
    assert "category_subject_mismatch" in codes and "云计算服务" in codes["category_subject_mismatch"]
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == 0


def test_duplicate_number_and_bad_choices_refused(client, make):
    make.agreement(number="FA-2027-010")
    t = make.token(make.user("operator"))
    resp = client.post("/api/v1/agreements", json=_draft_payload(kind="half-open", second_stage="lottery"),
                       headers=bearer(t))
    codes = [p["code"] for p in resp.get_json()["problems"]]
    assert resp.status_code == 422 and "number_taken" in codes and codes.count("invalid_choice") == 2


# ------------------------------------------------------------------ status transitions

def test_activation_needs_entrants_and_a_live_term(make, acting):
    op = make.user("operator")
    sup = make.supplier_org()
    empty = make.agreement(status="draft", number="FA-A")
    ended = make.agreement(status="draft", number="FA-B", suppliers=(sup,),
                           term_start=today() - dt.timedelta(days=400), term_end=today() - dt.timedelta(days=40))
    good = make.agreement(status="draft", number="FA-C", suppliers=(sup,))
    with acting(op):
        with pytest.raises(ServiceError) as e1:
            svc.transition(empty, "active")
        assert _codes(e1.value) == ["no_entrants"] and "没有入围供应商" in e1.value.problems[0].message
        db.session.rollback()
        with pytest.raises(ServiceError) as e2:
            svc.transition(ended, "active")
        assert _codes(e2.value) == ["term_ended"]
        assert str(ended.term_end) in e2.value.problems[0].message
        db.session.rollback()
        svc.transition(good, "active", "征集结果已公告")
        db.session.commit()
    assert db.session.get(Agreement, good.id).status == "active"
    assert db.session.get(Agreement, empty.id).status == "draft"
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "agreement.status",
                                                       AuditRecord.object_id == str(good.id))).one()
    assert rec.before == {"status": "draft"} and rec.after == {"status": "active"}
    assert rec.note == "征集结果已公告" and rec.actor_id == op.id


@pytest.mark.parametrize("frm,to", [("active", "draft"), ("expired", "active"), ("draft", "suspended"),
                                    ("draft", "expired"), ("expired", "suspended"), ("suspended", "draft")])
def test_disallowed_transitions_are_conflicts(make, acting, frm, to):
    a = make.agreement(status=frm, suppliers=(make.supplier_org(),))
    with acting(make.user("operator")):
        with pytest.raises(ServiceError) as exc:
            svc.transition(a, to, "测试")
    assert exc.value.status == 409 and _codes(exc.value) == ["invalid_transition"]
    db.session.rollback()
    assert db.session.get(Agreement, a.id).status == frm


def test_suspend_and_expire_need_a_reason(make, acting):
    a = make.agreement(status="active", suppliers=(make.supplier_org(),))
    with acting(make.user("operator")):
        with pytest.raises(ServiceError) as exc:
            svc.transition(a, "suspended", "  ")
        assert _codes(exc.value) == ["note_required"]


def test_status_changes_stop_and_restore_products_at_once(make, acting):
    a, sup, prod = _central(make)
    other_sup = make.supplier_org()
    self_zone = make.product(other_sup, zone="self")
    assert _sellable(prod.id)
    with acting(make.user("operator")):
        result = svc.transition(a, "suspended", "供应商涉嫌串通报价，暂停核查")
        db.session.commit()
    assert result == {"halted": 1, "restored": 0, "changed": 1}
    assert db.session.get(Product, prod.id).halted_reason == "框架协议FA-2026-001已暂停"
    assert not _sellable(prod.id) and _sellable(self_zone.id)
    with acting(make.user("operator")):
        result = svc.transition(a, "active", "核查完毕")
        db.session.commit()
    assert result["restored"] == 1
    assert db.session.get(Product, prod.id).halted_reason is None and _sellable(prod.id)
    with acting(make.user("operator")):
        svc.transition(a, "expired", "提前终止")
        db.session.commit()
    assert db.session.get(Product, prod.id).halted_reason == "框架协议FA-2026-001已到期"


# ------------------------------------------------------------------ entrants and prices

def test_closed_agreement_fixes_entrants_after_activation(make, acting):
    a = make.agreement(status="active", suppliers=(make.supplier_org(),), kind="closed")
    newcomer = make.supplier_org()
    with acting(make.user("operator")):
        with pytest.raises(ServiceError) as exc:
            svc.add_entrant(a, newcomer)
    assert _codes(exc.value) == ["closed_agreement_fixed"] and "封闭式" in exc.value.problems[0].message
    db.session.rollback()
    assert len(db.session.get(Agreement, a.id).entrants) == 1


def test_open_agreement_takes_entrants_any_time_and_suspended_supplier_refused(make, acting):
    a = make.agreement(status="active", suppliers=(make.supplier_org(),), kind="open")
    newcomer, banned = make.supplier_org(), make.supplier_org(status="suspended")
    with acting(make.user("operator")):
        svc.add_entrant(a, newcomer, "补充入围")
        db.session.commit()
        with pytest.raises(ServiceError) as exc:
            svc.add_entrant(a, banned)
        assert _codes(exc.value) == ["supplier_suspended"]
        db.session.rollback()
        with pytest.raises(ServiceError) as exc:
            svc.add_entrant(a, newcomer)
        assert _codes(exc.value) == ["already_entrant"]
    assert {e.supplier_id for e in svc.admitted_entrants(db.session.get(Agreement, a.id))} >= {newcomer.id}


def test_prices_belong_to_entrants_cover_the_categories_and_never_rise(make, acting):
    a, sup, prod = _central(make)
    stranger = make.supplier_org()
    with acting(make.user("operator")):
        with pytest.raises(ServiceError) as exc:
            svc.add_prices(a, [{"supplier_id": stranger.id, "brand": "华为", "model": "X1", "max_price": "100"},
                               {"supplier_id": sup.id, "brand": "惠普", "model": "P1", "max_price": "100",
                                "category_code": "A02021000"},
                               {"supplier_id": sup.id, "brand": "戴尔", "model": "D1", "max_price": "-5"}])
        codes = _codes(exc.value)
        assert {"not_an_entrant", "category_not_covered", "negative_amount"} <= set(codes)
        db.session.rollback()
        with pytest.raises(ServiceError) as exc:
            svc.add_prices(a, [{"supplier_id": sup.id, "brand": "联想", "model": "启天M455", "max_price": "5200"}])
        assert _codes(exc.value) == ["price_increase"]
        assert "¥4,999.00" in exc.value.problems[0].message and "¥5,200.00" in exc.value.problems[0].message
        db.session.rollback()
        svc.add_prices(a, [{"supplier_id": sup.id, "brand": "联想", "model": "启天M455", "max_price": "4899.00"},
                           {"supplier_id": sup.id, "brand": "联想", "model": "启天M540", "max_price": "6200"}])
        db.session.commit()
    prices = {p.model: p.max_price for p in db.session.scalars(select(AgreementPrice))}
    assert prices == {"启天M455": Decimal("4899.00"), "启天M540": Decimal("6200.00")}


def test_bulk_price_lines_are_all_or_nothing(make, acting):
    sup = make.supplier_org()
    a = make.agreement(status="draft", suppliers=(sup,), categories=("A02010105", "A02010108"))
    text = "联想, 启天M455, 4999, A02010105\n惠普, ProDesk 400, 4,599.00, A02010105\n戴尔, Latitude, 六千, A02010108"
    with acting(make.user("operator")):
        with pytest.raises(ServiceError) as exc:
            svc.add_prices(a, svc.parse_price_lines(text, str(sup.id)))
        assert _codes(exc.value) == ["invalid_number"] and "第3条" in exc.value.problems[0].message
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(AgreementPrice)) == 0
        saved = svc.add_prices(a, svc.parse_price_lines(text.replace("六千", "6000"), str(sup.id)))
        db.session.commit()
    assert len(saved) == 3
    assert db.session.scalar(select(AgreementPrice.max_price).where(AgreementPrice.model == "ProDesk 400")) \
        == Decimal("4599.00")


def test_suspending_an_entrant_halts_only_its_products(make, acting):
    a, sup, prod = _central(make)
    sup2 = make.supplier_org()
    with acting(make.user("operator")):
        a = db.session.get(Agreement, a.id)
        a.entrants.append(AgreementSupplier(supplier_id=sup2.id, status="admitted"))
        price2 = AgreementPrice(supplier_id=sup2.id, brand="惠普", model="ProDesk 400", max_price=Decimal("4599"),
                                category_code="A02010105")
        a.prices.append(price2)
        db.session.commit()
    prod2 = make.product(sup2, zone="central", category_code="A02010105", price="4500", brand="惠普",
                         model="ProDesk 400", agreement_price=price2)
    entrant = next(e for e in a.entrants if e.supplier_id == sup.id)
    with acting(make.user("operator")):
        svc.change_entrant(a, entrant, "suspend", "未按约定时间供货")
        db.session.commit()
    assert "入围资格无效（暂停）" in db.session.get(Product, prod.id).halted_reason
    assert db.session.get(Product, prod2.id).halted_reason is None
    with acting(make.user("operator")):
        svc.change_entrant(a, db.session.get(AgreementSupplier, entrant.id), "reinstate", "已整改")
        db.session.commit()
    assert db.session.get(Product, prod.id).halted_reason is None


# ------------------------------------------------------------------ open agreements: applications

def test_review_deadline_counts_seven_working_days():
    assert svc.add_working_days(dt.date(2025, 3, 3), 7) == dt.date(2025, 3, 12)   # Mon → Wed next week
    # National Day 2025: 1–8 October off, Saturday 11 October worked (调休)
    assert svc.add_working_days(dt.date(2025, 9, 30), 7) == dt.date(2025, 10, 16)


def test_supplier_applies_operator_reviews_through_the_api(client, make):
    a = make.agreement(status="active", kind="open", suppliers=(make.supplier_org(),), number="FA-OPEN-1")
    supplier = make.user("supplier")
    st = make.token(supplier)
    ot = make.token(make.user("operator"))
    resp = client.post(f"/api/v1/agreements/{a.id}/applications", json={"note": "可供联想全系列台式机"},
                       headers=bearer(st))
    assert resp.status_code == 201
    app_data = resp.get_json()
    assert app_data["status"] == "applied" and app_data["supplier_id"] == supplier.organisation_id
    assert app_data["review_deadline"] == svc.add_working_days(today(), 7).isoformat()
    # applying twice is refused
    again = client.post(f"/api/v1/agreements/{a.id}/applications", json={}, headers=bearer(st))
    assert again.status_code == 422 and again.get_json()["problems"][0]["code"] == "already_applied"
    # the operator sees it with its deadline
    listed = client.get(f"/api/v1/agreements/{a.id}/applications", headers=bearer(ot)).get_json()
    assert [x["id"] for x in listed] == [app_data["id"]]
    url = f"/api/v1/agreements/{a.id}/applications/{app_data['id']}/decision"
    # a supplier cannot decide, and nothing changes
    assert client.post(url, json={"decision": "admit"}, headers=bearer(st)).status_code == 403
    assert db.session.get(AgreementSupplier, app_data["id"]).status == "applied"
    # rejecting needs a reason
    resp = client.post(url, json={"decision": "reject"}, headers=bearer(ot))
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["code"] == "note_required"
    resp = client.post(url, json={"decision": "admit", "note": "资格审查合格"}, headers=bearer(ot))
    assert resp.status_code == 200 and resp.get_json()["status"] == "admitted"
    # decided once only
    again = client.post(url, json={"decision": "reject", "note": "x"}, headers=bearer(ot))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "application_not_pending"
    detail = client.get(f"/api/v1/agreements/{a.id}").get_json()
    assert supplier.organisation_id in [e["supplier_id"] for e in detail["entrants"]]
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "agreement.application_decision")).one()
    assert rec.note == "资格审查合格" and rec.after["status"] == "admitted" and rec.after["overdue"] is False


def test_closed_agreements_take_no_applications(client, make):
    a = make.agreement(status="active", kind="closed", suppliers=(make.supplier_org(),))
    st = make.token(make.user("supplier"))
    resp = client.post(f"/api/v1/agreements/{a.id}/applications", json={}, headers=bearer(st))
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["code"] == "closed_agreement"
    assert db.session.scalar(select(func.count()).select_from(AgreementSupplier)) == 1
    # buyers cannot apply at all
    bt = make.token(make.user("buyer"))
    assert client.post(f"/api/v1/agreements/{a.id}/applications", json={}, headers=bearer(bt)).status_code == 403


def test_admission_after_review_restores_the_suppliers_products(make, acting):
    sup = make.supplier_org()
    a = make.agreement(status="active", kind="open", suppliers=(make.supplier_org(),), number="FA-OPEN-2",
                       prices=((sup, "得力", "DL-1", "300"),))
    db.session.add(AgreementSupplier(agreement_id=a.id, supplier_id=sup.id, status="applied",
                                     applied_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=20)))
    db.session.commit()
    prod = make.product(sup, zone="central", category_code="A02010105", price="290", brand="得力", model="DL-1",
                        agreement_price=db.session.scalars(select(AgreementPrice)).one())
    with acting(make.user("operator")):
        svc.sweep()
        db.session.commit()
    assert "入围资格无效（申请中）" in db.session.get(Product, prod.id).halted_reason
    entrant = db.session.scalars(select(AgreementSupplier).where(AgreementSupplier.status == "applied")).one()
    with acting(make.user("operator")):
        svc.decide_application(entrant, "admit", "")
        db.session.commit()
    assert db.session.get(Product, prod.id).halted_reason is None
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "agreement.application_decision")).one()
    assert rec.after["overdue"] is True  # 20 calendar days > 7 working days


# ------------------------------------------------------------------ the sweep

def test_sweep_expires_ended_terms_halts_and_is_idempotent(app, make):
    from catalog.tasks import sweep_agreements

    ended, sup, prod = _central(make, number="FA-OLD", term_start=today() - dt.timedelta(days=300),
                                term_end=today() - dt.timedelta(days=1))
    live, sup2, prod2 = _central(make, number="FA-LIVE")
    draft, sup3, prod3 = _central(make, number="FA-DRAFT", status="draft")
    future, sup4, prod4 = _central(make, number="FA-NEXT", term_start=today() + dt.timedelta(days=10))
    unlinked = make.product(sup2, zone="central", category_code="A02010105", price="100", brand="杂牌")
    self_zone = make.product(sup2, zone="self")
    before = _audit_count()
    result = sweep_agreements.delay().get()
    assert result["expired"] == ["FA-OLD"]
    assert result["halted"] == 4 and result["restored"] == 0
    db.session.expire_all()
    assert db.session.get(Agreement, ended.id).status == "expired"
    assert db.session.get(Product, prod.id).halted_reason == "框架协议FA-OLD已到期"
    assert db.session.get(Product, prod2.id).halted_reason is None
    assert db.session.get(Product, prod3.id).halted_reason == "框架协议FA-DRAFT尚未生效"
    assert "尚未生效" in db.session.get(Product, prod4.id).halted_reason
    assert db.session.get(Product, unlinked.id).halted_reason == svc.UNLINKED_REASON
    assert db.session.get(Product, self_zone.id).halted_reason is None
    assert [_sellable(p.id) for p in (prod, prod2, prod3, prod4, unlinked, self_zone)] == \
        [False, True, False, False, False, True]
    expire_rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "agreement.status")).one()
    assert expire_rec.actor_name == "system" and "届满" in expire_rec.note
    written = _audit_count()
    assert written > before
    # a second run changes nothing and writes no audit record
    again = sweep_agreements.delay().get()
    assert again == {"expired": [], "halted": 0, "restored": 0, "changed": 0}
    assert _audit_count() == written


def test_sweep_restores_when_the_term_starts(make, ctx):
    start = today() + dt.timedelta(days=3)
    a, sup, prod = _central(make, number="FA-SOON", term_start=start)
    assert svc.sweep(today())["halted"] == 1
    db.session.commit()
    assert not _sellable(prod.id)
    result = svc.sweep(start)
    db.session.commit()
    assert result["restored"] == 1 and _sellable(prod.id)
    assert svc.sweep(start)["changed"] == 0


# ------------------------------------------------------------------ API

def test_api_lists_with_filters_and_hides_drafts_from_the_public(client, make):
    a, sup, _ = _central(make, number="FA-PC")
    make.agreement(categories=("A02021000",), number="FA-PRN", status="suspended", suppliers=(make.supplier_org(),))
    make.agreement(number="FA-HIDDEN", status="draft")
    data = client.get("/api/v1/agreements").get_json()
    assert data["total"] == 2 and data["page"] == 1 and len(data["items"]) == 2
    assert "FA-HIDDEN" not in [i["number"] for i in data["items"]]
    by_cat = client.get("/api/v1/agreements?category=A02010000").get_json()   # an ancestor of 台式计算机
    assert [i["number"] for i in by_cat["items"]] == ["FA-PC"]
    assert by_cat["items"][0]["categories"] == [{"code": "A02010105", "name": "台式计算机"}]
    assert [i["number"] for i in client.get("/api/v1/agreements?status=suspended").get_json()["items"]] == ["FA-PRN"]
    assert [i["number"] for i in client.get(f"/api/v1/agreements?supplier={sup.id}").get_json()["items"]] == ["FA-PC"]
    paged = client.get("/api/v1/agreements?per_page=1&page=2").get_json()
    assert paged["total"] == 2 and len(paged["items"]) == 1 and paged["page"] == 2
    assert client.get("/api/v1/agreements?status=bogus").status_code == 422
    ot = make.token(make.user("operator"))
    assert client.get("/api/v1/agreements", headers=bearer(ot)).get_json()["total"] == 3


def test_api_detail_publishes_entrants_contacts_and_prices(client, make):
    a, sup, _ = _central(make)
    data = client.get(f"/api/v1/agreements/{a.id}").get_json()
    assert data["number"] == "FA-2026-001" and data["valid_today"] is True and data["entrants_count"] == 1
    entrant = data["entrants"][0]
    assert entrant["supplier_name"] == sup.name and entrant["contact_name"] == "王经理"
    assert entrant["contact_phone"] == "0591-88886666" and entrant["is_sme"] is True
    assert entrant["prices"] == [{"id": a.prices[0].id, "supplier_id": sup.id, "category_code": "A02010105",
                                  "category_name": "台式计算机", "brand": "联想", "model": "启天M455",
                                  "max_price": "4999.00", "discount_note": None}]
    hidden = make.agreement(status="draft")
    resp = client.get(f"/api/v1/agreements/{hidden.id}")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "agreement_not_found"


def test_api_create_patch_and_status(client, make):
    ot = make.token(make.user("operator"))
    sup = make.supplier_org()
    created = client.post("/api/v1/agreements", json=_draft_payload(), headers=bearer(ot)).get_json()
    aid = created["id"]
    assert [c["code"] for c in created["categories"]] == ["A02010105", "A02010108"]
    resp = client.patch(f"/api/v1/agreements/{aid}", json={"term_end": "2099-01-01"}, headers=bearer(ot))
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["code"] == "term_too_long"
    resp = client.patch(f"/api/v1/agreements/{aid}", json={"categories": ["A02010105"], "second_stage": "competition"},
                        headers=bearer(ot))
    assert resp.status_code == 200 and resp.get_json()["second_stage"] == "competition"
    resp = client.post(f"/api/v1/agreements/{aid}/status", json={"to": "active"}, headers=bearer(ot))
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["code"] == "no_entrants"
    assert client.post(f"/api/v1/agreements/{aid}/entrants", json={"supplier_id": sup.id},
                       headers=bearer(ot)).status_code == 201
    prices = client.post(f"/api/v1/agreements/{aid}/prices", headers=bearer(ot), json={"prices": [
        {"supplier_id": sup.id, "brand": "联想", "model": "启天M455", "max_price": "4999.00"}]})
    assert prices.status_code == 201 and prices.get_json()[0]["max_price"] == "4999.00"
    resp = client.post(f"/api/v1/agreements/{aid}/status", json={"to": "active", "note": "征集完成"},
                       headers=bearer(ot))
    assert resp.status_code == 200
    assert resp.get_json()["agreement"]["status"] == "active"
    assert resp.get_json()["products"] == {"halted": 0, "restored": 0, "changed": 0}
    # in force, the terms are locked; the title is not
    resp = client.patch(f"/api/v1/agreements/{aid}", json={"second_stage": "direct"}, headers=bearer(ot))
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["code"] == "agreement_terms_locked"
    resp = client.patch(f"/api/v1/agreements/{aid}", json={"title": "2027年度台式计算机框架协议"}, headers=bearer(ot))
    assert resp.status_code == 200 and resp.get_json()["title"] == "2027年度台式计算机框架协议"
    resp = client.post(f"/api/v1/agreements/{aid}/status", json={"to": "draft"}, headers=bearer(ot))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "invalid_transition"
    resp = client.post(f"/api/v1/agreements/{aid}/status", json={"to": "nonsense"}, headers=bearer(ot))
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "validation_error"


def test_api_writes_refused_for_non_operators(client, make):
    a = make.agreement(status="active", suppliers=(make.supplier_org(),))
    for role in ("buyer", "supplier", "auditor"):
        t = make.token(make.user(role))
        assert client.post("/api/v1/agreements", json=_draft_payload(), headers=bearer(t)).status_code == 403
        assert client.patch(f"/api/v1/agreements/{a.id}", json={"title": "x"}, headers=bearer(t)).status_code == 403
        resp = client.post(f"/api/v1/agreements/{a.id}/status", json={"to": "suspended", "note": "x"},
                           headers=bearer(t))
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden_role"
    assert client.post("/api/v1/agreements", json=_draft_payload()).status_code == 401
    db.session.expire_all()
    assert db.session.get(Agreement, a.id).status == "active" and db.session.get(Agreement, a.id).title == "测试框架协议"
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == 1


def test_api_unknown_agreement_is_404(client, make):
    ot = make.token(make.user("operator"))
    assert client.get("/api/v1/agreements/999").status_code == 404
    resp = client.post("/api/v1/agreements/999/status", json={"to": "active"}, headers=bearer(ot))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "agreement_not_found"


# ------------------------------------------------------------------ public pages

def test_public_list_and_detail_pages(client, make):
    a, sup, _ = _central(make)
    make.agreement(number="FA-SECRET", status="draft")
    html = client.get("/agreements").get_data(as_text=True)
    assert "FA-2026-001" in html and "台式计算机" in html and "直接选定" in html and "封闭式" in html
    assert "FA-SECRET" not in html
    html = client.get(f"/agreements/{a.id}").get_data(as_text=True)
    for text in (sup.name, "王经理", "0591-88886666", "启天M455", "¥4,999.00", "小型企业", f"/suppliers/{sup.id}",
                 "有效"):
        assert text in html, text
    draft = db.session.scalars(select(Agreement).where(Agreement.number == "FA-SECRET")).one()
    assert client.get(f"/agreements/{draft.id}").status_code == 404
    assert "FA-2026-001" in client.get("/agreements?category=A02010105").get_data(as_text=True)
    assert "FA-2026-001" not in client.get("/agreements?category=A02021000").get_data(as_text=True)


def test_supplier_applies_from_the_public_page(client, make, auth):
    a = make.agreement(status="active", kind="open", suppliers=(make.supplier_org(),))
    supplier = make.user("supplier")
    auth.login(supplier.username)
    html = client.get(f"/agreements/{a.id}").get_data(as_text=True)
    assert "申请加入" in html
    resp = client.post(f"/agreements/{a.id}/apply", data={"note": "可供货"}, follow_redirects=True)
    assert "已提交加入申请" in resp.get_data(as_text=True)
    row = db.session.scalars(select(AgreementSupplier).where(
        AgreementSupplier.supplier_id == supplier.organisation_id)).one()
    assert row.status == "applied" and row.decision_note == "可供货"


def test_api_garbage_never_fails_the_server(client, make):
    a = make.agreement(status="active", kind="open", suppliers=(make.supplier_org(),))
    ot = make.token(make.user("operator"))
    bodies = [None, [], "x", {"term_start": "2026-02-30"}, {"categories": "A02010105"}, {"categories": [1, None]},
              {"number": "N" * 500, "title": "", "term_start": "2026-01-01", "term_end": "2025-01-01"},
              {"prices": [{"supplier_id": "abc", "brand": 1, "model": [], "max_price": {"a": 1}}]},
              {"prices": [{"supplier_id": 1, "brand": "b", "model": "m", "max_price": "1e999"}]},
              {"to": None}, {"decision": 5}, {"supplier_id": 10 ** 12}, {"unknown": 1},
              {"to": "suspended", "note": "\x00" * 3 + "x" * 1200}, {"decision": "reject", "note": "y" * 501},
              {"number": "FA-\x00", "title": "\x00", "categories": ["\x00"], "term_start": "2026-01-01",
               "term_end": "2026-02-01"}]
    urls = [("post", "/api/v1/agreements"), ("patch", f"/api/v1/agreements/{a.id}"),
            ("post", f"/api/v1/agreements/{a.id}/status"), ("post", f"/api/v1/agreements/{a.id}/entrants"),
            ("post", f"/api/v1/agreements/{a.id}/prices"), ("post", f"/api/v1/agreements/{a.id}/applications/1/decision")]
    before = _audit_count()
    for method, url in urls:
        for body in bodies:
            resp = getattr(client, method)(url, json=body, headers=bearer(ot))
            if method == "patch" and body is None:  # an empty patch changes nothing
                assert resp.status_code == 200
                continue
            assert 400 <= resp.status_code < 500, (url, body, resp.status_code, resp.get_data(as_text=True))
            assert "error" in resp.get_json() or "problems" in resp.get_json()
    assert client.get("/api/v1/agreements?page=0").status_code == 422
    assert client.get("/api/v1/agreements?supplier=99999999999").status_code == 422
    assert client.get("/api/v1/agreements/99999999999").status_code == 404
    assert client.get("/api/v1/agreements?category=%00%00").status_code == 422
    assert client.get("/api/v1/agreements?q=%00").status_code == 422
    assert _audit_count() == before


def test_supplier_withdraws_an_application_and_leaves_an_open_agreement_from_its_page(client, auth, make):
    """The agreement page offers the supplier's own way out: withdraw a pending application; leave
    an open agreement it entered (its products under the agreement stop selling); a closed
    agreement cannot be left during its term. Each change is audited."""
    from catalog.models import AgreementSupplier

    entered = make.supplier_org()
    a = make.agreement(status="active", suppliers=(entered,), kind="open",
                       prices=((entered, "联想", "启天M455", "4999.00"),))
    prod = make.product(entered, zone="central", category_code="A02010105", price="4800.00",
                        agreement_price=a.prices[0])
    applicant = make.supplier_org()
    make.user("supplier", organisation=applicant, username="applicant")
    make.user("supplier", organisation=entered, username="entered")
    db.session.commit()
    auth.login("applicant")
    assert client.post(f"/agreements/{a.id}/apply", data={"note": "可供台式机"}).status_code == 302
    page = client.get(f"/agreements/{a.id}").get_data(as_text=True)
    assert "撤回申请" in page
    before = _audit_count()
    r = client.post(f"/agreements/{a.id}/withdraw", data={"note": "产能不足"}, follow_redirects=True)
    assert "已撤回加入申请" in r.get_data(as_text=True)
    row = db.session.scalars(select(AgreementSupplier).where(AgreementSupplier.supplier_id == applicant.id)).one()
    assert row.status == "withdrawn" and _audit_count() > before
    r = client.post(f"/agreements/{a.id}/withdraw", follow_redirects=True)     # nothing left to withdraw
    assert "当前状态不能退出" in r.get_data(as_text=True)
    auth.logout()

    auth.login("entered")
    assert _sellable(prod.id)
    r = client.post(f"/agreements/{a.id}/withdraw", follow_redirects=True)
    assert f"已退出框架协议{a.number}" in r.get_data(as_text=True)
    db.session.expire_all()
    assert not _sellable(prod.id)
    auth.logout()

    closed_in = make.supplier_org()
    closed = make.agreement(status="active", suppliers=(closed_in,), number="FA-2026-777")
    make.user("supplier", organisation=closed_in, username="closed_in")
    db.session.commit()
    auth.login("closed_in")
    r = client.post(f"/agreements/{closed.id}/withdraw", follow_redirects=True)
    assert "封闭式，协议期内不能自行退出" in r.get_data(as_text=True)
    assert db.session.scalars(select(AgreementSupplier).where(
        AgreementSupplier.supplier_id == closed_in.id)).one().status == "admitted"
