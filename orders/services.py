"""Order write operations: the rule-checked checkout, budget reservation, the lifecycle.

Checkout (``place_order``) runs in the caller's transaction:

1. locks, always in the same order so two checkouts never deadlock: the buyer unit (serialises
   the unit's checkouts, so the cumulative and splitting rules see every earlier order), then the
   budget line — ``SELECT … FOR NO KEY UPDATE`` on PostgreSQL; on SQLite the first statement is
   a write, which takes the database's single write lock;
2. builds the :class:`orders.rules.CheckoutContext` and runs every rule; any error refuses the
   order (``ServiceError`` with all problems, warnings included) before a product row is locked;
3. locks the product rows (by id) — shared by every buyer, so they are held only from here to the
   commit — and judges again with their locked state (stock moved: facts updated; price, status or
   listing changed: facts rebuilt);
4. reserves the budget and the stock with conditional updates
   (``… SET reserved = reserved + :t WHERE reserved + :t <= amount - spent``) — a second guard
   that holds even if a lock were missed — and the database's CHECK constraints are a third;
5. inserts the order and its lines (number ``GM`` + date + id, ids taken from the sequences first),
   the first status change, a risk flag for auditors when splitting is only flagged, and sends
   ``order_placed``.

The caller commits (views/API), once. ``transition`` applies an edge of ``orders.lifecycle``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Optional

from contextlib import contextmanager
from functools import lru_cache

from flask import g, has_app_context, has_request_context
from flask_login import current_user
from sqlalchemy import Integer, String, bindparam, func, null as sa_null, select, text, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from catalog import pinmu
from catalog.models import (Agreement, AgreementCategory, AgreementPrice, AgreementSupplier, Product,
                            Solicitation)
from catalog.policy import centralized_item_for, is_centralized, policy_in_force, snapshot as policy_snapshot
from mall import audit
from mall.accounts.models import Organisation
from mall.authz import can, require
from mall.db_setup import is_postgres
from mall.extensions import db
from mall.problems import NotFound, Problem, ServiceError
from mall.timeutil import LOCAL_TZ, as_utc, utcnow
from suppliers.models import SupplierProfile

from . import lifecycle, rules, workdays
from .events import order_authorizing, order_not_placed, order_placed, order_transitioned
from .payments import invalid_card_token
from .models import (BudgetLine, IdempotencyRecord, Order, OrderLine, OrderStatusChange, Payment,
                     RiskFlag)
from .rules import (AgreementFacts, BudgetFacts, CheckoutContext, Evaluation, LineFacts, PolicyFacts,
                    PriorOrder, yuan)

CENT = Decimal("0.01")
ZERO = Decimal("0")
MAX_NOTE = 500


# ------------------------------------------------------------------ input

@dataclass(frozen=True)
class OrderRef:
    """An order being placed, before its row exists (what order_authorizing receivers see)."""
    id: int
    number: str
    placed_at: dt.datetime
    total: Decimal
    payment_method: str


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int
    expected_price: Optional[Decimal] = None  # the price the buyer saw; a higher price refuses
    unit_price: Optional[Decimal] = None      # mini-competition price (with competition_id only)


def _int(value, name: str, field: str) -> int:
    if isinstance(value, bool):
        raise ServiceError(Problem("invalid_input", f"{name}须为整数", rule="order", field=field))
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ServiceError(Problem("invalid_input", f"{name}“{str(value)[:20]}”须为整数", rule="order",
                                   field=field))


def _money(value, name: str, field: str) -> Optional[Decimal]:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ServiceError(Problem("invalid_input", f"{name}“{str(value)[:20]}”不是有效金额", rule="order",
                                   field=field))
    if not d.is_finite() or d < 0:
        raise ServiceError(Problem("invalid_input", f"{name}须为不小于0的金额", rule="order", field=field))
    return d.quantize(CENT)


def normalise_lines(lines: Iterable) -> list[LineRequest]:
    """Lines as LineRequest; the same product twice is merged (quantities added)."""
    merged: dict[int, LineRequest] = {}
    for raw in lines or ():
        if isinstance(raw, LineRequest):
            req = raw
        elif isinstance(raw, dict):
            req = LineRequest(_int(raw.get("product_id"), "商品编号", "product_id"),
                              _int(raw.get("quantity"), "数量", "quantity"),
                              _money(raw.get("expected_unit_price"), "预期单价", "expected_unit_price"),
                              _money(raw.get("unit_price"), "成交单价", "unit_price"))
        else:
            pid, qty = raw[0], raw[1]
            req = LineRequest(_int(pid, "商品编号", "product_id"), _int(qty, "数量", "quantity"))
        if req.product_id in merged:
            prev = merged[req.product_id]
            req = LineRequest(req.product_id, prev.quantity + req.quantity,
                              prev.expected_price if prev.expected_price is not None else req.expected_price,
                              prev.unit_price if prev.unit_price is not None else req.unit_price)
        merged[req.product_id] = req
    return list(merged.values())


# ------------------------------------------------------------------ facts from the database

def policy_facts(policy) -> PolicyFacts:
    return PolicyFacts(
        id=policy.id, name=policy.name,
        decentralized={k: policy.threshold(k, "decentralized") for k in ("goods", "services", "works")},
        open_tender={k: policy.threshold(k, "open_tender") for k in ("goods", "services", "works")},
        direct_purchase_limit=policy.direct_purchase_limit,
        split_window_days=int(policy.split_window_days if policy.split_window_days is not None else 90),
        split_action=policy.split_action or "refuse",
        cumulative_warning_ratio=Decimal(policy.cumulative_warning_ratio if policy.cumulative_warning_ratio
                                         is not None else Decimal("0.80")),
        snapshot=policy_snapshot(policy))


def budget_facts(b: BudgetLine | None) -> BudgetFacts | None:
    if b is None:
        return None
    return BudgetFacts(id=b.id, unit_id=b.unit_id, year=b.year, project_code=b.project_code,
                       project_name=b.project_name, amount=Decimal(b.amount), reserved=Decimal(b.reserved or 0),
                       spent=Decimal(b.spent or 0))


def local_date(moment: dt.datetime) -> dt.date:
    return as_utc(moment).astimezone(LOCAL_TZ).date()


@lru_cache(maxsize=1)
def _agreement_facts_statement():
    """One statement: the price row, its agreement, the supplier's admission and (one row each)
    the agreement's 品目."""
    return (select(AgreementPrice.id, AgreementPrice.supplier_id, AgreementPrice.max_price, Agreement.id,
                   Agreement.number, Agreement.status, Agreement.term_start, Agreement.term_end,
                   AgreementSupplier.status, AgreementCategory.category_code)
            .join(Agreement, Agreement.id == AgreementPrice.agreement_id)
            .outerjoin(AgreementSupplier, (AgreementSupplier.agreement_id == Agreement.id)
                       & (AgreementSupplier.supplier_id == bindparam("supplier_id", type_=Integer)))
            .outerjoin(AgreementCategory, AgreementCategory.agreement_id == Agreement.id)
            .where(AgreementPrice.id == bindparam("price_id", type_=Integer))
            .order_by(AgreementCategory.category_code))


def _agreement_facts(session, price_id: int | None, supplier_id: int, cache: dict) -> AgreementFacts | None:
    if price_id is None:
        return None
    if price_id in cache:
        return cache[price_id]
    rows = session.execute(_agreement_facts_statement(), {"price_id": price_id, "supplier_id": supplier_id}).all()
    facts = None
    if rows:
        ap_id, ap_supplier, max_price, a_id, number, status, start, end, entrant, _code = rows[0]
        codes = tuple(r[-1] for r in rows if r[-1] is not None)
        # the price row must be this supplier's: another entrant's price is not an admission
        facts = AgreementFacts(id=a_id, number=number, status=status, term_start=start, term_end=end,
                               category_codes=codes, entrant_status=entrant if ap_supplier == supplier_id else None,
                               max_price=Decimal(max_price), price_id=ap_id)
    cache[price_id] = facts
    return facts


# The statements every checkout runs are built once (prebuilt with bound parameters: SQLAlchemy
# then neither rebuilds them nor recomputes their cache keys on each request).

@lru_cache(maxsize=1)
def _open_solicitation_statement():
    day = bindparam("day", type_=Solicitation.valid_from.type)
    return select(Solicitation.id).where(
        Solicitation.category_code.in_(bindparam("path", type_=String, expanding=True)),
        Solicitation.status == "open", Solicitation.valid_from <= day,
        (Solicitation.valid_to.is_(None)) | (Solicitation.valid_to >= day)).limit(1)


def _solicitation_open(session, category_code: str, day: dt.date, cache: dict) -> bool:
    if category_code not in cache:
        path = pinmu.path_of(category_code) or [category_code]
        cache[category_code] = session.scalar(_open_solicitation_statement(),
                                              {"path": list(path), "day": day}) is not None
    return cache[category_code]


def _placed(unit_id: int, year: int, codes: list[str]):
    return (Order.buyer_unit_id == unit_id, Order.budget_year == year,
            Order.status.not_in(lifecycle.CLOSED_WITHOUT_PURCHASE), OrderLine.category_code.in_(codes))


def _year_totals_query(unit_id: int, year: int, codes: list[str]):
    return (select(OrderLine.category_code, func.sum(OrderLine.line_total))
            .join(Order, OrderLine.order_id == Order.id).where(*_placed(unit_id, year, codes))
            .group_by(OrderLine.category_code))


def _prior_orders_query(unit_id: int, year: int, codes: list[str], since: dt.date | None):
    q = (select(Order.id, Order.number, Order.placed_at, OrderLine.category_code, func.sum(OrderLine.line_total),
                Order.competition_id)
         .join(OrderLine, OrderLine.order_id == Order.id).where(*_placed(unit_id, year, codes))
         .group_by(Order.id, Order.number, Order.placed_at, OrderLine.category_code, Order.competition_id))
    if since is not None:
        q = q.where(Order.placed_at >= _window_start(since))
    return q


def _window_start(since: dt.date) -> dt.datetime:
    """The first instant (UTC) of the local date ``since``."""
    return dt.datetime.combine(since, dt.time(0, 0), tzinfo=LOCAL_TZ).astimezone(dt.timezone.utc)


def _prior_order(r) -> PriorOrder:
    return PriorOrder(order_id=r[0], number=r[1], placed_on=local_date(r[2]), category_code=r[3],
                      amount=Decimal(r[4] or 0), from_competition=r[5] is not None)


def year_totals(session, unit_id: int, year: int, category_codes: Iterable[str]) -> dict[str, Decimal]:
    """The unit's totals per 品目 in the budget year (orders not rejected or cancelled)."""
    codes = list(set(category_codes))
    if not codes:
        return {}
    return {code: Decimal(total or 0) for code, total in session.execute(_year_totals_query(unit_id, year, codes))}


def prior_orders(session, unit_id: int, year: int, category_codes: Iterable[str],
                 since: dt.date | None = None) -> tuple[PriorOrder, ...]:
    """The unit's orders of these 品目 in the budget year (not rejected or cancelled), placed on or
    after the local date ``since`` (the split window) when given."""
    codes = list(set(category_codes))
    if not codes:
        return ()
    return tuple(_prior_order(r) for r in session.execute(_prior_orders_query(unit_id, year, codes, since)))


@lru_cache(maxsize=1)
def _order_history_statement():
    """The statement of ``order_history``, built once (every checkout runs it): the unit, year,
    品目 codes and window start are bound parameters."""
    unit_id, year = bindparam("unit_id", type_=Integer), bindparam("year", type_=Integer)
    codes = bindparam("codes", type_=String, expanding=True)
    null_int, null_str = sa_null().cast(Integer), sa_null().cast(String)
    totals_q = _year_totals_query(unit_id, year, codes).with_only_columns(
        null_int, null_str, sa_null().cast(Order.placed_at.type), OrderLine.category_code,
        func.sum(OrderLine.line_total), null_int)
    prior_q = _prior_orders_query(unit_id, year, codes, None).where(
        Order.placed_at >= bindparam("start", type_=Order.placed_at.type))
    return union_all(totals_q, prior_q)


def order_history(session, unit_id: int, year: int, category_codes: Iterable[str],
                  since: dt.date) -> tuple[dict[str, Decimal], tuple[PriorOrder, ...]]:
    """``year_totals`` and ``prior_orders`` (since the window's start) in one statement: the
    totals' rows carry no order id."""
    codes = list(set(category_codes))
    if not codes:
        return {}, ()
    rows = session.execute(_order_history_statement(), {
        "unit_id": unit_id, "year": year, "codes": codes, "start": _window_start(since)}).all()
    totals = {r[3]: Decimal(r[4] or 0) for r in rows if r[0] is None}
    prior = tuple(_prior_order(r) for r in rows if r[0] is not None)
    return totals, prior


def build_context(session, *, unit_id: int, budget: BudgetLine | None, budget_line_id: int | None,
                  products: dict[int, Product], lines: list[LineRequest], order_date: dt.date,
                  payment_method: str, competition_id: int | None = None, policy=None,
                  suppliers: dict | None = None) -> CheckoutContext:
    """Gather the plain facts the rules judge (no writes). ``suppliers`` (optional, the caller's)
    receives the (Organisation, SupplierProfile) rows read, which keeps them in the session."""
    if policy is None:
        policy = policy_in_force(order_date, session)
    nodes = pinmu.tree()
    profiles: dict[int, tuple | None] = suppliers if suppliers is not None else {}
    agreement_cache: dict = {}
    solicitation_cache: dict = {}

    def price_of(req: LineRequest, p: Product) -> Decimal:
        if competition_id is not None and req.unit_price is not None:
            return req.unit_price
        return Decimal(p.price)

    amounts: dict[str, Decimal] = {}
    for req in lines:
        p = products[req.product_id]
        amounts[p.category_code] = amounts.get(p.category_code, ZERO) + (price_of(req, p) * req.quantity)

    facts = []
    for req in lines:
        p = products[req.product_id]
        if p.supplier_id not in profiles:
            profiles[p.supplier_id] = session.execute(
                select(Organisation, SupplierProfile)
                .outerjoin(SupplierProfile, SupplierProfile.organisation_id == Organisation.id)
                .where(Organisation.id == p.supplier_id)).first()
        supplier, prof = profiles[p.supplier_id] or (None, None)
        node = nodes.get(p.category_code)
        central_item = centralized_item_for(policy, p.category_code) if policy is not None else None
        centralized = bool(policy is not None and is_centralized(policy, p.category_code, amounts[p.category_code]))
        agreement = (_agreement_facts(session, p.agreement_price_id, p.supplier_id, agreement_cache)
                     if p.zone_code == "central" or centralized else None)
        facts.append(LineFacts(
            product_id=p.id, title=p.title, category_code=p.category_code,
            category_name=node.name if node else p.category_code, category_kind=node.kind if node else "goods",
            category_path=tuple(pinmu.path_of(p.category_code)) or (p.category_code,),
            zone_code=p.zone_code, supplier_id=p.supplier_id,
            supplier_name=supplier.name if supplier is not None else str(p.supplier_id),
            supplier_status=prof.status if prof is not None else None,
            product_status=p.status, halted_reason=p.halted_reason, stock=int(p.stock or 0),
            quantity=req.quantity, unit_price=price_of(req, p), unit=p.unit or "件",
            expected_price=req.expected_price, market_price=p.market_price,
            centralized=centralized,
            central_item_code=central_item.category_code if central_item is not None else None,
            central_min_amount=central_item.min_amount if central_item is not None else None,
            agreement=agreement,
            solicitation_open=(_solicitation_open(session, p.category_code, order_date, solicitation_cache)
                               if p.zone_code == "self" else None),
            pavilion_qualified=(bool(prof and prof.pavilion_qualified) if p.zone_code == "pavilion" else None)))

    pfacts = policy_facts(policy) if policy is not None else None
    if pfacts is not None:
        # only the split window's orders are fetched (bounded however many orders the unit has)
        totals, prior = order_history(session, unit_id, order_date.year, amounts.keys(),
                                      since=order_date - dt.timedelta(days=pfacts.split_window_days))
    else:
        totals, prior = year_totals(session, unit_id, order_date.year, amounts.keys()), ()
    return CheckoutContext(
        order_date=order_date, buyer_unit_id=unit_id, lines=tuple(facts), policy=pfacts,
        budget=budget_facts(budget), budget_line_id=budget_line_id, payment_method=payment_method,
        year_totals=totals, prior_orders=prior, competition_id=competition_id)


@lru_cache(maxsize=2)
def _products_statement(refresh: bool):
    q = (select(Product, Organisation, SupplierProfile)
         .outerjoin(Organisation, Organisation.id == Product.supplier_id)
         .outerjoin(SupplierProfile, SupplierProfile.organisation_id == Product.supplier_id)
         .where(Product.id.in_(bindparam("ids", type_=Integer, expanding=True))).order_by(Product.id))
    return q.execution_options(populate_existing=True) if refresh else q


def _load_products(session, ids: list[int], suppliers: dict, refresh: bool = False) -> dict[int, Product]:
    """The products by id (ServiceError naming the missing ones); their suppliers'
    (Organisation, SupplierProfile) come in the same statement, into ``suppliers``.
    ``refresh``: overwrite what the session already holds of them."""
    if not ids:
        return {}
    found = {}
    for p, org, profile in session.execute(_products_statement(refresh), {"ids": sorted(ids)}):
        found[p.id] = p
        suppliers[p.supplier_id] = (org, profile) if org is not None else None
    missing = [i for i in ids if i not in found]
    if missing:
        raise ServiceError([Problem("product_not_found", f"【订单基本规则】商品{pid}不存在", rule="order",
                                    field="lines", figures={"product_id": pid}) for pid in missing])
    return found


_STATE_COLUMNS = ("stock", "price", "status", "halted_reason", "zone_code", "category_code", "supplier_id",
                  "agreement_price_id", "market_price")


def _product_state(p: Product) -> tuple:
    """(stock, then everything else the rules read about a product)."""
    return tuple(getattr(p, c) for c in _STATE_COLUMNS)


@lru_cache(maxsize=2)
def _lock_products_statement(postgres: bool):
    t = Product.__table__
    q = (select(t.c.id, *(t.c[c] for c in _STATE_COLUMNS))
         .where(t.c.id.in_(bindparam("ids", type_=Integer, expanding=True))).order_by(t.c.id))
    return q.with_for_update(key_share=True) if postgres else q


def _lock_products(session, ids: list[int]) -> dict[int, tuple]:
    """Lock the product rows (PostgreSQL: FOR NO KEY UPDATE, in id order) and read their state."""
    return {row[0]: tuple(row[1:])
            for row in session.execute(_lock_products_statement(is_postgres(session)), {"ids": sorted(ids)})}


def _lock_unit(session, unit_id: int) -> Organisation | None:
    """Serialise the checkouts of one unit (and, on SQLite, take the write lock first)."""
    q = select(Organisation).where(Organisation.id == unit_id)
    if is_postgres(session):
        q = q.with_for_update(key_share=True)
    else:
        t = Organisation.__table__
        session.execute(update(t).where(t.c.id == unit_id).values(name=t.c.name))
    return session.scalars(q).first()


def _lock_unit_and_budget(session, unit_id: int, budget_line_id: int | None) -> tuple:
    """(the unit, locked as ``_lock_unit`` does, and the budget line chosen, read afresh).

    PostgreSQL reads both in one statement and locks the unit's row only: the unit's checkouts
    are serialised by it, and the reservation itself is a guarded UPDATE that never lets
    ``reserved + spent`` pass ``amount`` whatever else moves the line meanwhile."""
    if budget_line_id is None or not is_postgres(session):
        return _lock_unit(session, unit_id), _load_budget(session, budget_line_id, lock=True)
    row = session.execute(_unit_and_budget_statement(),
                          {"unit_id": unit_id, "budget_line_id": budget_line_id}).first()
    return (row[0], row[1]) if row is not None else (None, None)


@lru_cache(maxsize=1)
def _unit_and_budget_statement():
    return (select(Organisation, BudgetLine)
            .outerjoin(BudgetLine, BudgetLine.id == bindparam("budget_line_id", type_=Integer))
            .where(Organisation.id == bindparam("unit_id", type_=Integer))
            .with_for_update(of=Organisation.__table__, key_share=True)
            .execution_options(populate_existing=True))


def _load_budget(session, budget_line_id, lock: bool) -> BudgetLine | None:
    if budget_line_id is None:
        return None
    q = select(BudgetLine).where(BudgetLine.id == budget_line_id)
    if lock:
        q = q.execution_options(populate_existing=True)
        if is_postgres(session):
            q = q.with_for_update(key_share=True)
    return session.scalars(q).first()


def _check_inputs(user, budget_line_id, lines, payment_method):
    require("order.create", user=user)
    reqs = normalise_lines(lines)
    if budget_line_id is not None and not isinstance(budget_line_id, int):
        budget_line_id = _int(budget_line_id, "预算指标编号", "budget_line_id")
    return reqs, budget_line_id, payment_method


def check_order(user, *, budget_line_id, lines, payment_method: str = "treasury",
                competition_id: int | None = None, now: dt.datetime | None = None) -> Evaluation:
    """Judge an order without placing it (cart page, POST /orders/check). No locks, no writes."""
    reqs, budget_line_id, payment_method = _check_inputs(user, budget_line_id, lines, payment_method)
    session = db.session
    order_date = local_date(now or utcnow())
    suppliers: dict = {}
    products = _load_products(session, [r.product_id for r in reqs], suppliers)
    budget = _load_budget(session, budget_line_id, lock=False)
    ctx = build_context(session, unit_id=user.organisation_id, budget=budget, budget_line_id=budget_line_id,
                        products=products, lines=reqs, order_date=order_date, payment_method=payment_method,
                        competition_id=competition_id, suppliers=suppliers)
    return rules.evaluate(ctx)


# ------------------------------------------------------------------ placing an order

def _next_ids(session, model, n: int = 1) -> list[int]:
    """Ids taken before the insert, so the order's number (and the answer) exist before the flush."""
    table = model.__tablename__
    if is_postgres(session):
        return [int(i) for i in session.execute(
            text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"),
            {"n": n}).scalars()]
    # SQLite: this transaction already holds the database's write lock (see _lock_unit)
    first = int(session.scalar(select(func.coalesce(func.max(model.id), 0))) or 0) + 1
    return list(range(first, first + n))


def _next_order_id(session) -> int:
    return _next_ids(session, Order)[0]


def _next_order_and_line_ids(session, lines: int) -> tuple[int, list[int]]:
    if is_postgres(session):
        rows = session.execute(text(
            "SELECT CASE WHEN g = 1 THEN nextval(pg_get_serial_sequence('purchase_order', 'id')) END, "
            "nextval(pg_get_serial_sequence('order_line', 'id')) FROM generate_series(1, :n) AS g ORDER BY g"),
            {"n": lines}).all()
        return int(rows[0][0]), [int(r[1]) for r in rows]
    return _next_ids(session, Order)[0], _next_ids(session, OrderLine, lines)


def order_number(order_id: int, day: dt.date) -> str:
    return f"GM{day:%Y%m%d}{order_id:06d}"


def _flush_audited(session, entries: list[tuple[tuple, dict]]) -> None:
    """Queue the semantic audit records and flush at once: they are written with the rows they
    describe (in the same flush, hence the same transaction or savepoint), never left queued
    after a refusal to be written with someone else's flush."""
    for args, kwargs in entries:
        audit.record(*args, **kwargs)
    try:
        session.flush()
    except BaseException:
        pending = session.info.get("audit_pending") or []
        del pending[max(0, len(pending) - len(entries)):]
        raise


def _reserve_budget(session, budget: BudgetLine, amount: Decimal, number: str) -> tuple:
    t = BudgetLine.__table__
    reserved = session.execute(update(t).where(t.c.id == budget.id,
                                               t.c.reserved + amount <= t.c.amount - t.c.spent)
                               .values(reserved=t.c.reserved + amount).returning(t.c.reserved)).scalar()
    if reserved is None:
        raise ServiceError(Problem("budget_insufficient",
                                   f"【预算指标】预算指标{budget.project_code}可用余额不足以支付订单金额{yuan(amount)}",
                                   rule="budget", field="budget_line_id", figures={"total": amount}))
    after = Decimal(reserved)  # the row's own figure: exact however the line moved since it was read
    session.expire(budget, ["reserved"])
    return (("budget_line.reserve", "budget_line", budget.id),
            dict(before={"reserved": after - amount}, after={"reserved": after},
                 note=f"订单{number}冻结预算{yuan(amount)}"))


def _take_stock(session, product: Product, quantity: int, number: str) -> tuple:
    t = Product.__table__
    res = session.execute(update(t).where(t.c.id == product.id, t.c.stock >= quantity)
                          .values(stock=t.c.stock - quantity))
    if res.rowcount != 1:
        raise ServiceError(Problem("stock_insufficient", f"【库存与在售状态】{product.title}库存不足", rule="stock",
                                   figures={"product_id": product.id, "quantity": quantity}))
    before = int(product.stock or 0)
    session.expire(product, ["stock", "updated_at"])
    return (("product.stock_reserve", "product", product.id),
            dict(before={"stock": before}, after={"stock": before - quantity},
                 note=f"订单{number}占用库存{quantity}"))


def place_order(user, *, budget_line_id, lines, payment_method: str = "treasury", note: str | None = None,
                delivery_address: str | None = None, competition_id: int | None = None,
                card_payment_method: str | None = None, now: dt.datetime | None = None,
                before_flush: Callable[[Order, Evaluation], Any] | None = None) -> tuple[Order, Evaluation]:
    """Place one order (status ``submitted``) in the current transaction; the caller commits.

    Refuses with ``ServiceError`` (422) listing every problem when a rule says no. ``before_flush``
    is called with the complete order (ids assigned) just before it is written.
    ``card_payment_method``: the official card's token (Stripe ``pm_…``) a card order is held on."""
    with acting_as(user):
        return _place_order(user, budget_line_id=budget_line_id, lines=lines, payment_method=payment_method,
                            note=note, delivery_address=delivery_address, competition_id=competition_id, now=now,
                            before_flush=before_flush, card_payment_method=card_payment_method)


def _place_order(user, *, budget_line_id, lines, payment_method, note, delivery_address, competition_id,
                 now, before_flush, card_payment_method=None) -> tuple[Order, Evaluation]:
    reqs, budget_line_id, payment_method = _check_inputs(user, budget_line_id, lines, payment_method)
    card_payment_method = (card_payment_method or "").strip() or None if payment_method == "card" else None
    bad_card = invalid_card_token(card_payment_method)
    if bad_card is not None:
        raise ServiceError(bad_card)
    note = (note or "").strip()[:MAX_NOTE] or None
    delivery_address = (delivery_address or "").strip()[:300] or None
    session = db.session
    now = now or utcnow()
    order_date = local_date(now)

    unit, budget = _lock_unit_and_budget(session, user.organisation_id, budget_line_id)
    ids = [r.product_id for r in reqs]
    suppliers: dict = {}
    products = _load_products(session, ids, suppliers)
    ctx = build_context(session, unit_id=user.organisation_id, budget=budget, budget_line_id=budget_line_id,
                        products=products, lines=reqs, order_date=order_date, payment_method=payment_method,
                        competition_id=competition_id, suppliers=suppliers)
    evaluation = rules.evaluate(ctx)
    if evaluation.errors:
        raise ServiceError(evaluation.problems)
    order_id, line_ids = _next_order_and_line_ids(session, len(ctx.lines))
    number = order_number(order_id, order_date)
    # the card is held now, under the unit's lock only: a slow gateway delays this unit's next
    # order, never another buyer of the same products (a rollback releases the hold)
    ref = OrderRef(order_id, number, now, ctx.total, payment_method)
    hold = next((r for _, r in order_authorizing.send(ref, payment_method_id=card_payment_method)
                 if r is not None), None)
    try:
        # The product rows are locked last (shared by every buyer: held only until the commit) and the
        # rules judge again with their locked state. Stock alone moved (other orders): the facts are
        # updated in place; anything else changed (price, status, listing): everything is rebuilt.
        locked = _lock_products(session, ids)
        if any(locked.get(pid, ())[1:] != _product_state(p)[1:] for pid, p in products.items()):
            suppliers = {}  # read afresh too
            products = _load_products(session, ids, suppliers, refresh=True)
            ctx = build_context(session, unit_id=user.organisation_id, budget=budget, budget_line_id=budget_line_id,
                                products=products, lines=reqs, order_date=order_date, payment_method=payment_method,
                                competition_id=competition_id, suppliers=suppliers)
        else:
            for pid, p in products.items():
                set_committed_value(p, "stock", locked[pid][0])
            ctx = replace(ctx, lines=tuple(replace(ln, stock=int(locked[ln.product_id][0] or 0)) for ln in ctx.lines))
        evaluation = rules.evaluate(ctx)
        if evaluation.errors:
            raise ServiceError(evaluation.problems)
        total = ctx.total
        if hold is not None and total != ref.total:
            raise ServiceError(Problem("order_total_changed",
                                       f"下单过程中商品价格发生变化，订单金额由{yuan(ref.total)}变为{yuan(total)}，"
                                       "订单未提交（公务卡冻结已撤销），请确认后重新提交",
                                       figures={"held": ref.total, "total": total}), status=409)
        audit_entries = [_reserve_budget(session, budget, total, number)]
        for ln in ctx.lines:
            audit_entries.append(_take_stock(session, products[ln.product_id], ln.quantity, number))

        order = Order(id=order_id, number=number, buyer_unit_id=user.organisation_id, buyer_user_id=user.id,
                      supplier_id=ctx.lines[0].supplier_id, budget_line_id=budget.id, zone_code=ctx.lines[0].zone_code,
                      agreement_id=next((ln.agreement.id for ln in ctx.lines if ln.agreement is not None), None),
                      status="submitted", payment_method=payment_method, budget_year=ctx.budget_year,
                      is_sme=all(bool(products[ln.product_id].is_sme) for ln in ctx.lines),
                      policy_snapshot=_judged_by(ctx), rule_results=evaluation.results, note=note,
                      delivery_address=delivery_address, placed_at=now, competition_id=competition_id,
                      confirm_deadline=workdays.calendar().deadline(now, workdays.confirm_workdays()))
        reference_total = ZERO
        savings_total = ZERO
        for line_id, ln in zip(line_ids, ctx.lines):
            p = products[ln.product_id]
            reference = Decimal(ln.reference_price).quantize(CENT)
            savings = ((reference - ln.unit_price) * ln.quantity).quantize(CENT)
            reference_total += (reference * ln.quantity).quantize(CENT)
            savings_total += savings
            order.lines.append(OrderLine(
                id=line_id, product_id=p.id, category_code=p.category_code, title=p.title, brand=p.brand, model=p.model,
                unit=ln.unit, quantity=ln.quantity, unit_price=ln.unit_price, reference_price=reference,
                line_total=ln.line_total, savings=savings,
                agreement_price_id=ln.agreement.price_id if ln.agreement is not None else None))
        order.buyer_unit = unit
        order.supplier = (suppliers.get(order.supplier_id) or (None,))[0] or session.get(Organisation, order.supplier_id)
        order.total = total
        order.reference_total = reference_total
        order.savings = savings_total
        order.history.append(OrderStatusChange(from_status=None, to_status="submitted", actor_id=user.id,
                                               actor_role=user.role, note=note, created_at=now))
        session.add(order)
        for p in evaluation.warnings:
            if p.code in ("split_purchase_flagged", "split_below_competition_flagged"):
                session.add(RiskFlag(order=order, kind="split_suspected", message=p.message,
                                     figures=p.to_dict().get("figures", {}), status="open", created_at=now))
        if before_flush is not None:
            # e.g. the API's answer: built before the flush, outside the audit chain's lock
            before_flush(order, evaluation)
        _flush_audited(session, audit_entries)
        order_placed.send(order, new=True, hold=hold)
        return order, evaluation
    except BaseException:
        if hold is not None:  # refused after the hold (or a savepoint rolled back): release it now
            order_not_placed.send(ref, hold=hold)
        raise


def _judged_by(ctx) -> dict:
    """The policy version's figures, and which of its centralized-catalog items applied to which
    品目 of this order, as the order keeps them."""
    items = {ln.category_code: ln.central_item_code for ln in ctx.lines if ln.centralized and ln.central_item_code}
    return {**ctx.policy.snapshot, "centralized_items": items} if items else ctx.policy.snapshot


# ------------------------------------------------------------------ idempotent requests

def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
                          .encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def _record_statement():
    return select(IdempotencyRecord).where(IdempotencyRecord.user_id == bindparam("user_id", type_=Integer),
                                           IdempotencyRecord.key == bindparam("key", type_=String))


def _find_record(user_id: int, key: str) -> IdempotencyRecord | None:
    return db.session.scalars(_record_statement(), {"user_id": user_id, "key": key}).first()


def _replay(rec: IdempotencyRecord, endpoint: str, request_hash: str) -> tuple[int, dict, bool]:
    if rec.endpoint != endpoint or rec.request_hash != request_hash:
        raise ServiceError(Problem("idempotency_key_reused",
                                   "同一个Idempotency-Key已用于内容不同的请求，请为新的请求使用新的键",
                                   field="Idempotency-Key"), status=422)
    return rec.status_code or 200, rec.response or {}, True


def run_idempotent(user, key: str | None, endpoint: str, request_hash: str,
                   produce: Callable[[], tuple[int, dict]]) -> tuple[int, dict, bool]:
    """Run ``produce`` (which writes and returns (status, body)) once per (user, key) and commit.

    A repeat with the same key and request returns the first answer (``replayed`` True) — also
    when the two arrive together (see below).
    Refusals (ServiceError) are not stored: nothing was written, a retry is judged afresh.
    Returns (status, body, replayed)."""
    if not key:
        status, body = produce()
        db.session.commit()
        return status, body, False
    key = key.strip()
    if not key or len(key) > 200:
        raise ServiceError(Problem("invalid_idempotency_key", "Idempotency-Key须为1至200个字符",
                                   field="Idempotency-Key"), status=422)
    rec = _find_record(user.id, key)
    if rec is not None:
        return _replay(rec, endpoint, request_hash)
    # The record is written with the answer, in the transaction that did the work. A twin that
    # arrived together waits on the first's locks; its own record then violates the unique key
    # (or its work is refused, e.g. the budget is gone): it is rolled back and answered with the
    # first's result.
    try:
        status, body = produce()
        db.session.add(IdempotencyRecord(user_id=user.id, key=key, endpoint=endpoint, request_hash=request_hash,
                                         status_code=status, response=body))
        db.session.commit()
        return status, body, False
    except (IntegrityError, ServiceError):
        db.session.rollback()
        rec = _find_record(user.id, key)
        if rec is None:
            raise
        return _replay(rec, endpoint, request_hash)
    except BaseException:
        db.session.rollback()
        raise


# ------------------------------------------------------------------ transitions

def visible_orders_query(user):
    """Orders the user may see: buyer → own unit's, supplier → own, auditor/operator → all."""
    q = select(Order)
    if user.role == "buyer":
        q = q.where(Order.buyer_unit_id == user.organisation_id)
    elif user.role == "supplier":
        q = q.where(Order.supplier_id == user.organisation_id)
    elif user.role not in ("auditor", "operator"):
        q = q.where(False)
    return q


def get_visible_order(order_id: int, user=None) -> Order:
    """The order, or 404 for a missing one and for one the user may not see (the same answer)."""
    user = user if user is not None else current_user
    require("order.list", user=user)
    order = db.session.get(Order, order_id)
    if order is None or not can(user, "order.view", order):
        raise NotFound("订单")
    return order


def unspend_budget(session, order: Order, amount: Decimal, note: str) -> None:
    """Money refunded on a paid order goes back to its budget line (spent decreases), audited."""
    t = BudgetLine.__table__
    row = session.execute(update(t).where(t.c.id == order.budget_line_id, t.c.spent >= amount)
                          .values(spent=t.c.spent - amount).returning(t.c.spent)).first()
    if row is None:
        raise ServiceError(Problem("budget_state_inconsistent",
                                   f"【预算指标】预算指标已支付金额少于退款金额{yuan(amount)}，请联系交易中心核查",
                                   rule="budget"), status=409)
    budget = session.identity_map.get(session.identity_key(BudgetLine, order.budget_line_id))
    if budget is not None:
        session.expire(budget, ["spent"])
    audit.record("budget_line.refund", "budget_line", order.budget_line_id,
                 before={"spent": row.spent + amount}, after={"spent": row.spent}, note=note)


def _release_budget(session, order: Order, spend: bool) -> list:
    t = BudgetLine.__table__
    amount = Decimal(order.total)
    values = {"reserved": t.c.reserved - amount}
    if spend:
        values["spent"] = t.c.spent + amount
    res = session.execute(update(t).where(t.c.id == order.budget_line_id, t.c.reserved >= amount).values(**values))
    if res.rowcount != 1:
        raise ServiceError(Problem("budget_state_inconsistent",
                                   f"【预算指标】预算指标冻结金额少于订单金额{yuan(amount)}，请联系交易中心核查",
                                   rule="budget"), status=409)
    budget = session.get(BudgetLine, order.budget_line_id)
    session.refresh(budget, ["reserved", "spent"])
    action = "budget_line.spend" if spend else "budget_line.release"
    before = {"reserved": budget.reserved + amount}
    after = {"reserved": budget.reserved}
    if spend:
        before["spent"] = budget.spent - amount
        after["spent"] = budget.spent
    return [((action, "budget_line", budget.id),
             dict(before=before, after=after, note=f"订单{order.number}{'支付' if spend else '释放冻结'}{yuan(amount)}"))]


def _restore_stock(session, order: Order) -> list:
    t = Product.__table__
    entries = []
    for ln in order.lines:
        session.execute(update(t).where(t.c.id == ln.product_id).values(stock=t.c.stock + ln.quantity))
        entries.append((("product.stock_restore", "product", ln.product_id),
                        dict(after={"stock_returned": ln.quantity}, note=f"订单{order.number}关闭，退回库存{ln.quantity}")))
        p = session.identity_map.get(session.identity_key(Product, ln.product_id))
        if p is not None:
            session.expire(p, ["stock", "updated_at"])
    return entries


def _count_sales(session, order: Order) -> None:
    t = Product.__table__
    for ln in order.lines:
        session.execute(update(t).where(t.c.id == ln.product_id).values(sales_count=t.c.sales_count + ln.quantity))


def _payment_settled(session, order: Order) -> None:
    settled = "captured" if order.payment_method == "card" else "paid"
    paid = session.scalar(select(func.coalesce(func.sum(Payment.amount - Payment.refunded_amount), 0))
                          .where(Payment.order_id == order.id, Payment.method == order.payment_method,
                                 Payment.status == settled))
    if Decimal(paid or 0) < Decimal(order.total):
        method = "公务卡扣款" if order.payment_method == "card" else "国库集中支付"
        raise ServiceError(Problem("payment_not_settled",
                                   f"【订单状态流转】订单{order.number}尚无足额的{method}记录（已支付{yuan(paid)}，"
                                   f"订单金额{yuan(order.total)}），不能标记为已支付", rule="lifecycle",
                                   figures={"paid": Decimal(paid or 0), "total": order.total}), status=409)


GUARDS: dict[str, Callable] = {lifecycle.PAYMENT_SETTLED: _payment_settled}


def _apply_effects(session, order: Order, e: lifecycle.Edge, note: str | None, now: dt.datetime) -> list:
    """Run the edge's effects; returns the audit records to write with the change."""
    entries = []
    for effect in e.effects:
        if effect == lifecycle.RELEASE_BUDGET:
            entries += _release_budget(session, order, spend=False)
        elif effect == lifecycle.SPEND_BUDGET:
            entries += _release_budget(session, order, spend=True)
        elif effect == lifecycle.RESTORE_STOCK:
            entries += _restore_stock(session, order)
        elif effect == lifecycle.COUNT_SALES:
            _count_sales(session, order)
        elif effect == lifecycle.STAMP_ACCEPTED:
            order.accepted_at = now
            order.acceptance_note = note
        elif effect == lifecycle.STAMP_PAID:
            order.paid_at = now
        elif effect == lifecycle.CLOSE_REASON:
            order.closed_reason = (note or "")[:500] or None
        else:  # pragma: no cover - a table entry without implementation is a programming error
            raise KeyError(effect)
    return entries


SYSTEM_ACTOR = {"actor_id": None, "actor_name": "system", "actor_role": lifecycle.SYSTEM}


@contextmanager
def acting_as(user=None, system: bool = False):
    """Attribute the audit records written meanwhile to ``user`` (or the system) when that is not
    already the signed-in user of the request (tasks, the CLI, a gateway callback)."""
    if not has_app_context():
        yield
        return
    if system:
        actor = SYSTEM_ACTOR
    elif user is not None and not (has_request_context() and getattr(current_user, "is_authenticated", False)
                                   and current_user.id == user.id):
        actor = {"actor_id": user.id, "actor_name": user.username, "actor_role": user.role}
    else:
        yield
        return
    previous = g.get("audit_actor")
    g.audit_actor = actor
    try:
        yield
    finally:
        if previous is None:
            g.pop("audit_actor", None)
        else:
            g.audit_actor = previous


def transition(order: Order | int, target: str, *, user=None, note: str | None = None, system: bool = False,
               now: dt.datetime | None = None) -> OrderStatusChange:
    """Move an order along one edge of the lifecycle table, in the current transaction.

    ``system=True`` acts as the system (scheduled tasks, gateway webhooks); otherwise ``user``
    (default: the signed-in user) must see the order (else 404) and hold the edge's role."""
    if not system and user is None:
        user = current_user._get_current_object() if has_request_context() else None
        if user is None:
            raise ServiceError(Problem("unauthenticated", "请先登录"), status=401)
    with acting_as(user, system=system):
        return _transition(order, target, user=user, note=note, system=system, now=now)


def _transition(order: Order | int, target: str, *, user=None, note: str | None = None, system: bool = False,
                now: dt.datetime | None = None) -> OrderStatusChange:
    session = db.session
    now = now or utcnow()
    if system:
        role, actor_id = lifecycle.SYSTEM, None
        if isinstance(order, int):
            order = session.get(Order, order)
            if order is None:
                raise NotFound("订单")
    else:
        order = get_visible_order(order if isinstance(order, int) else order.id, user=user)
        require("order.transition", order, user=user)
        role, actor_id = user.role, user.id
    source = order.status
    e = lifecycle.resolve(source, target, role, order.payment_method)
    note = (note or "").strip() or None
    if e.note_required and not note:
        raise ServiceError(Problem("note_required", f"【订单状态流转】“{e.action}”须填写{e.note_label}",
                                   rule="lifecycle", field="note"), status=422)
    if note and len(note) > 1000:
        raise ServiceError(Problem("note_too_long", "【订单状态流转】说明不能超过1000字", rule="lifecycle",
                                   field="note"), status=422)
    # Take the order's row lock and make sure nobody moved it meanwhile.
    t = Order.__table__
    res = session.execute(update(t).where(t.c.id == order.id, t.c.status == source).values(status=t.c.status))
    if res.rowcount != 1:
        raise ServiceError(Problem("invalid_transition", "【订单状态流转】订单状态已被其他操作改变，请刷新后重试",
                                   rule="lifecycle", figures={"from": source, "to": target}), status=409)
    session.refresh(order)
    for guard in e.guards:
        GUARDS[guard](session, order)
    entries = _apply_effects(session, order, e, note, now)
    order.status = target
    change = OrderStatusChange(order_id=order.id, from_status=source, to_status=target, actor_id=actor_id,
                               actor_role=role, note=note, created_at=now)
    session.add(change)
    order.history.append(change)
    entries.append((("order.transition", "order", order.id),
                    dict(before={"status": source}, after={"status": target},
                         note=f"{e.action}：{note}" if note else e.action)))
    _flush_audited(session, entries)
    order_transitioned.send(order, change=change)
    return change


def allowed_actions(order: Order, user) -> list[lifecycle.Edge]:
    """The edges the user may take on the order now (the buttons on the order page)."""
    if user is None or not getattr(user, "is_authenticated", False) or not can(user, "order.view", order):
        return []
    if user.role in ("buyer", "supplier") and not can(user, "order.transition", order):
        return []
    return lifecycle.allowed_edges(order.status, user.role, order.payment_method)
