"""The auditors' order filters (unit, supplier, zone, 品目, amount range, period, status, SME,
flags), parsed from query-string arguments into one SQL query.

Bad input never fails the page: each unusable filter is reported as a Problem and ignored.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import aliased

from catalog import pinmu
from catalog.inputs import parse_date, parse_decimal
from catalog.models import ZONE_LABELS
from mall.accounts.models import Organisation
from mall.problems import Problem
from mall.timeutil import LOCAL_TZ
from orders.models import ORDER_STATUSES, RISK_KINDS, Order, OrderLine, RiskFlag

FLAG_FILTERS = {"open": "有待核查预警", "any": "有预警（含已核销）", "none": "无预警"}
FILTER_KEYS = ("unit", "supplier", "zone", "pinmu", "min", "max", "from", "to", "status", "sme", "flags",
               "flag_kind", "q")


def local_day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=LOCAL_TZ).astimezone(dt.timezone.utc)


def parse(args) -> tuple[dict, list[Problem]]:
    """Typed filters from request args; unusable ones are dropped with a problem."""
    problems: list[Problem] = []
    f: dict = {}
    for key in ("unit", "supplier", "q"):
        value = (args.get(key) or "").strip()[:100]
        if value:
            f[key] = value
    zone = args.get("zone") or ""
    if zone:
        if zone in ZONE_LABELS:
            f["zone"] = zone
        else:
            problems.append(Problem("invalid_choice", f"交易区“{zone}”无效", field="zone"))
    code = (args.get("pinmu") or "").strip().upper()
    if code and code not in pinmu.tree() and len(code) < 9 and code.ljust(9, "0") in pinmu.tree():
        code = code.ljust(9, "0")  # "A0201" is short for A02010000
    if code:
        if code in pinmu.tree():
            f["pinmu"] = code
        else:
            problems.append(Problem("unknown_category", f"品目编码“{code}”不在《政府采购品目分类目录》中",
                                    field="pinmu"))
    for key, label in (("min", "最低金额"), ("max", "最高金额")):
        value = parse_decimal(args.get(key), key, label, problems, required=False)
        if value is not None:
            f[key] = value
    for key, label in (("from", "开始日期"), ("to", "截止日期")):
        value = parse_date(args.get(key), key, label, problems, required=False)
        if value is not None:
            f[key] = value
    if "from" in f and "to" in f and f["to"] < f["from"]:
        problems.append(Problem("period_end_before_start", f"截止日期{f['to']}早于开始日期{f['from']}", field="to"))
        del f["to"]
    status = args.get("status") or ""
    if status:
        if status in ORDER_STATUSES:
            f["status"] = status
        else:
            problems.append(Problem("invalid_choice", f"订单状态“{status}”无效", field="status"))
    sme = args.get("sme") or ""
    if sme in ("1", "0"):
        f["sme"] = sme == "1"
    elif sme:
        problems.append(Problem("invalid_choice", "中小企业筛选只能为“是”或“否”", field="sme"))
    flags = args.get("flags") or ""
    if flags:
        if flags in FLAG_FILTERS:
            f["flags"] = flags
        else:
            problems.append(Problem("invalid_choice", f"预警筛选“{flags}”无效", field="flags"))
    kind = args.get("flag_kind") or ""
    if kind:
        if kind in RISK_KINDS:
            f["flag_kind"] = kind
        else:
            problems.append(Problem("invalid_choice", f"预警类型“{kind}”无效", field="flag_kind"))
    return f, problems


def apply(q: Select, f: dict) -> Select:
    """Add the filters to a select over Order."""
    if "q" in f:
        q = q.where(Order.number.contains(f["q"]))
    for key, col in (("unit", Order.buyer_unit_id), ("supplier", Order.supplier_id)):
        if key in f:
            value = f[key]
            if value.isdigit():
                q = q.where(col == int(value))
            else:
                org = aliased(Organisation)
                q = q.where(col.in_(select(org.id).where(org.name.contains(value))))
    if "zone" in f:
        q = q.where(Order.zone_code == f["zone"])
    if "pinmu" in f:
        codes = pinmu.descendants(f["pinmu"])
        line = aliased(OrderLine)
        q = q.where(exists(select(line.id).where(line.order_id == Order.id, line.category_code.in_(codes))))
    if "min" in f:
        q = q.where(Order.total >= f["min"])
    if "max" in f:
        q = q.where(Order.total <= f["max"])
    if "from" in f:
        q = q.where(Order.placed_at >= local_day_start(f["from"]))
    if "to" in f:
        q = q.where(Order.placed_at < local_day_start(f["to"] + dt.timedelta(days=1)))
    if "status" in f:
        q = q.where(Order.status == f["status"])
    if "sme" in f:
        q = q.where(Order.is_sme.is_(f["sme"]))
    flag = aliased(RiskFlag)
    if f.get("flags") == "open":
        q = q.where(exists(select(flag.id).where(flag.order_id == Order.id, flag.status == "open")))
    elif f.get("flags") == "any":
        q = q.where(exists(select(flag.id).where(flag.order_id == Order.id)))
    elif f.get("flags") == "none":
        q = q.where(~exists(select(flag.id).where(flag.order_id == Order.id)))
    if "flag_kind" in f:
        k = aliased(RiskFlag)
        q = q.where(exists(select(k.id).where(k.order_id == Order.id, k.kind == f["flag_kind"])))
    return q


def orders_query(f: dict) -> Select:
    return apply(select(Order), f).order_by(Order.placed_at.desc(), Order.id.desc())


def as_args(f: dict) -> dict:
    """Filters back to query-string arguments (for export links and the pager)."""
    out = {}
    for k, v in f.items():
        if isinstance(v, bool):
            out[k] = "1" if v else "0"
        elif isinstance(v, (dt.date, Decimal)):
            out[k] = str(v)
        else:
            out[k] = v
    return out
