"""The risk rules of supervision/flags.py as pure functions (no database)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from orders.workdays import WorkCalendar
from supervision import flags as rules

D = Decimal
UTC = dt.timezone.utc
SNAP = {"decentralized_threshold_goods": "1000000.00", "decentralized_threshold_services": "1000000.00",
        "direct_purchase_limit": "200000.00", "split_window_days": 90}


def line(id=1, code="A02010105", price="5000", qty=1, ceiling=None, market=None, title="台式计算机"):
    price = D(price)
    return rules.LineFact(id=id, category_code=code, category_name="台式计算机", title=title, quantity=qty,
                          unit_price=price, line_total=price * qty,
                          agreement_max_price=D(ceiling) if ceiling else None, market_price=D(market) if market else None)


def order(id, total, day, unit=1, supplier=10, lines=None, year=2025, status="confirmed", **kw):
    lines = lines if lines is not None else (line(id=id * 10, price=str(total)),)
    return rules.OrderFact(id=id, number=f"GM{id:04d}", unit_id=unit, unit_name="市教育局", supplier_id=supplier,
                           supplier_name=f"供应商{supplier}", placed_on=day, budget_year=year, total=D(total),
                           status=status, lines=tuple(lines), thresholds=kw.pop("thresholds", SNAP), **kw)


# ---------------------------------------------------------------- splitting

def test_split_flags_the_order_whose_sum_crosses_the_threshold():
    day = dt.date(2025, 3, 1)
    orders = [order(1, "400000", day), order(2, "350000", day + dt.timedelta(days=20)),
              order(3, "300000", day + dt.timedelta(days=40))]
    found = rules.split_suspected(orders)
    assert len(found) == 1
    f = found[0]
    assert f.kind == "split_suspected" and f.order_id == 3 and f.unit_id == 1
    assert f.figures["sum"] == "1050000" and f.figures["threshold"] == "1000000.00"
    assert f.figures["orders"] == ["GM0001", "GM0002", "GM0003"]
    assert "3次采购品目A02010105" in f.message and "¥1,050,000.00" in f.message and "¥1,000,000.00" in f.message
    assert f.key == "split_suspected:1:A02010105:3"


def test_split_ignores_orders_outside_the_window_other_units_and_other_years():
    day = dt.date(2025, 3, 1)
    assert rules.split_suspected([order(1, "600000", day), order(2, "500000", day + dt.timedelta(days=90))]) == []
    assert rules.split_suspected([order(1, "600000", day), order(2, "500000", day, unit=2)]) == []
    assert rules.split_suspected([order(1, "600000", day, year=2024), order(2, "500000", day, year=2025)]) == []
    # inside the window it is caught (the 90th day counts)
    assert len(rules.split_suspected([order(1, "600000", day), order(2, "500000", day + dt.timedelta(days=89))])) == 1


def test_split_counts_only_lines_of_the_same_pinmu():
    day = dt.date(2025, 3, 1)
    mixed = [line(id=1, code="A02010105", price="600000"), line(id=2, code="A05010201", price="500000")]
    assert rules.split_suspected([order(1, "1100000", day, lines=mixed)]) == []
    two = [order(1, "600000", day), order(2, "500000", day, lines=[line(id=3, code="A05010201", price="500000")])]
    assert rules.split_suspected(two) == []


def test_split_uses_the_snapshot_threshold_and_window_of_the_crossing_order():
    day = dt.date(2025, 3, 1)
    low = dict(SNAP, decentralized_threshold_goods="500000.00", split_window_days=30)
    found = rules.split_suspected([order(1, "300000", day), order(2, "250000", day + dt.timedelta(days=29), thresholds=low)])
    assert len(found) == 1 and found[0].figures["window_days"] == 30
    assert rules.split_suspected([order(1, "300000", day),
                                  order(2, "250000", day + dt.timedelta(days=31), thresholds=low)]) == []


def test_split_is_not_raised_again_once_the_sum_is_already_above():
    day = dt.date(2025, 3, 1)
    orders = [order(i, "400000", day + dt.timedelta(days=i)) for i in range(1, 6)]
    found = rules.split_suspected(orders)
    assert [f.order_id for f in found] == [3]


# ---------------------------------------------------------------- prices

def test_price_above_agreement_and_market():
    o = order(1, "0", dt.date(2025, 3, 1), lines=[
        line(id=1, price="5200", qty=2, ceiling="5000", market="5100"),
        line(id=2, price="1400", qty=1, market="1000"),
        line(id=3, price="1300", qty=1, market="1000"),
        line(id=4, price="4900", qty=1, ceiling="5000", market="6000"),
    ])
    found = rules.price_findings(o, D("0.30"))
    kinds = [(f.kind, f.figures["line_id"]) for f in found]
    assert kinds == [("price_above_agreement", 1), ("price_above_market", 2)]
    agreement = found[0]
    assert agreement.figures["excess"] == "400" and "¥5,000.00" in agreement.message and "4.0%" in agreement.message
    market = found[1]
    assert market.figures["markup"] == "0.4000" and "高40.0%" in market.message and "30.0%" in market.message
    # a stricter markup catches the 30% line too
    assert len(rules.price_findings(o, D("0.20"))) == 3


# ---------------------------------------------------------------- concentration

def test_supplier_concentration_needs_share_and_enough_orders():
    day = dt.date(2025, 3, 1)
    orders = [order(i, "10000", day, supplier=10) for i in range(1, 5)] + [order(5, "5000", day, supplier=11)]
    found = rules.supplier_concentration(orders, D("0.60"), 5)
    assert len(found) == 1
    f = found[0]
    assert f.unit_id == 1 and f.supplier_id == 10 and f.order_id is None
    assert f.figures["share"] == "0.8889" and f.figures["orders"] == 5 and "88.9%" in f.message
    assert f.key == "supplier_concentration:1:10:2025"
    assert rules.supplier_concentration(orders, D("0.60"), 6) == []       # too few orders
    assert rules.supplier_concentration(orders, D("0.90"), 5) == []       # share below the limit


# ---------------------------------------------------------------- near a threshold

def test_near_threshold_within_five_percent_below_the_limit():
    day = dt.date(2025, 3, 1)
    near = rules.near_threshold(order(1, "195000", day), D("0.05"))
    assert len(near) == 1 and near[0].figures["limit_name"] == "direct_purchase_limit"
    assert near[0].figures["gap"] == "5000.00" and "单笔直购限额" in near[0].message
    assert rules.near_threshold(order(2, "189999.99", day), D("0.05")) == []
    assert rules.near_threshold(order(3, "200000", day), D("0.05")) == []  # at the limit: not "under"
    high = dict(SNAP, direct_purchase_limit="2000000.00")
    assert rules.near_threshold(order(4, "960000", day, thresholds=high), D("0.05"))[0].figures["limit_name"] == \
        "decentralized_threshold_goods"


# ---------------------------------------------------------------- lateness

def test_late_confirmation_delivery_and_acceptance():
    cal = WorkCalendar()  # weekends only
    placed = dt.datetime(2025, 3, 3, 2, 0, tzinfo=UTC)             # Monday 10:00 Beijing
    deadline = dt.datetime(2025, 3, 4, 16, 0, tzinfo=UTC)
    now = dt.datetime(2025, 3, 20, tzinfo=UTC)
    pending = order(1, "1000", placed.date(), status="submitted", placed_at=placed, confirm_deadline=deadline)
    f = rules.late_findings(pending, now, cal, 5, 5)
    assert [x.kind for x in f] == ["late_confirmation"] and "至今未完成" in f[0].message
    late_confirmed = order(2, "1000", placed.date(), status="delivered", placed_at=placed, confirm_deadline=deadline,
                           confirmed_at=deadline + dt.timedelta(hours=5),
                           delivered_at=deadline + dt.timedelta(days=2))
    f = rules.late_findings(late_confirmed, now, cal, 5, 5)
    assert [x.kind for x in f] == ["late_confirmation", "late_acceptance"]
    assert f[0].figures["hours_late"] == 5 and "逾期5小时" in f[0].message
    # delivered within 5 working days of confirmation: not late; accepted 2 working days later: fine
    ontime = order(3, "1000", placed.date(), status="accepted", placed_at=placed, confirm_deadline=deadline,
                   confirmed_at=placed + dt.timedelta(hours=3), delivered_at=placed + dt.timedelta(days=6),
                   accepted_at=placed + dt.timedelta(days=8))
    assert rules.late_findings(ontime, now, cal, 5, 5) == []
    slow = order(4, "1000", placed.date(), status="confirmed", placed_at=placed, confirm_deadline=deadline,
                 confirmed_at=placed + dt.timedelta(hours=3))
    f = rules.late_findings(slow, now, cal, 5, 5)
    assert [x.kind for x in f] == ["late_delivery"]
    # the deadline is the end of the 5th working day after confirmation (Mon 3 Mar → Mon 10 Mar 24:00)
    assert f[0].figures["due"].startswith("2025-03-10T16:00")


# ---------------------------------------------------------------- SME declarations

def test_sme_declaration_contradicting_its_figures():
    ok = rules.DeclarationFact(id=1, supplier_id=5, supplier_name="甲公司", industry="software", staff=50,
                               revenue=D("8000000"), size="small", declared_size="small")
    wrong = rules.DeclarationFact(id=2, supplier_id=6, supplier_name="乙公司", industry="software", staff=500,
                                  revenue=D("200000000"), size="large", declared_size="micro")
    found = rules.sme_mismatch([ok, wrong])
    assert len(found) == 1 and found[0].supplier_id == 6
    assert found[0].figures == {"supplier": "乙公司", "declaration_id": 2, "industry": "software", "staff": 500,
                                "revenue": "200000000", "declared": "micro", "computed": "large"}
    assert "声明为微型企业" in found[0].message and "应为大型企业" in found[0].message
