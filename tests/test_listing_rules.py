"""Pure unit tests of the zone listing rules (catalog/rules.py): no app, no database."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from catalog import rules
from catalog.rules import AgreementFacts, ListingFacts, PriceFacts, SolicitationFacts, SupplierFacts

TODAY = dt.date(2025, 6, 15)
DESKTOP = "A02010105"  # 台式计算机
LAPTOP = "A02010108"   # 便携式计算机
DESK = "A05010201"     # 办公桌


def codes(problems):
    return [p.code for p in problems]


def agreement(**kw):
    base = dict(id=1, number="FA-2025-0001", title="台式计算机框架协议", kind="closed", status="active",
                term_start=dt.date(2025, 1, 1), term_end=dt.date(2025, 12, 31), category_codes=(DESKTOP,),
                entrant_status="admitted",
                prices=(PriceFacts(11, "联想", "启天M437", Decimal("5800.00"), DESKTOP),))
    base.update(kw)
    return AgreementFacts(**base)


def desktop(price="5600.00", brand="联想", model="启天M437", code=DESKTOP):
    return ListingFacts(zone="central", category_code=code, price=Decimal(price), brand=brand, model=model)


SUPPLIER = SupplierFacts(id=7, name="测试供应商", status="active", pavilion_status="none")


# ------------------------------------------------------------------ generic fields

def test_valid_fields_are_normalised():
    clean, problems = rules.clean_fields({"title": "  联想  台式机 ", "price": "1,234.5", "stock": "12",
                                          "zone": "self", "category_code": " a05010201 ",
                                          "market_price": "", "specs": "颜色: 黑\n材质：钢木"})
    assert problems == []
    assert clean["title"] == "联想 台式机"
    assert clean["price"] == Decimal("1234.50")
    assert clean["stock"] == 12
    assert clean["category_code"] == DESK
    assert clean["market_price"] is None
    assert clean["specs"] == {"颜色": "黑", "材质": "钢木"}


def test_title_required_and_at_most_200_characters():
    assert "title_required" in codes(rules.clean_fields({"title": "  "}, partial=True)[1])
    problems = rules.clean_fields({"title": "字" * 201}, partial=True)[1]
    assert codes(problems) == ["title_too_long"]
    assert "200" in problems[0].message and "201" in problems[0].message
    assert rules.clean_fields({"title": "字" * 200}, partial=True)[1] == []


@pytest.mark.parametrize("raw,code", [
    ("0", "price_not_positive"), ("-5", "price_not_positive"), ("12.345", "price_too_many_decimals"),
    ("abc", "price_invalid"), ("", "price_required"), (None, "price_required"), ("NaN", "price_invalid"),
    (True, "price_invalid"), ("1e15", "price_too_large"),
])
def test_price_must_be_positive_with_two_decimals(raw, code):
    problems = rules.clean_fields({"price": raw}, partial=True)[1]
    assert codes(problems) == [code]
    assert problems[0].field == "price" and "单价" in problems[0].message


@pytest.mark.parametrize("raw,value", [("0.01", "0.01"), (1999, "1999.00"), ("¥2,000.5", "2000.50"), ("3.10", "3.10")])
def test_price_accepts_strings_and_numbers(raw, value):
    clean, problems = rules.clean_fields({"price": raw}, partial=True)
    assert problems == [] and clean["price"] == Decimal(value)


@pytest.mark.parametrize("raw,code", [("-1", "stock_negative"), ("1.5", "stock_invalid"), ("十", "stock_invalid"),
                                      ("", "stock_required"), (True, "stock_invalid")])
def test_stock_is_a_non_negative_integer(raw, code):
    assert codes(rules.clean_fields({"stock": raw}, partial=True)[1]) == [code]


def test_stock_accepts_integral_values():
    assert rules.clean_fields({"stock": "7"}, partial=True)[0]["stock"] == 7
    assert rules.clean_fields({"stock": 0}, partial=True)[0]["stock"] == 0
    assert rules.clean_fields({"stock": "5.0"}, partial=True)[0]["stock"] == 5


def test_market_price_is_optional_and_not_negative():
    assert rules.clean_fields({"market_price": None}, partial=True) == ({"market_price": None}, [])
    assert rules.clean_fields({"market_price": "0"}, partial=True)[0]["market_price"] == Decimal("0.00")
    assert codes(rules.clean_fields({"market_price": "-1"}, partial=True)[1]) == ["market_price_negative"]
    assert codes(rules.clean_fields({"market_price": "1.001"}, partial=True)[1]) == ["market_price_too_many_decimals"]


def test_new_product_needs_every_required_field():
    problems = rules.clean_fields({})[1]
    assert set(codes(problems)) >= {"title_required", "price_required", "stock_required", "zone_invalid",
                                    "category_required"}


def test_bad_specs_are_refused():
    assert codes(rules.clean_fields({"specs": "没有分隔符"}, partial=True)[1]) == ["specs_invalid"]
    assert codes(rules.clean_fields({"specs": {"a": {"b": 1}}}, partial=True)[1]) == ["specs_invalid"]
    assert codes(rules.clean_fields({"specs": {f"k{i}": "v" for i in range(51)}}, partial=True)[1]) == ["specs_too_many"]


def test_price_above_market_is_a_warning_only():
    [w] = rules.price_warnings(Decimal("120.00"), Decimal("100.00"))
    assert w.code == "price_above_market" and w.severity == "warning"
    assert "¥120.00" in w.message and "¥100.00" in w.message
    assert rules.price_warnings(Decimal("100.00"), Decimal("100.00")) == []
    assert rules.price_warnings(Decimal("100.00"), None) == []


# ------------------------------------------------------------------ category, supplier

def test_category_must_be_a_real_pinmu_code():
    assert rules.check_category(DESKTOP) == []
    [p] = rules.check_category("A99999999")
    assert p.code == "category_unknown" and "A99999999" in p.message and "品目分类目录" in p.message


def test_suspended_supplier_cannot_list():
    suspended = SupplierFacts(id=7, status="suspended", status_reason="价格虚高")
    [p] = rules.check_supplier_can_list(suspended)
    assert p.code == "supplier_suspended" and "价格虚高" in p.message
    assert rules.check_supplier_can_list(SUPPLIER) == []
    assert codes(rules.check_listing(ListingFacts("self", DESK, Decimal("1")), suspended, [],
                                     [SolicitationFacts(DESK)], TODAY)) == ["supplier_suspended"]


def test_check_listing_refuses_unknown_category_before_zone_rules():
    assert codes(rules.check_listing(ListingFacts("self", "X123", Decimal("1")), SUPPLIER, [], [], TODAY)) \
        == ["category_unknown"]


# ------------------------------------------------------------------ 集采区

def test_central_product_within_agreement_price_passes_and_matches_price():
    ags = [agreement()]
    assert rules.check_central_zone(desktop("5800.00"), ags, TODAY) == []
    match = rules.match_agreement_price(desktop("5600.00"), ags, TODAY)
    assert match.id == 11 and match.max_price == Decimal("5800.00")


def test_central_brand_and_model_match_ignores_case_and_spaces():
    assert rules.check_central_zone(desktop(brand=" 联想 ", model="启天m437"), [agreement()], TODAY) == []


def test_central_price_above_agreement_names_both_figures():
    [p] = rules.check_central_zone(desktop("5800.01"), [agreement()], TODAY)
    assert p.code == "central_price_above_agreement"
    assert "¥5,800.01" in p.message and "¥5,800.00" in p.message and "FA-2025-0001" in p.message
    assert p.figures["agreement_price"] == Decimal("5800.00") and p.rule == "zone.central"


def test_central_category_not_covered_by_any_agreement():
    [p] = rules.check_central_zone(desktop(code=LAPTOP), [agreement()], TODAY)
    assert p.code == "central_category_not_covered" and LAPTOP in p.message and "便携式计算机" in p.message


def test_central_descendant_of_agreement_category_is_covered():
    # an agreement on the parent 品目 A020101 (计算机) covers 台式计算机
    parent = rules.pinmu.tree()[DESKTOP].parent_code
    ag = agreement(category_codes=(parent,), prices=(PriceFacts(12, "联想", "启天M437", Decimal("6000"), parent),))
    assert rules.check_central_zone(desktop(), [ag], TODAY) == []


@pytest.mark.parametrize("status", [None, "applied", "rejected", "withdrawn"])
def test_central_requires_admission(status):
    [p] = rules.check_central_zone(desktop(), [agreement(entrant_status=status)], TODAY)
    assert p.code == "central_not_admitted" and "入围供应商" in p.message and "FA-2025-0001" in p.message


@pytest.mark.parametrize("kw", [dict(status="suspended"), dict(status="expired"), dict(status="draft"),
                                dict(term_end=dt.date(2025, 6, 14)), dict(term_start=dt.date(2025, 6, 16))])
def test_central_agreement_must_be_active_and_valid_today(kw):
    [p] = rules.check_central_zone(desktop(), [agreement(**kw)], TODAY)
    assert p.code == "central_agreement_not_valid" and "2025-06-15" in p.message


def test_central_agreement_valid_on_its_first_and_last_day():
    assert rules.check_central_zone(desktop(), [agreement(term_start=TODAY)], TODAY) == []
    assert rules.check_central_zone(desktop(), [agreement(term_end=TODAY)], TODAY) == []


def test_central_needs_brand_and_model():
    assert codes(rules.check_central_zone(desktop(model=""), [agreement()], TODAY)) == ["central_brand_model_required"]
    assert codes(rules.check_central_zone(desktop(brand=None), [agreement()], TODAY)) == ["central_brand_model_required"]


def test_central_needs_an_agreement_price_for_the_model():
    [p] = rules.check_central_zone(desktop(model="启天M999"), [agreement()], TODAY)
    assert p.code == "central_no_agreement_price" and "启天M999" in p.message


def test_central_price_category_must_cover_product_category():
    ag = agreement(category_codes=(DESKTOP, LAPTOP),
                   prices=(PriceFacts(13, "联想", "启天M437", Decimal("5800"), LAPTOP),))
    assert codes(rules.check_central_zone(desktop(), [ag], TODAY)) == ["central_price_category_mismatch"]


def test_central_uses_a_valid_agreement_when_another_has_expired():
    old = agreement(id=1, number="FA-OLD", term_end=dt.date(2025, 1, 31), term_start=dt.date(2024, 2, 1))
    new = agreement(id=2, number="FA-NEW", prices=(PriceFacts(21, "联想", "启天M437", Decimal("5700"), DESKTOP),))
    assert rules.check_central_zone(desktop("5650.00"), [old, new], TODAY) == []
    assert rules.match_agreement_price(desktop("5650.00"), [old, new], TODAY).id == 21
    [p] = rules.check_central_zone(desktop("5750.00"), [old, new], TODAY)
    assert p.code == "central_price_above_agreement" and "FA-NEW" in p.message


def test_match_prefers_tightest_ceiling_the_price_meets():
    a = agreement(id=1, prices=(PriceFacts(31, "联想", "启天M437", Decimal("6000"), DESKTOP),))
    b = agreement(id=2, number="FA-2", prices=(PriceFacts(32, "联想", "启天M437", Decimal("5500"), DESKTOP),))
    assert rules.match_agreement_price(desktop("5400"), [a, b], TODAY).id == 32
    assert rules.match_agreement_price(desktop("5900"), [a, b], TODAY).id == 31


# ------------------------------------------------------------------ 自采区, 特色馆, dispatch

def test_self_zone_needs_an_open_solicitation():
    assert rules.check_self_zone(DESK, [SolicitationFacts(DESK, valid_from=dt.date(2025, 1, 1))], TODAY) == []
    [p] = rules.check_self_zone(DESK, [], TODAY)
    assert p.code == "self_category_not_solicited" and DESK in p.message and "办公桌" in p.message


def test_self_zone_descendant_of_solicited_code_counts():
    parent = rules.pinmu.tree()[DESK].parent_code
    assert rules.check_self_zone(DESK, [SolicitationFacts(parent)], TODAY) == []
    # but not the other way round: a solicitation of a child does not open its parent
    assert codes(rules.check_self_zone(parent, [SolicitationFacts(DESK)], TODAY)) == ["self_category_not_solicited"]


@pytest.mark.parametrize("s", [SolicitationFacts(DESK, status="closed"),
                               SolicitationFacts(DESK, valid_to=dt.date(2025, 6, 14)),
                               SolicitationFacts(DESK, valid_from=dt.date(2025, 7, 1))])
def test_self_zone_closed_or_out_of_period_solicitation(s):
    assert codes(rules.check_self_zone(DESK, [s], TODAY)) == ["self_solicitation_closed"]


@pytest.mark.parametrize("status", ["none", "applied", "rejected"])
def test_pavilion_needs_qualified_supplier(status):
    [p] = rules.check_pavilion_zone(SupplierFacts(id=1, pavilion_status=status))
    assert p.code == "pavilion_not_qualified" and rules.PAVILION_LABELS[status] in p.message


def test_pavilion_qualified_supplier_passes():
    assert rules.check_pavilion_zone(SupplierFacts(id=1, pavilion_status="qualified")) == []


def test_check_zone_dispatches_by_zone():
    veg = ListingFacts("pavilion", "A07031201", Decimal("9.90"))
    assert codes(rules.check_zone(veg, SUPPLIER, [], [], TODAY)) == ["pavilion_not_qualified"]
    assert codes(rules.check_zone(ListingFacts("nowhere", DESK, Decimal("1")), SUPPLIER, [], [], TODAY)) == ["zone_invalid"]
    assert rules.check_zone(desktop(), SUPPLIER, [agreement()], [], TODAY) == []
    # a centralized item offered in 自采区 is judged by the solicitation, not by agreements
    assert codes(rules.check_zone(ListingFacts("self", DESKTOP, Decimal("1")), SUPPLIER, [agreement()], [], TODAY)) \
        == ["self_category_not_solicited"]
