"""Orders built directly with the models for the supervision tests (no checkout service needed).

``order(...)`` creates a realistic order: buyer unit and user, supplier, budget line, products,
lines with reference prices, the policy snapshot, and the status history up to ``status``
with the times given (or an hour apart after placement).
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from mall.extensions import db
from mall.timeutil import utcnow

_n = itertools.count(1)

SNAPSHOT = {
    "policy_id": None, "name": "2025年版", "effective_from": "2025-01-01", "effective_to": None,
    "decentralized_threshold_goods": "1000000.00", "decentralized_threshold_services": "1000000.00",
    "decentralized_threshold_works": "1200000.00", "open_tender_threshold_goods": "2000000.00",
    "direct_purchase_limit": "200000.00", "sme_price_deduction": "0.10", "split_window_days": 90,
    "split_action": "flag", "cumulative_warning_ratio": "0.80",
}
FLOW = ["submitted", "confirmed", "shipped", "delivered", "accepted", "paid", "archived"]


def D(x) -> Decimal:
    return Decimal(str(x))


def buyer(make, unit=None, **kw):
    """A buyer user (and its unit unless given)."""
    unit = unit or make.org("budget_unit", **kw)
    return make.user("buyer", organisation=unit), unit


def order(make, *, unit=None, buyer_user=None, supplier=None, lines=(("A02010105", "5000.00", 2),),
          status="confirmed", placed_at=None, budget_year=None, zone="central", agreement=None, is_sme=None,
          number=None, snapshot=None, times=None, confirm_deadline=None, payment=None):
    """lines: (category_code, unit_price, quantity[, reference_price[, market_price[, agreement_priced]]]).

    ``times``: {status: datetime} for the history; ``payment``: a payment status to record.
    """
    from catalog.models import Product
    from orders.models import Order, OrderLine, OrderStatusChange, Payment
    from suppliers.models import SupplierProfile

    if unit is None:
        unit = make.org("budget_unit")
    if buyer_user is None:
        from mall.accounts.models import User
        from sqlalchemy import select

        buyer_user = db.session.scalars(select(User).where(User.organisation_id == unit.id,
                                                           User.role == "buyer")).first() \
            or make.user("buyer", organisation=unit)
    supplier = supplier or make.supplier_org()
    placed_at = placed_at or (utcnow() - dt.timedelta(days=1))
    budget_year = budget_year or placed_at.year
    budget = make.budget_line(unit, amount="5000000.00", year=budget_year)
    k = next(_n)
    o = Order(number=number or f"GM{placed_at:%Y%m%d}{k:06d}", buyer_unit_id=unit.id, buyer_user_id=buyer_user.id,
              supplier_id=supplier.id, budget_line_id=budget.id, zone_code=zone,
              agreement_id=agreement.id if agreement else None, status=status, payment_method="treasury",
              total=D(0), reference_total=D(0), savings=D(0), budget_year=budget_year,
              is_sme=is_sme if is_sme is not None else bool(getattr(db.session.get(SupplierProfile, supplier.id),
                                                                    "is_sme", False)),
              policy_snapshot=snapshot or dict(SNAPSHOT), rule_results=[], placed_at=placed_at,
              confirm_deadline=confirm_deadline or (placed_at + dt.timedelta(days=2)),
              delivery_address="测试路1号")
    db.session.add(o)
    db.session.flush()
    total = ref_total = D(0)
    for spec in lines:
        code, price, qty = spec[0], D(spec[1]), int(spec[2])
        ref = D(spec[3]) if len(spec) > 3 and spec[3] is not None else price * D("1.1")
        market = D(spec[4]) if len(spec) > 4 and spec[4] is not None else ref
        agreement_priced = bool(spec[5]) if len(spec) > 5 else False
        p = Product(supplier_id=supplier.id, zone_code=zone, category_code=code, title=f"测试商品{k}-{code}",
                    brand="联想", model=f"M{k}", price=price, market_price=market, stock=100, status="listed",
                    unit="台", specs={})
        db.session.add(p)
        db.session.flush()
        line = OrderLine(order_id=o.id, product_id=p.id, category_code=code, title=p.title, brand="联想",
                         model=p.model, unit="台", quantity=qty, unit_price=price, reference_price=ref,
                         line_total=price * qty, savings=(ref - price) * qty,
                         agreement_price_id=None)
        if agreement_priced:
            line.agreement_price_id = _agreement_price(make, supplier, code, ref, agreement).id
        db.session.add(line)
        total += price * qty
        ref_total += ref * qty
    o.total, o.reference_total, o.savings = total, ref_total, ref_total - total
    times = dict(times or {})
    path = FLOW[: FLOW.index(status) + 1] if status in FLOW else ["submitted", status]
    previous = None
    for i, s in enumerate(path):
        at = times.get(s) or (placed_at + dt.timedelta(hours=i))
        db.session.add(OrderStatusChange(order_id=o.id, from_status=previous, to_status=s, actor_role="buyer"
                                         if s in ("submitted", "accepted", "cancelled") else "supplier",
                                         actor_id=buyer_user.id if s == "submitted" else None, created_at=at))
        previous = s
        if s == "accepted":
            o.accepted_at = at
        if s == "paid":
            o.paid_at = at
    if payment:
        db.session.add(Payment(order_id=o.id, method="treasury", status=payment, amount=total, currency="CNY"))
    db.session.commit()
    return o


def _agreement_price(make, supplier, code, price, agreement):
    from catalog.models import AgreementPrice

    if agreement is None:
        raise ValueError("agreement-priced lines need an agreement")
    ap = AgreementPrice(agreement_id=agreement.id, supplier_id=supplier.id, category_code=code, brand="联想",
                        model=f"AP{next(_n)}", max_price=price)
    db.session.add(ap)
    db.session.flush()
    return ap
