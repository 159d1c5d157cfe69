"""Framework agreements (框架协议, 财政部令第110号): the operator's write operations.

- terms: goods at most 1 year, services at most 2 years;
- status: draft → active ⇄ suspended → expired (active → expired too); activation needs entrants
  and a term that has not ended;
- closed agreements (封闭式) fix their entrants before activation; open ones (开放式) take
  applications at any time, reviewed within 7 working days;
- agreement prices (最高限制单价) per entrant and product model; while in force a price may only
  go down;
- products sold under an agreement stop selling while it is not valid (suspended, expired, not
  yet started, or the supplier no longer admitted) and return when it is valid again:
  :func:`sync_products`, run on every status change and hourly by ``catalog.sweep_agreements``.
"""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, or_, select, update

from mall import audit
from mall.accounts.models import ORG_SUPPLIER, Organisation
from mall.authz import require
from mall.extensions import db
from mall.problems import NotFound, Problem, ServiceError
from mall.timeutil import LOCAL_TZ, as_utc, today, utcnow
from . import pinmu
from .inputs import (check_category, clean_note, clean_str, fmt_money, parse_choice, parse_date, parse_money,
                     parse_text, split_codes)
from .models import (AGREEMENT_KINDS, AGREEMENT_STATUSES, ENTRANT_STATUSES, SECOND_STAGE, ZONE_CENTRAL,
                     Agreement, AgreementCategory, AgreementPrice, AgreementSupplier, Product, Zone)

SUBJECTS = {"goods": "货物", "services": "服务"}
KIND_LABELS = {"goods": "货物", "services": "服务", "works": "工程"}
TERM_LIMIT_YEARS = {"goods": 1, "services": 2}
REVIEW_WORKING_DAYS = 7      # 开放式框架协议: 收到申请后7个工作日内完成审核
PUBLISH_WORKING_DAYS = 2     # 审核结果2个工作日内公告

# allowed status transitions, with the Chinese verb used in messages
TRANSITIONS = {
    ("draft", "active"): "生效",
    ("active", "suspended"): "暂停",
    ("suspended", "active"): "恢复",
    ("active", "expired"): "终止",
    ("suspended", "expired"): "终止",
}
EDITABLE_AFTER_DRAFT = ("title", "procuring_body", "description")


# ------------------------------------------------------------------ terms and calendar

def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February → 1 March
        return dt.date(day.year + years, 3, 1)


def max_term_end(subject: str, start: dt.date) -> dt.date:
    """The last day a term starting on ``start`` may run to (inclusive)."""
    return add_years(start, TERM_LIMIT_YEARS[subject]) - dt.timedelta(days=1)


def term_problems(subject: str | None, start: dt.date | None, end: dt.date | None) -> list[Problem]:
    if start is None or end is None or subject not in TERM_LIMIT_YEARS:
        return []
    if end < start:
        return [Problem("term_end_before_start", f"协议期限截止日期{end}早于起始日期{start}",
                        rule="agreement.term", field="term_end",
                        figures={"term_start": start, "term_end": end})]
    limit = TERM_LIMIT_YEARS[subject]
    latest = max_term_end(subject, start)
    if end > latest:
        days = (end - start).days + 1
        return [Problem(
            "term_too_long",
            f"协议期限{days}天（{start}至{end}）超过{SUBJECTS[subject]}项目框架协议最长{limit}年的期限"
            f"（财政部令第110号：货物项目不得超过1年，服务项目不得超过2年），最晚可到{latest}",
            rule="agreement.term_limit", field="term_end",
            figures={"term_days": days, "limit_years": limit, "latest_end": latest})]
    return []


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``day``: the mall's working calendar (weekends, statutory
    holidays and 调休 make-up days, configurable) shared with the order deadlines."""
    from orders.workdays import calendar

    return calendar().add_workdays(day, n)


def local_date(moment: dt.datetime | None) -> dt.date | None:
    return as_utc(moment).astimezone(LOCAL_TZ).date() if moment else None


def review_deadline(entrant: AgreementSupplier) -> dt.date | None:
    """An application to an open agreement is reviewed within 7 working days of its receipt."""
    applied = local_date(entrant.applied_at)
    return add_working_days(applied, REVIEW_WORKING_DAYS) if applied else None


# ------------------------------------------------------------------ lookups

def get_agreement(agreement_id: int) -> Agreement:
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound("框架协议", code="agreement_not_found")
    return agreement


def get_entrant(agreement: Agreement, entrant_id: int) -> AgreementSupplier:
    entrant = db.session.get(AgreementSupplier, entrant_id)
    if entrant is None or entrant.agreement_id != agreement.id:
        raise NotFound("入围供应商或申请", code="entrant_not_found")
    return entrant


def find_supplier(text: str) -> Organisation | None:
    """A supplier by id, 统一社会信用代码 or name (exact, else a unique partial match)."""
    text = clean_str(text)[:200]
    if not text:
        return None
    base = select(Organisation).where(Organisation.kind == ORG_SUPPLIER)
    if text.isdigit() and len(text) < 10:
        org = db.session.scalar(base.where(Organisation.id == int(text)))
        if org:
            return org
    org = db.session.scalar(base.where(or_(Organisation.uscc == text.upper(), Organisation.name == text)))
    if org:
        return org
    matches = db.session.scalars(base.where(Organisation.name.contains(text)).limit(2)).all()
    return matches[0] if len(matches) == 1 else None


def admitted_entrants(agreement: Agreement) -> list[AgreementSupplier]:
    return [e for e in agreement.entrants if e.status == "admitted"]


# ------------------------------------------------------------------ create / edit

def _clean(raw: dict, current: Agreement | None) -> tuple[dict, list[str] | None, list[Problem]]:
    """Typed agreement fields from raw input; keys missing from ``raw`` keep current values."""
    problems: list[Problem] = []
    data: dict = {}

    def given(key):
        return key in raw or current is None

    if given("number"):
        data["number"] = parse_text(raw.get("number"), "number", "协议编号", problems, max_length=50)
    if given("title"):
        data["title"] = parse_text(raw.get("title"), "title", "协议名称", problems, max_length=200)
    if given("kind"):
        data["kind"] = parse_choice(raw.get("kind") or "closed", "kind", "协议类型", AGREEMENT_KINDS, problems)
    if given("subject"):
        data["subject"] = parse_choice(raw.get("subject") or "goods", "subject", "采购标的", SUBJECTS, problems)
    if given("second_stage"):
        data["second_stage"] = parse_choice(raw.get("second_stage") or "direct", "second_stage",
                                            "第二阶段成交方式", SECOND_STAGE, problems)
    if given("zone_code"):
        zone_code = raw.get("zone_code") or ZONE_CENTRAL
        if db.session.get(Zone, zone_code) is None:
            problems.append(Problem("unknown_zone", f"专区“{zone_code}”不存在", field="zone_code"))
        data["zone_code"] = zone_code
    if given("term_start"):
        data["term_start"] = parse_date(raw.get("term_start"), "term_start", "协议期限起始日期", problems)
    if given("term_end"):
        data["term_end"] = parse_date(raw.get("term_end"), "term_end", "协议期限截止日期", problems)
    if given("procuring_body"):
        data["procuring_body"] = parse_text(raw.get("procuring_body"), "procuring_body", "征集人",
                                            problems, required=False, max_length=200)
    if given("description"):
        data["description"] = parse_text(raw.get("description"), "description", "协议说明", problems,
                                         required=False, max_length=5000)
    codes = None
    if given("categories"):
        codes = []
        for code in split_codes(raw.get("categories")):
            checked = check_category(code, "categories", problems)
            if checked:
                codes.append(checked)
        if not codes and not any(p.field == "categories" for p in problems):
            problems.append(Problem("categories_required", "请至少填写一个协议覆盖的品目编码", field="categories"))
    subject = data.get("subject") or (current.subject if current else None)
    for code in codes or []:
        kind = pinmu.tree()[code].kind
        if subject and kind != subject:
            problems.append(Problem(
                "category_subject_mismatch",
                f"品目{code}（{pinmu.name_of(code)}）属于{KIND_LABELS[kind]}类，"
                f"与协议采购标的（{SUBJECTS[subject]}）不符",
                rule="agreement.subject", field="categories", figures={"category_code": code, "kind": kind}))
    start = data.get("term_start", current.term_start if current else None)
    end = data.get("term_end", current.term_end if current else None)
    problems += term_problems(subject, start, end)
    if data.get("number"):
        q = select(Agreement.id).where(Agreement.number == data["number"])
        if current is not None:
            q = q.where(Agreement.id != current.id)
        if db.session.scalar(q):
            problems.append(Problem("number_taken", f"协议编号{data['number']}已存在", field="number"))
    return data, codes, problems


def create_agreement(raw: dict) -> Agreement:
    require("agreement.manage")
    data, codes, problems = _clean(raw, None)
    if problems:
        raise ServiceError(problems)
    agreement = Agreement(status="draft", **data)
    for code in codes:
        agreement.categories.append(AgreementCategory(category_code=code))
    db.session.add(agreement)
    db.session.flush()
    return agreement


def update_agreement(agreement: Agreement, raw: dict) -> Agreement:
    """Drafts may change everything; once in force only the title, procuring body and
    description (the terms were published to suppliers and buyers)."""
    require("agreement.manage")
    data, codes, problems = _clean(raw, agreement)
    if problems:
        raise ServiceError(problems)
    if agreement.status != "draft":
        locked = [k for k, v in data.items() if k not in EDITABLE_AFTER_DRAFT and getattr(agreement, k) != v]
        if codes is not None and set(codes) != set(agreement.category_codes):
            locked.append("categories")
        if locked:
            labels = {"number": "协议编号", "kind": "协议类型", "subject": "采购标的", "second_stage": "第二阶段成交方式",
                      "zone_code": "专区", "term_start": "期限起始日期", "term_end": "期限截止日期",
                      "categories": "覆盖品目"}
            raise ServiceError(Problem(
                "agreement_terms_locked",
                f"框架协议{agreement.number}已{AGREEMENT_STATUSES[agreement.status]}，不能修改"
                f"{'、'.join(labels.get(k, k) for k in locked)}（仅草稿可修改协议条款）",
                rule="agreement.terms_locked", figures={"fields": locked}))
    for key, value in data.items():
        setattr(agreement, key, value)
    if codes is not None and agreement.status == "draft":
        existing = {c.category_code: c for c in agreement.categories}
        for code, row in existing.items():
            if code not in codes:
                agreement.categories.remove(row)
        for code in codes:
            if code not in existing:
                agreement.categories.append(AgreementCategory(category_code=code))
    db.session.flush()
    return agreement


# ------------------------------------------------------------------ status

def transition(agreement: Agreement, to: str, note: str | None = None, *, day: dt.date | None = None) -> dict:
    """Change the status, audit it with the note and stop/restart the agreement's products."""
    require("agreement.manage")
    day = day or today()
    frm = agreement.status
    if to not in AGREEMENT_STATUSES:
        raise ServiceError(Problem("invalid_status", f"协议状态“{to}”无效", field="to"))
    if (frm, to) not in TRANSITIONS:
        raise ServiceError(Problem(
            "invalid_transition",
            f"框架协议{agreement.number}当前为“{AGREEMENT_STATUSES[frm]}”，不能改为“{AGREEMENT_STATUSES[to]}”",
            rule="agreement.transitions", figures={"from": frm, "to": to}), status=409)
    note = clean_note(note, 1000)
    problems = []
    if to == "active":
        if agreement.term_end < day:
            problems.append(Problem(
                "term_ended", f"框架协议{agreement.number}的期限已于{agreement.term_end}届满，不能{TRANSITIONS[(frm, to)]}",
                rule="agreement.activation", figures={"term_end": agreement.term_end, "today": day}))
        if not admitted_entrants(agreement):
            problems.append(Problem("no_entrants", f"框架协议{agreement.number}没有入围供应商，不能生效",
                                    rule="agreement.activation", figures={"entrants": 0}))
        if not agreement.categories:
            problems.append(Problem("no_categories", f"框架协议{agreement.number}未覆盖任何品目，不能生效",
                                    rule="agreement.activation"))
    if to in ("suspended", "expired") and not note:
        problems.append(Problem("note_required", f"{TRANSITIONS[(frm, to)]}框架协议须填写原因", field="note",
                                rule="agreement.transitions"))
    if problems:
        raise ServiceError(problems)
    agreement.status = to
    audit.record("agreement.status", "agreement", agreement.id, before={"status": frm}, after={"status": to},
                 note=note)
    db.session.flush()
    return sync_products(agreement_ids=[agreement.id], day=day)


# ------------------------------------------------------------------ entrants and prices

def add_entrant(agreement: Agreement, supplier: Organisation | None,
                note: str | None = None) -> AgreementSupplier:
    require("agreement.manage")
    from suppliers.models import SupplierProfile

    if supplier is None or supplier.kind != ORG_SUPPLIER:
        raise ServiceError(Problem("supplier_not_found", "未找到该供应商（请填写统一社会信用代码、单位ID或完整名称）",
                                   field="supplier"))
    problems = []
    if agreement.status == "expired":
        problems.append(Problem("agreement_expired", f"框架协议{agreement.number}已到期，不能增加入围供应商",
                                rule="agreement.entrants"))
    elif agreement.kind == "closed" and agreement.status != "draft":
        problems.append(Problem(
            "closed_agreement_fixed",
            f"框架协议{agreement.number}为封闭式，已{AGREEMENT_STATUSES[agreement.status]}，"
            f"协议有效期内不得增加入围供应商（财政部令第110号）",
            rule="agreement.closed_entrants"))
    profile = db.session.get(SupplierProfile, supplier.id)
    if profile is not None and profile.status != "active":
        problems.append(Problem("supplier_suspended", f"供应商{supplier.name}已被暂停交易，不能入围",
                                rule="agreement.entrants"))
    existing = db.session.scalar(select(AgreementSupplier).where(
        AgreementSupplier.agreement_id == agreement.id, AgreementSupplier.supplier_id == supplier.id))
    if existing is not None and existing.status in ("admitted", "suspended"):
        problems.append(Problem("already_entrant", f"{supplier.name}已是框架协议{agreement.number}的入围供应商",
                                field="supplier"))
    if problems:
        raise ServiceError(problems)
    now = utcnow()
    entrant = existing or AgreementSupplier(agreement_id=agreement.id, supplier_id=supplier.id)
    entrant.status = "admitted"
    entrant.decided_at = now
    entrant.decision_note = clean_note(note)
    entrant.rotation_position = _next_rotation(agreement)
    if existing is None:
        agreement.entrants.append(entrant)
    db.session.flush()
    if agreement.status != "draft":
        sync_products(agreement_ids=[agreement.id])
    return entrant


def _next_rotation(agreement: Agreement) -> int:
    return (db.session.scalar(select(func.max(AgreementSupplier.rotation_position))
                              .where(AgreementSupplier.agreement_id == agreement.id)) or 0) + 1


ENTRANT_ACTIONS = {"suspend": ("admitted", "suspended", "暂停"), "reinstate": ("suspended", "admitted", "恢复"),
                   "remove": (None, "withdrawn", "移出")}


def change_entrant(agreement: Agreement, entrant: AgreementSupplier, action: str,
                   note: str | None = None) -> None:
    """Suspend, reinstate or remove an entrant. Removing from a draft deletes the row and its
    prices; afterwards the entrant is kept as 已退出 (history stays public to auditors)."""
    require("agreement.manage")
    if action not in ENTRANT_ACTIONS:
        raise ServiceError(Problem("invalid_action", f"操作“{action}”无效", field="action"))
    frm, to, verb = ENTRANT_ACTIONS[action]
    name = entrant.supplier.name if entrant.supplier else f"#{entrant.supplier_id}"
    if (frm and entrant.status != frm) or (frm is None and entrant.status not in ("admitted", "suspended")):
        label = ENTRANT_STATUSES.get(entrant.status, entrant.status)
        raise ServiceError(Problem("invalid_transition", f"{name}当前为“{label}”，不能{verb}",
                                   rule="agreement.entrants"), status=409)
    note = clean_note(note)
    if agreement.status != "draft" and not note:
        raise ServiceError(Problem("note_required", f"{verb}入围供应商须填写原因", field="note",
                                   rule="agreement.entrants"))
    if action == "reinstate" and agreement.status == "expired":
        raise ServiceError(Problem("agreement_expired", f"框架协议{agreement.number}已到期，不能恢复入围供应商",
                                   rule="agreement.entrants"))
    if action == "remove" and agreement.status == "draft":
        for price in [p for p in agreement.prices if p.supplier_id == entrant.supplier_id]:
            if _price_in_use(price):
                raise ServiceError(Problem("price_in_use", f"{name}的协议价格（{price.brand} {price.model}）已有商品引用，"
                                                           f"不能删除", rule="agreement.prices"))
            agreement.prices.remove(price)
        agreement.entrants.remove(entrant)
        audit.record("agreement.entrant_removed", "agreement", agreement.id,
                     before={"supplier_id": entrant.supplier_id}, note=note)
        db.session.flush()
        return
    before = entrant.status
    entrant.status = to
    entrant.decided_at = utcnow()
    entrant.decision_note = note
    audit.record(f"agreement.entrant_{action}", "agreement_supplier", entrant.id,
                 before={"status": before}, after={"status": to}, note=note)
    db.session.flush()
    sync_products(agreement_ids=[agreement.id])


def _price_in_use(price: AgreementPrice) -> bool:
    if price.id is None:
        return False
    return db.session.scalar(select(func.count()).select_from(Product)
                             .where(Product.agreement_price_id == price.id)) > 0


def _covered(agreement: Agreement, code: str) -> bool:
    return bool(set(pinmu.path_of(code)) & set(agreement.category_codes))


def _clean_price(agreement: Agreement, raw: dict, problems: list[Problem], where: str = "") -> dict | None:
    before = len(problems)
    entrant_ids = {e.supplier_id for e in agreement.entrants if e.status in ("admitted", "suspended")}
    supplier_id = raw.get("supplier_id")
    try:
        supplier_id = int(supplier_id)
    except (TypeError, ValueError):
        supplier_id = None
    if supplier_id not in entrant_ids:
        problems.append(Problem("not_an_entrant", f"{where}协议价格须属于本协议的入围供应商", field="supplier_id"))
    default_code = agreement.category_codes[0] if len(agreement.category_codes) == 1 else None
    code = check_category(raw.get("category_code") or default_code, "category_code", problems)
    if code and not _covered(agreement, code):
        problems.append(Problem("category_not_covered",
                                f"{where}品目{code}（{pinmu.name_of(code)}）不在框架协议{agreement.number}覆盖的品目内",
                                rule="agreement.prices", field="category_code",
                                figures={"category_code": code}))
    brand = parse_text(raw.get("brand"), "brand", f"{where}品牌", problems, max_length=100)
    model = parse_text(raw.get("model"), "model", f"{where}型号", problems, max_length=100)
    max_price = parse_money(raw.get("max_price"), "max_price", f"{where}最高限制单价", problems, positive=True)
    note = parse_text(raw.get("discount_note"), "discount_note", f"{where}优惠说明", problems, required=False,
                      max_length=300)
    if len(problems) > before:
        problems[before:] = [p if not where or p.message.startswith(where) else
                             Problem(p.code, where + p.message, rule=p.rule, field=p.field, figures=p.figures)
                             for p in problems[before:]]
        return None
    return {"supplier_id": supplier_id, "category_code": code, "brand": brand, "model": model,
            "max_price": max_price, "discount_note": note}


def add_prices(agreement: Agreement, rows: list[dict]) -> list[AgreementPrice]:
    """Add agreement prices (all or nothing). While the agreement is in force an existing model's
    price may only go down (协议价格只降不升)."""
    require("agreement.manage")
    if agreement.status == "expired":
        raise ServiceError(Problem("agreement_expired", f"框架协议{agreement.number}已到期，不能录入协议价格",
                                   rule="agreement.prices"))
    if not rows:
        raise ServiceError(Problem("prices_required", "请至少填写一条协议价格", field="prices"))
    problems: list[Problem] = []
    cleaned = []
    seen = set()
    for n, raw in enumerate(rows, 1):
        where = f"第{n}条：" if len(rows) > 1 else ""
        row = _clean_price(agreement, raw, problems, where)
        if row is None:
            continue
        key = (row["supplier_id"], row["brand"].lower(), row["model"].lower())
        if key in seen:
            problems.append(Problem("duplicate_price", f"{where}{row['brand']} {row['model']}重复",
                                    field="model"))
            continue
        seen.add(key)
        cleaned.append(row)
    existing = {(p.supplier_id, p.brand.lower(), p.model.lower()): p for p in agreement.prices}
    for n, row in enumerate(cleaned, 1):
        current = existing.get((row["supplier_id"], row["brand"].lower(), row["model"].lower()))
        if current is not None and agreement.status != "draft" and row["max_price"] > current.max_price:
            problems.append(Problem(
                "price_increase",
                f"{row['brand']} {row['model']}的协议价格不能上调（现为{fmt_money(current.max_price)}，"
                f"填写的是{fmt_money(row['max_price'])}）：框架协议履行期间价格只降不升",
                rule="agreement.price_no_increase", field="max_price",
                figures={"current": current.max_price, "requested": row["max_price"]}))
    if problems:
        raise ServiceError(problems)
    out = []
    for row in cleaned:
        current = existing.get((row["supplier_id"], row["brand"].lower(), row["model"].lower()))
        if current is not None:
            current.max_price, current.category_code = row["max_price"], row["category_code"]
            current.discount_note = row["discount_note"]
            out.append(current)
        else:
            price = AgreementPrice(**row)
            agreement.prices.append(price)
            out.append(price)
    db.session.flush()
    return out


_THOUSANDS_HEAD = re.compile(r"[¥￥]?\d{1,3}")
_THOUSANDS_TAIL = re.compile(r"\d{3}(\.\d{1,2})?")


def parse_price_lines(text: str, supplier_id) -> list[dict]:
    """Bulk entry without a spreadsheet: one "品牌, 型号, 最高限制单价[, 品目编码][, 优惠说明]" per line."""
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for sep in ("，", "\t", "|"):
            line = line.replace(sep, ",")
        parts = [p.strip() for p in line.split(",")]
        # "4,599.00": a thousands separator inside the price, not a new column
        while len(parts) > 3 and _THOUSANDS_HEAD.fullmatch(parts[2]) and _THOUSANDS_TAIL.fullmatch(parts[3]):
            parts[2:4] = [parts[2] + parts[3]]
        rows.append({"supplier_id": supplier_id, "brand": parts[0] if parts else None,
                     "model": parts[1] if len(parts) > 1 else None,
                     "max_price": parts[2] if len(parts) > 2 else None,
                     "category_code": parts[3] if len(parts) > 3 and parts[3] else None,
                     "discount_note": ",".join(parts[4:]) if len(parts) > 4 else None})
    return rows


def remove_price(agreement: Agreement, price: AgreementPrice) -> None:
    require("agreement.manage")
    if price.agreement_id != agreement.id:
        raise NotFound("协议价格", code="price_not_found")
    if agreement.status != "draft":
        raise ServiceError(Problem("agreement_terms_locked",
                                   f"框架协议{agreement.number}已{AGREEMENT_STATUSES[agreement.status]}，协议价格不能删除",
                                   rule="agreement.prices"))
    if _price_in_use(price):
        raise ServiceError(Problem("price_in_use", f"{price.brand} {price.model}的协议价格已有商品引用，不能删除",
                                   rule="agreement.prices"))
    agreement.prices.remove(price)
    db.session.flush()


# ------------------------------------------------------------------ open agreements: applications

def apply_to_join(agreement: Agreement, supplier_id: int, note: str | None = None) -> AgreementSupplier:
    """A supplier applies to join an open agreement (开放式框架协议, at any time of its term)."""
    problems = []
    if agreement.kind != "open":
        problems.append(Problem("closed_agreement", f"框架协议{agreement.number}为封闭式，协议期内不接受加入申请",
                                rule="agreement.open_join"))
    elif not agreement.valid_on(today()):
        problems.append(Problem("agreement_not_valid",
                                f"框架协议{agreement.number}当前为“{AGREEMENT_STATUSES[agreement.status]}”，不接受加入申请",
                                rule="agreement.open_join"))
    existing = db.session.scalar(select(AgreementSupplier).where(
        AgreementSupplier.agreement_id == agreement.id, AgreementSupplier.supplier_id == supplier_id))
    entrant = existing or AgreementSupplier(agreement_id=agreement.id, supplier_id=supplier_id)
    require("agreement.apply", entrant)
    if existing is not None and existing.status in ("applied", "admitted", "suspended"):
        problems.append(Problem("already_applied",
                                f"已{ENTRANT_STATUSES[existing.status]}，无需重复申请", rule="agreement.open_join"))
    if problems:
        raise ServiceError(problems)
    entrant.status = "applied"
    entrant.applied_at = utcnow()
    entrant.decided_at = None
    entrant.decision_note = clean_note(note)
    if existing is None:
        db.session.add(entrant)
    db.session.flush()
    return entrant


def withdraw(agreement: Agreement, entrant: AgreementSupplier, note: str | None = None) -> None:
    """A supplier leaves an open agreement (free to leave) or withdraws its application."""
    require("agreement.apply", entrant)
    if agreement.kind != "open" and entrant.status != "applied":
        raise ServiceError(Problem("closed_agreement", f"框架协议{agreement.number}为封闭式，协议期内不能自行退出",
                                   rule="agreement.open_join"))
    if entrant.status not in ("applied", "admitted", "suspended"):
        raise ServiceError(Problem("invalid_transition", "当前状态不能退出", rule="agreement.open_join"), status=409)
    before = entrant.status
    entrant.status = "withdrawn"
    entrant.decided_at = utcnow()
    audit.record("agreement.entrant_withdraw", "agreement_supplier", entrant.id, before={"status": before},
                 after={"status": "withdrawn"}, note=note)
    db.session.flush()
    sync_products(agreement_ids=[agreement.id])


def pending_applications() -> list[AgreementSupplier]:
    return list(db.session.scalars(
        select(AgreementSupplier).join(Agreement).where(AgreementSupplier.status == "applied",
                                                        Agreement.kind == "open")
        .order_by(AgreementSupplier.applied_at, AgreementSupplier.id)))


def decide_application(entrant: AgreementSupplier, decision: str,
                       note: str | None = None) -> AgreementSupplier:
    require("agreement.manage")
    agreement = entrant.agreement
    if decision not in ("admit", "reject"):
        raise ServiceError(Problem("invalid_decision", "审核结论须为“admit”（同意加入）或“reject”（不同意）",
                                   field="decision"))
    if entrant.status != "applied":
        raise ServiceError(Problem(
            "application_not_pending",
            f"该申请当前为“{ENTRANT_STATUSES.get(entrant.status, entrant.status)}”，已处理过", rule="agreement.review"),
            status=409)
    note = clean_note(note)
    if decision == "reject" and not note:
        raise ServiceError(Problem("note_required", "不同意加入须填写理由（将告知供应商）", field="note",
                                   rule="agreement.review"))
    if decision == "admit" and agreement.status == "expired":
        raise ServiceError(Problem("agreement_expired", f"框架协议{agreement.number}已到期，不能接纳新供应商",
                                   rule="agreement.review"))
    to = "admitted" if decision == "admit" else "rejected"
    deadline = review_deadline(entrant)
    entrant.status = to
    entrant.decided_at = utcnow()
    entrant.decision_note = note
    if to == "admitted":
        entrant.rotation_position = _next_rotation(agreement)
    late = deadline is not None and today() > deadline
    audit.record("agreement.application_decision", "agreement_supplier", entrant.id,
                 before={"status": "applied"},
                 after={"status": to, "review_deadline": deadline, "overdue": late}, note=note)
    db.session.flush()
    if to == "admitted":
        sync_products(agreement_ids=[agreement.id])
    return entrant


# ------------------------------------------------------------------ products follow the agreement

UNLINKED_REASON = "集采区商品未关联有效的框架协议价格"


def halt_reason(agreement: Agreement | None, entrant_status: str | None, day: dt.date) -> str | None:
    """Why a product sold under ``agreement`` may not sell on ``day`` (None: it may)."""
    if agreement is None:
        return UNLINKED_REASON
    n = agreement.number
    if agreement.status == "suspended":
        return f"框架协议{n}已暂停"
    if agreement.status == "expired" or day > agreement.term_end:
        return f"框架协议{n}已到期"
    if agreement.status == "draft":
        return f"框架协议{n}尚未生效"
    if day < agreement.term_start:
        return f"框架协议{n}尚未生效（{agreement.term_start}起）"
    if entrant_status != "admitted":
        label = ENTRANT_STATUSES.get(entrant_status, "未入围") if entrant_status else "未入围"
        return f"供应商在框架协议{n}中的入围资格无效（{label}）"
    return None


def sync_products(agreement_ids: list[int] | None = None, day: dt.date | None = None,
                  include_unlinked: bool | None = None) -> dict:
    """Set or clear ``Product.halted_reason`` so that exactly the products whose agreement is valid
    today (and whose supplier is an admitted entrant) may sell. Only rows whose reason changes are
    written (each audited), so a second run changes nothing."""
    day = day or today()
    if include_unlinked is None:
        include_unlinked = agreement_ids is None
    q = select(Product.id, Product.halted_reason, Product.supplier_id, AgreementPrice.agreement_id) \
        .join(AgreementPrice, Product.agreement_price_id == AgreementPrice.id)
    agreements_q = select(Agreement)
    if agreement_ids is not None:
        q = q.where(AgreementPrice.agreement_id.in_(agreement_ids))
        agreements_q = agreements_q.where(Agreement.id.in_(agreement_ids))
    agreements = {a.id: a for a in db.session.scalars(agreements_q)}
    entrant_q = select(AgreementSupplier.agreement_id, AgreementSupplier.supplier_id,
                       AgreementSupplier.status)
    if agreement_ids is not None:
        entrant_q = entrant_q.where(AgreementSupplier.agreement_id.in_(agreement_ids))
    entrants = {(a, s): st for a, s, st in db.session.execute(entrant_q)}
    wanted: dict[int, tuple[str | None, str | None]] = {}   # product id → (current, wanted)
    reasons: dict[tuple, str | None] = {}
    for pid, current, supplier_id, agreement_id in db.session.execute(q):
        key = (agreement_id, supplier_id)
        if key not in reasons:
            reasons[key] = halt_reason(agreements.get(agreement_id), entrants.get(key), day)
        if reasons[key] != current:
            wanted[pid] = (current, reasons[key])
    if include_unlinked:
        for pid, current in db.session.execute(
                select(Product.id, Product.halted_reason)
                .where(Product.zone_code == ZONE_CENTRAL, Product.agreement_price_id.is_(None))):
            if current != UNLINKED_REASON:
                wanted[pid] = (current, UNLINKED_REASON)
    return _write_reasons(wanted)


def _write_reasons(wanted: dict[int, tuple[str | None, str | None]]) -> dict:
    """One UPDATE per reason and chunk (an agreement may carry thousands of products), each row
    audited like any product change (before/after of ``halted_reason``)."""
    by_reason: dict[str | None, list[int]] = {}
    for pid, (_, reason) in sorted(wanted.items()):
        by_reason.setdefault(reason, []).append(pid)
    for reason, ids in by_reason.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            db.session.execute(update(Product).where(Product.id.in_(chunk))
                               .values(halted_reason=reason, search_dirty=True)
                               .execution_options(synchronize_session="evaluate"))
            for pid in chunk:
                audit.record("product.update", "product", pid, before={"halted_reason": wanted[pid][0]},
                             after={"halted_reason": reason})
    db.session.flush()
    restored = len(by_reason.get(None, []))
    halted = sum(1 for current, reason in wanted.values() if current is None and reason is not None)
    return {"halted": halted, "restored": restored, "changed": len(wanted)}


def sweep(day: dt.date | None = None) -> dict:
    """Expire agreements whose term has ended, then bring every product in line (idempotent)."""
    day = day or today()
    expired = []
    for agreement in db.session.scalars(select(Agreement).where(Agreement.status.in_(("active", "suspended")),
                                                                 Agreement.term_end < day)):
        before = agreement.status
        agreement.status = "expired"
        audit.record("agreement.status", "agreement", agreement.id, before={"status": before},
                     after={"status": "expired"}, note=f"协议期限已于{agreement.term_end}届满，系统自动置为已到期")
        expired.append(agreement.number)
    db.session.flush()
    result = sync_products(day=day)
    return {"expired": expired, **result}
