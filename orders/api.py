"""Orders API: checkout (with Idempotency-Key), rule check, orders, transitions, budget lines."""
from __future__ import annotations

import marshmallow as ma
from flask import jsonify, request
from flask.views import MethodView
from flask_login import current_user
from sqlalchemy.orm import selectinload

from mall.api import api_blueprint
from mall.api.core import OrganisationBrief
from mall.api.schemas import Id, PageArgsSchema, ProblemSchema, ProblemsSchema, paged
from mall.authz import require
from mall.extensions import db

from . import cart, services
from .models import ORDER_STATUSES, Order
from .payments import CARD_TOKEN
from .rules import MAX_LINES, MAX_QUANTITY

blp = api_blueprint("orders", __name__, description="Orders, checkout and budget lines")

Money = lambda **kw: ma.fields.Decimal(as_string=True, places=2, **kw)  # noqa: E731


# ------------------------------------------------------------------ schemas

class OrderLineInSchema(ma.Schema):
    product_id = Id(required=True, strict=True)
    quantity = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(min=1, max=MAX_QUANTITY))
    expected_unit_price = Money(allow_none=True, validate=ma.validate.Range(min=0), metadata={
        "description": "the unit price the buyer saw; a higher current price refuses (price_increased)"})


class OrderInSchema(ma.Schema):
    budget_line_id = Id(required=True, strict=True)
    lines = ma.fields.List(ma.fields.Nested(OrderLineInSchema), required=True,
                           validate=ma.validate.Length(min=1, max=MAX_LINES))
    payment_method = ma.fields.String(load_default="treasury", validate=ma.validate.OneOf(["treasury", "card"]))
    card_payment_method = ma.fields.String(allow_none=True, validate=ma.validate.Regexp(
        CARD_TOKEN, error="公务卡支付令牌须以 pm_ 开头（发卡行提供）"), metadata={
        "description": "payment_method card: the official card's token from the issuing bank (Stripe pm_…); "
                       "without it the deployment's STRIPE_DEFAULT_PAYMENT_METHOD, if set"})
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=500))
    delivery_address = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=300))


class OrderLineSchema(ma.Schema):
    id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    category_code = ma.fields.String()
    title = ma.fields.String()
    brand = ma.fields.String(allow_none=True)
    model = ma.fields.String(allow_none=True)
    unit = ma.fields.String()
    quantity = ma.fields.Integer()
    unit_price = Money()
    reference_price = Money()
    line_total = Money()
    savings = Money()


class StatusChangeSchema(ma.Schema):
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String()
    actor_role = ma.fields.String()
    note = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class TransitionOptionSchema(ma.Schema):
    to = ma.fields.String()
    action = ma.fields.String()
    note_required = ma.fields.Boolean()
    note_label = ma.fields.String(allow_none=True)


class OrderBriefSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    status = ma.fields.String()
    status_label = ma.fields.String()
    payment_method = ma.fields.String()
    buyer_unit = ma.fields.Nested(OrganisationBrief)
    supplier = ma.fields.Nested(OrganisationBrief)
    budget_line_id = ma.fields.Integer()
    zone_code = ma.fields.String()
    agreement_id = ma.fields.Integer(allow_none=True)
    competition_id = ma.fields.Integer(allow_none=True)
    total = Money()
    reference_total = Money()
    savings = Money()
    budget_year = ma.fields.Integer()
    is_sme = ma.fields.Boolean()
    placed_at = ma.fields.DateTime()
    confirm_deadline = ma.fields.DateTime(allow_none=True)


class OrderSchema(OrderBriefSchema):
    note = ma.fields.String(allow_none=True)
    delivery_address = ma.fields.String(allow_none=True)
    accepted_at = ma.fields.DateTime(allow_none=True)
    acceptance_note = ma.fields.String(allow_none=True)
    paid_at = ma.fields.DateTime(allow_none=True)
    closed_reason = ma.fields.String(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(OrderLineSchema))
    history = ma.fields.List(ma.fields.Nested(StatusChangeSchema))
    policy_snapshot = ma.fields.Dict(metadata={"description": "policy version and thresholds that judged the order"})
    rule_results = ma.fields.List(ma.fields.Dict(), metadata={"description": "each rule's outcome at checkout"})
    warnings = ma.fields.List(ma.fields.Nested(ProblemSchema), dump_only=True)
    allowed_transitions = ma.fields.List(ma.fields.Nested(TransitionOptionSchema), dump_only=True)


class OrderPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(OrderBriefSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class OrderListArgs(PageArgsSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(list(ORDER_STATUSES)))
    q = ma.fields.String(validate=ma.validate.Length(max=40), metadata={"description": "order number (prefix)"})


class CheckResultSchema(ma.Schema):
    ok = ma.fields.Boolean()
    total = Money()
    problems = ma.fields.List(ma.fields.Nested(ProblemSchema))
    rule_results = ma.fields.List(ma.fields.Dict())


class TransitionInSchema(ma.Schema):
    to = ma.fields.String(required=True, validate=ma.validate.OneOf(list(ORDER_STATUSES)))
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=1000))


class BudgetLineSchema(ma.Schema):
    id = ma.fields.Integer()
    year = ma.fields.Integer()
    project_code = ma.fields.String()
    project_name = ma.fields.String()
    economic_class = ma.fields.String()
    economic_class_name = ma.fields.String()
    amount = Money()
    reserved = Money()
    spent = Money()
    available = Money()


class BudgetLineArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    year = ma.fields.Integer(validate=ma.validate.Range(min=2000, max=2100))


_ORDER_SCHEMA = OrderSchema()   # schemas are stateless when dumping: built once, not per request
_ORDER_IN_SCHEMA = OrderInSchema()


def order_body(order: Order, user=None, evaluation=None) -> dict:
    data = _ORDER_SCHEMA.dump(order)
    data["allowed_transitions"] = [
        {"to": e.target, "action": e.action, "note_required": e.note_required, "note_label": e.note_label}
        for e in services.allowed_actions(order, user or current_user)]
    if evaluation is not None:
        data["warnings"] = [p.to_dict() for p in evaluation.warnings]
    return data


IDEMPOTENCY_DOC = {"parameters": [{
    "in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string", "maxLength": 200},
    "description": "a repeated POST with the same key returns the first answer instead of a second order"}]}


# ------------------------------------------------------------------ endpoints

@blp.route("/orders")
class Orders(MethodView):
    @blp.arguments(OrderListArgs, location="query")
    @blp.response(200, OrderPageSchema)
    def get(self, args):
        """Orders you may see: a buyer its unit's, a supplier its own, auditors and operators all."""
        require("order.list")
        q = services.visible_orders_query(current_user)
        if args.get("status"):
            q = q.where(Order.status == args["status"])
        if args.get("q"):
            q = q.where(Order.number.startswith(args["q"].strip().upper(), autoescape=True))
        return paged(q.order_by(Order.id.desc()).options(
            selectinload(Order.buyer_unit), selectinload(Order.supplier)), args)

    @blp.arguments(OrderInSchema)
    @blp.response(201, OrderSchema)
    @blp.alt_response(422, schema=ProblemsSchema, description="refused by the checkout rules (`problems`), or the "
                      "Idempotency-Key was used for a different request (`idempotency_key_reused`)")
    @blp.doc(**IDEMPOTENCY_DOC)
    def post(self, data):
        """Place one order (all lines of one supplier) after every checkout rule passed."""
        require("order.create")
        user = current_user._get_current_object()

        def produce():
            answer = {}
            services.place_order(
                user, budget_line_id=data["budget_line_id"], lines=data["lines"],
                payment_method=data.get("payment_method") or "treasury", note=data.get("note"),
                delivery_address=data.get("delivery_address"), card_payment_method=data.get("card_payment_method"),
                before_flush=lambda order, ev: answer.update(order_body(order, user, ev)))
            return 201, answer

        status, body, replayed = services.run_idempotent(
            user, request.headers.get("Idempotency-Key"), "api.orders.create",
            services.fingerprint(_ORDER_IN_SCHEMA.dump(data)), produce)
        resp = jsonify(body)
        resp.status_code = status
        if replayed:
            resp.headers["Idempotent-Replayed"] = "true"
        return resp


@blp.route("/orders/check")
class OrderCheck(MethodView):
    @blp.arguments(OrderInSchema)
    @blp.response(200, CheckResultSchema)
    def post(self, data):
        """Run every checkout rule without placing anything: problems and warnings."""
        require("order.create")
        ev = services.check_order(current_user, budget_line_id=data["budget_line_id"], lines=data["lines"],
                                  payment_method=data.get("payment_method") or "treasury")
        return {"ok": ev.ok, "problems": [p.to_dict() for p in ev.problems], "rule_results": ev.results,
                "total": ev.total}


@blp.route("/orders/<int:order_id>")
class OrderItem(MethodView):
    @blp.response(200, OrderSchema)
    def get(self, order_id):
        """One order with its lines, status history and the rules that judged it."""
        order = services.get_visible_order(order_id)
        return jsonify(order_body(order))


@blp.route("/orders/<int:order_id>/transitions")
class OrderTransitions(MethodView):
    @blp.arguments(TransitionInSchema)
    @blp.response(200, OrderSchema)
    @blp.alt_response(403, description="transition_not_allowed_for_role")
    @blp.alt_response(409, description="invalid_transition")
    def post(self, data, order_id):
        """Move the order along the lifecycle (role per edge, see orders/lifecycle.py)."""
        require("order.list")
        services.transition(order_id, data["to"], note=data.get("note"))
        db.session.commit()
        order = services.get_visible_order(order_id)
        return jsonify(order_body(order))


@blp.route("/budget-lines")
class BudgetLines(MethodView):
    @blp.arguments(BudgetLineArgs, location="query")
    @blp.response(200, BudgetLineSchema(many=True))
    def get(self, args):
        """Your unit's budget lines (预算指标) with amount, reserved, spent and available."""
        require("budget.read")
        return cart.budget_lines_for(current_user, args.get("year"))
