"""The buyer's cart: items grouped into future orders, changes noticed, rules shown early.

A group is what becomes one order: one supplier, one zone and (in 集采区) one framework
agreement. Each item remembers the price the buyer saw (``price_seen``): a lower current price
is simply shown; a higher one must be acknowledged before the group can be ordered (the
checkout refuses ``price_increased`` otherwise). Stock shortfalls and products that can no
longer be bought are shown on the item. The rules of the checkout are run for every group with
its chosen budget line, so problems and warnings appear before anything is submitted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from catalog.models import Agreement, AgreementPrice, Product, ZONE_LABELS
from mall.authz import require
from mall.extensions import db
from mall.problems import NotFound, Problem, ServiceError
from mall.timeutil import today
from suppliers.models import SupplierProfile

from . import services
from .models import BudgetLine, CartItem
from .rules import MAX_QUANTITY, Evaluation

MAX_CART_ITEMS = 200


def _quantity(value) -> int:
    try:
        q = int(str(value).strip())
    except (TypeError, ValueError):
        raise ServiceError(Problem("invalid_quantity", f"数量“{str(value)[:20]}”须为整数", field="quantity"))
    if q < 1 or q > MAX_QUANTITY:
        raise ServiceError(Problem("invalid_quantity", f"数量须在1至{MAX_QUANTITY}之间", field="quantity"))
    return q


def _sellable(product: Product, profile: SupplierProfile | None) -> tuple[bool, str | None]:
    if product.status != "listed":
        return False, {"draft": "商品尚未上架", "delisted": "商品已下架",
                       "taken_down": "商品已被监管部门下架"}.get(product.status, "商品不可购买")
    if product.halted_reason:
        return False, f"暂停销售：{product.halted_reason}"
    if profile is None or profile.status != "active":
        return False, "供应商已被暂停交易"
    return True, None


def add(user, product_id, quantity=1) -> CartItem:
    """Add a product (or more of it) to the buyer's cart."""
    require("cart.use", user=user)
    q = _quantity(quantity)
    try:
        pid = int(str(product_id).strip())
    except (TypeError, ValueError):
        raise NotFound("商品")
    product = db.session.get(Product, pid)
    if product is None or product.status == "draft":
        raise NotFound("商品")
    ok, reason = _sellable(product, db.session.get(SupplierProfile, product.supplier_id))
    if not ok:
        raise ServiceError(Problem("product_not_sellable", f"{product.title}当前不可购买：{reason}", rule="stock"))
    item = db.session.scalars(select(CartItem).where(CartItem.user_id == user.id,
                                                     CartItem.product_id == pid)).first()
    if item is None:
        count = db.session.query(CartItem).filter_by(user_id=user.id).count()
        if count >= MAX_CART_ITEMS:
            raise ServiceError(Problem("cart_full", f"购物车最多{MAX_CART_ITEMS}种商品，请先提交或清理"))
        item = CartItem(user_id=user.id, product_id=pid, quantity=0)
        db.session.add(item)
    new_q = (item.quantity or 0) + q
    if new_q > MAX_QUANTITY:
        raise ServiceError(Problem("invalid_quantity", f"数量须在1至{MAX_QUANTITY}之间", field="quantity"))
    item.quantity = new_q
    item.price_seen = product.price
    db.session.flush()
    return item


def _own_item(user, item_id) -> CartItem:
    require("cart.use", user=user)
    try:
        iid = int(str(item_id).strip())
    except (TypeError, ValueError):
        raise NotFound("购物车商品")
    item = db.session.get(CartItem, iid)
    if item is None or item.user_id != user.id:
        raise NotFound("购物车商品")
    return item


def set_quantity(user, item_id, quantity) -> CartItem:
    item = _own_item(user, item_id)
    item.quantity = _quantity(quantity)
    return item


def accept_price(user, item_id) -> CartItem:
    """The buyer has seen the new price: it becomes the expected price."""
    item = _own_item(user, item_id)
    item.price_seen = item.product.price
    return item


def remove(user, item_id) -> None:
    db.session.delete(_own_item(user, item_id))


def clear_products(user, product_ids) -> None:
    """Remove these products from the cart (after their order was placed)."""
    ids = list(product_ids)
    if ids:
        db.session.query(CartItem).filter(CartItem.user_id == user.id, CartItem.product_id.in_(ids)) \
            .delete(synchronize_session="fetch")


def count(user) -> int:
    return db.session.query(CartItem).filter_by(user_id=user.id).count()


# ------------------------------------------------------------------ the cart page

@dataclass
class CartLine:
    item: CartItem
    product: Product
    sellable: bool
    reason: Optional[str]

    @property
    def price(self) -> Decimal:
        return Decimal(self.product.price)

    @property
    def price_seen(self) -> Decimal:
        return Decimal(self.item.price_seen)

    @property
    def price_delta(self) -> Decimal:
        return self.price - self.price_seen

    @property
    def price_changed(self) -> bool:
        return self.price_delta != 0

    @property
    def stock_short(self) -> int:
        return max(0, self.item.quantity - int(self.product.stock or 0))

    @property
    def line_total(self) -> Decimal:
        return self.price * self.item.quantity


@dataclass
class CartGroup:
    key: str
    supplier_id: int
    supplier_name: str
    zone_code: str
    agreement: Optional[Agreement]
    lines: list = field(default_factory=list)
    budget_line_id: Optional[int] = None
    payment_method: str = "treasury"
    evaluation: Optional[Evaluation] = None

    @property
    def zone_label(self) -> str:
        return ZONE_LABELS.get(self.zone_code, self.zone_code)

    @property
    def total(self) -> Decimal:
        return sum((ln.line_total for ln in self.lines), Decimal("0"))

    @property
    def is_sme(self) -> bool:
        return all(ln.product.is_sme for ln in self.lines)

    @property
    def errors(self):
        return self.evaluation.errors if self.evaluation else []

    @property
    def warnings(self):
        return self.evaluation.warnings if self.evaluation else []

    def line_requests(self) -> list[services.LineRequest]:
        return [services.LineRequest(ln.product.id, ln.item.quantity, expected_price=ln.price_seen)
                for ln in self.lines]


def group_key(product: Product) -> str:
    agreement_id = product.agreement_price.agreement_id if product.agreement_price is not None else 0
    return f"{product.supplier_id}-{product.zone_code}-{agreement_id or 0}"


def budget_lines_for(user, year: int | None = None) -> list[BudgetLine]:
    require("budget.read", user=user)
    q = select(BudgetLine).where(BudgetLine.unit_id == user.organisation_id)
    if year is not None:
        q = q.where(BudgetLine.year == year)
    return db.session.scalars(q.order_by(BudgetLine.year.desc(), BudgetLine.project_code, BudgetLine.id)).all()


def groups(user, choices: dict | None = None, evaluate: bool = True) -> list[CartGroup]:
    """The cart as groups (future orders), each checked by the rules with its chosen budget line.

    ``choices``: group key → {"budget_line_id": int, "payment_method": str}."""
    require("cart.use", user=user)
    choices = choices or {}
    items = db.session.scalars(
        select(CartItem).where(CartItem.user_id == user.id).order_by(CartItem.added_at, CartItem.id)
        .options(selectinload(CartItem.product).selectinload(Product.supplier),
                 selectinload(CartItem.product).selectinload(Product.agreement_price)
                 .selectinload(AgreementPrice.agreement))).all()
    budget_lines = budget_lines_for(user, today().year)
    out: dict[str, CartGroup] = {}
    profiles: dict[int, SupplierProfile | None] = {}
    for item in items:
        p = item.product
        if p.supplier_id not in profiles:
            profiles[p.supplier_id] = db.session.get(SupplierProfile, p.supplier_id)
        ok, reason = _sellable(p, profiles[p.supplier_id])
        key = group_key(p)
        g = out.get(key)
        if g is None:
            g = out[key] = CartGroup(key=key, supplier_id=p.supplier_id, supplier_name=p.supplier.name,
                                     zone_code=p.zone_code,
                                     agreement=p.agreement_price.agreement if p.agreement_price else None)
        g.lines.append(CartLine(item=item, product=p, sellable=ok, reason=reason))
    for g in out.values():
        chosen = choices.get(g.key, {})
        g.payment_method = chosen.get("payment_method") if chosen.get("payment_method") in ("card", "treasury") \
            else "treasury"
        ids = {b.id for b in budget_lines}
        bid = chosen.get("budget_line_id")
        if bid in ids:
            g.budget_line_id = bid
        else:
            fitting = [b for b in budget_lines if b.available >= g.total]
            g.budget_line_id = (fitting or budget_lines or [None])[0].id if (fitting or budget_lines) else None
        if evaluate:
            g.evaluation = services.check_order(user, budget_line_id=g.budget_line_id, lines=g.line_requests(),
                                                payment_method=g.payment_method)
    return list(out.values())
