"""二次竞价 (mini-competition) and 顺序轮候 (rotation): the second stage of a framework agreement.

Mini-competition (财政部令第110号: all entrants able to meet the need are invited, the agreement
price is the ceiling, a reasonable response time, the lowest price wins):

1. a buyer publishes a requirement — 品目, quantity, specifications, budget line and budget
   amount (采购预算, the highest total accepted), a deadline at least
   ``COMPETITION_RESPONSE_WORKDAYS`` working days ahead (default 1; holidays from
   ``orders.workdays``) and at most ``COMPETITION_MAX_DAYS`` calendar days (default 30);
   every admitted entrant of an agreement valid today that covers the 品目 and has an
   agreement price in it is invited (and notified);
2. each invited supplier bids a unit price for one of its listed agreement products of the
   品目, at or below that product's agreement price (refused above, with both figures) and
   with a total within the budget; a bid may be revised until the deadline; bids stay sealed
   (only the bidder sees its own) until evaluation;
3. after the deadline the buyer (or the task ``orders.close_competitions``) evaluates: small
   and micro firms get the policy's SME price deduction (``PolicyVersion.sme_price_deduction``,
   default 10%; for goods the declared manufacturer must be small or micro too) — evaluated
   price = bid × (1 − deduction); the lowest evaluated price wins, ties go to the earlier bid;
4. the order is placed from the award through ``orders.services.place_order`` (status
   submitted, the line at the bid price, ``competition_id`` set, the budget reserved). If the
   winner cannot deliver (product no longer sellable, stock, agreement no longer valid) the
   next-ranked bid is awarded (依次递补); the result is published with every bid's evaluated
   price on a public page.

Rotation (services agreements with ``second_stage == "rotation"``): the published requirement
goes to the next entrant by ``rotation_position``; each entrant gets one award per round and
the round starts again when all have had one. An entrant that cannot take its turn (no listed
agreement product of the 品目, supplier suspended, stock) is passed over for the round (轮空),
recorded as ``skipped``; every turn is a :class:`RotationAward` row.
"""
from __future__ import annotations

import datetime as dt
import logging
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from catalog import pinmu
from catalog.models import Agreement, AgreementCategory, AgreementPrice, AgreementSupplier, Product
from catalog.policy import policy_in_force, snapshot as policy_snapshot
from catalog.queries import sellable_condition
from mall import audit
from mall.accounts.models import Organisation, User
from mall.authz import require
from mall.db_setup import is_postgres
from mall.extensions import db
from mall.problems import Forbidden, NotFound, Problem, ServiceError
from mall.routing import MAX_ID
from mall.timeutil import LOCAL_TZ, as_utc, utcnow
from suppliers.models import SIZE_LABELS, SmeDeclaration, SupplierProfile

from . import notifications, workdays
from .payments import invalid_card_token
from .models import (BudgetLine, Competition, CompetitionBid, CompetitionInvite, Order, RotationAward)

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
MAX_QUANTITY = 100000
DEDUCTION_SIZES = ("small", "micro")  # 财库〔2020〕46号: the deduction is for small and micro firms
# problems of the winner's side: the award passes to the next-ranked bid (依次递补)
SUPPLIER_SIDE = {"product_not_sellable", "stock_insufficient", "agreement_not_valid", "supplier_not_admitted",
                 "supplier_suspended_in_agreement", "price_above_agreement", "agreement_missing",
                 "zone_listing_invalid", "agreement_category_not_covered", "product_not_found"}
KIND_LABELS = {"goods": "货物", "services": "服务", "works": "工程"}


def _yuan(value) -> str:
    return f"¥{Decimal(value).quantize(CENT):,.2f}"


def _local(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return as_utc(value).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _p(code, message, field=None, rule="competition", **figures) -> Problem:
    return Problem(code, message, rule=rule, field=field, figures=figures)


# --------------------------------------------------------------------------- parsing

def parse_money(raw, name: str, field: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError(_p("invalid_amount", f"{name}“{str(raw)[:20]}”不是有效金额", field)) from None
    if not value.is_finite() or value <= 0 or value != value.quantize(CENT) or value > Decimal("999999999999.99"):
        raise ServiceError(_p("invalid_amount", f"{name}须为大于0、最多两位小数的金额（收到：{str(raw)[:20]}）", field))
    return value


def parse_int(raw, name: str, field: str, low: int = 1, high: int = MAX_QUANTITY) -> int:
    if isinstance(raw, bool):
        raise ServiceError(_p("invalid_input", f"{name}须为整数", field))
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise ServiceError(_p("invalid_input", f"{name}“{str(raw)[:20]}”须为整数", field)) from None
    if not low <= value <= high:
        raise ServiceError(_p("invalid_input", f"{name}须在{low}至{high}之间（收到：{value}）", field))
    return value


def parse_deadline(raw) -> dt.datetime:
    """ISO 8601 date-time; without a zone it is local time (Asia/Shanghai)."""
    if isinstance(raw, dt.datetime):
        value = raw
    elif raw is None or not str(raw).strip():
        raise ServiceError(_p("deadline_required", "请填写报价截止时间（YYYY-MM-DD HH:MM）", "deadline"))
    else:
        try:
            value = dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
        except (TypeError, ValueError):
            raise ServiceError(_p("invalid_deadline", f"截止时间“{str(raw)[:30]}”格式错误，应为 YYYY-MM-DD HH:MM",
                                  "deadline")) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(dt.timezone.utc)


def earliest_deadline(now: dt.datetime) -> dt.datetime:
    """The same local time on the n-th working day after today (n = COMPETITION_RESPONSE_WORKDAYS)."""
    n = int(current_app.config.get("COMPETITION_RESPONSE_WORKDAYS", 1))
    local = as_utc(now).astimezone(LOCAL_TZ)
    day = workdays.calendar().add_workdays(local.date(), n)
    return dt.datetime.combine(day, local.time().replace(microsecond=0), tzinfo=LOCAL_TZ).astimezone(dt.timezone.utc)


# --------------------------------------------------------------------------- who takes part

def agreements_for(category_code: str, day: dt.date) -> list[Agreement]:
    """Active agreements valid on ``day`` covering the 品目 (itself or an ancestor)."""
    path = pinmu.path_of(category_code) or [category_code]
    return list(db.session.scalars(
        select(Agreement).join(AgreementCategory, AgreementCategory.agreement_id == Agreement.id)
        .where(AgreementCategory.category_code.in_(path), Agreement.status == "active",
               Agreement.term_start <= day, Agreement.term_end >= day)
        .order_by(Agreement.id).distinct()))


def _active_entrants(agreement: Agreement) -> list[AgreementSupplier]:
    return list(db.session.scalars(
        select(AgreementSupplier)
        .join(SupplierProfile, SupplierProfile.organisation_id == AgreementSupplier.supplier_id)
        .where(AgreementSupplier.agreement_id == agreement.id, AgreementSupplier.status == "admitted",
               SupplierProfile.status == "active")
        .order_by(AgreementSupplier.rotation_position.is_(None), AgreementSupplier.rotation_position,
                  AgreementSupplier.supplier_id)))


def invitees(category_code: str, agreements: list[Agreement]) -> list[tuple[int, int]]:
    """(supplier id, agreement id): admitted, active entrants with an agreement price in the 品目."""
    codes = pinmu.descendants(category_code) or [category_code]
    seen: dict[int, int] = {}
    for a in agreements:
        priced = set(db.session.scalars(select(AgreementPrice.supplier_id).where(
            AgreementPrice.agreement_id == a.id, AgreementPrice.category_code.in_(codes))))
        for entrant in _active_entrants(a):
            if entrant.supplier_id in priced and entrant.supplier_id not in seen:
                seen[entrant.supplier_id] = a.id
    return list(seen.items())


def bid_products(competition: Competition, supplier_id: int) -> list[Product]:
    """The supplier's sellable agreement products of the 品目, under agreements it was invited for."""
    agreement_ids = [i.agreement_id for i in competition.invites if i.supplier_id == supplier_id]
    if competition.method == "rotation" and competition.agreement_id:
        agreement_ids = [competition.agreement_id]
    if not agreement_ids:
        return []
    codes = pinmu.descendants(competition.category_code) or [competition.category_code]
    return list(db.session.scalars(
        select(Product).join(AgreementPrice, AgreementPrice.id == Product.agreement_price_id)
        .where(Product.supplier_id == supplier_id, Product.category_code.in_(codes),
               AgreementPrice.agreement_id.in_(agreement_ids), AgreementPrice.supplier_id == supplier_id,
               sellable_condition())
        .order_by(Product.price, Product.id)))


def sme_basis(supplier_id: int, category_code: str) -> tuple[str | None, bool, str]:
    """(size, deduction applies, explanation). Small and micro firms; for goods the declared
    manufacturer must be small or micro as well (财库〔2020〕46号: the goods' maker counts)."""
    prof = db.session.get(SupplierProfile, supplier_id)
    size = prof.sme_size if prof is not None else None
    label = SIZE_LABELS.get(size or "", "未声明")
    if size not in DEDUCTION_SIZES:
        return size, False, f"供应商为{label}，不享受价格扣除"
    node = pinmu.tree().get(category_code)
    if node is not None and node.kind == "goods":
        decl = db.session.scalar(select(SmeDeclaration).where(SmeDeclaration.supplier_id == supplier_id,
                                                              SmeDeclaration.is_current.is_(True))
                                 .order_by(SmeDeclaration.id.desc()).limit(1))
        if decl is not None and decl.manufacturer_size and decl.manufacturer_size not in DEDUCTION_SIZES:
            maker = SIZE_LABELS.get(decl.manufacturer_size, decl.manufacturer_size)
            return size, False, f"供应商为{label}，但货物制造商（{decl.manufacturer_name or '—'}）为{maker}，不享受价格扣除"
    return size, True, f"{label}，享受价格扣除"


def evaluated_price(unit_price: Decimal, rate: Decimal) -> Decimal:
    return Decimal(unit_price) * (Decimal(1) - Decimal(rate))


# --------------------------------------------------------------------------- numbers, locks

def _next_id(table: str, model) -> int:
    session = db.session
    if is_postgres(session):
        return int(session.execute(text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")).scalar())
    return int(session.scalar(select(func.coalesce(func.max(model.id), 0))) or 0) + 1


def _write_lock(model, row_id: int, column: str) -> None:
    """Serialise on one row: FOR NO KEY UPDATE on PostgreSQL; on SQLite a no-op write (``column`` set to
    itself) takes the database's single write lock."""
    t = model.__table__
    if is_postgres(db.session):
        db.session.execute(select(t.c.id).where(t.c.id == row_id).with_for_update(key_share=True))
    else:
        db.session.execute(update(t).where(t.c.id == row_id).values({t.c[column]: t.c[column]}))


# --------------------------------------------------------------------------- publish

def create_competition(user, data: dict, now: dt.datetime | None = None) -> Competition:
    """Publish a requirement: a mini-competition to every entrant, or a rotation award at once."""
    require("competition.create", user=user)
    now = now or utcnow()
    day = as_utc(now).astimezone(LOCAL_TZ).date()
    problems: list[Problem] = []

    code = str(data.get("category_code") or "").strip().upper()
    node = pinmu.tree().get(code)
    if node is None:
        raise ServiceError(_p("unknown_category", f"品目编码“{code[:20]}”不在政府采购品目分类目录中", "category_code"))
    quantity = parse_int(data.get("quantity"), "数量", "quantity")
    specs = str(data.get("specs") or "").strip()
    if not specs:
        problems.append(_p("specs_required", "请填写技术规格和服务要求", "specs"))
    elif len(specs) > 4000:
        problems.append(_p("specs_too_long", f"技术规格不能超过4000字（当前{len(specs)}字）", "specs"))
    title = str(data.get("title") or "").strip() or f"{node.name}采购"
    if len(title) > 200:
        problems.append(_p("title_too_long", "标题不能超过200字", "title"))
    budget_amount = parse_money(data.get("budget_amount"), "采购预算", "budget_amount")
    payment_method = str(data.get("payment_method") or "treasury")
    if payment_method not in ("treasury", "card"):
        problems.append(_p("invalid_payment_method", "支付方式须为公务卡（card）或国库集中支付（treasury）",
                           "payment_method"))
    card = (str(data.get("card_payment_method") or "").strip() or None) if payment_method == "card" else None
    bad_card = invalid_card_token(card)
    if bad_card is not None:
        problems.append(bad_card)
    delivery_address = (str(data.get("delivery_address") or "").strip() or None)
    if delivery_address and len(delivery_address) > 300:
        problems.append(_p("address_too_long", "交付地点不能超过300字", "delivery_address"))

    budget_line_id = parse_int(data.get("budget_line_id"), "预算指标编号", "budget_line_id", 1, MAX_ID)
    budget = db.session.get(BudgetLine, budget_line_id)
    if budget is None or budget.unit_id != user.organisation_id:
        raise ServiceError(_p("budget_line_not_found", "预算指标不存在或不属于本单位", "budget_line_id", rule="budget"))
    if budget.year != day.year:
        problems.append(_p("budget_year_mismatch", f"预算指标{budget.project_code}属于{budget.year}年度，"
                           f"不能用于{day.year}年的采购", "budget_line_id", rule="budget",
                           budget_year=budget.year, year=day.year))
    elif budget_amount > budget.available:
        problems.append(_p("budget_insufficient",
                           f"【预算指标】采购预算{_yuan(budget_amount)}超过预算指标{budget.project_code}可用余额"
                           f"{_yuan(budget.available)}", "budget_amount", rule="budget",
                           budget_amount=budget_amount, available=budget.available))

    policy = policy_in_force(day)
    if policy is None:
        raise ServiceError(_p("no_policy_in_force", f"{day.isoformat()}没有生效的集中采购目录及限额标准，暂不能发起竞价",
                              rule="policy"))
    kind = node.kind if node.kind in ("goods", "services", "works") else "goods"
    threshold = policy.threshold(kind)
    if budget_amount >= threshold:
        problems.append(_p("formal_procurement_required",
                           f"【分散采购限额标准】采购预算{_yuan(budget_amount)}达到{KIND_LABELS[kind]}分散采购限额标准"
                           f"{_yuan(threshold)}（{policy.name}），须采用法定采购方式，不能在网上商城竞价",
                           "budget_amount", rule="direct_purchase_limit", budget_amount=budget_amount,
                           threshold=threshold, policy=policy.name))

    agreements = agreements_for(code, day)
    rotation_agreements = [a for a in agreements if a.second_stage == "rotation"]
    competing = [a for a in agreements if a.second_stage != "rotation"]
    method = str(data.get("method") or "auto")
    if method == "auto":
        method = "competition" if competing or not rotation_agreements else "rotation"
    if method not in ("competition", "rotation"):
        raise ServiceError(_p("invalid_method", "采购方式须为二次竞价（competition）或顺序轮候（rotation）", "method"))

    agreement = None
    pairs: list[tuple[int, int]] = []
    deadline = now
    if method == "competition":
        pairs = invitees(code, competing)
        if not pairs:
            problems.append(_p("no_entrants",
                               f"品目{node.name}（{code}）在{day.isoformat()}没有有效框架协议的入围供应商"
                               "（需有该品目协议价），不能发起二次竞价", "category_code", category_code=code))
        deadline = parse_deadline(data.get("deadline"))
        earliest = earliest_deadline(now)
        latest = as_utc(now) + dt.timedelta(days=int(current_app.config.get("COMPETITION_MAX_DAYS", 30)))
        n = int(current_app.config.get("COMPETITION_RESPONSE_WORKDAYS", 1))
        if deadline < earliest:
            problems.append(_p("deadline_too_soon",
                               f"报价截止时间{_local(deadline)}过早：须给供应商至少{n}个工作日的响应时间，"
                               f"最早为{_local(earliest)}", "deadline", deadline=_local(deadline),
                               earliest=_local(earliest), workdays=n))
        elif deadline > latest:
            problems.append(_p("deadline_too_late", f"报价截止时间{_local(deadline)}过晚，最迟为{_local(latest)}",
                               "deadline", deadline=_local(deadline), latest=_local(latest)))
    else:
        wanted = data.get("agreement_id")
        if wanted not in (None, ""):
            wanted = parse_int(wanted, "框架协议编号", "agreement_id", 1, MAX_ID)
            agreement = next((a for a in rotation_agreements if a.id == wanted), None)
            if agreement is None:
                problems.append(_p("rotation_agreement_invalid", "所选框架协议不是今日有效、覆盖该品目的顺序轮候协议",
                                   "agreement_id"))
        elif len(rotation_agreements) == 1:
            agreement = rotation_agreements[0]
        elif rotation_agreements:
            problems.append(_p("rotation_agreement_ambiguous", "该品目有多个顺序轮候协议，请选择其一："
                               + "、".join(a.number for a in rotation_agreements), "agreement_id"))
        else:
            problems.append(_p("no_rotation_agreement",
                               f"品目{node.name}（{code}）没有今日有效的顺序轮候框架协议", "category_code"))
    if problems:
        raise ServiceError(problems)

    _write_lock(Organisation, user.organisation_id, "name")  # serialises numbering (SQLite) and the unit's publishing
    comp_id = _next_id("competition", Competition)
    prefix = "JJ" if method == "competition" else "LH"
    comp = Competition(id=comp_id, number=f"{prefix}{day:%Y%m%d}{comp_id:06d}", method=method,
                       buyer_unit_id=user.organisation_id, buyer_user_id=user.id, category_code=code,
                       agreement_id=agreement.id if agreement else None, title=title, quantity=quantity,
                       specs=specs, budget_line_id=budget.id, budget_amount=budget_amount,
                       payment_method=payment_method, card_payment_method=card,
                       delivery_address=delivery_address, deadline=deadline,
                       status="open", sme_price_deduction=Decimal(policy.sme_price_deduction or Decimal("0.10")),
                       policy_snapshot=policy_snapshot(policy), created_at=now)
    db.session.add(comp)
    for supplier_id, agreement_id in pairs:
        comp.invites.append(CompetitionInvite(supplier_id=supplier_id, agreement_id=agreement_id, created_at=now))
    db.session.flush()
    audit.record("competition.publish", "competition", comp.id,
                 after={"number": comp.number, "method": method, "category_code": code, "quantity": quantity,
                        "budget_amount": budget_amount, "deadline": deadline, "invited": len(pairs)},
                 note=f"{comp.method_label}：{title}")
    unit_name = user.organisation.name if user.organisation else ""
    for supplier_id, _ in pairs:
        notifications.add(
            dedup_key=f"competition-invite:{comp.id}:{supplier_id}", recipient_org_id=supplier_id,
            kind=notifications.KIND_COMPETITION_INVITE, competition_id=comp.id,
            title=f"二次竞价邀请：{title}（截止{_local(deadline)}）",
            body=f"采购单位：{unit_name}\n品目：{node.name}（{code}）\n数量：{quantity}\n采购预算：{_yuan(budget_amount)}\n"
                 f"报价截止：{_local(deadline)}\n报价不得高于贵司该型号的协议价。\n\n需求：{specs[:1500]}")
    if method == "rotation":
        _award_rotation(comp, agreement, user, now)
    return comp


# --------------------------------------------------------------------------- bids

def get_competition(competition_id: int, user, action: str = "competition.view") -> Competition:
    comp = db.session.get(Competition, competition_id)
    if comp is None:
        raise NotFound("竞价项目")
    require(action, comp, user=user)
    return comp


def submit_bid(competition_id: int, user, data: dict, now: dt.datetime | None = None) -> CompetitionBid:
    now = now or utcnow()
    require("competition.bid", user=user)
    comp = db.session.get(Competition, competition_id)
    if comp is None:
        raise NotFound("竞价项目")
    invite = next((i for i in comp.invites if i.supplier_id == user.organisation_id), None)
    if invite is None:
        raise Forbidden("贵司未被邀请参加该竞价（仅限该品目有效框架协议的入围供应商）", code="not_invited")
    require("competition.bid", invite, user=user)
    if comp.method != "competition":
        raise ServiceError(_p("not_a_competition", "顺序轮候项目无需报价"), status=409)
    if comp.status != "open" or now >= as_utc(comp.deadline):
        raise ServiceError(_p("bidding_closed", f"报价已截止（截止时间{_local(comp.deadline)}），不能再报价或修改报价",
                              deadline=_local(comp.deadline)), status=409)
    product_id = parse_int(data.get("product_id"), "报价商品", "product_id", 1, MAX_ID)
    unit_price = parse_money(data.get("unit_price"), "报价单价", "unit_price")
    note = (str(data.get("note") or "").strip() or None)
    if note and len(note) > 500:
        raise ServiceError(_p("note_too_long", "报价说明不能超过500字", "note"))
    product = next((p for p in bid_products(comp, user.organisation_id) if p.id == product_id), None)
    if product is None:
        raise ServiceError(_p("bid_product_invalid",
                              f"商品{product_id}不是贵司在本品目（{comp.category_code}）受邀协议下的在售协议商品",
                              "product_id", product_id=product_id))
    ap = product.agreement_price
    ceiling = Decimal(ap.max_price)
    if unit_price > ceiling:
        raise ServiceError(_p("bid_above_agreement_price",
                              f"【二次竞价】报价单价{_yuan(unit_price)}高于{ap.brand} {ap.model}的协议价（最高限制单价）"
                              f"{_yuan(ceiling)}，二次竞价以协议价为最高限价", "unit_price", rule="competition.ceiling",
                              unit_price=unit_price, agreement_price=ceiling, excess=unit_price - ceiling))
    total = unit_price * comp.quantity
    if total > comp.budget_amount:
        raise ServiceError(_p("bid_over_budget",
                              f"【二次竞价】报价总额{_yuan(total)}（{_yuan(unit_price)}×{comp.quantity}）"
                              f"超过采购预算{_yuan(comp.budget_amount)}", "unit_price", rule="competition.budget",
                              total=total, budget_amount=comp.budget_amount))
    size, applies, _ = sme_basis(user.organisation_id, product.category_code)
    rate = Decimal(comp.sme_price_deduction) if applies else Decimal("0")
    bid = db.session.scalar(select(CompetitionBid).where(CompetitionBid.competition_id == comp.id,
                                                        CompetitionBid.supplier_id == user.organisation_id))
    if bid is None:
        bid = CompetitionBid(competition_id=comp.id, supplier_id=user.organisation_id)
        db.session.add(bid)
    bid.user_id = user.id
    bid.product_id = product.id
    bid.agreement_price_id = ap.id
    bid.unit_price = unit_price
    bid.ceiling_price = ceiling
    bid.sme_size = size
    bid.deduction_rate = rate
    bid.evaluated_price = evaluated_price(unit_price, rate).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    bid.note = note
    bid.submitted_at = now
    try:
        db.session.flush()
    except IntegrityError:  # the same supplier's twin request inserted first
        db.session.rollback()
        raise ServiceError(_p("bid_conflict", "报价正在被同时提交，请刷新后重试"), status=409) from None
    return bid


# --------------------------------------------------------------------------- evaluation and award

def ranking(comp: Competition) -> list[CompetitionBid]:
    """Bids by evaluated price (exact), then the earlier bid, then the lower id."""
    return sorted(comp.bids, key=lambda b: (evaluated_price(b.unit_price, b.deduction_rate),
                                            as_utc(b.submitted_at), b.id))


def award(competition_id: int, user=None, *, system: bool = False, now: dt.datetime | None = None) -> Competition:
    """Evaluate a mini-competition after its deadline and place the order with the winner.

    A repeated call (double click, replay) finds the competition decided and changes nothing."""
    now = now or utcnow()
    comp = db.session.get(Competition, competition_id)
    if comp is None:
        raise NotFound("竞价项目")
    if not system:
        require("competition.award", comp, user=user)
    if comp.status != "open":
        return comp
    if comp.method != "competition":
        raise ServiceError(_p("not_a_competition", "顺序轮候项目在发布时即已确定承接供应商"), status=409)
    if now < as_utc(comp.deadline):
        raise ServiceError(_p("bidding_open", f"报价截止时间{_local(comp.deadline)}未到，不能评审",
                              deadline=_local(comp.deadline)), status=409)
    t = Competition.__table__
    claimed = db.session.execute(update(t).where(t.c.id == comp.id, t.c.status == "open")
                                 .values(status="evaluating")).rowcount
    db.session.refresh(comp)
    if claimed != 1:
        return comp
    ranked = ranking(comp)
    for i, bid in enumerate(ranked, start=1):
        bid.rank = i
    comp.evaluated_at = now
    buyer = db.session.get(User, comp.buyer_user_id)
    notes = []
    winner, order = None, None
    for bid in ranked:
        try:
            with db.session.begin_nested():
                order = _place(comp, buyer, bid.product_id, bid.unit_price, now)
            winner = bid
            break
        except ServiceError as exc:
            if not {p.code for p in exc.problems} <= SUPPLIER_SIDE:
                raise  # the buyer's side (budget, policy, card): nothing is decided, fix and evaluate again
            notes.append(f"第{bid.rank}名{bid.supplier.name}不能成交（{exc.problems[0].message}），依次递补")
    if winner is None:
        comp.status = "failed"
        comp.result_note = "；".join(notes + ["无有效报价，竞价流标" if not ranked else "所有报价均无法成交，竞价流标"])[:1000]
    else:
        comp.status = "awarded"
        comp.awarded_bid_id = winner.id
        comp.awarded_supplier_id = winner.supplier_id
        comp.order_id = order.id
        comp.result_note = "；".join(notes)[:1000] or None
    db.session.flush()
    audit.record("competition.award", "competition", comp.id,
                 after={"status": comp.status, "awarded_supplier_id": comp.awarded_supplier_id,
                        "order_id": comp.order_id, "bids": len(ranked)},
                 note=comp.result_note or ("评审完成" if winner else "流标"))
    _notify_result(comp, ranked)
    return comp


def _place(comp: Competition, buyer: User, product_id: int, unit_price: Decimal, now: dt.datetime) -> Order:
    from . import services

    order, _ = services.place_order(
        buyer, budget_line_id=comp.budget_line_id,
        lines=[{"product_id": product_id, "quantity": comp.quantity, "unit_price": unit_price}],
        payment_method=comp.payment_method, note=f"{comp.method_label}{comp.number}成交",
        delivery_address=comp.delivery_address, competition_id=comp.id, now=now,
        card_payment_method=comp.card_payment_method)
    return order


def _notify_result(comp: Competition, ranked: list[CompetitionBid]) -> None:
    if comp.status == "awarded":
        winner = next(b for b in ranked if b.id == comp.awarded_bid_id)
        headline = (f"{comp.method_label}{comp.number}已成交：{winner.supplier.name}，单价{_yuan(winner.unit_price)}，"
                    f"评审价{_yuan(winner.evaluated_price)}")
    else:
        headline = f"{comp.method_label}{comp.number}流标" + (f"：{comp.result_note}" if comp.result_note else "")
    notifications.add(dedup_key=f"competition-result:{comp.id}:{comp.buyer_unit_id}",
                      recipient_org_id=comp.buyer_unit_id, kind=notifications.KIND_COMPETITION_RESULT,
                      competition_id=comp.id, order_id=comp.order_id, title=headline[:200], body=headline)
    for bid in ranked:
        mine = (f"贵司报价{_yuan(bid.unit_price)}，评审价{_yuan(bid.evaluated_price)}，排名第{bid.rank}。"
                + ("贵司成交，请及时确认订单。" if bid.id == comp.awarded_bid_id else ""))
        notifications.add(dedup_key=f"competition-result:{comp.id}:{bid.supplier_id}",
                          recipient_org_id=bid.supplier_id, kind=notifications.KIND_COMPETITION_RESULT,
                          competition_id=comp.id, title=headline[:200], body=f"{headline}\n{mine}")


def close_due_competitions(limit: int = 100, now: dt.datetime | None = None) -> dict:
    """Evaluate competitions whose deadline has passed (the scheduled task); each in its own
    transaction. A refusal on the buyer's side is recorded on the competition and left open."""
    now = now or utcnow()
    ids = db.session.scalars(select(Competition.id).where(Competition.status == "open",
                                                          Competition.method == "competition",
                                                          Competition.deadline <= now)
                             .order_by(Competition.id).limit(limit)).all()
    db.session.rollback()
    done = {"awarded": 0, "failed": 0, "refused": 0}
    for comp_id in ids:
        try:
            comp = award(comp_id, system=True, now=now)
            db.session.commit()
            done["awarded" if comp.status == "awarded" else "failed"] += 1
        except ServiceError as exc:
            db.session.rollback()
            comp = db.session.get(Competition, comp_id)
            message = f"自动评审未能下单：{exc.problems[0].message}"[:1000]
            if comp is not None and comp.result_note != message:
                comp.result_note = message
                db.session.commit()
            done["refused"] += 1
    return done


# --------------------------------------------------------------------------- rotation

def rotation_state(agreement_id: int) -> tuple[int, set[int]]:
    """(current round, suppliers that had their turn in it)."""
    round_no = db.session.scalar(select(func.max(RotationAward.round_no))
                                 .where(RotationAward.agreement_id == agreement_id)) or 1
    served = set(db.session.scalars(select(RotationAward.supplier_id).where(
        RotationAward.agreement_id == agreement_id, RotationAward.round_no == round_no)))
    return round_no, served


def _award_rotation(comp: Competition, agreement: Agreement, user, now: dt.datetime) -> None:
    _write_lock(Agreement, agreement.id, "title")  # one rotation turn at a time per agreement
    entrants = _active_entrants(agreement)
    if not entrants:
        raise ServiceError(_p("no_entrants", f"顺序轮候协议{agreement.number}没有可承接的入围供应商"))
    round_no, served = rotation_state(agreement.id)
    entrant_ids = [e.supplier_id for e in entrants]
    if set(entrant_ids) <= served:
        round_no, served = round_no + 1, set()
    notes: list[str] = []
    tried_fresh_round = False
    while True:
        for entrant in [e for e in entrants if e.supplier_id not in served]:
            supplier = db.session.get(Organisation, entrant.supplier_id)
            products = bid_products(comp, entrant.supplier_id)
            reason = None
            if not products:
                reason = "无该品目在售的协议商品"
            else:
                product = products[0]
                total = Decimal(product.price) * comp.quantity
                if total > comp.budget_amount:
                    raise ServiceError(_p(
                        "rotation_over_budget",
                        f"【顺序轮候】按轮候顺序应由{supplier.name}承接，其协议商品{product.title}单价{_yuan(product.price)}"
                        f"×{comp.quantity}={_yuan(total)}，超过采购预算{_yuan(comp.budget_amount)}，请调整预算后重新发布",
                        "budget_amount", total=total, budget_amount=comp.budget_amount, supplier=supplier.name))
                try:
                    with db.session.begin_nested():
                        order = _place(comp, user, product.id, Decimal(product.price), now)
                except ServiceError as exc:
                    if not {p.code for p in exc.problems} <= SUPPLIER_SIDE:
                        raise
                    reason = exc.problems[0].message
                else:
                    db.session.add(RotationAward(agreement_id=agreement.id, supplier_id=entrant.supplier_id,
                                                 round_no=round_no, rotation_position=entrant.rotation_position,
                                                 competition_id=comp.id, outcome="awarded", created_at=now,
                                                 note=f"第{round_no}轮，订单{order.number}"))
                    comp.status = "awarded"
                    comp.awarded_supplier_id = entrant.supplier_id
                    comp.order_id = order.id
                    comp.evaluated_at = now
                    comp.result_note = "；".join(notes + [f"第{round_no}轮轮候，由{supplier.name}承接"])[:1000]
                    _flush_rotation()
                    audit.record("competition.rotation_award", "competition", comp.id,
                                 after={"agreement_id": agreement.id, "round": round_no,
                                        "supplier_id": entrant.supplier_id, "order_id": order.id},
                                 note=comp.result_note)
                    _notify_rotation(comp, supplier)
                    return
            db.session.add(RotationAward(agreement_id=agreement.id, supplier_id=entrant.supplier_id,
                                         round_no=round_no, rotation_position=entrant.rotation_position,
                                         competition_id=comp.id, outcome="skipped", created_at=now,
                                         note=f"轮空：{reason}"[:300]))
            served.add(entrant.supplier_id)
            notes.append(f"{supplier.name}轮空（{reason}）")
        _flush_rotation()
        if tried_fresh_round:
            break
        tried_fresh_round = True
        round_no, served = round_no + 1, set()
    comp.status = "failed"
    comp.evaluated_at = now
    comp.result_note = ("；".join(notes) + "；没有可承接的入围供应商")[:1000]
    db.session.flush()
    audit.record("competition.rotation_award", "competition", comp.id, after={"status": "failed"},
                 note=comp.result_note)
    notifications.add(dedup_key=f"competition-result:{comp.id}:{comp.buyer_unit_id}",
                      recipient_org_id=comp.buyer_unit_id, kind=notifications.KIND_COMPETITION_RESULT,
                      competition_id=comp.id, title=f"顺序轮候{comp.number}未能成交", body=comp.result_note)


def _flush_rotation() -> None:
    try:
        db.session.flush()
    except IntegrityError:  # another turn of the same round was recorded meanwhile
        raise ServiceError(_p("rotation_conflict", "同一协议的轮候正在被同时处理，请稍后重试"), status=409) from None


def _notify_rotation(comp: Competition, supplier: Organisation) -> None:
    headline = f"顺序轮候{comp.number}由{supplier.name}承接"
    notifications.add(dedup_key=f"competition-result:{comp.id}:{comp.buyer_unit_id}",
                      recipient_org_id=comp.buyer_unit_id, kind=notifications.KIND_COMPETITION_RESULT,
                      competition_id=comp.id, order_id=comp.order_id, title=headline, body=comp.result_note)


# --------------------------------------------------------------------------- reading

def visible_competitions_query(user):
    q = select(Competition)
    if user.role == "buyer":
        q = q.where(Competition.buyer_unit_id == user.organisation_id)
    elif user.role == "supplier":
        q = q.where(Competition.id.in_(select(CompetitionInvite.competition_id)
                                       .where(CompetitionInvite.supplier_id == user.organisation_id)))
    elif user.role not in ("auditor", "operator"):
        q = q.where(False)
    return q


def bids_visible_to(comp: Competition, user) -> list[CompetitionBid]:
    """Sealed until evaluation: before it, a supplier sees its own bid and nobody sees others'."""
    if comp.status in ("awarded", "failed") and comp.evaluated_at is not None:
        return ranking(comp)
    if user is not None and getattr(user, "role", None) == "supplier":
        return [b for b in comp.bids if b.supplier_id == user.organisation_id]
    return []


def rotation_history(agreement_id: int, limit: int = 50) -> list[RotationAward]:
    return list(db.session.scalars(select(RotationAward).where(RotationAward.agreement_id == agreement_id)
                                   .order_by(RotationAward.id.desc()).limit(limit)))
