"""Risk rules (数字见证 warnings) as pure functions over plain facts.

Each rule takes facts (dataclasses built by ``services.scan_risks`` from the database) and
returns :class:`Finding` objects that explain themselves: a Chinese message naming the rule
and its figures, the figures as data, the subject (order, unit, supplier) and a dedup key
(kind + subject) so that a rerun of the scan creates no duplicates.

Rules:
- :func:`split_suspected`      several orders of one 品目 by one unit within the window whose
                               sum reaches the decentralized threshold (化整为零, 实施条例第28条)
- :func:`price_findings`       a unit price above the agreement price, or more than the markup
                               above the reference market price
- :func:`supplier_concentration` one unit buying mostly from one supplier
- :func:`near_threshold`       an order just under the direct-purchase limit or the threshold
- :func:`late_findings`        late confirmation, delivery or acceptance (working days)
- :func:`sme_mismatch`         an SME declaration whose own figures give another size
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Optional

from catalog.inputs import fmt_money
from suppliers.models import SIZE_LABELS
from suppliers.sme import THRESHOLDS, classify

KIND_LABELS = {"goods": "货物", "services": "服务", "works": "工程"}


@dataclass(frozen=True)
class Finding:
    kind: str
    key: str
    message: str
    figures: dict
    order_id: Optional[int] = None
    unit_id: Optional[int] = None
    supplier_id: Optional[int] = None


@dataclass(frozen=True)
class LineFact:
    id: int
    category_code: str
    category_name: str
    title: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    agreement_max_price: Optional[Decimal] = None   # 协议价 (agreement ceiling) of the line, if any
    market_price: Optional[Decimal] = None          # reference market price of the product


@dataclass(frozen=True)
class OrderFact:
    id: int
    number: str
    unit_id: int
    unit_name: str
    supplier_id: int
    supplier_name: str
    placed_on: dt.date                   # local date the order was placed
    budget_year: int
    total: Decimal
    status: str
    lines: tuple = ()
    thresholds: dict = field(default_factory=dict)  # from the order's policy snapshot
    placed_at: Optional[dt.datetime] = None
    confirm_deadline: Optional[dt.datetime] = None
    confirmed_at: Optional[dt.datetime] = None
    delivered_at: Optional[dt.datetime] = None
    accepted_at: Optional[dt.datetime] = None


@dataclass(frozen=True)
class DeclarationFact:
    id: int
    supplier_id: int
    supplier_name: str
    industry: str
    staff: int
    revenue: Decimal
    size: str
    declared_size: Optional[str] = None


def category_kind(code: str) -> str:
    return {"A": "goods", "B": "works", "C": "services"}.get((code or "A")[:1], "goods")


def _dec(value) -> Optional[Decimal]:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _pct(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def threshold_of(order: OrderFact, kind: str) -> Optional[Decimal]:
    return _dec(order.thresholds.get(f"decentralized_threshold_{kind}"))


# ---------------------------------------------------------------------------- splitting

def split_suspected(orders: Iterable[OrderFact], default_window_days: int = 90) -> list[Finding]:
    """Several orders of one 品目 by one unit within the window whose sum reaches the threshold.

    Amounts per 品目 are the order lines of that 品目; orders of one budget year are compared
    (the rule is "within one budget year"); the window and the threshold are those of the
    policy version in the snapshot of the order that made the sum cross. The order that made it
    cross carries the flag; earlier orders are named in the figures.
    """
    groups: dict[tuple, list[tuple[OrderFact, Decimal, str]]] = defaultdict(list)
    for o in orders:
        per_code: dict[str, tuple[Decimal, str]] = {}
        for line in o.lines:
            amount, name = per_code.get(line.category_code, (Decimal(0), line.category_name))
            per_code[line.category_code] = (amount + Decimal(line.line_total), name)
        for code, (amount, name) in per_code.items():
            groups[(o.unit_id, code, o.budget_year)].append((o, amount, name))
    out: list[Finding] = []
    for (unit_id, code, year), rows in groups.items():
        if len(rows) < 2:
            continue
        rows.sort(key=lambda r: (r[0].placed_on, r[0].id))
        kind = category_kind(code)
        for j, (order, amount, name) in enumerate(rows):
            threshold = threshold_of(order, kind)
            if threshold is None or threshold <= 0:
                continue
            window = int(order.thresholds.get("split_window_days") or default_window_days)
            start = order.placed_on - dt.timedelta(days=window - 1)
            inside = [r for r in rows[:j] if r[0].placed_on >= start]
            before = sum((r[1] for r in inside), Decimal(0))
            total = before + amount
            if not inside or before >= threshold or total < threshold:
                continue
            members = inside + [(order, amount, name)]
            numbers = [r[0].number for r in members]
            out.append(Finding(
                kind="split_suspected",
                key=f"split_suspected:{unit_id}:{code}:{order.id}",
                message=(f"疑似化整为零：{order.unit_name}在{window}天内（{members[0][0].placed_on}至"
                         f"{order.placed_on}）{len(members)}次采购品目{code}（{name}），合计{fmt_money(total)}，"
                         f"达到{KIND_LABELS[kind]}分散采购限额标准{fmt_money(threshold)}"
                         f"（订单{'、'.join(numbers)}）"),
                figures={"unit": order.unit_name, "category_code": code, "category_name": name,
                         "budget_year": year, "window_days": window, "orders": numbers,
                         "amounts": [str(r[1]) for r in members], "sum": str(total),
                         "threshold": str(threshold), "kind": kind,
                         "first_date": members[0][0].placed_on.isoformat(),
                         "last_date": order.placed_on.isoformat()},
                order_id=order.id, unit_id=unit_id, supplier_id=order.supplier_id))
    return out


# ---------------------------------------------------------------------------- prices

def price_findings(order: OrderFact, markup: Decimal) -> list[Finding]:
    """Lines priced above the agreement price, or more than ``markup`` above the market price."""
    out: list[Finding] = []
    for line in order.lines:
        price = Decimal(line.unit_price)
        ceiling = _dec(line.agreement_max_price)
        if ceiling is not None and price > ceiling:
            excess = (price - ceiling) * line.quantity
            out.append(Finding(
                kind="price_above_agreement",
                key=f"price_above_agreement:{line.id}",
                message=(f"价格高于协议价：订单{order.number}中“{line.title}”单价{fmt_money(price)}，"
                         f"高于框架协议价（最高限制单价）{fmt_money(ceiling)}，超出{_pct((price - ceiling) / ceiling)}，"
                         f"{line.quantity}件合计多付{fmt_money(excess)}"),
                figures={"order": order.number, "line_id": line.id, "title": line.title,
                         "unit_price": str(price), "agreement_price": str(ceiling), "quantity": line.quantity,
                         "excess": str(excess), "excess_ratio": str(((price - ceiling) / ceiling).quantize(Decimal("0.0001")))},
                order_id=order.id, unit_id=order.unit_id, supplier_id=order.supplier_id))
        market = _dec(line.market_price)
        if market is not None and market > 0:
            limit = market * (1 + markup)
            if price > limit:
                ratio = (price - market) / market
                out.append(Finding(
                    kind="price_above_market",
                    key=f"price_above_market:{line.id}",
                    message=(f"价格高于市场参考价：订单{order.number}中“{line.title}”单价{fmt_money(price)}，"
                             f"比市场参考价{fmt_money(market)}高{_pct(ratio)}，超过预警比例{_pct(markup)}"),
                    figures={"order": order.number, "line_id": line.id, "title": line.title,
                             "unit_price": str(price), "market_price": str(market),
                             "markup": str(ratio.quantize(Decimal("0.0001"))), "limit": str(markup)},
                    order_id=order.id, unit_id=order.unit_id, supplier_id=order.supplier_id))
    return out


# ---------------------------------------------------------------------------- concentration

def supplier_concentration(orders: Iterable[OrderFact], share: Decimal, min_orders: int) -> list[Finding]:
    """A unit that, in one budget year with at least ``min_orders`` orders, paid more than
    ``share`` of its amount to a single supplier."""
    per_unit: dict[tuple[int, int], list[OrderFact]] = defaultdict(list)
    for o in orders:
        per_unit[(o.unit_id, o.budget_year)].append(o)
    out: list[Finding] = []
    for (unit_id, year), rows in per_unit.items():
        if len(rows) < min_orders:
            continue
        total = sum((Decimal(o.total) for o in rows), Decimal(0))
        if total <= 0:
            continue
        by_supplier: dict[int, list[OrderFact]] = defaultdict(list)
        for o in rows:
            by_supplier[o.supplier_id].append(o)
        for supplier_id, mine in by_supplier.items():
            amount = sum((Decimal(o.total) for o in mine), Decimal(0))
            ratio = amount / total
            if ratio <= share:
                continue
            first = mine[0]
            out.append(Finding(
                kind="supplier_concentration",
                key=f"supplier_concentration:{unit_id}:{supplier_id}:{year}",
                message=(f"供应商集中度异常：{first.unit_name}{year}年度{len(rows)}笔订单共{fmt_money(total)}，"
                         f"其中{len(mine)}笔{fmt_money(amount)}（{_pct(ratio)}）来自{first.supplier_name}，"
                         f"超过预警比例{_pct(share)}"),
                figures={"unit": first.unit_name, "supplier": first.supplier_name, "budget_year": year,
                         "orders": len(rows), "supplier_orders": len(mine), "total": str(total),
                         "supplier_amount": str(amount), "share": str(ratio.quantize(Decimal("0.0001"))),
                         "limit": str(share), "min_orders": min_orders},
                unit_id=unit_id, supplier_id=supplier_id))
    return out


# ---------------------------------------------------------------------------- near a threshold

def near_threshold(order: OrderFact, ratio: Decimal) -> list[Finding]:
    """An order within ``ratio`` below the direct-purchase limit or the decentralized threshold."""
    kinds = {category_kind(line.category_code) for line in order.lines} or {"goods"}
    limits = []
    direct = _dec(order.thresholds.get("direct_purchase_limit"))
    if direct:
        limits.append(("direct_purchase_limit", "单笔直购限额", direct))
    for kind in sorted(kinds):
        t = threshold_of(order, kind)
        if t:
            limits.append((f"decentralized_threshold_{kind}", f"{KIND_LABELS[kind]}分散采购限额标准", t))
    total = Decimal(order.total)
    for name, label, limit in limits:
        floor = limit * (1 - ratio)
        if floor <= total < limit:
            gap = limit - total
            return [Finding(
                kind="near_threshold",
                key=f"near_threshold:{order.id}",
                message=(f"金额略低于限额标准：订单{order.number}金额{fmt_money(total)}，距{label}{fmt_money(limit)}"
                         f"仅差{fmt_money(gap)}（{_pct(gap / limit)}，预警区间为{_pct(ratio)}以内）"),
                figures={"order": order.number, "total": str(total), "limit_name": name, "limit": str(limit),
                         "gap": str(gap), "ratio": str(ratio)},
                order_id=order.id, unit_id=order.unit_id, supplier_id=order.supplier_id)]
    return []


# ---------------------------------------------------------------------------- lateness

def _local(ts: dt.datetime) -> str:
    from mall.timeutil import LOCAL_TZ, as_utc

    return as_utc(ts).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def late_findings(order: OrderFact, now: dt.datetime, calendar, delivery_workdays: int,
                  acceptance_workdays: int) -> list[Finding]:
    """Late confirmation (``confirm_deadline``), delivery (N working days after confirmation)
    and acceptance (N working days after delivery): done late, or still not done when due.

    ``calendar`` has ``deadline(start, workdays) -> datetime`` (``orders.workdays.WorkCalendar``).
    """
    from mall.timeutil import as_utc

    now = as_utc(now)
    out: list[Finding] = []

    def check(kind, label, due, done, pending, what):
        if due is None:
            return
        due = as_utc(due)
        if done is not None and as_utc(done) > due:
            late = as_utc(done) - due
            msg = (f"{label}：订单{order.number}应于{_local(due)}前{what}，实际{_local(done)}完成，"
                   f"逾期{_duration(late)}")
        elif done is None and pending and now > due:
            late = now - due
            msg = f"{label}：订单{order.number}应于{_local(due)}前{what}，至今未完成，已逾期{_duration(late)}"
        else:
            return
        out.append(Finding(kind=kind, key=f"{kind}:{order.id}", message=msg,
                           figures={"order": order.number, "due": due.isoformat(),
                                    "done": as_utc(done).isoformat() if done else None,
                                    "hours_late": int(late.total_seconds() // 3600)},
                           order_id=order.id, unit_id=order.unit_id, supplier_id=order.supplier_id))

    check("late_confirmation", "确认超时", order.confirm_deadline, order.confirmed_at,
          order.status == "submitted", "由供应商确认")
    if order.confirmed_at is not None:
        due = calendar.deadline(as_utc(order.confirmed_at), delivery_workdays)
        check("late_delivery", "延迟交付", due, order.delivered_at, order.status in ("confirmed", "shipped"),
              f"送达（确认后{delivery_workdays}个工作日）")
    if order.delivered_at is not None:
        due = calendar.deadline(as_utc(order.delivered_at), acceptance_workdays)
        check("late_acceptance", "验收超时", due, order.accepted_at, order.status == "delivered",
              f"验收（送达后{acceptance_workdays}个工作日）")
    return out


def _duration(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 24:
        return f"{hours // 24}天{hours % 24}小时"
    return f"{max(hours, 0)}小时" if hours else f"{max(int(delta.total_seconds() // 60), 1)}分钟"


# ---------------------------------------------------------------------------- SME declarations

def sme_mismatch(declarations: Iterable[DeclarationFact]) -> list[Finding]:
    """A declaration whose own figures classify to another size than the one declared."""
    out: list[Finding] = []
    for d in declarations:
        if d.industry not in THRESHOLDS:
            continue
        try:
            result = classify(d.industry, d.staff, Decimal(d.revenue))
        except ValueError:
            continue
        claimed = d.declared_size or d.size
        if claimed == result.size:
            continue
        out.append(Finding(
            kind="sme_declaration_mismatch",
            key=f"sme_declaration_mismatch:{d.id}",
            message=(f"中小企业声明与其数据不符：{d.supplier_name}声明为{SIZE_LABELS.get(claimed, claimed)}，"
                     f"但按其声明的数据（{result.explanation}）应为{SIZE_LABELS.get(result.size, result.size)}"
                     f"（工信部联企业〔2011〕300号）"),
            figures={"supplier": d.supplier_name, "declaration_id": d.id, "industry": d.industry,
                     "staff": d.staff, "revenue": str(d.revenue), "declared": claimed, "computed": result.size},
            supplier_id=d.supplier_id))
    return out
