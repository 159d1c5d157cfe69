"""Catalog API: the 品目 classification, policy versions and framework agreements.

Reading the classification and the agreements (entrants, contacts, agreement prices) is public,
as on the public pages; the policy in force is for signed-in users; writes are for operators
(``agreement.manage``), except a supplier's application to join an open agreement.
"""
from __future__ import annotations

import marshmallow as ma
from flask_login import current_user
from sqlalchemy import or_, select

from mall.api import api_blueprint
from mall.api.schemas import ApiErrorSchema as ErrorSchema, Id, PageArgsSchema, ProblemsSchema, paged
from mall.authz import can, require
from mall.extensions import db
from mall.problems import NotFound, Problem, ServiceError
from mall.timeutil import today
from . import agreements as svc
from . import pinmu
from . import policy as policy_svc
from .models import (AGREEMENT_KINDS, AGREEMENT_STATUSES, Agreement, AgreementCategory, AgreementSupplier,
                     PolicyVersion)

blp = api_blueprint("catalog", __name__, description="品目 classification, products, agreements, policy")

PUBLIC_STATUSES = ("active", "suspended", "expired")


# ------------------------------------------------------------------ schemas

class CategoryBriefSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "goods / works / services"})
    level = ma.fields.Integer()
    parent = ma.fields.String(allow_none=True)
    children_count = ma.fields.Integer()


class PathEntrySchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()


class CategoryNodeSchema(CategoryBriefSchema):
    description = ma.fields.String(allow_none=True)
    path = ma.fields.List(ma.fields.Nested(PathEntrySchema),
                          metadata={"description": "root first, self last"})
    children = ma.fields.List(ma.fields.Nested(CategoryBriefSchema))


def _brief(node: pinmu.Node) -> dict:
    return {"code": node.code, "name": node.name, "kind": node.kind, "level": node.level,
            "parent": node.parent_code, "children_count": len(node.children)}


class PolicyItemSchema(ma.Schema):
    category_code = ma.fields.String()
    category_name = ma.fields.Function(lambda i: pinmu.name_of(i.category_code))
    min_amount = ma.fields.Decimal(as_string=True, allow_none=True,
                                   metadata={"description": "amount condition (单项或批量), null: any amount"})
    note = ma.fields.String(allow_none=True)


class PolicySchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    status = ma.fields.String()
    effective_from = ma.fields.Date()
    effective_to = ma.fields.Date(allow_none=True)
    decentralized_threshold_goods = ma.fields.Decimal(as_string=True)
    decentralized_threshold_services = ma.fields.Decimal(as_string=True)
    decentralized_threshold_works = ma.fields.Decimal(as_string=True)
    open_tender_threshold_goods = ma.fields.Decimal(as_string=True)
    open_tender_threshold_services = ma.fields.Decimal(as_string=True)
    open_tender_threshold_works = ma.fields.Decimal(as_string=True)
    direct_purchase_limit = ma.fields.Decimal(as_string=True)
    sme_price_deduction = ma.fields.Decimal(as_string=True)
    split_window_days = ma.fields.Integer()
    split_action = ma.fields.String()
    cumulative_warning_ratio = ma.fields.Decimal(as_string=True)
    note = ma.fields.String(allow_none=True)
    items_count = ma.fields.Function(lambda p: len(p.items))


class PolicyDetailSchema(PolicySchema):
    items = ma.fields.List(ma.fields.Nested(PolicyItemSchema))


class PolicyQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    date = ma.fields.Date(load_default=None, metadata={"description": "the day to judge (default today)"})


class AgreementPriceSchema(ma.Schema):
    id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    category_code = ma.fields.String()
    category_name = ma.fields.Function(lambda p: pinmu.name_of(p.category_code))
    brand = ma.fields.String()
    model = ma.fields.String()
    max_price = ma.fields.Decimal(as_string=True)
    discount_note = ma.fields.String(allow_none=True)


class EntrantSchema(ma.Schema):
    id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    supplier_name = ma.fields.Function(lambda e: e.supplier.name)
    uscc = ma.fields.Function(lambda e: e.supplier.uscc)
    contact_name = ma.fields.Function(lambda e: e.supplier.contact_name)
    contact_phone = ma.fields.Function(lambda e: e.supplier.contact_phone)
    sme_size = ma.fields.Function(lambda e: e.supplier.supplier_profile.sme_size
                                  if e.supplier.supplier_profile else None)
    is_sme = ma.fields.Function(lambda e: bool(e.supplier.supplier_profile
                                               and e.supplier.supplier_profile.is_sme))
    status = ma.fields.String()
    rotation_position = ma.fields.Integer(allow_none=True)
    prices = ma.fields.Method("get_prices")

    def get_prices(self, e):
        rows = [p for p in e.agreement.prices if p.supplier_id == e.supplier_id]
        return AgreementPriceSchema(many=True).dump(sorted(rows, key=lambda p: (p.brand, p.model)))


class ApplicationSchema(ma.Schema):
    id = ma.fields.Integer()
    agreement_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    supplier_name = ma.fields.Function(lambda e: e.supplier.name)
    status = ma.fields.String()
    applied_at = ma.fields.DateTime(allow_none=True)
    decided_at = ma.fields.DateTime(allow_none=True)
    decision_note = ma.fields.String(allow_none=True)
    review_deadline = ma.fields.Function(lambda e: (svc.review_deadline(e).isoformat()
                                                    if svc.review_deadline(e) else None))


class AgreementSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    title = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "closed (封闭式) / open (开放式)"})
    subject = ma.fields.String(metadata={"description": "goods / services"})
    zone_code = ma.fields.String()
    second_stage = ma.fields.String(metadata={"description": "direct / competition / rotation"})
    status = ma.fields.String(metadata={"description": "draft / active / suspended / expired"})
    term_start = ma.fields.Date()
    term_end = ma.fields.Date()
    procuring_body = ma.fields.String(allow_none=True)
    description = ma.fields.String(allow_none=True)
    categories = ma.fields.Function(lambda a: [{"code": c, "name": pinmu.name_of(c)}
                                               for c in a.category_codes])
    valid_today = ma.fields.Function(lambda a: a.valid_on(today()))
    entrants_count = ma.fields.Function(lambda a: len(svc.admitted_entrants(a)))


class AgreementDetailSchema(AgreementSchema):
    entrants = ma.fields.Method("get_entrants")

    def get_entrants(self, a):
        rows = sorted((e for e in a.entrants if e.status in ("admitted", "suspended")),
                      key=lambda e: (e.rotation_position or 10 ** 6, e.id))
        return EntrantSchema(many=True).dump(rows)


class AgreementPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AgreementSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class AgreementQuerySchema(PageArgsSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(list(AGREEMENT_STATUSES)))
    kind = ma.fields.String(validate=ma.validate.OneOf(list(AGREEMENT_KINDS)))
    category = ma.fields.String(validate=ma.validate.Regexp(r"^[A-Za-z0-9]{1,12}$"),
                                metadata={"description": "品目 code: agreements covering it, its ancestors "
                                                         "or descendants"})
    supplier = Id(metadata={"description": "organisation id of an admitted entrant"})
    q = ma.fields.String(validate=[ma.validate.Length(max=100), ma.validate.Regexp(r"^[^\x00-\x1f]*$")])


class AgreementInputSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    number = ma.fields.String()
    title = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "closed / open"})
    subject = ma.fields.String(metadata={"description": "goods (term ≤ 1 year) / services (≤ 2 years)"})
    zone_code = ma.fields.String()
    second_stage = ma.fields.String(metadata={"description": "direct / competition / rotation"})
    term_start = ma.fields.Date()
    term_end = ma.fields.Date()
    categories = ma.fields.List(ma.fields.String(), metadata={"description": "品目 codes"})
    procuring_body = ma.fields.String(allow_none=True)
    description = ma.fields.String(allow_none=True)


class StatusInputSchema(ma.Schema):
    to = ma.fields.String(required=True, validate=ma.validate.OneOf(list(AGREEMENT_STATUSES)))
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=1000))


class ProductSyncSchema(ma.Schema):
    halted = ma.fields.Integer()
    restored = ma.fields.Integer()
    changed = ma.fields.Integer()


class StatusResultSchema(ma.Schema):
    agreement = ma.fields.Nested(AgreementSchema)
    products = ma.fields.Nested(ProductSyncSchema)


class DecisionInputSchema(ma.Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(["admit", "reject"]))
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))




class EntrantInputSchema(ma.Schema):
    supplier_id = Id(required=True)
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))


class PriceInputSchema(ma.Schema):
    supplier_id = Id(required=True)
    category_code = ma.fields.String(load_default=None, allow_none=True)
    brand = ma.fields.String(required=True)
    model = ma.fields.String(required=True)
    max_price = ma.fields.Raw(required=True, metadata={"description": "decimal string, e.g. \"4999.00\""})
    discount_note = ma.fields.String(load_default=None, allow_none=True)


class PricesInputSchema(ma.Schema):
    prices = ma.fields.List(ma.fields.Nested(PriceInputSchema), required=True,
                            validate=ma.validate.Length(min=1, max=1000))


class ApplyInputSchema(ma.Schema):
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))


ERRORS = {401: "not signed in", 403: "not allowed", 404: "not found", 409: "state conflict",
          422: "refused by a rule"}


def _errors(*codes):
    def decorate(fn):
        for code in codes:
            fn = blp.alt_response(code, schema=ProblemsSchema if code == 422 else ErrorSchema,
                                  description=ERRORS[code])(fn)
        return fn
    return decorate


# ------------------------------------------------------------------ categories

@blp.route("/categories")
@blp.response(200, CategoryBriefSchema(many=True))
@blp.doc(security=[])
def categories():
    """The roots of the 2022 品目 classification (A goods, B works, C services)."""
    return [_brief(n) for n in pinmu.tree().values() if n.parent_code is None]


@blp.route("/categories/<code>")
@blp.response(200, CategoryNodeSchema)
@_errors(404)
@blp.doc(security=[])
def category(code):
    """One 品目 with its path from the root and its children."""
    nodes = pinmu.tree()
    node = nodes.get(code.strip().upper())
    if node is None:
        raise NotFound(f"品目编码“{code}”", code="category_not_found")
    return {**_brief(node), "description": node.description,
            "path": [{"code": c, "name": nodes[c].name} for c in pinmu.path_of(node.code)],
            "children": [_brief(nodes[c]) for c in node.children]}


# ------------------------------------------------------------------ policy

@blp.route("/policy/current")
@blp.arguments(PolicyQuerySchema, location="query")
@blp.response(200, PolicyDetailSchema)
@_errors(401, 404)
def policy_current(args):
    """The version of the centralized catalog and thresholds in force today (or on ``date``)."""
    require("policy.read")
    day = args.get("date") or today()
    version = policy_svc.policy_in_force(day)
    if version is None:
        raise ServiceError(Problem("no_policy_in_force", f"{day}没有生效的集中采购目录及限额标准版本",
                                   figures={"date": day}), status=404)
    return version


@blp.route("/policy/versions")
@blp.response(200, PolicySchema(many=True))
@_errors(401)
def policy_versions():
    """Published versions, newest first (operators also see drafts)."""
    require("policy.read")
    q = select(PolicyVersion).order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc())
    if not can(current_user, "policy.manage"):
        q = q.where(PolicyVersion.status == "published")
    return db.session.scalars(q).all()


# ------------------------------------------------------------------ agreements

def _visible_agreement(agreement_id: int) -> Agreement:
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None or (agreement.status not in PUBLIC_STATUSES
                             and not can(current_user, "agreement.manage")):
        raise NotFound("框架协议", code="agreement_not_found")
    return agreement


@blp.route("/agreements")
@blp.arguments(AgreementQuerySchema, location="query")
@blp.response(200, AgreementPageSchema)
@blp.doc(security=[])
def agreements(args):
    """Framework agreements (drafts only for operators), filtered by status, kind, 品目 or entrant."""
    q = select(Agreement)
    if not can(current_user, "agreement.manage"):
        q = q.where(Agreement.status.in_(PUBLIC_STATUSES))
    if args.get("status"):
        q = q.where(Agreement.status == args["status"])
    if args.get("kind"):
        q = q.where(Agreement.kind == args["kind"])
    if args.get("category"):
        code = args["category"].strip().upper()
        codes = set(pinmu.path_of(code)) | set(pinmu.descendants(code)) | {code}
        q = q.where(Agreement.id.in_(select(AgreementCategory.agreement_id)
                                     .where(AgreementCategory.category_code.in_(codes))))
    if args.get("supplier"):
        q = q.where(Agreement.id.in_(select(AgreementSupplier.agreement_id).where(
            AgreementSupplier.supplier_id == args["supplier"], AgreementSupplier.status == "admitted")))
    if args.get("q"):
        q = q.where(or_(Agreement.number.contains(args["q"]), Agreement.title.contains(args["q"])))
    return paged(q.order_by(Agreement.id.desc()), args)


@blp.route("/agreements", methods=["POST"])
@blp.arguments(AgreementInputSchema)
@blp.response(201, AgreementDetailSchema)
@_errors(401, 403, 422)
def agreement_create(data):
    """Create a draft agreement (operators)."""
    agreement = svc.create_agreement(data)
    db.session.commit()
    return agreement


@blp.route("/agreements/<int:agreement_id>")
@blp.response(200, AgreementDetailSchema)
@_errors(404)
@blp.doc(security=[])
def agreement_detail(agreement_id):
    """One agreement with its entrants, their contacts and agreement prices."""
    return _visible_agreement(agreement_id)


@blp.route("/agreements/<int:agreement_id>", methods=["PATCH"])
@blp.arguments(AgreementInputSchema)
@blp.response(200, AgreementDetailSchema)
@_errors(401, 403, 404, 422)
def agreement_update(data, agreement_id):
    """Change an agreement: drafts anything; in force only title, procuring body, description."""
    require("agreement.manage")
    agreement = svc.get_agreement(agreement_id)
    svc.update_agreement(agreement, data)
    db.session.commit()
    return agreement


@blp.route("/agreements/<int:agreement_id>/status", methods=["POST"])
@blp.arguments(StatusInputSchema)
@blp.response(200, StatusResultSchema)
@_errors(401, 403, 404, 409, 422)
def agreement_status(data, agreement_id):
    """Change the status (draft→active, active⇄suspended, →expired); products follow at once."""
    require("agreement.manage")
    agreement = svc.get_agreement(agreement_id)
    result = svc.transition(agreement, data["to"], data.get("note"))
    db.session.commit()
    return {"agreement": agreement, "products": result}


@blp.route("/agreements/<int:agreement_id>/entrants", methods=["POST"])
@blp.arguments(EntrantInputSchema)
@blp.response(201, EntrantSchema)
@_errors(401, 403, 404, 422)
def agreement_add_entrant(data, agreement_id):
    """Admit a supplier (closed agreements: only while draft)."""
    require("agreement.manage")
    agreement = svc.get_agreement(agreement_id)
    from mall.accounts.models import Organisation

    entrant = svc.add_entrant(agreement, db.session.get(Organisation, data["supplier_id"]), data.get("note"))
    db.session.commit()
    return entrant


@blp.route("/agreements/<int:agreement_id>/prices", methods=["POST"])
@blp.arguments(PricesInputSchema)
@blp.response(201, AgreementPriceSchema(many=True))
@_errors(401, 403, 404, 422)
def agreement_add_prices(data, agreement_id):
    """Add or lower agreement prices (all or nothing; in force a price may only go down)."""
    require("agreement.manage")
    agreement = svc.get_agreement(agreement_id)
    rows = svc.add_prices(agreement, data["prices"])
    db.session.commit()
    return rows


@blp.route("/agreements/<int:agreement_id>/applications")
@blp.response(200, ApplicationSchema(many=True))
@_errors(401, 403, 404)
def agreement_applications(agreement_id):
    """Applications to join an open agreement, with their review deadlines (operators)."""
    require("agreement.manage")
    agreement = svc.get_agreement(agreement_id)
    return sorted((e for e in agreement.entrants if e.applied_at is not None),
                  key=lambda e: (e.status != "applied", e.applied_at))


@blp.route("/agreements/<int:agreement_id>/applications", methods=["POST"])
@blp.arguments(ApplyInputSchema)
@blp.response(201, ApplicationSchema)
@_errors(401, 403, 404, 422)
def agreement_apply(data, agreement_id):
    """A supplier applies to join an open agreement (reviewed within 7 working days)."""
    require("agreement.apply")
    agreement = _visible_agreement(agreement_id)
    entrant = svc.apply_to_join(agreement, current_user.organisation_id, data.get("note"))
    db.session.commit()
    return entrant


@blp.route("/agreements/<int:agreement_id>/applications/<int:application_id>"
           "/decision", methods=["POST"])
@blp.arguments(DecisionInputSchema)
@blp.response(200, ApplicationSchema)
@_errors(401, 403, 404, 409, 422)
def agreement_decision(data, agreement_id, application_id):
    """Admit or reject an application (a rejection needs a note)."""
    require("agreement.manage")
    agreement = svc.get_agreement(agreement_id)
    entrant = svc.get_entrant(agreement, application_id)
    svc.decide_application(entrant, data["decision"], data.get("note"))
    db.session.commit()
    return entrant

