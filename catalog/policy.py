"""Policy versions (集中采购目录及标准) looked up by date: rules that change by date are data.

An order is judged by the version in force on its date; the order keeps a snapshot of it.

Operators create a version as a draft, edit it and publish it (:func:`create_policy`,
:func:`update_policy`, :func:`publish_policy`). The figures are validated together
(:func:`validate_figures`: open-tender thresholds not below the decentralized ones, the direct
purchase limit below them, the SME price deduction within 财库〔2022〕19号's 10%–20% — 6%–10%
before it); published periods never overlap; a version in force is frozen except its end date.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import joinedload

from mall import audit
from mall.authz import require
from mall.extensions import db
from mall.problems import NotFound, Problem, ServiceError
from mall.timeutil import today
from . import pinmu
from .inputs import (check_category, clean_note, fmt_money, fmt_percent, parse_date, parse_decimal, parse_int,
                     parse_money, parse_text)
from .models import CentralizedItem, PolicyVersion


def policy_in_force(day: dt.date, session=None) -> PolicyVersion | None:
    """The published version whose effective period contains ``day`` (latest start wins), with its
    centralized-catalog items (one statement: every checkout reads them)."""
    session = session or db.session
    return session.scalars(_in_force_statement(), {"day": day}).unique().first()


@lru_cache(maxsize=1)
def _in_force_statement():
    """Built once (every checkout runs it); the day is a bound parameter."""
    day = bindparam("day", type_=PolicyVersion.effective_from.type)
    return (select(PolicyVersion).options(joinedload(PolicyVersion.items))
            .where(PolicyVersion.status == "published", PolicyVersion.effective_from <= day,
                   or_(PolicyVersion.effective_to.is_(None), PolicyVersion.effective_to >= day))
            .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc())
            .limit(1))


def centralized_item_for(policy: PolicyVersion, category_code: str) -> CentralizedItem | None:
    """The centralized-catalog entry covering ``category_code`` (itself or an ancestor)."""
    path = set(pinmu.path_of(category_code)) or {category_code}
    best = None
    for item in policy.items:
        if item.category_code in path:
            # the most specific entry wins
            if best is None or len(pinmu.path_of(item.category_code)) > len(pinmu.path_of(best.category_code)):
                best = item
    return best


def is_centralized(policy: PolicyVersion, category_code: str, amount: Decimal | None = None) -> bool:
    """Whether buying ``category_code`` for ``amount`` falls under the centralized catalog."""
    item = centralized_item_for(policy, category_code)
    if item is None:
        return False
    if item.min_amount is not None and amount is not None and amount < item.min_amount:
        return False
    return True


def snapshot(policy: PolicyVersion) -> dict:
    """What an order stores about the version that judged it."""
    return {
        "policy_id": policy.id, "name": policy.name,
        "effective_from": policy.effective_from.isoformat(),
        "effective_to": policy.effective_to.isoformat() if policy.effective_to else None,
        "decentralized_threshold_goods": str(policy.decentralized_threshold_goods),
        "decentralized_threshold_services": str(policy.decentralized_threshold_services),
        "decentralized_threshold_works": str(policy.decentralized_threshold_works),
        "open_tender_threshold_goods": str(policy.open_tender_threshold_goods),
        "open_tender_threshold_services": str(policy.open_tender_threshold_services),
        "open_tender_threshold_works": str(policy.open_tender_threshold_works),
        "direct_purchase_limit": str(policy.direct_purchase_limit),
        "sme_price_deduction": str(policy.sme_price_deduction),
        "split_window_days": policy.split_window_days,
        "split_action": policy.split_action,
        "cumulative_warning_ratio": str(policy.cumulative_warning_ratio),
    }


# ====================================================================== operator side: versions
#
# A version is created as a draft, edited, then published. Published periods never overlap, so
# exactly one version judges each day. Once a version is in force (published and started) its
# figures and items are frozen — orders were judged by them; only its end date may be set (to
# make room for the next version).

POLICY_STATUSES = {"draft": "草稿", "published": "已发布"}
SPLIT_ACTIONS = {"refuse": "拒绝下单", "flag": "允许下单并标记预警"}
KIND_LABELS = {"goods": "货物", "services": "服务", "works": "工程"}
MONEY_FIELDS = {
    "decentralized_threshold_goods": "货物分散采购限额标准",
    "decentralized_threshold_services": "服务分散采购限额标准",
    "decentralized_threshold_works": "工程分散采购限额标准",
    "open_tender_threshold_goods": "货物公开招标数额标准",
    "open_tender_threshold_services": "服务公开招标数额标准",
    "open_tender_threshold_works": "工程公开招标数额标准",
    "direct_purchase_limit": "单笔直购限额",
}
RATIO_FIELDS = {"sme_price_deduction": "中小企业价格扣除比例", "cumulative_warning_ratio": "累计金额预警比例"}
# 财库〔2022〕19号 (in force for projects from 2022-07-01): small and micro firms get a 10%–20%
# price deduction; before it 财库〔2020〕46号 set 6%–10%.
SME_RULE_CHANGE = dt.date(2022, 7, 1)
SME_DEDUCTION_RANGE_2022 = (Decimal("0.10"), Decimal("0.20"))
SME_DEDUCTION_RANGE_2020 = (Decimal("0.06"), Decimal("0.10"))
SPLIT_WINDOW_MAX = 366
FROZEN_FIELDS = ("name",) + tuple(MONEY_FIELDS) + tuple(RATIO_FIELDS) + (
    "effective_from", "split_window_days", "split_action")


def sme_deduction_range(effective_from: dt.date) -> tuple[Decimal, Decimal, str]:
    if effective_from >= SME_RULE_CHANGE:
        return (*SME_DEDUCTION_RANGE_2022, "财库〔2022〕19号")
    return (*SME_DEDUCTION_RANGE_2020, "财库〔2020〕46号")


def clean_policy(raw: dict, *, percent: bool = False) -> tuple[dict, list[Problem]]:
    """Typed fields of a version from raw input; ``percent``: ratios typed as 10 meaning 10%."""
    problems: list[Problem] = []
    data: dict = {}
    data["name"] = parse_text(raw.get("name"), "name", "版本名称", problems, max_length=100)
    data["effective_from"] = parse_date(raw.get("effective_from"), "effective_from", "生效日期", problems)
    data["effective_to"] = parse_date(raw.get("effective_to"), "effective_to", "截止日期", problems,
                                      required=False)
    for field, label in MONEY_FIELDS.items():
        data[field] = parse_money(raw.get(field), field, label, problems, positive=True)
    for field, label in RATIO_FIELDS.items():
        # the column holds up to 9.9999; the range rules below give the meaningful message
        value = parse_decimal(raw.get(field), field, label, problems, places=4 if not percent else 2,
                              maximum=Decimal("999.99") if percent else Decimal("9.9999"))
        data[field] = (value / 100).quantize(Decimal("0.0001")) if (value is not None and percent) else value
    data["split_window_days"] = parse_int(raw.get("split_window_days"), "split_window_days", "拆分识别时间窗（天）",
                                          problems, minimum=1, maximum=SPLIT_WINDOW_MAX)
    action = raw.get("split_action")
    if action not in SPLIT_ACTIONS:
        problems.append(Problem("invalid_choice", "拆分处置方式须为“拒绝下单”或“允许下单并标记预警”",
                                field="split_action"))
    data["split_action"] = action if action in SPLIT_ACTIONS else None
    data["note"] = parse_text(raw.get("note"), "note", "说明", problems, required=False, max_length=2000)
    problems += validate_figures(data)
    return data, problems


def validate_figures(data: dict) -> list[Problem]:
    """Rules between the figures (each already parsed; missing ones are skipped)."""
    out: list[Problem] = []
    start, end = data.get("effective_from"), data.get("effective_to")
    if start and end and end < start:
        out.append(Problem("period_end_before_start", f"截止日期{end}早于生效日期{start}",
                           rule="policy.period", field="effective_to",
                           figures={"effective_from": start, "effective_to": end}))
    for kind, label in KIND_LABELS.items():
        low = data.get(f"decentralized_threshold_{kind}")
        high = data.get(f"open_tender_threshold_{kind}")
        if low is not None and high is not None and high < low:
            out.append(Problem(
                "open_tender_below_decentralized",
                f"{label}公开招标数额标准{fmt_money(high)}低于{label}分散采购限额标准{fmt_money(low)}："
                f"公开招标数额标准不得低于分散采购限额标准",
                rule="policy.threshold_order", field=f"open_tender_threshold_{kind}",
                figures={"open_tender_threshold": high, "decentralized_threshold": low, "kind": kind}))
    limit = data.get("direct_purchase_limit")
    for kind in ("goods", "services"):
        threshold = data.get(f"decentralized_threshold_{kind}")
        if limit is not None and threshold is not None and limit > threshold:
            out.append(Problem(
                "direct_limit_above_threshold",
                f"单笔直购限额{fmt_money(limit)}高于{KIND_LABELS[kind]}分散采购限额标准{fmt_money(threshold)}："
                f"达到限额标准的采购须采用法定采购方式，不能在商城直接购买",
                rule="policy.direct_limit", field="direct_purchase_limit",
                figures={"direct_purchase_limit": limit, "decentralized_threshold": threshold, "kind": kind}))
            break
    deduction = data.get("sme_price_deduction")
    if deduction is not None and start is not None:
        low, high, source = sme_deduction_range(start)
        if not (low <= deduction <= high):
            out.append(Problem(
                "sme_deduction_out_of_range",
                f"中小企业价格扣除比例{fmt_percent(deduction)}超出{source}规定的"
                f"{fmt_percent(low)}–{fmt_percent(high)}（生效日期{start}）",
                rule="policy.sme_price_deduction", field="sme_price_deduction",
                figures={"sme_price_deduction": deduction, "minimum": low, "maximum": high}))
    ratio = data.get("cumulative_warning_ratio")
    if ratio is not None and not (Decimal("0.01") <= ratio <= Decimal("1")):
        out.append(Problem(
            "warning_ratio_out_of_range",
            f"累计金额预警比例{fmt_percent(ratio)}须在1%–100%之间（达到限额标准的该比例时提示）",
            rule="policy.warning_ratio", field="cumulative_warning_ratio",
            figures={"cumulative_warning_ratio": ratio}))
    return out


def parse_items(raw) -> tuple[list[dict], list[Problem]]:
    """Centralized items from text lines "品目编码 [起点金额] [备注]" or a list of dicts."""
    problems: list[Problem] = []
    rows: list[dict] = []
    if raw is None:
        return rows, problems
    if isinstance(raw, str):
        entries = []
        for n, line in enumerate(raw.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.replace(",", " ").replace("，", " ").split(None, 2)
            amount = parts[1] if len(parts) > 1 and parts[1] not in ("-", "—") else None
            entries.append((n, {"category_code": parts[0], "min_amount": amount,
                                "note": parts[2] if len(parts) > 2 else None}))
    else:
        entries = list(enumerate(raw, 1))
    seen = set()
    for n, entry in entries:
        where = f"第{n}行"
        before = len(problems)
        code = check_category(entry.get("category_code"), "items", problems)
        amount = parse_money(entry.get("min_amount"), "items", f"{where}起点金额", problems, required=False)
        note = parse_text(entry.get("note"), "items", f"{where}备注", problems, required=False, max_length=300)
        if len(problems) > before:
            problems[before:] = [Problem(p.code, f"集中采购品目{where}：{p.message}", field="items",
                                         figures=p.figures) for p in problems[before:]]
            continue
        if code in seen:
            problems.append(Problem("duplicate_item", f"集中采购品目{where}：品目{code}（{pinmu.name_of(code)}）重复",
                                    field="items", figures={"category_code": code}))
            continue
        seen.add(code)
        rows.append({"category_code": code, "min_amount": amount, "note": note})
    return rows, problems


def items_text(policy: PolicyVersion) -> str:
    lines = []
    for item in sorted(policy.items, key=lambda i: i.category_code):
        parts = [item.category_code, str(item.min_amount) if item.min_amount is not None else "-"]
        if item.note:
            parts.append(item.note)
        lines.append(" ".join(parts))
    return "\n".join(lines)


def _period(p) -> str:
    return f"{p.effective_from}至{p.effective_to or '长期'}"


def overlapping(start: dt.date, end: dt.date | None, exclude_id: int | None = None) -> list[PolicyVersion]:
    """Published versions whose period shares a day with [start, end]."""
    q = select(PolicyVersion).where(PolicyVersion.status == "published",
                                    or_(PolicyVersion.effective_to.is_(None),
                                        PolicyVersion.effective_to >= start))
    if end is not None:
        q = q.where(PolicyVersion.effective_from <= end)
    if exclude_id is not None:
        q = q.where(PolicyVersion.id != exclude_id)
    return list(db.session.scalars(q.order_by(PolicyVersion.effective_from)))


def _overlap_problems(start, end, exclude_id) -> list[Problem]:
    return [Problem("policy_period_overlap",
                    f"生效期间{start}至{end or '长期'}与已发布的版本“{p.name}”（{_period(p)}）重叠："
                    f"同一天只能有一个版本生效，请先为其设置截止日期",
                    rule="policy.no_overlap", field="effective_from",
                    figures={"other_policy_id": p.id, "other_from": p.effective_from,
                             "other_to": p.effective_to})
            for p in overlapping(start, end, exclude_id)]


def _apply_items(policy: PolicyVersion, rows: list[dict]) -> None:
    """Update items in place (the unique (policy, 品目) pair forbids delete+insert in one flush)."""
    existing = {i.category_code: i for i in policy.items}
    wanted = {r["category_code"]: r for r in rows}
    for code, item in existing.items():
        if code not in wanted:
            policy.items.remove(item)
    for code, row in wanted.items():
        item = existing.get(code)
        if item is None:
            policy.items.append(CentralizedItem(category_code=code, min_amount=row["min_amount"],
                                                note=row["note"]))
        else:
            item.min_amount, item.note = row["min_amount"], row["note"]


def _item_set(rows) -> set:
    return {(r["category_code"], r["min_amount"], r["note"] or None) for r in rows}


def create_policy(raw: dict, items=None, *, percent: bool = False) -> PolicyVersion:
    require("policy.manage")
    data, problems = clean_policy(raw, percent=percent)
    rows, item_problems = parse_items(items)
    if problems or item_problems:
        raise ServiceError(problems + item_problems)
    policy = PolicyVersion(status="draft", **data)
    _apply_items(policy, rows)
    db.session.add(policy)
    db.session.flush()
    return policy


def update_policy(policy: PolicyVersion, raw: dict, items=None, *, percent: bool = False) -> PolicyVersion:
    require("policy.manage")
    data, problems = clean_policy(raw, percent=percent)
    rows, item_problems = parse_items(items)
    problems += item_problems
    if problems:
        raise ServiceError(problems)
    day = today()
    if policy.status == "published":
        if policy.effective_from <= day:
            changed = [f for f in FROZEN_FIELDS if getattr(policy, f) != data[f]]
            if _item_set(rows) != _item_set([{"category_code": i.category_code, "min_amount": i.min_amount,
                                              "note": i.note} for i in policy.items]):
                changed.append("items")
            if changed:
                raise ServiceError(Problem(
                    "policy_in_force_frozen",
                    f"版本“{policy.name}”已于{policy.effective_from}生效，订单已按其判定，数额和品目不能再修改"
                    f"（试图修改：{'、'.join(_field_label(f) for f in changed)}）；如需调整请新建版本，"
                    f"本版本只能设置截止日期",
                    rule="policy.frozen_in_force", figures={"fields": changed}))
            if data["effective_to"] is not None and data["effective_to"] < day:
                raise ServiceError(Problem(
                    "policy_end_in_past",
                    f"已生效版本的截止日期不能早于今天（{day}），填写的是{data['effective_to']}",
                    rule="policy.frozen_in_force", field="effective_to",
                    figures={"effective_to": data["effective_to"], "today": day}))
        overlap = _overlap_problems(data["effective_from"], data["effective_to"], policy.id)
        if overlap:
            raise ServiceError(overlap)
    for field, value in data.items():
        setattr(policy, field, value)
    _apply_items(policy, rows)
    db.session.flush()
    return policy


def publish_policy(policy: PolicyVersion, note: str | None = None) -> PolicyVersion:
    require("policy.manage")
    if policy.status == "published":
        raise ServiceError(Problem("policy_already_published", f"版本“{policy.name}”已发布",
                                   rule="policy.publish"))
    problems = validate_figures({f: getattr(policy, f) for f in ("effective_from", "effective_to",
                                                                 *MONEY_FIELDS, *RATIO_FIELDS)})
    if not policy.items:
        problems.append(Problem("policy_without_items", f"版本“{policy.name}”没有集中采购品目，不能发布",
                                rule="policy.items", field="items"))
    problems += _overlap_problems(policy.effective_from, policy.effective_to, policy.id)
    if problems:
        raise ServiceError(problems)
    policy.status = "published"
    audit.record("policy.publish", "policy_version", policy.id, before={"status": "draft"},
                 after={"status": "published", "effective_from": policy.effective_from,
                        "effective_to": policy.effective_to}, note=clean_note(note, 1000))
    db.session.flush()
    return policy


def _field_label(field: str) -> str:
    return {**MONEY_FIELDS, **RATIO_FIELDS, "name": "版本名称", "effective_from": "生效日期",
            "split_window_days": "拆分识别时间窗", "split_action": "拆分处置方式",
            "items": "集中采购品目"}.get(field, field)


def get_policy(policy_id: int) -> PolicyVersion:
    policy = db.session.get(PolicyVersion, policy_id)
    if policy is None:
        raise NotFound("政策版本", code="policy_not_found")
    return policy


def published_versions() -> list[PolicyVersion]:
    return list(db.session.scalars(select(PolicyVersion).where(PolicyVersion.status == "published")
                                   .order_by(PolicyVersion.effective_from.desc())))
