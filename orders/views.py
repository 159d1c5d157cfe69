"""Buying pages: cart, checkout, orders, order detail with its lifecycle actions, budget lines."""
from __future__ import annotations

import uuid
from urllib.parse import urlparse

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from mall.authz import can, require
from mall.extensions import db
from mall.problems import ServiceError
from mall.timeutil import today

from . import cart as cart_module, lifecycle, services
from .forms import AddToCartForm, CartItemForm, CheckoutForm, TransitionForm
from .models import ORDER_STATUSES, PAYMENT_METHODS, BudgetLine, IdempotencyRecord, Order, RiskFlag

bp = Blueprint("orders", __name__)

STATUS_STYLES = {
    "submitted": "warning text-dark", "confirmed": "info text-dark", "rejected": "secondary",
    "shipped": "primary", "delivered": "primary", "accepted": "success", "paid": "success",
    "archived": "dark", "cancelled": "secondary",
}
# Mini-competition (二次竞价) entry points, if the competitions feature is installed.
COMPETITION_ENDPOINTS = ("competitions.new", "competitions.create", "orders.competition_new")


@bp.app_context_processor
def _order_globals():
    return {"ORDER_STATUS_STYLES": STATUS_STYLES, "ORDER_STATUSES": ORDER_STATUSES,
            "PAYMENT_METHODS": PAYMENT_METHODS}


def _flash_problems(problems, prefix: str = "") -> None:
    for p in problems:
        flash(prefix + p.message, "danger" if p.severity == "error" else "warning")


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        ref = urlparse(target)
        if ref.netloc and ref.netloc == request.host:
            return ref.path + (("?" + ref.query) if ref.query else "")
        return None
    return target


def competition_url() -> str | None:
    for endpoint in COMPETITION_ENDPOINTS:
        if endpoint in current_app.view_functions:
            try:
                return url_for(endpoint)
            except Exception:  # noqa: BLE001 - the endpoint needs arguments: no generic link
                continue
    return None


# ------------------------------------------------------------------ cart

def _choices(source) -> dict:
    out: dict = {}
    for name, value in source.items():
        for prefix, field in (("budget_", "budget_line_id"), ("payment_", "payment_method")):
            if name.startswith(prefix):
                key = name[len(prefix):]
                entry = out.setdefault(key, {})
                if field == "budget_line_id":
                    try:
                        entry[field] = int(value)
                    except (TypeError, ValueError):
                        continue
                else:
                    entry[field] = value
    return out


@bp.route("/cart")
@login_required
def cart():
    require("cart.use")
    groups = cart_module.groups(current_user, _choices(request.args))
    budget_lines = cart_module.budget_lines_for(current_user, today().year)
    return render_template("orders/cart.html", groups=groups, budget_lines=budget_lines,
                           token=uuid.uuid4().hex, item_form=CartItemForm(), checkout_form=CheckoutForm(),
                           competition_url=competition_url(), grand_total=sum((g.total for g in groups), 0),
                           card_default=bool(current_app.config.get("STRIPE_DEFAULT_PAYMENT_METHOD")))


@bp.route("/cart/add", methods=["POST"])
@login_required
def cart_add():
    form = AddToCartForm()
    back = _safe_next(form.next.data) or _safe_next(request.referrer) or url_for("orders.cart")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(e if isinstance(e, str) else "表单有误", "danger")
        return redirect(back)
    try:
        item = cart_module.add(current_user, form.product_id.data, form.quantity.data)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        if exc.status in (401, 403, 404):
            raise
        _flash_problems(exc.problems)
        return redirect(back)
    flash(f"已加入购物车：{item.product.title} × {form.quantity.data}（购物车中共{item.quantity}件）", "success")
    return redirect(back)


@bp.route("/cart/update", methods=["POST"])
@login_required
def cart_update():
    form = CartItemForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(e if isinstance(e, str) else "表单有误", "danger")
        return redirect(url_for("orders.cart"))
    try:
        if form.action.data == "remove":
            cart_module.remove(current_user, form.item_id.data)
            message = "已从购物车删除"
        elif form.action.data == "accept_price":
            item = cart_module.accept_price(current_user, form.item_id.data)
            message = f"已确认{item.product.title}的新价格"
        else:
            if form.quantity.data is None:
                flash("请填写数量", "danger")
                return redirect(url_for("orders.cart"))
            cart_module.set_quantity(current_user, form.item_id.data, form.quantity.data)
            message = "数量已更新"
        db.session.commit()
        flash(message, "success")
    except ServiceError as exc:
        db.session.rollback()
        if exc.status in (401, 403, 404):
            raise
        _flash_problems(exc.problems)
    return redirect(url_for("orders.cart"))


@bp.route("/cart/checkout", methods=["POST"])
@login_required
def checkout():
    """Place one order per cart group, each in its own transaction; a repeated submission of the
    same page (double click) finds the first answer and creates nothing more."""
    require("cart.use")
    form = CheckoutForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(e if isinstance(e, str) else "表单有误", "danger")
        return redirect(url_for("orders.cart"))
    user = current_user._get_current_object()
    token = form.token.data
    choices = _choices(request.form)
    groups = cart_module.groups(user, choices, evaluate=False)
    if form.group.data:
        groups = [g for g in groups if g.key == form.group.data]
    if not groups:
        earlier = db.session.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user.id,
            IdempotencyRecord.key.startswith(f"cart:{token}:", autoescape=True))).all()
        if earlier:
            flash("该购物车已提交，未重复下单：" + "、".join(r.response.get("number", "") for r in earlier
                                                        if r.response), "info")
            if len(earlier) == 1 and earlier[0].response:
                return redirect(url_for("orders.detail", order_id=earlier[0].response["order_id"]))
            return redirect(url_for("orders.list"))
        flash("购物车中没有可提交的商品", "warning")
        return redirect(url_for("orders.cart"))

    placed, refused = [], 0
    for g in groups:
        note = (request.form.get(f"note_{g.key}") or "").strip()[:500] or None
        address = (request.form.get(f"address_{g.key}") or "").strip()[:300] or None
        card = (request.form.get(f"card_{g.key}") or "").strip() or None if g.payment_method == "card" else None
        reqs = g.line_requests()
        fp = services.fingerprint({"group": g.key, "budget": g.budget_line_id, "payment": g.payment_method,
                                   "lines": [(r.product_id, r.quantity, str(r.expected_price)) for r in reqs],
                                   "note": note, "address": address, "card": card})

        def produce(g=g, reqs=reqs, note=note, address=address, card=card):
            order, evaluation = services.place_order(user, budget_line_id=g.budget_line_id, lines=reqs,
                                                     payment_method=g.payment_method, note=note,
                                                     delivery_address=address, card_payment_method=card)
            cart_module.clear_products(user, [r.product_id for r in reqs])
            return 201, {"order_id": order.id, "number": order.number, "total": str(order.total),
                         "supplier": g.supplier_name,
                         "warnings": [p.message for p in evaluation.warnings]}

        try:
            _, body, replayed = services.run_idempotent(user, f"cart:{token}:{g.key}", "orders.checkout", fp, produce)
        except ServiceError as exc:
            db.session.rollback()
            refused += 1
            _flash_problems([p for p in exc.problems if p.severity == "error"],
                            prefix=f"{g.supplier_name}的订单未提交：")
            continue
        placed.append(body)
        flash(("订单已提交（重复提交未再次下单）：" if replayed else "订单已提交：")
              + f"{body['number']}（{body['supplier']}，金额¥{body['total']}）", "success")
        for w in body.get("warnings") or ():
            flash(w, "warning")
    if len(placed) == 1 and not refused:
        return redirect(url_for("orders.detail", order_id=placed[0]["order_id"]))
    if placed and not refused:
        return redirect(url_for("orders.list"))
    return redirect(url_for("orders.cart", **{f"budget_{k}": v["budget_line_id"] for k, v in choices.items()
                                             if "budget_line_id" in v}))


# ------------------------------------------------------------------ orders

@bp.route("/orders")
@login_required
def list():  # noqa: A001 - endpoint name orders.list
    require("order.list")
    q = services.visible_orders_query(current_user)
    status = request.args.get("status") or ""
    if status in ORDER_STATUSES:
        q = q.where(Order.status == status)
    number = (request.args.get("q") or "").strip()[:40]
    if number:
        q = q.where(Order.number.startswith(number.upper(), autoescape=True))
    budget_line_id = request.args.get("budget_line", type=int)
    if budget_line_id:
        q = q.where(Order.budget_line_id == budget_line_id)
    counts = _status_counts()
    page = db.paginate(q.order_by(Order.id.desc()).options(selectinload(Order.buyer_unit),
                                                           selectinload(Order.supplier)),
                       page=max(1, request.args.get("page", 1, type=int) or 1), per_page=20, error_out=False)
    return render_template("orders/list.html", orders=page, status=status, number=number,
                           counts=counts, budget_line_id=budget_line_id)


def _status_counts() -> dict:
    sub = services.visible_orders_query(current_user).subquery()
    return {s: n for s, n in db.session.execute(select(sub.c.status, func.count()).group_by(sub.c.status))}


@bp.route("/orders/<int:order_id>")
@login_required
def detail(order_id):
    order = services.get_visible_order(order_id)
    actions = services.allowed_actions(order, current_user)
    flags = []
    if can(current_user, "audit.read"):
        flags = db.session.scalars(select(RiskFlag).where(RiskFlag.order_id == order.id)
                                   .order_by(RiskFlag.id)).all()
    budget = db.session.get(BudgetLine, order.budget_line_id)
    show_budget = can(current_user, "audit.read") or (current_user.role == "buyer")
    return render_template("orders/detail.html", order=order, actions=actions, flags=flags, budget=budget,
                           show_budget=show_budget, form=TransitionForm(), lifecycle=lifecycle,
                           role_labels=lifecycle.ROLE_LABELS)


@bp.route("/orders/<int:order_id>/transition", methods=["POST"])
@login_required
def transition(order_id):
    order = services.get_visible_order(order_id)
    form = TransitionForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(e if isinstance(e, str) else "表单有误", "danger")
        return redirect(url_for("orders.detail", order_id=order.id))
    try:
        change = services.transition(order, form.to.data, note=form.note.data)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        if exc.status in (401, 404):
            raise
        _flash_problems(exc.problems)
        return redirect(url_for("orders.detail", order_id=order_id))
    flash(f"订单{order.number}已变更为“{ORDER_STATUSES.get(change.to_status)}”", "success")
    return redirect(url_for("orders.detail", order_id=order_id))


# ------------------------------------------------------------------ budget

@bp.route("/budget")
@login_required
def budget_lines():
    require("budget.read")
    year = request.args.get("year", type=int)
    lines = cart_module.budget_lines_for(current_user, year)
    years = sorted({b.year for b in cart_module.budget_lines_for(current_user)}, reverse=True)
    open_counts = dict(db.session.execute(
        select(Order.budget_line_id, func.count()).where(Order.buyer_unit_id == current_user.organisation_id,
                                                         Order.status.in_(("submitted", "confirmed", "shipped",
                                                                           "delivered", "accepted")))
        .group_by(Order.budget_line_id)).all())
    totals = {k: sum((getattr(b, k) for b in lines), 0) for k in ("amount", "reserved", "spent", "available")}
    return render_template("orders/budget.html", lines=lines, years=years, year=year, open_counts=open_counts,
                           totals=totals)
