"""Statistics (统计): orders, amounts, savings and SME figures by zone, 品目, unit, supplier and
month, year on year; the 特色馆 share of canteen food budgets; procurement loans.

Counted orders are transactions: confirmed by the supplier and not cancelled or rejected
(statuses confirmed, shipped, delivered, accepted, paid, archived), in the budget year asked.
Every query is one GROUP BY in the database; amounts stay ``Decimal``. The chart helpers at
the end compute SVG geometry for the server-side charts of ``templates/supervision/_charts.html``.
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Optional

from sqlalchemy import Integer, and_, case, cast, distinct, func, select

from catalog import pinmu
from catalog.models import ZONE_LABELS, ZONE_PAVILION
from mall.accounts.models import ORG_BUDGET_UNIT, Organisation
from mall.extensions import db
from orders.models import Order, OrderLine

from .models import LOANABLE_ORDER_STATUSES, LoanApplication
from .settings import setting

COUNTED_STATUSES = LOANABLE_ORDER_STATUSES
GROUPS = {"zone": "交易区", "pinmu": "品目", "unit": "采购单位", "supplier": "供应商", "month": "月份"}
ZERO = Decimal("0.00")


def counted(year: int):
    return and_(Order.budget_year == year, Order.status.in_(COUNTED_STATUSES))


def _d(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def share(part, whole, digits: str = "0.1") -> Optional[Decimal]:
    """part / whole in percent (e.g. Decimal('12.5')), None when whole is zero."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(digits), ROUND_HALF_UP)


def growth(current, previous) -> Optional[Decimal]:
    """Year-on-year change in percent; None when there is nothing to compare with."""
    if not previous:
        return None
    return ((Decimal(current) - Decimal(previous)) * 100 / Decimal(previous)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _metric_columns(amount, savings, order_id):
    sme = Order.is_sme.is_(True)
    return (func.count(distinct(order_id)), func.coalesce(func.sum(amount), 0),
            func.coalesce(func.sum(savings), 0),
            func.count(distinct(case((sme, order_id)))),
            func.coalesce(func.sum(case((sme, amount), else_=0)), 0))


def _row(n, amount, savings, sme_n, sme_amount) -> dict:
    amount, sme_amount = _d(amount), _d(sme_amount)
    return {"orders": int(n or 0), "amount": amount, "savings": _d(savings), "sme_orders": int(sme_n or 0),
            "sme_amount": sme_amount, "sme_share": share(sme_amount, amount)}


def totals(year: int) -> dict:
    row = db.session.execute(select(*_metric_columns(Order.total, Order.savings, Order.id))
                             .where(counted(year))).one()
    return _row(*row)


def summary(year: int) -> dict:
    """This year's figures, last year's, and the change in percent."""
    now, before = totals(year), totals(year - 1)
    out = dict(now)
    out["year"] = year
    out["previous"] = before
    out["growth"] = {k: growth(now[k], before[k]) for k in ("orders", "amount", "savings", "sme_orders",
                                                             "sme_amount")}
    out["savings_rate"] = share(now["savings"], now["amount"] + now["savings"])
    return out


def _local_month(column):
    """Month (1–12) of a UTC timestamp in Asia/Shanghai, on PostgreSQL and SQLite alike."""
    if db.engine.dialect.name == "postgresql":
        return func.extract("month", func.timezone("Asia/Shanghai", column))
    return cast(func.strftime("%m", column, "+8 hours"), Integer)


def _grouped_raw(year: int, group_by: str) -> dict:
    """{key: (label, metrics)} for one year."""
    if group_by == "pinmu":
        cols = _metric_columns(OrderLine.line_total, OrderLine.savings, Order.id)
        rows = db.session.execute(select(OrderLine.category_code, *cols).join(Order, Order.id == OrderLine.order_id)
                                  .where(counted(year)).group_by(OrderLine.category_code)).all()
        return {r[0]: (f"{r[0]} {pinmu.name_of(r[0])}", _row(*r[1:])) for r in rows}
    cols = _metric_columns(Order.total, Order.savings, Order.id)
    if group_by == "zone":
        rows = db.session.execute(select(Order.zone_code, *cols).where(counted(year)).group_by(Order.zone_code)).all()
        return {r[0]: (ZONE_LABELS.get(r[0], r[0]), _row(*r[1:])) for r in rows}
    if group_by in ("unit", "supplier"):
        col = Order.buyer_unit_id if group_by == "unit" else Order.supplier_id
        rows = db.session.execute(select(col, Organisation.name, *cols).join(Organisation, Organisation.id == col)
                                  .where(counted(year)).group_by(col, Organisation.name)).all()
        return {r[0]: (r[1], _row(*r[2:])) for r in rows}
    if group_by == "month":
        month = _local_month(Order.placed_at)
        rows = db.session.execute(select(month, *cols).where(counted(year)).group_by(month)).all()
        found = {int(r[0]): _row(*r[1:]) for r in rows}
        return {m: (f"{m}月", found.get(m) or _row(0, 0, 0, 0, 0)) for m in range(1, 13)}
    raise ValueError(group_by)


def grouped(year: int, group_by: str, limit: int | None = None) -> list[dict]:
    """Rows of one grouping with last year's amount and the growth; largest amount first
    (months in calendar order)."""
    if group_by not in GROUPS:
        raise ValueError(group_by)
    now = _grouped_raw(year, group_by)
    before = _grouped_raw(year - 1, group_by)
    rows = []
    for key, (label, m) in now.items():
        prev = before.get(key, (label, _row(0, 0, 0, 0, 0)))[1]
        rows.append({"key": key, "label": label, **m, "previous_amount": prev["amount"],
                     "previous_orders": prev["orders"], "growth": growth(m["amount"], prev["amount"])})
    if group_by != "month":
        rows.sort(key=lambda r: (-r["amount"], str(r["key"])))
    if limit:
        rows = rows[:limit]
    return rows


def pavilion_shares(year: int) -> dict:
    """特色馆 share per budget unit: canteen food budget, bought in the pavilion, target."""
    target = setting("PAVILION_SHARE_TARGET")
    bought = dict(db.session.execute(
        select(Order.buyer_unit_id, func.coalesce(func.sum(Order.total), 0))
        .where(counted(year), Order.zone_code == ZONE_PAVILION).group_by(Order.buyer_unit_id)).all())
    units = db.session.scalars(select(Organisation).where(
        Organisation.kind == ORG_BUDGET_UNIT,
        (Organisation.canteen_food_budget.is_not(None)) | Organisation.id.in_(list(bought) or [-1]))
        .order_by(Organisation.name)).all()
    rows = []
    for u in units:
        budget = _d(u.canteen_food_budget) if u.canteen_food_budget is not None else None
        amount = _d(bought.get(u.id))
        goal = (budget * target).quantize(Decimal("0.01")) if budget else None
        rows.append({"unit_id": u.id, "unit": u.name, "canteen_food_budget": budget, "amount": amount,
                     "share": share(amount, budget) if budget else None, "target_amount": goal,
                     "gap": max(goal - amount, ZERO) if goal is not None else None,
                     "met": bool(goal is not None and amount >= goal)})
    rows.sort(key=lambda r: (r["met"], -(r["share"] or Decimal(0)), r["unit"]))
    with_budget = [r for r in rows if r["canteen_food_budget"]]
    return {"year": year, "target": (target * 100).quantize(Decimal("0.1")), "rows": rows,
            "units": len(with_budget), "met": sum(1 for r in with_budget if r["met"]),
            "budget": sum((r["canteen_food_budget"] for r in with_budget), ZERO),
            "amount": sum((r["amount"] for r in rows), ZERO)}


def loan_figures(year: int) -> dict:
    """政采贷: applications against orders of the budget year, approvals and amounts."""
    rows = db.session.execute(
        select(LoanApplication.status, func.count(), func.coalesce(func.sum(LoanApplication.amount), 0),
               func.coalesce(func.sum(LoanApplication.decided_amount), 0))
        .join(Order, Order.id == LoanApplication.order_id).where(Order.budget_year == year)
        .group_by(LoanApplication.status)).all()
    by = {s: (int(n), _d(a), _d(d)) for s, n, a, d in rows}
    get = lambda s, i: by.get(s, (0, ZERO, ZERO))[i]  # noqa: E731
    applications = sum(v[0] for v in by.values())
    return {"applications": applications, "applied_amount": sum((v[1] for v in by.values()), ZERO),
            "pending": get("applied", 0), "approved": get("approved", 0), "rejected": get("rejected", 0),
            "approved_amount": get("approved", 2),
            "suppliers": int(db.session.scalar(
                select(func.count(distinct(LoanApplication.supplier_id))).join(Order, Order.id == LoanApplication.order_id)
                .where(Order.budget_year == year, LoanApplication.status == "approved")) or 0)}


def available_years() -> list[int]:
    return [int(y) for y in db.session.scalars(select(Order.budget_year).distinct()
                                               .order_by(Order.budget_year.desc()))]


def figures(year: int, group_by: str = "zone") -> dict:
    """Everything the /stats page and GET /api/v1/stats show."""
    return {"year": year, "group_by": group_by, "summary": summary(year), "rows": grouped(year, group_by),
            "months": grouped(year, "month"), "pavilion": pavilion_shares(year), "loans": loan_figures(year)}


# ---------------------------------------------------------------------------- JSON

def jsonable(value):
    """Decimals as strings (exact), dates as ISO text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------------------- SVG charts

def _nice_max(value: Decimal) -> Decimal:
    """A round axis maximum at or above value (1, 2, 2.5, 5 × 10^n)."""
    if value <= 0:
        return Decimal(1)
    exp = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if value <= exp * step:
            return exp * step
    return exp * 10


def bar_chart(rows: list[tuple[str, Decimal]], width: int = 640, bar: int = 22, gap: int = 8,
              label_width: int = 170) -> dict:
    """Horizontal bars: [{label, value, y, w}] scaled to the widest value."""
    top = _nice_max(max((Decimal(v) for _, v in rows), default=Decimal(0)))
    plot = width - label_width - 110
    bars = []
    for i, (label, value) in enumerate(rows):
        w = float(Decimal(value) / top * plot) if top else 0.0
        bars.append({"label": label if len(label) <= 14 else label[:13] + "…", "full_label": label,
                     "value": value, "y": i * (bar + gap), "w": round(max(w, 0.0), 1)})
    return {"bars": bars, "width": width, "height": max(len(rows), 1) * (bar + gap), "bar": bar,
            "label_width": label_width, "plot": plot, "max": top}


def line_chart(points: list[tuple[str, Decimal]], width: int = 480, height: int = 240, pad: int = 44) -> dict:
    """A line over labelled points: polyline coordinates, dots and four horizontal grid lines."""
    top = _nice_max(max((Decimal(v) for _, v in points), default=Decimal(0)))
    n = max(len(points) - 1, 1)
    plot_w, plot_h = width - 2 * pad, height - 2 * pad + 10
    dots = []
    for i, (label, value) in enumerate(points):
        x = pad + plot_w * i / n
        y = pad - 10 + plot_h - float(Decimal(value) / top) * plot_h
        dots.append({"x": round(x, 1), "y": round(y, 1), "label": label, "value": value})
    grid = [{"y": round(pad - 10 + plot_h - plot_h * k / 4, 1), "value": top * k / 4} for k in range(5)]
    return {"dots": dots, "polyline": " ".join(f"{d['x']},{d['y']}" for d in dots), "grid": grid,
            "width": width, "height": height, "pad": pad, "bottom": round(pad - 10 + plot_h, 1), "max": top}
