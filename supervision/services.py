"""Supervision write operations: the nightly risk scan, auditor actions, partner banks, loans.

Every operation checks ``mall.authz.require`` and refuses with ``ServiceError`` naming the
rule; auditor actions are recorded with their reason by ``mall.audit.record`` (the row changes
are recorded automatically too). The caller commits.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any, Iterable

from flask_login import current_user
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from catalog import pinmu
from catalog.inputs import fmt_money, parse_choice, parse_money, parse_text
from catalog.models import PRODUCT_STATUSES, Product
from mall import audit
from mall.accounts.models import ORG_SUPPLIER, Organisation
from mall.authz import require
from mall.extensions import db
from mall.problems import NotFound, Problem, ServiceError
from mall.timeutil import LOCAL_TZ, as_utc, today, utcnow
from orders.models import Notification, Order, OrderStatusChange, RiskFlag
from suppliers.models import SmeDeclaration, SupplierProfile

from . import flags as rules
from .models import (LOANABLE_ORDER_STATUSES, QUERY_PARTIES, EnforcementAction, LoanApplication,
                     PartnerBank, Query)
from .settings import setting

CLOSED_ORDER_STATUSES = ("cancelled", "rejected")


# =========================================================================== the risk scan

def _first_times(order_ids: list[int]) -> dict[int, dict[str, dt.datetime]]:
    """When each order first reached confirmed / delivered / accepted (its status history)."""
    out: dict[int, dict[str, dt.datetime]] = defaultdict(dict)
    for chunk in _chunks(order_ids, 500):
        rows = db.session.execute(
            select(OrderStatusChange.order_id, OrderStatusChange.to_status, func.min(OrderStatusChange.created_at))
            .where(OrderStatusChange.order_id.in_(chunk),
                   OrderStatusChange.to_status.in_(("confirmed", "delivered", "accepted")))
            .group_by(OrderStatusChange.order_id, OrderStatusChange.to_status)).all()
        for oid, status, at in rows:
            out[oid][status] = as_utc(at)
    return out


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def order_facts(orders: list[Order]) -> list[rules.OrderFact]:
    """Plain facts of orders for the pure rules (lines, thresholds snapshot, status times)."""
    ids = [o.id for o in orders]
    times = _first_times(ids)
    product_ids = sorted({line.product_id for o in orders for line in o.lines})
    market: dict[int, Decimal | None] = {}
    for chunk in _chunks(product_ids, 500):
        market.update(dict(db.session.execute(select(Product.id, Product.market_price)
                                              .where(Product.id.in_(chunk))).all()))
    org_ids = sorted({o.buyer_unit_id for o in orders} | {o.supplier_id for o in orders})
    names: dict[int, str] = {}
    for chunk in _chunks(org_ids, 500):
        names.update(dict(db.session.execute(select(Organisation.id, Organisation.name)
                                             .where(Organisation.id.in_(chunk))).all()))
    facts = []
    for o in orders:
        lines = []
        for line in o.lines:
            agreement_price = line.reference_price if line.agreement_price_id else None
            market_price = market.get(line.product_id)
            if market_price is None and not line.agreement_price_id:
                market_price = line.reference_price  # 自采区/特色馆: the reference is the market price
            lines.append(rules.LineFact(
                id=line.id, category_code=line.category_code, category_name=pinmu.name_of(line.category_code),
                title=line.title, quantity=line.quantity, unit_price=line.unit_price, line_total=line.line_total,
                agreement_max_price=agreement_price, market_price=market_price))
        t = times.get(o.id, {})
        facts.append(rules.OrderFact(
            id=o.id, number=o.number, unit_id=o.buyer_unit_id, unit_name=names.get(o.buyer_unit_id, ""),
            supplier_id=o.supplier_id, supplier_name=names.get(o.supplier_id, ""),
            placed_on=as_utc(o.placed_at).astimezone(LOCAL_TZ).date(), budget_year=o.budget_year,
            total=o.total, status=o.status, lines=tuple(lines), thresholds=o.policy_snapshot or {},
            placed_at=as_utc(o.placed_at), confirm_deadline=as_utc(o.confirm_deadline),
            confirmed_at=t.get("confirmed"), delivered_at=t.get("delivered"),
            accepted_at=as_utc(o.accepted_at) or t.get("accepted")))
    return facts


def find_risks(now: dt.datetime | None = None) -> tuple[list[rules.Finding], int]:
    """Run every rule over the orders of the scanned budget years and current declarations."""
    from orders.workdays import calendar

    now = now or utcnow()
    first_year = today().year - max(setting("SUPERVISION_SCAN_YEARS"), 1) + 1
    orders = db.session.scalars(
        select(Order).where(Order.budget_year >= first_year, Order.status.not_in(CLOSED_ORDER_STATUSES))
        .options(selectinload(Order.lines)).order_by(Order.id)).all()
    facts = order_facts(orders)
    cal = calendar()
    findings: list[rules.Finding] = []
    findings += rules.split_suspected(facts)
    findings += rules.supplier_concentration(facts, setting("SUPERVISION_CONCENTRATION_SHARE"),
                                             setting("SUPERVISION_CONCENTRATION_MIN_ORDERS"))
    markup = setting("SUPERVISION_PRICE_MARKUP")
    ratio = setting("SUPERVISION_NEAR_THRESHOLD_RATIO")
    delivery, acceptance = setting("SUPERVISION_DELIVERY_WORKDAYS"), setting("SUPERVISION_ACCEPTANCE_WORKDAYS")
    for f in facts:
        findings += rules.price_findings(f, markup)
        findings += rules.near_threshold(f, ratio)
        findings += rules.late_findings(f, now, cal, delivery, acceptance)
    declarations = db.session.execute(
        select(SmeDeclaration, Organisation.name).join(Organisation, Organisation.id == SmeDeclaration.supplier_id)
        .where(SmeDeclaration.is_current.is_(True))).all()
    findings += rules.sme_mismatch(
        rules.DeclarationFact(id=d.id, supplier_id=d.supplier_id, supplier_name=name, industry=d.industry,
                              staff=d.staff, revenue=d.revenue, size=d.size, declared_size=d.declared_size)
        for d, name in declarations)
    return findings, len(facts)


def scan_risks(now: dt.datetime | None = None) -> dict:
    """The nightly scan: raise a flag for every new finding; a rerun creates no duplicates.

    A finding is new unless a flag with its dedup key exists (open or cleared: a cleared flag
    is not raised again), or checkout already raised a flag of the same kind on the order.
    """
    findings, checked = find_risks(now)
    existing = existing_keys([f.key for f in findings])
    order_ids = sorted({f.order_id for f in findings if f.order_id})
    checkout: set[tuple[str, int]] = set()
    for chunk in _chunks(order_ids, 500):
        checkout.update(db.session.execute(select(RiskFlag.kind, RiskFlag.order_id)
                                           .where(RiskFlag.order_id.in_(chunk), RiskFlag.dedup_key.is_(None))).all())
    new: list[rules.Finding] = []
    for f in findings:
        if f.key in existing or (f.order_id and (f.kind, f.order_id) in checkout):
            continue
        existing.add(f.key)
        new.append(f)
    created: dict[str, int] = defaultdict(int)
    try:
        with db.session.begin_nested():  # all at once (one flush, one audit append) ...
            db.session.add_all([_flag(f) for f in new])
        for f in new:
            created[f.kind] += 1
    except IntegrityError:  # ... unless a concurrent scan raised some first: then one by one
        for f in new:
            try:
                with db.session.begin_nested():
                    db.session.add(_flag(f))
            except IntegrityError:
                continue
            created[f.kind] += 1
    return {"orders_checked": checked, "findings": len(findings), "created": sum(created.values()),
            "created_by_kind": dict(created)}


def existing_keys(keys: list[str]) -> set[str]:
    """Dedup keys among ``keys`` that already have a flag (open or cleared)."""
    found: set[str] = set()
    for chunk in _chunks(keys, 500):
        found.update(db.session.scalars(select(RiskFlag.dedup_key).where(RiskFlag.dedup_key.in_(chunk))))
    return found


def _flag(f: rules.Finding) -> RiskFlag:
    return RiskFlag(order_id=f.order_id, unit_id=f.unit_id, supplier_id=f.supplier_id, kind=f.kind,
                    message=f.message[:1000], figures=f.figures, status="open", dedup_key=f.key, source="scan")


# =========================================================================== flags

def get_flag(flag_id: Any) -> RiskFlag:
    flag = db.session.get(RiskFlag, _int(flag_id))
    if flag is None:
        raise NotFound("风险预警", code="flag_not_found")
    return flag


def clear_flag(flag_id: Any, reason: Any) -> RiskFlag:
    """核销: an auditor clears a flag, giving the reason (e.g. budget adjusted, approval seen)."""
    require("supervision.act")
    flag = get_flag(flag_id)
    problems: list[Problem] = []
    reason = parse_text(reason, "reason", "核销理由", problems, max_length=1000)
    if problems:
        raise ServiceError(problems)
    if flag.status != "open":
        raise ServiceError(Problem("flag_not_open", f"该预警已于{_local(flag.cleared_at)}核销，不能重复核销",
                                   rule="supervision.clear_flag"), status=409)
    flag.status = "cleared"
    flag.cleared_by_id = current_user.id
    flag.cleared_reason = reason
    flag.cleared_at = utcnow()
    audit.record("risk_flag.clear", "risk_flag", flag.id, before={"status": "open"},
                 after={"status": "cleared", "kind": flag.kind, "order_id": flag.order_id}, note=reason)
    db.session.flush()
    return flag


# =========================================================================== queries (问询)

def get_query(query_id: Any) -> Query:
    q = db.session.get(Query, _int(query_id))
    if q is None:
        raise NotFound("问询", code="query_not_found")
    require("query.view", q)
    return q


def get_order(order_id: Any) -> Order:
    order = db.session.get(Order, _int(order_id))
    if order is None:
        raise NotFound("订单", code="order_not_found")
    return order


def ask_query(order_id: Any, party: Any, question: Any, flag_id: Any = None) -> Query:
    """Send a question about an order to its buyer unit or its supplier."""
    require("supervision.act")
    order = get_order(order_id)
    problems: list[Problem] = []
    party = parse_choice(party, "party", "问询对象", QUERY_PARTIES, problems)
    question = parse_text(question, "question", "问询内容", problems, max_length=2000)
    flag = None
    if flag_id not in (None, ""):
        flag = db.session.get(RiskFlag, _int(flag_id))
        if flag is None or (flag.order_id is not None and flag.order_id != order.id):
            problems.append(Problem("flag_not_of_order", "所选预警不属于该订单", field="flag_id"))
    if problems:
        raise ServiceError(problems)
    org_id = order.buyer_unit_id if party == "buyer" else order.supplier_id
    q = Query(order_id=order.id, addressed_party=party, addressed_org_id=org_id, flag_id=flag.id if flag else None,
              question=question, asked_by_id=current_user.id, asked_at=utcnow(), status="open")
    db.session.add(q)
    db.session.flush()
    audit.record("query.ask", "order", order.id, after={"query_id": q.id, "addressed_org_id": org_id,
                                                        "party": party}, note=question)
    _notify(f"supervision-query:{q.id}:asked", org_id, order.id, "supervision_query",
            f"财政局就订单{order.number}向贵单位问询", question)
    return q


def answer_query(query_id: Any, answer: Any) -> Query:
    q = get_query(query_id)
    require("query.answer", q)
    problems: list[Problem] = []
    answer = parse_text(answer, "answer", "答复内容", problems, max_length=4000)
    if problems:
        raise ServiceError(problems)
    if q.status != "open":
        raise ServiceError(Problem("query_not_open", f"该问询状态为“{q.status_label}”，不能再答复",
                                   rule="supervision.query"), status=409)
    q.answer = answer
    q.answered_by_id = current_user.id
    q.answered_at = utcnow()
    q.status = "answered"
    audit.record("query.answer", "supervision_query", q.id, before={"status": "open"},
                 after={"status": "answered"}, note=answer)
    asker = q.asked_by
    if asker is not None:
        _notify(f"supervision-query:{q.id}:answered", asker.organisation_id, q.order_id, "supervision_query_answer",
                f"订单{q.order.number}的问询已答复", answer)
    db.session.flush()
    return q


def close_query(query_id: Any, note: Any = None) -> Query:
    require("supervision.act")
    q = get_query(query_id)
    problems: list[Problem] = []
    note = parse_text(note, "note", "办结意见", problems, required=False, max_length=1000)
    if problems:
        raise ServiceError(problems)
    if q.status == "closed":
        raise ServiceError(Problem("query_closed", "该问询已办结", rule="supervision.query"), status=409)
    before = q.status
    q.status = "closed"
    q.closed_by_id = current_user.id
    q.closed_at = utcnow()
    q.close_note = note
    audit.record("query.close", "supervision_query", q.id, before={"status": before}, after={"status": "closed"},
                 note=note)
    db.session.flush()
    return q


def queries_for(user, status: str | None = None, limit: int | None = None) -> list[Query]:
    """Queries the user may see: all for auditors/operators, those addressed to their unit else."""
    q = select(Query).options(selectinload(Query.order)).order_by(Query.status != "open", Query.id.desc())
    if user.role not in ("auditor", "operator"):
        q = q.where(Query.addressed_org_id == user.organisation_id)
    if status:
        q = q.where(Query.status == status)
    if limit:
        q = q.limit(limit)
    return list(db.session.scalars(q))


def _notify(key: str, org_id: int, order_id: int | None, kind: str, title: str, body: str | None) -> None:
    if db.session.scalar(select(Notification.id).where(Notification.dedup_key == key)) is None:
        db.session.add(Notification(dedup_key=key[:120], recipient_org_id=org_id, order_id=order_id, kind=kind,
                                    title=title[:200], body=(body or "")[:2000]))


# =========================================================================== enforcement

def _reason(raw, problems, label="处理理由") -> str | None:
    return parse_text(raw, "reason", label, problems, max_length=500)


def _supplier_profile(supplier_id: Any) -> tuple[Organisation, SupplierProfile]:
    org = db.session.get(Organisation, _int(supplier_id))
    if org is None or org.kind != ORG_SUPPLIER:
        raise NotFound("供应商", code="supplier_not_found")
    profile = db.session.get(SupplierProfile, org.id)
    if profile is None:
        profile = SupplierProfile(organisation_id=org.id, status="active", pavilion_status="none")
        db.session.add(profile)
        db.session.flush()
    return org, profile


def suspend_supplier(supplier_id: Any, reason: Any, order_id: Any = None) -> EnforcementAction:
    """暂停交易: the supplier's products stop being sellable; the reason is published."""
    require("supplier.suspend")
    org, profile = _supplier_profile(supplier_id)
    problems: list[Problem] = []
    reason = _reason(reason, problems)
    if problems:
        raise ServiceError(problems)
    if profile.status == "suspended":
        raise ServiceError(Problem("supplier_already_suspended", f"{org.name}已处于暂停交易状态",
                                   rule="supervision.suspend"), status=409)
    before = profile.status
    profile.status = "suspended"
    profile.status_reason = reason
    _mark_products_dirty(org.id)
    action = _action("supplier_suspend", org.id, None, reason, before, order_id)
    audit.record("supplier.suspend", "supplier_profile", org.id, before={"status": before},
                 after={"status": "suspended"}, note=reason)
    return action


def reinstate_supplier(supplier_id: Any, reason: Any) -> EnforcementAction:
    require("supplier.suspend")
    org, profile = _supplier_profile(supplier_id)
    problems: list[Problem] = []
    reason = _reason(reason, problems, "恢复理由")
    if problems:
        raise ServiceError(problems)
    if profile.status != "suspended":
        raise ServiceError(Problem("supplier_not_suspended", f"{org.name}未被暂停交易，无需恢复",
                                   rule="supervision.suspend"), status=409)
    profile.status = "active"
    profile.status_reason = None
    _mark_products_dirty(org.id)
    action = _action("supplier_reinstate", org.id, None, reason, "suspended", None)
    audit.record("supplier.reinstate", "supplier_profile", org.id, before={"status": "suspended"},
                 after={"status": "active"}, note=reason)
    return action


def take_down_product(product_id: Any, reason: Any, order_id: Any = None) -> EnforcementAction:
    """监管下架: the product is taken down with a published reason."""
    require("product.takedown")
    product = _product(product_id)
    problems: list[Problem] = []
    reason = _reason(reason, problems, "下架理由")
    if problems:
        raise ServiceError(problems)
    if product.status == "taken_down":
        raise ServiceError(Problem("product_already_taken_down", f"商品“{product.title}”已被监管下架",
                                   rule="supervision.takedown"), status=409)
    before = product.status
    product.status = "taken_down"
    product.status_reason = reason
    product.search_dirty = True
    action = _action("product_takedown", product.supplier_id, product.id, reason, before, order_id)
    audit.record("product.takedown", "product", product.id, before={"status": before},
                 after={"status": "taken_down"}, note=reason)
    return action


def restore_product(product_id: Any, reason: Any) -> EnforcementAction:
    """Undo a take-down: the product returns to the status it had before."""
    require("product.takedown")
    product = _product(product_id)
    problems: list[Problem] = []
    reason = _reason(reason, problems, "撤销理由")
    if problems:
        raise ServiceError(problems)
    if product.status != "taken_down":
        raise ServiceError(Problem("product_not_taken_down", f"商品“{product.title}”未被监管下架",
                                   rule="supervision.takedown"), status=409)
    last = db.session.scalars(select(EnforcementAction).where(EnforcementAction.product_id == product.id,
                                                              EnforcementAction.kind == "product_takedown")
                              .order_by(EnforcementAction.id.desc())).first()
    back = last.previous_status if last and last.previous_status in PRODUCT_STATUSES else "delisted"
    if back == "taken_down":
        back = "delisted"
    product.status = back
    product.status_reason = None
    product.search_dirty = True
    action = _action("product_restore", product.supplier_id, product.id, reason, "taken_down", None)
    audit.record("product.restore", "product", product.id, before={"status": "taken_down"},
                 after={"status": back}, note=reason)
    return action


def _product(product_id: Any) -> Product:
    product = db.session.get(Product, _int(product_id))
    if product is None:
        raise NotFound("商品", code="product_not_found")
    return product


def _mark_products_dirty(supplier_id: int) -> None:
    # sellability follows the supplier status (catalog.queries.sellable_condition); the search
    # index re-reads the supplier's products (search_dirty is not an audited column)
    db.session.execute(update(Product).where(Product.supplier_id == supplier_id).values(search_dirty=True)
                       .execution_options(synchronize_session=False))


def _action(kind, supplier_id, product_id, reason, previous, order_id) -> EnforcementAction:
    order = None
    if order_id not in (None, ""):
        order = db.session.get(Order, _int(order_id))
    action = EnforcementAction(kind=kind, supplier_id=supplier_id, product_id=product_id,
                               order_id=order.id if order else None, reason=reason, previous_status=previous,
                               acted_by_id=current_user.id, acted_at=utcnow())
    db.session.add(action)
    db.session.flush()
    return action


# =========================================================================== partner banks

def active_banks() -> list[PartnerBank]:
    return list(db.session.scalars(select(PartnerBank).where(PartnerBank.active.is_(True))
                                   .order_by(PartnerBank.name)))


def bank_payload(bank: PartnerBank) -> dict:
    """A partner bank as an API field (e.g. on an order)."""
    return {"id": bank.id, "name": bank.name, "contact_name": bank.contact_name, "phone": bank.phone,
            "products": bank.products}


def partner_banks_payload() -> list[dict]:
    return [bank_payload(b) for b in active_banks()]


def _clean_bank(raw: dict, bank_id: int | None = None) -> dict:
    problems: list[Problem] = []
    data = {
        "name": parse_text(raw.get("name"), "name", "银行名称", problems, max_length=200),
        "contact_name": parse_text(raw.get("contact_name"), "contact_name", "联系人", problems, max_length=50),
        "phone": parse_text(raw.get("phone"), "phone", "联系电话", problems, max_length=30),
        "products": parse_text(raw.get("products"), "products", "融资产品说明", problems, required=False,
                               max_length=2000),
        "active": _bool(raw.get("active", True)),
    }
    phone = data["phone"]
    if phone and not all(c.isdigit() or c in "-+() 转" for c in phone):
        problems.append(Problem("invalid_phone", f"联系电话“{phone}”只能包含数字、空格和 - + ( )", field="phone"))
    if data["name"]:
        other = db.session.scalar(select(PartnerBank.id).where(PartnerBank.name == data["name"]))
        if other is not None and other != bank_id:
            problems.append(Problem("bank_name_taken", f"合作银行“{data['name']}”已存在", field="name"))
    if problems:
        raise ServiceError(problems)
    return data


def create_bank(raw: dict) -> PartnerBank:
    require("bank.manage")
    bank = PartnerBank(**_clean_bank(raw))
    db.session.add(bank)
    db.session.flush()
    return bank


def update_bank(bank_id: Any, raw: dict) -> PartnerBank:
    require("bank.manage")
    bank = get_bank(bank_id)
    for k, v in _clean_bank(raw, bank.id).items():
        setattr(bank, k, v)
    db.session.flush()
    return bank


def get_bank(bank_id: Any) -> PartnerBank:
    bank = db.session.get(PartnerBank, _int(bank_id))
    if bank is None:
        raise NotFound("合作银行", code="bank_not_found")
    return bank


# =========================================================================== loans (政采贷)

def loan_committed(order_id: int, exclude_id: int | None = None) -> Decimal:
    """Amount already asked or granted against an order: pending applications and approvals."""
    rows = db.session.scalars(select(LoanApplication).where(LoanApplication.order_id == order_id,
                                                            LoanApplication.status.in_(("applied", "approved"))))
    total = Decimal(0)
    for loan in rows:
        if loan.id == exclude_id:
            continue
        total += loan.decided_amount if loan.status == "approved" and loan.decided_amount is not None else loan.amount
    return total


def apply_loan(order_id: Any, raw: dict) -> LoanApplication:
    """A supplier applies to a partner bank for a loan against one of its confirmed orders."""
    order = get_order(order_id)
    require("loan.apply", order)
    # lock the order so that two applications cannot together exceed its total
    db.session.execute(select(Order.id).where(Order.id == order.id).with_for_update())
    problems: list[Problem] = []
    if order.status not in LOANABLE_ORDER_STATUSES:
        problems.append(Problem(
            "order_not_loanable",
            f"订单{order.number}状态为“{order.status_label}”：只有供应商已确认且未取消的订单才能申请政采贷",
            rule="loan.confirmed_order", figures={"status": order.status}))
    bank = None
    bank_id = raw.get("bank_id")
    if bank_id in (None, ""):
        problems.append(Problem("required", "请选择合作银行", field="bank_id"))
    else:
        bank = db.session.get(PartnerBank, _int(bank_id, default=0))
        if bank is None or not bank.active:
            problems.append(Problem("bank_not_available", "所选银行不是有效的合作银行", field="bank_id"))
    amount = parse_money(raw.get("amount"), "amount", "申请金额", problems, positive=True)
    note = parse_text(raw.get("applicant_note"), "applicant_note", "申请说明", problems, required=False,
                      max_length=500)
    if amount is not None:
        committed = loan_committed(order.id)
        room = order.total - committed
        if amount > room:
            problems.append(Problem(
                "loan_exceeds_order",
                f"申请金额{fmt_money(amount)}超过可申请额度{fmt_money(room)}：贷款金额不得超过订单金额"
                f"{fmt_money(order.total)}（已申请或已批准{fmt_money(committed)}）",
                rule="loan.amount_within_order", field="amount",
                figures={"amount": amount, "order_total": order.total, "committed": committed, "available": room}))
    if problems:
        raise ServiceError(problems)
    loan = LoanApplication(order_id=order.id, supplier_id=order.supplier_id, bank_id=bank.id, amount=amount,
                           applicant_note=note, status="applied", applied_by_id=current_user.id, applied_at=utcnow())
    db.session.add(loan)
    db.session.flush()
    audit.record("loan.apply", "loan_application", loan.id,
                 after={"order_id": order.id, "bank_id": bank.id, "amount": amount}, note=note)
    return loan


LOAN_DECISIONS = {"approved": "批准", "rejected": "不批准"}


def decide_loan(loan_id: Any, raw: dict) -> LoanApplication:
    """Record the bank's decision (entered by an operator on the bank's behalf)."""
    require("bank.manage")
    loan = get_loan(loan_id)
    problems: list[Problem] = []
    decision = parse_choice(raw.get("decision"), "decision", "审批结果", LOAN_DECISIONS, problems)
    note = parse_text(raw.get("note"), "note", "审批意见", problems, required=decision == "rejected",
                      max_length=500)
    decided = None
    if decision == "approved":
        decided = parse_money(raw.get("decided_amount"), "decided_amount", "批准金额", problems, positive=True)
        if decided is not None and decided > loan.amount:
            problems.append(Problem(
                "decided_above_applied",
                f"批准金额{fmt_money(decided)}超过申请金额{fmt_money(loan.amount)}",
                rule="loan.amount_within_order", field="decided_amount",
                figures={"decided_amount": decided, "amount": loan.amount}))
    if problems:
        raise ServiceError(problems)
    if loan.status != "applied":
        raise ServiceError(Problem("loan_already_decided", f"该申请已{loan.status_label}，不能重复审批",
                                   rule="loan.decide"), status=409)
    loan.status = decision
    loan.decided_amount = decided
    loan.note = note
    loan.decided_at = utcnow()
    loan.decided_by_id = current_user.id
    audit.record("loan.decide", "loan_application", loan.id, before={"status": "applied"},
                 after={"status": decision, "decided_amount": decided}, note=note)
    _notify(f"loan:{loan.id}:decided", loan.supplier_id, loan.order_id, "loan_decision",
            f"政采贷申请（订单{loan.order.number}）{LOAN_DECISIONS[decision]}",
            f"{loan.bank.name}：{LOAN_DECISIONS[decision]}" + (f"，金额{fmt_money(decided)}" if decided else "")
            + (f"。{note}" if note else ""))
    db.session.flush()
    return loan


def get_loan(loan_id: Any) -> LoanApplication:
    loan = db.session.get(LoanApplication, _int(loan_id))
    if loan is None:
        raise NotFound("贷款申请", code="loan_not_found")
    require("loan.view", loan)
    return loan


def loans_for(user, status: str | None = None) -> list[LoanApplication]:
    q = select(LoanApplication).options(selectinload(LoanApplication.order), selectinload(LoanApplication.bank),
                                        selectinload(LoanApplication.supplier)).order_by(LoanApplication.id.desc())
    if user.role == "supplier":
        q = q.where(LoanApplication.supplier_id == user.organisation_id)
    elif user.role not in ("operator", "auditor"):
        return []
    if status:
        q = q.where(LoanApplication.status == status)
    return list(db.session.scalars(q))


# =========================================================================== helpers

def _int(raw: Any, default: int = -1) -> int:
    """An id from user input; anything else (or out of the database's integer range) is ``default``."""
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return default
    return value if -2**31 < value < 2**31 else default


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() in ("1", "true", "yes", "on", "y")


def _local(ts) -> str:
    return as_utc(ts).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if ts else "—"
