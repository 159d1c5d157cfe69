"""Operator write operations besides agreements and policy: zones, 自采区 solicitations (公开征集
品目) and 特色馆 qualification reviews."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select

from mall import audit
from mall.authz import require
from mall.extensions import db
from mall.problems import NotFound, Problem, ServiceError
from mall.timeutil import today
from . import pinmu
from .inputs import check_category, clean_note, fmt_money, parse_date, parse_text
from .models import Solicitation, Zone
from .policy import centralized_item_for, policy_in_force

PAVILION_DECISIONS = {"qualified": "认定", "rejected": "不予认定"}


# ------------------------------------------------------------------ zones

_UNSET = object()


def update_zone(zone: Zone, *, enabled: bool | None = None, description=_UNSET,
                note: str | None = None) -> Zone:
    """Enable/disable a zone or change its description (shown on the zone page)."""
    require("zone.manage")
    problems: list[Problem] = []
    if description is not _UNSET:
        description = parse_text(description, "description", "专区说明", problems, required=False,
                                 max_length=2000)
    if problems:
        raise ServiceError(problems)
    before = {"enabled": zone.enabled}
    if description is not _UNSET:
        zone.description = description
    if enabled is not None and enabled != zone.enabled:
        zone.enabled = enabled
        audit.record("zone.enabled" if enabled else "zone.disabled", "zone", zone.code, before=before,
                     after={"enabled": enabled}, note=clean_note(note, 1000))
    db.session.flush()
    return zone


def get_zone(code: str) -> Zone:
    zone = db.session.get(Zone, code)
    if zone is None:
        raise NotFound("专区", code="zone_not_found")
    return zone


# ------------------------------------------------------------------ solicitations (自采区)

def create_solicitation(raw: dict, *, day: dt.date | None = None) -> Solicitation:
    """Publicly solicit a 品目 for the 自采区. Items of the centralized catalog in force are bought
    under framework agreements in the 集采区 and cannot be solicited."""
    require("solicitation.manage")
    problems: list[Problem] = []
    code = check_category(raw.get("category_code"), "category_code", problems)
    title = parse_text(raw.get("title"), "title", "征集名称", problems, max_length=200)
    conditions = parse_text(raw.get("conditions"), "conditions", "征集条件", problems, required=False,
                            max_length=5000)
    valid_from = parse_date(raw.get("valid_from"), "valid_from", "征集开始日期", problems)
    valid_to = parse_date(raw.get("valid_to"), "valid_to", "征集截止日期", problems, required=False)
    if valid_from and valid_to and valid_to < valid_from:
        problems.append(Problem("period_end_before_start", f"征集截止日期{valid_to}早于开始日期{valid_from}",
                                field="valid_to"))
    if code:
        node = pinmu.tree()[code]
        if node.kind == "works":
            problems.append(Problem("works_not_in_mall", f"品目{code}（{node.name}）属于工程类，不在网上商城采购",
                                    rule="solicitation.category", field="category_code"))
        policy = policy_in_force(valid_from or day or today())
        item = centralized_item_for(policy, code) if policy else None
        if item is not None and item.min_amount is None:
            problems.append(Problem(
                "centralized_item",
                f"品目{code}（{node.name}）属于集中采购目录（{policy.name}，目录品目{item.category_code}"
                f"{pinmu.name_of(item.category_code)}），应通过框架协议在集采区采购，不能在自采区公开征集",
                rule="solicitation.not_centralized", field="category_code",
                figures={"policy": policy.name, "centralized_code": item.category_code}))
        elif item is not None:
            problems.append(Problem(
                "centralized_item_amount",
                f"品目{code}（{node.name}）单项或批量金额达到{fmt_money(item.min_amount)}时属于集中采购目录"
                f"（{policy.name}），自采区仅限其下金额的采购",
                rule="solicitation.not_centralized", severity="warning",
                figures={"min_amount": item.min_amount}))
        if valid_from:
            q = select(Solicitation).where(Solicitation.category_code == code, Solicitation.status == "open",
                                           or_(Solicitation.valid_to.is_(None),
                                               Solicitation.valid_to >= valid_from))
            if valid_to:
                q = q.where(Solicitation.valid_from <= valid_to)
            other = db.session.scalars(q).first()
            if other is not None:
                problems.append(Problem(
                    "solicitation_overlap",
                    f"品目{code}（{node.name}）已有进行中的征集“{other.title}”（{other.valid_from}至"
                    f"{other.valid_to or '长期'}），期间重叠",
                    rule="solicitation.unique", field="category_code", figures={"other_id": other.id}))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ServiceError(errors)
    solicitation = Solicitation(category_code=code, title=title, conditions=conditions, valid_from=valid_from,
                                valid_to=valid_to, status="open")
    db.session.add(solicitation)
    db.session.flush()
    solicitation.warnings = [p for p in problems if p.severity != "error"]
    return solicitation


def close_solicitation(solicitation: Solicitation, note: str | None) -> Solicitation:
    require("solicitation.manage")
    if solicitation.status != "open":
        raise ServiceError(Problem("solicitation_closed", f"征集“{solicitation.title}”已结束",
                                   rule="solicitation.close"), status=409)
    note = clean_note(note, 1000)
    if not note:
        raise ServiceError(Problem("note_required", "结束征集须填写原因", field="note", rule="solicitation.close"))
    solicitation.status = "closed"
    if solicitation.valid_to is None or solicitation.valid_to > today():
        solicitation.valid_to = max(today(), solicitation.valid_from)
    audit.record("solicitation.close", "solicitation", solicitation.id, before={"status": "open"},
                 after={"status": "closed"}, note=note)
    db.session.flush()
    return solicitation


def get_solicitation(solicitation_id: int) -> Solicitation:
    row = db.session.get(Solicitation, solicitation_id)
    if row is None:
        raise NotFound("征集品目", code="solicitation_not_found")
    return row


# ------------------------------------------------------------------ 特色馆 reviews

def review_pavilion(profile, decision: str, note: str | None):
    """applied → qualified / rejected; a qualification may later be revoked (qualified → rejected)."""
    require("pavilion.review")
    from suppliers.models import PAVILION_STATUSES

    if decision not in PAVILION_DECISIONS:
        raise ServiceError(Problem("invalid_decision", "审核结论须为“认定”或“不予认定”", field="decision"))
    current = profile.pavilion_status
    allowed = current == "applied" or (current == "qualified" and decision == "rejected")
    name = profile.organisation.name if profile.organisation else f"#{profile.organisation_id}"
    if not allowed:
        raise ServiceError(Problem(
            "pavilion_not_pending",
            f"{name}的特色馆资格当前为“{PAVILION_STATUSES.get(current, current)}”，不能{PAVILION_DECISIONS[decision]}",
            rule="pavilion.review"), status=409)
    note = clean_note(note, 500)
    problems = []
    if decision == "rejected" and not note:
        problems.append(Problem("note_required", "不予认定或撤销认定须填写理由（将告知供应商）", field="note",
                                rule="pavilion.review"))
    if decision == "qualified" and not (profile.pavilion_county or "").strip():
        problems.append(Problem("county_missing", f"{name}的申请未填写所在县（区），无法核实是否属于脱贫地区，不能认定",
                                rule="pavilion.eligible_county"))
    if problems:
        raise ServiceError(problems)
    profile.pavilion_status = decision
    profile.pavilion_note = note
    action = "supplier.pavilion_revoke" if current == "qualified" else "supplier.pavilion_review"
    audit.record(action, "supplier_profile", profile.organisation_id, before={"pavilion_status": current},
                 after={"pavilion_status": decision, "county": profile.pavilion_county}, note=note)
    db.session.flush()
    return profile
