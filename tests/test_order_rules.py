"""Checkout rules, each on its own, over hand-made facts (no database), with their boundaries;
and the policy version chosen by the order date (with the database)."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from orders import rules
from orders.rules import (AgreementFacts, BudgetFacts, CheckoutContext, LineFacts, PolicyFacts, PriorOrder)
from tests.test_checkout import _fast_password_hashing  # noqa: F401 (autouse fixture)

D = Decimal
DAY = dt.date(2026, 3, 16)


def policy(**kw) -> PolicyFacts:
    base = dict(id=1, name="2026年版",
                decentralized={"goods": D("1000000"), "services": D("1000000"), "works": D("1200000")},
                open_tender={"goods": D("2000000"), "services": D("2000000"), "works": D("4000000")},
                direct_purchase_limit=D("200000"), split_window_days=90, split_action="refuse",
                cumulative_warning_ratio=D("0.80"))
    base.update(kw)
    return PolicyFacts(**base)


def agreement(**kw) -> AgreementFacts:
    base = dict(id=7, number="FA-2026-0007", status="active", term_start=dt.date(2026, 1, 1),
                term_end=dt.date(2026, 12, 31), category_codes=("A02010105",), entrant_status="admitted",
                max_price=D("5000.00"), price_id=70)
    base.update(kw)
    return AgreementFacts(**base)


def pc(**kw) -> LineFacts:
    """台式计算机 in 集采区, centralized, under an agreement."""
    base = dict(product_id=1, title="联想启天M450", category_code="A02010105", category_name="台式计算机",
                category_kind="goods", category_path=("A", "A02000000", "A02010000", "A02010100", "A02010105"),
                zone_code="central", supplier_id=10, supplier_name="福州联信科技有限公司", supplier_status="active",
                product_status="listed", halted_reason=None, stock=100, quantity=1, unit_price=D("4800.00"),
                market_price=D("5600.00"), centralized=True, central_item_code="A02010105", agreement=agreement())
    base.update(kw)
    return LineFacts(**base)


def desk(**kw) -> LineFacts:
    """办公桌 in 自采区 (not centralized), solicited."""
    base = dict(product_id=2, title="钢木办公桌", category_code="A05010201", category_name="办公桌",
                category_kind="goods", category_path=("A", "A05000000", "A05010000", "A05010200", "A05010201"),
                zone_code="self", supplier_id=10, supplier_name="福州联信科技有限公司", supplier_status="active",
                product_status="listed", halted_reason=None, stock=10000, quantity=1, unit_price=D("1000.00"),
                market_price=D("1200.00"), solicitation_open=True)
    base.update(kw)
    return LineFacts(**base)


def budget(**kw) -> BudgetFacts:
    base = dict(id=3, unit_id=100, year=2026, project_code="P2026-01", project_name="日常办公设备购置",
                amount=D("5000000"), reserved=D("0"), spent=D("0"))
    base.update(kw)
    return BudgetFacts(**base)


def ctx(*lines, **kw) -> CheckoutContext:
    base = dict(order_date=DAY, buyer_unit_id=100, lines=tuple(lines) or (pc(),), policy=policy(), budget=budget(),
                budget_line_id=3, payment_method="treasury")
    base.update(kw)
    return CheckoutContext(**base)


def codes(problems):
    return [p.code for p in problems]


# ------------------------------------------------------------------ the order itself

def test_clean_order_passes_every_rule():
    ev = rules.evaluate(ctx(pc(quantity=2)))
    assert ev.ok and ev.problems == []
    assert [r["rule"] for r in ev.results] == [name for name, _ in rules.RULES]
    assert ev.total == D("9600.00")


def test_no_policy_in_force_is_a_clear_refusal():
    problems = rules.check(ctx(policy=None))
    assert codes(problems) == ["no_policy_in_force"]
    assert "2026-03-16没有生效的政策版本" in problems[0].message


def test_order_rule_mixed_suppliers_quantity_payment_price_increase():
    other = desk(supplier_id=11, supplier_name="闽江家具有限公司")
    assert "mixed_suppliers" in codes(rules.rule_order(ctx(pc(), other)))
    assert codes(rules.rule_order(ctx(pc(quantity=0)))) == ["invalid_quantity"]
    assert codes(rules.rule_order(ctx(pc(), payment_method="cash"))) == ["invalid_payment_method"]
    assert codes(rules.rule_order(ctx(lines=()))) == ["empty_order"]
    # a price raised since the buyer saw it refuses; a lowered price does not
    raised = rules.rule_order(ctx(pc(expected_price=D("4700.00"))))
    assert codes(raised) == ["price_increased"] and "¥4,700.00调整为¥4,800.00" in raised[0].message
    assert rules.rule_order(ctx(pc(expected_price=D("4900.00")))) == []


# ------------------------------------------------------------------ 1. centralized catalog

def test_centralized_item_outside_central_zone_is_refused_with_policy_name():
    line = pc(zone_code="self", agreement=None, solicitation_open=True)
    problems = rules.rule_centralized_catalog(ctx(line))
    assert codes(problems) == ["centralized_item_outside_zone"]
    assert problems[0].message == "台式计算机（A02010105）属于集中采购目录（2026年版），须在集采区向入围供应商采购"
    assert problems[0].rule == "centralized_catalog" and problems[0].figures["policy"] == "2026年版"


def test_centralized_item_amount_condition_is_named_and_not_centralized_passes():
    line = pc(zone_code="self", agreement=None, category_code="A02020400", category_name="多功能一体机",
              central_item_code="A02020400", central_min_amount=D("50000"))
    assert "单次采购¥50,000.00以上" in rules.rule_centralized_catalog(ctx(line))[0].message
    assert rules.rule_centralized_catalog(ctx(replace(line, centralized=False))) == []


# ------------------------------------------------------------------ 2. agreement

def test_agreement_validity_by_date_boundaries():
    a = agreement(term_start=dt.date(2026, 1, 1), term_end=dt.date(2026, 3, 16))
    assert rules.rule_agreement(ctx(pc(agreement=a))) == []                        # last day still valid
    late = rules.rule_agreement(ctx(pc(agreement=a), order_date=dt.date(2026, 3, 17)))
    assert codes(late) == ["agreement_not_valid"] and "2026-01-01至2026-03-16" in late[0].message
    early = rules.rule_agreement(ctx(pc(agreement=replace(a, term_start=dt.date(2026, 3, 17),
                                                          term_end=dt.date(2026, 12, 31)))))
    assert codes(early) == ["agreement_not_valid"]
    assert codes(rules.rule_agreement(ctx(pc(agreement=replace(a, status="suspended"))))) == ["agreement_not_valid"]


def test_agreement_entrant_status_category_and_price_ceiling():
    assert codes(rules.rule_agreement(ctx(pc(agreement=agreement(entrant_status=None))))) == ["supplier_not_admitted"]
    assert codes(rules.rule_agreement(ctx(pc(agreement=agreement(entrant_status="suspended"))))) == \
        ["supplier_suspended_in_agreement"]
    assert codes(rules.rule_agreement(ctx(pc(agreement=agreement(category_codes=("A02021000",)))))) == \
        ["agreement_category_not_covered"]
    # an ancestor 品目 in the agreement covers the product's 品目
    assert rules.rule_agreement(ctx(pc(agreement=agreement(category_codes=("A02010100",))))) == []
    assert rules.rule_agreement(ctx(pc(unit_price=D("5000.00")))) == []            # exactly at the ceiling
    above = rules.rule_agreement(ctx(pc(unit_price=D("5000.01"))))
    assert codes(above) == ["price_above_agreement"]
    assert "单价¥5,000.01高于协议价（最高限制单价）¥5,000.00" in above[0].message
    assert codes(rules.rule_agreement(ctx(pc(agreement=None)))) == ["agreement_missing"]
    assert rules.rule_agreement(ctx(desk())) == []                                 # not in 集采区


# ------------------------------------------------------------------ 3. direct-purchase limit

def test_direct_purchase_limit_exactly_at_limit_passes_above_refuses():
    at = ctx(desk(unit_price=D("1000.00"), quantity=200))                          # 200,000.00
    assert rules.rule_direct_purchase_limit(at) == []
    above = ctx(desk(unit_price=D("1000.01"), quantity=200))                       # 200,002.00
    problems = rules.rule_direct_purchase_limit(above)
    assert codes(problems) == ["direct_limit_exceeded"]
    p = problems[0]
    # 自采区 goods are under no agreement: no 二次竞价 is possible, the next step is a formal method
    assert p.figures["total"] == D("200002.00") and p.figures["limit"] == D("200000")
    assert p.figures["hint"] == "formal_procurement" and "二次竞价" not in p.message.split("，")[1]
    assert "超过单笔直接选定限额¥200,000.00（2026年版），本单商品不在框架协议内，无法发起二次竞价" in p.message
    # 集采区 under an agreement: the buyer is sent to a 二次竞价 among the entrants
    central = rules.rule_direct_purchase_limit(ctx(pc(unit_price=D("4800.00"), quantity=42)))  # 201,600.00
    assert codes(central) == ["direct_limit_exceeded"] and central[0].figures["hint"] == "mini_competition"
    assert "超过单笔直接选定限额¥200,000.00（2026年版），请发起二次竞价" in central[0].message
    # placed as the result of a mini-competition: the limit does not apply
    assert rules.rule_direct_purchase_limit(replace(above, competition_id=5)) == []


def test_formal_procurement_and_open_tender_thresholds():
    just_below = ctx(desk(unit_price=D("999999.99")), competition_id=1)
    assert rules.rule_direct_purchase_limit(just_below) == []
    at = rules.rule_direct_purchase_limit(ctx(desk(unit_price=D("1000000.00"))))
    assert codes(at) == ["formal_procurement_required"] and "分散采购限额标准¥1,000,000.00" in at[0].message
    tender = rules.rule_direct_purchase_limit(ctx(desk(unit_price=D("2000000.00"))))
    assert codes(tender) == ["open_tender_required"] and "公开招标数额标准¥2,000,000.00" in tender[0].message
    # services use the services threshold
    svc = desk(category_code="C16040000", category_name="云计算服务", category_kind="services",
               unit_price=D("900000"), zone_code="self")
    assert codes(rules.rule_direct_purchase_limit(ctx(svc, policy=policy(
        decentralized={"goods": D("1000000"), "services": D("800000"), "works": D("1200000")})))) == \
        ["formal_procurement_required"]


# ------------------------------------------------------------------ 4. cumulative

def test_cumulative_warning_from_80_percent_and_refusal_at_threshold():
    def run(previous, this):
        return rules.rule_cumulative_threshold(ctx(desk(unit_price=this), year_totals={"A05010201": previous}))

    assert run(D("700000"), D("99999.99")) == []                                  # 799,999.99 < 80%
    warn = run(D("700000"), D("100000"))                                           # exactly 80%
    assert codes(warn) == ["cumulative_threshold_warning"] and warn[0].severity == "warning"
    assert "已达分散采购限额标准¥1,000,000.00的80.0%" in warn[0].message
    assert codes(run(D("899999.99"), D("100000"))) == ["cumulative_threshold_warning"]  # 999,999.99
    refuse = run(D("900000"), D("100000"))                                          # exactly at threshold
    assert codes(refuse) == ["cumulative_threshold_exceeded"] and refuse[0].severity == "error"
    assert refuse[0].figures["cumulative"] == D("1000000.00") and refuse[0].figures["previous"] == D("900000")
    assert "2026年度办公桌（A05010201）累计采购¥1,000,000.00" in refuse[0].message


def test_cumulative_ignores_centralized_items_and_uses_policy_ratio():
    assert rules.rule_cumulative_threshold(ctx(pc(), year_totals={"A02010105": D("999000")})) == []
    p = policy(cumulative_warning_ratio=D("0.50"))
    assert codes(rules.rule_cumulative_threshold(ctx(desk(unit_price=D("1000")), policy=p,
                                                     year_totals={"A05010201": D("499000")}))) == \
        ["cumulative_threshold_warning"]


# ------------------------------------------------------------------ 5. splitting

def prior(days_ago, amount, code="A05010201", n=1):
    return PriorOrder(order_id=n, number=f"GM{n:06d}", placed_on=DAY - dt.timedelta(days=days_ago),
                      category_code=code, amount=D(amount))


def test_split_window_edges():
    line = pc(unit_price=D("150000"))           # a centralized item: rule 4 does not apply, rule 5 does
    inside = ctx(line, prior_orders=(prior(90, "900000", code="A02010105"),))
    problems = rules.rule_split_purchase(inside)
    assert codes(problems) == ["split_purchase_suspected"] and problems[0].severity == "error"
    assert problems[0].figures["combined"] == D("1050000.00") and problems[0].figures["window_days"] == 90
    assert "90天内已1次采购台式计算机（A02010105），连同本单合计¥1,050,000.00" in problems[0].message
    assert "第二十八条" in problems[0].message
    outside = ctx(line, prior_orders=(prior(91, "900000", code="A02010105"),))
    assert rules.rule_split_purchase(outside) == []
    same_day = ctx(line, prior_orders=(prior(0, "900000", code="A02010105"),))
    assert codes(rules.rule_split_purchase(same_day)) == ["split_purchase_suspected"]


def test_split_threshold_boundary_and_other_categories():
    line = desk(unit_price=D("100000"))
    below = rules.rule_split_purchase(ctx(line, prior_orders=(prior(10, "899999.99"),)))
    assert codes(below) == ["split_below_competition_flagged"]   # not the threshold; the direct limit
    assert codes(rules.rule_split_purchase(ctx(line, prior_orders=(prior(10, "900000"),)))) == \
        ["split_purchase_suspected"]
    # another 品目 does not count
    assert rules.rule_split_purchase(ctx(line, prior_orders=(prior(10, "950000", code="A05010301"),))) == []
    # no earlier order: not a split (the single order is judged by rules 3 and 4)
    assert rules.rule_split_purchase(ctx(desk(unit_price=D("999999")))) == []


def test_split_flag_policy_warns_instead_of_refusing():
    line = pc(unit_price=D("150000"))
    problems = rules.rule_split_purchase(ctx(line, policy=policy(split_action="flag"),
                                             prior_orders=(prior(5, "500000", "A02010105", 1),
                                                           prior(3, "400000", "A02010105", 2))))
    assert codes(problems) == ["split_purchase_flagged"] and problems[0].severity == "warning"
    assert problems[0].figures["prior_orders"] == 2 and problems[0].figures["prior_numbers"] == "GM000001,GM000002"
    assert "已提示财政部门核查" in problems[0].message


def test_orders_each_under_the_direct_limit_that_together_pass_it_are_flagged_not_refused():
    """Two ¥148,800 orders of desktops three days apart, against a ¥200,000 direct limit: each
    escapes the 二次竞价 on its own. Flagged for the finance bureau whatever split_action says
    (that governs crossing the decentralized threshold)."""
    line = pc(unit_price=D("4800.00"), quantity=31)                                 # 148,800.00
    problems = rules.rule_split_purchase(ctx(line, prior_orders=(prior(3, "148800", "A02010105", 4),)))
    assert codes(problems) == ["split_below_competition_flagged"] and problems[0].severity == "warning"
    f = problems[0].figures
    assert (f["combined"], f["limit"], f["prior_numbers"]) == (D("297600.00"), D("200000"), "GM000004")
    assert "合计¥297,600.00，超过单笔直接选定限额¥200,000.00（2026年版），疑似拆分订单规避二次竞价" in problems[0].message
    assert rules.evaluate(ctx(line, prior_orders=(prior(3, "148800", "A02010105", 4),))).ok   # placed, flagged
    # together exactly at the limit: nothing; an order from a 二次竞价: nothing
    assert rules.rule_split_purchase(ctx(line, prior_orders=(prior(3, "51200", "A02010105"),))) == []
    assert rules.rule_split_purchase(ctx(line, competition_id=9,
                                         prior_orders=(prior(3, "148800", "A02010105"),))) == []
    # outside the window: nothing
    assert rules.rule_split_purchase(ctx(line, prior_orders=(prior(91, "148800", "A02010105"),))) == []
    # an earlier order that came from a 二次竞价 avoided nothing: it does not count
    from_competition = replace(prior(3, "450000", "A02010105", 6), from_competition=True)
    assert rules.rule_split_purchase(ctx(line, prior_orders=(from_competition,))) == []
    both = rules.rule_split_purchase(ctx(line, prior_orders=(from_competition, prior(2, "60000", "A02010105", 7))))
    assert codes(both) == ["split_below_competition_flagged"]
    assert (both[0].figures["combined"], both[0].figures["prior_numbers"]) == (D("208800.00"), "GM000007")


def test_one_order_cannot_mix_zones_or_agreements():
    mixed = rules.rule_order(ctx(pc(), desk()))
    assert codes(mixed) == ["mixed_zones"] and "集采区、自采区" in mixed[0].message
    two = rules.rule_order(ctx(pc(), pc(product_id=3, agreement=agreement(id=8, number="FA-2026-0008"))))
    assert codes(two) == ["mixed_agreements"] and "FA-2026-0007、FA-2026-0008" in two[0].message
    assert rules.rule_order(ctx(pc(), pc(product_id=3))) == []


# ------------------------------------------------------------------ 6. budget

def test_budget_available_exactly_enough_and_one_cent_short():
    assert rules.rule_budget(ctx(pc(), budget=budget(amount=D("10000"), reserved=D("3000"), spent=D("2200")))) == []
    short = rules.rule_budget(ctx(pc(), budget=budget(amount=D("10000"), reserved=D("3000"), spent=D("2200.01"))))
    assert codes(short) == ["budget_insufficient"]
    assert short[0].figures["available"] == D("4799.99") and short[0].figures["shortfall"] == D("0.01")
    assert "可用余额¥4,799.99不足以支付订单金额¥4,800.00（指标¥10,000.00，已冻结¥3,000.00，已支付¥2,200.01）" \
        in short[0].message


def test_budget_belongs_to_unit_and_year():
    assert codes(rules.rule_budget(ctx(pc(), budget=budget(unit_id=999)))) == ["budget_line_not_owned"]
    assert codes(rules.rule_budget(ctx(pc(), budget=budget(year=2025)))) == ["budget_year_mismatch"]
    assert codes(rules.rule_budget(ctx(pc(), budget=None))) == ["budget_line_not_found"]


# ------------------------------------------------------------------ 7. stock and sellable

def test_stock_exactly_enough_and_short():
    assert rules.rule_stock(ctx(desk(stock=5, quantity=5))) == []
    assert codes(rules.rule_stock(ctx(desk(stock=4, quantity=5)))) == ["stock_insufficient"]


def test_not_sellable_and_zone_listing():
    assert codes(rules.rule_stock(ctx(desk(product_status="delisted")))) == ["product_not_sellable"]
    halted = rules.rule_stock(ctx(pc(halted_reason="协议已到期")))
    assert codes(halted) == ["product_not_sellable"] and "协议已到期" in halted[0].message
    assert "供应商已被暂停交易" in rules.rule_stock(ctx(desk(supplier_status="suspended")))[0].message
    assert codes(rules.rule_stock(ctx(desk(solicitation_open=False)))) == ["zone_listing_invalid"]
    pav = desk(zone_code="pavilion", solicitation_open=None, pavilion_qualified=False)
    assert codes(rules.rule_stock(ctx(pav))) == ["zone_listing_invalid"]
    assert rules.rule_stock(ctx(replace(pav, pavilion_qualified=True))) == []


def test_evaluate_reports_all_problems_in_rule_order():
    bad = pc(zone_code="self", agreement=None, unit_price=D("300000"), stock=0, solicitation_open=True)
    ev = rules.evaluate(ctx(bad, budget=budget(amount=D("1000"))))
    assert codes(ev.errors) == ["centralized_item_outside_zone", "direct_limit_exceeded", "budget_insufficient",
                                "stock_insufficient"]
    assert not ev.ok
    assert [r["ok"] for r in ev.results] == [True, False, True, False, True, True, False, False]


# ------------------------------------------------------------------ policy version by order date (database)

@pytest.mark.parametrize("day,version,centralized", [
    (dt.date(2025, 12, 31), "2025年版", False),   # 2025年版 has no 复印纸 in the centralized catalog
    (dt.date(2026, 1, 1), "2026年版", True),      # 2026年版 adds it
])
def test_order_is_judged_by_the_policy_in_force_on_its_date(make, day, version, centralized):
    from orders import services

    make.policy(name="2025年版", effective_from=dt.date(2025, 1, 1), effective_to=dt.date(2025, 12, 31),
                direct_purchase_limit=Decimal("200000"))
    make.policy(name="2026年版", effective_from=dt.date(2026, 1, 1), central=(("A05040101", None),),
                direct_purchase_limit=Decimal("100000"))
    supplier = make.supplier_org()
    make.solicitation("A05040101", title="复印纸公开征集")
    paper = make.product(supplier, zone="self", category_code="A05040101", price="150000.00", title="A4复印纸一批",
                         stock=10)
    unit = make.org("budget_unit")
    buyer = make.user("buyer", organisation=unit)
    bl = make.budget_line(unit, year=day.year, amount="1000000")
    now = dt.datetime.combine(day, dt.time(10, 0), tzinfo=dt.timezone(dt.timedelta(hours=8)))
    ev = services.check_order(buyer, budget_line_id=bl.id, lines=[(paper.id, 1)], now=now)
    by_code = {p.code: p for p in ev.problems}
    assert ("centralized_item_outside_zone" in by_code) is centralized
    if centralized:
        assert by_code["centralized_item_outside_zone"].message == \
            "复印纸（A05040101）属于集中采购目录（2026年版），须在集采区向入围供应商采购"
    # ¥150,000 is within 2025's limit (¥200,000) and above 2026's (¥100,000)
    assert ("direct_limit_exceeded" in by_code) is (version == "2026年版")
    if version == "2026年版":
        assert "（2026年版）" in by_code["direct_limit_exceeded"].message


def test_no_policy_for_the_date_refuses_placement(make):
    from orders import services

    make.policy(name="2027年版", effective_from=dt.date(2027, 1, 1))
    supplier = make.supplier_org()
    make.solicitation("A05010201")
    desk_p = make.product(supplier)
    unit = make.org("budget_unit")
    buyer = make.user("buyer", organisation=unit)
    bl = make.budget_line(unit)
    with pytest.raises(Exception) as exc:
        services.place_order(buyer, budget_line_id=bl.id, lines=[(desk_p.id, 1)])
    assert [p.code for p in exc.value.problems] == ["no_policy_in_force"]
