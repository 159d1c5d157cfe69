"""Supervision API (``/api/v1``): statistics, OCDS open data, risk flags, queries (问询),
enforcement, partner banks and procurement loans.

``GET /api/v1/ocds/releases`` is public (no token): an OCDS 1.1.5 release package, paged with
``page``/``per_page`` and an RFC 8288 ``Link: <…>; rel="next"`` header. Everything else needs a
bearer token and the permission named in its description. Amounts are strings (exact decimals),
except in OCDS, whose schema requires numbers.
"""
from __future__ import annotations

import json

import marshmallow as ma
from flask import Response, request, url_for
from flask.views import MethodView
from flask_login import current_user
from sqlalchemy import select

from mall.api import api_blueprint
from mall.api.schemas import Id
from mall.authz import require
from mall.extensions import db
from mall.problems import Problem, ServiceError
from mall.timeutil import today
from orders.models import RISK_KINDS, RISK_STATUSES, RiskFlag

from . import ocds, services, stats
from .models import LOAN_STATUSES, QUERY_STATUSES

blp = api_blueprint("supervision", __name__,
                    description="Supervision: statistics, OCDS open data, risk flags, queries, enforcement, "
                                "partner banks and procurement loans (政采贷)")

OCDS_MAX_PER_PAGE = 1000
OCDS_MAX_DAYS = 366


# ------------------------------------------------------------------ schemas

class SupervisionStatsArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    year = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=2000, max=2100))
    group_by = ma.fields.String(load_default="zone", validate=ma.validate.OneOf([g for g in stats.GROUPS]))


class OcdsReleaseArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    from_ = ma.fields.Date(data_key="from", load_default=None, metadata={"description": "placed on or after (YYYY-MM-DD)"})
    to = ma.fields.Date(load_default=None, metadata={"description": "placed on or before (YYYY-MM-DD)"})
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100000))
    per_page = ma.fields.Integer(load_default=500, validate=ma.validate.Range(min=1, max=OCDS_MAX_PER_PAGE))


class RiskFlagSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    kind_label = ma.fields.String()
    message = ma.fields.String()
    figures = ma.fields.Dict()
    status = ma.fields.String()
    source = ma.fields.String()
    order_id = ma.fields.Integer(allow_none=True)
    order_number = ma.fields.Function(lambda f: f.order.number if f.order else None)
    unit_id = ma.fields.Integer(allow_none=True)
    supplier_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    cleared_reason = ma.fields.String(allow_none=True)
    cleared_at = ma.fields.DateTime(allow_none=True)


class RiskFlagArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(RISK_STATUSES)))
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(RISK_KINDS)))
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100000))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class RiskFlagPage(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(RiskFlagSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class EnforcementReasonInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    reason = ma.fields.String(required=True, metadata={"description": "published / audited reason"})


class SupervisionQuerySchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    order_number = ma.fields.Function(lambda q: q.order.number)
    addressed_party = ma.fields.String(metadata={"description": "buyer / supplier"})
    addressed_org_id = ma.fields.Integer()
    addressed_org_name = ma.fields.Function(lambda q: q.addressed_org.name)
    flag_id = ma.fields.Integer(allow_none=True)
    question = ma.fields.String()
    asked_at = ma.fields.DateTime()
    answer = ma.fields.String(allow_none=True)
    answered_at = ma.fields.DateTime(allow_none=True)
    status = ma.fields.String(metadata={"description": "open / answered / closed"})
    closed_at = ma.fields.DateTime(allow_none=True)
    close_note = ma.fields.String(allow_none=True)


class SupervisionQueryArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(QUERY_STATUSES)))


class SupervisionAskInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    order_id = Id(required=True)
    party = ma.fields.String(required=True, metadata={"description": "buyer / supplier"})
    question = ma.fields.String(required=True)
    flag_id = Id(load_default=None, allow_none=True)


class SupervisionAnswerInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    answer = ma.fields.String(required=True)


class SupervisionCloseInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    note = ma.fields.String(load_default=None, allow_none=True)


class EnforcementActionSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    kind_label = ma.fields.String()
    supplier_id = ma.fields.Integer()
    product_id = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String()
    previous_status = ma.fields.String(allow_none=True)
    acted_at = ma.fields.DateTime()


class PartnerBankSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String()
    contact_name = ma.fields.String()
    phone = ma.fields.String()
    products = ma.fields.String(allow_none=True)
    active = ma.fields.Boolean()


class PartnerBankInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    name = ma.fields.String(required=True)
    contact_name = ma.fields.String(required=True)
    phone = ma.fields.String(required=True)
    products = ma.fields.String(load_default=None, allow_none=True)
    active = ma.fields.Boolean(load_default=True)


class LoanApplicationSchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    order_number = ma.fields.Function(lambda x: x.order.number)
    order_total = ma.fields.Function(lambda x: str(x.order.total))
    supplier_id = ma.fields.Integer()
    bank_id = ma.fields.Integer()
    bank_name = ma.fields.Function(lambda x: x.bank.name)
    amount = ma.fields.Decimal(as_string=True)
    applicant_note = ma.fields.String(allow_none=True)
    status = ma.fields.String(metadata={"description": "applied / approved / rejected"})
    decided_amount = ma.fields.Decimal(as_string=True, allow_none=True)
    decided_at = ma.fields.DateTime(allow_none=True)
    note = ma.fields.String(allow_none=True)
    applied_at = ma.fields.DateTime()


class LoanApplicationArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(LOAN_STATUSES)))


class LoanApplicationInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    order_id = Id(required=True)
    bank_id = Id(required=True)
    amount = ma.fields.Raw(required=True, metadata={"description": "yuan, a decimal string such as \"50000.00\""})
    applicant_note = ma.fields.String(load_default=None, allow_none=True)


class LoanDecisionInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    decision = ma.fields.String(required=True, metadata={"description": "approved / rejected"})
    decided_amount = ma.fields.Raw(load_default=None, allow_none=True)
    note = ma.fields.String(load_default=None, allow_none=True)


# ------------------------------------------------------------------ statistics

@blp.route("/stats")
class Stats(MethodView):
    @blp.arguments(SupervisionStatsArgs, location="query")
    @blp.response(200)
    def get(self, args):
        """Figures of a budget year (permission ``stats.read``): totals with year-on-year growth,
        rows by ``group_by`` (zone, pinmu, unit, supplier, month), months, the 特色馆 share and loans.
        Amounts and percentages are strings."""
        require("stats.read")
        year = args["year"] or today().year
        return stats.jsonable(stats.figures(year, args["group_by"]))


# ------------------------------------------------------------------ OCDS

@blp.route("/ocds/releases")
class OcdsReleases(MethodView):
    @blp.arguments(OcdsReleaseArgs, location="query")
    @blp.doc(security=[], responses={"200": {"description": "an OCDS 1.1.5 release package"}})
    def get(self, args):
        """OCDS 1.1.5 release package of the orders placed in [from, to] (public, no token)."""
        start, end = args["from_"], args["to"]
        if start and end and end < start:
            raise ServiceError(Problem("period_end_before_start", f"截止日期{end}早于开始日期{start}", field="to"))
        if start and end and (end - start).days >= OCDS_MAX_DAYS:
            raise ServiceError(Problem("period_too_long", f"一次最多查询{OCDS_MAX_DAYS}天，请分段获取", field="to",
                                       figures={"max_days": OCDS_MAX_DAYS}))
        page, per_page = args["page"], args["per_page"]
        total = ocds.count(start, end)
        rel = ocds.releases(start, end, offset=(page - 1) * per_page, limit=per_page)
        package = ocds.package(rel, uri=request.url, policy_uri=url_for("public.open_data", _external=True))
        resp = Response(json.dumps(package, ensure_ascii=False), mimetype="application/json")
        resp.headers["X-Total-Count"] = str(total)
        if page * per_page < total:
            query = request.args.to_dict()
            query.update(page=page + 1, per_page=per_page)
            resp.headers["Link"] = f'<{url_for("supervision_api.OcdsReleases", _external=True, **query)}>; rel="next"'
        return resp


# ------------------------------------------------------------------ flags

@blp.route("/supervision/flags")
class Flags(MethodView):
    @blp.arguments(RiskFlagArgs, location="query")
    @blp.response(200, RiskFlagPage)
    def get(self, args):
        """Risk flags, newest first (permission ``audit.read``)."""
        require("audit.read")
        q = select(RiskFlag).order_by(RiskFlag.created_at.desc(), RiskFlag.id.desc())
        if args["status"]:
            q = q.where(RiskFlag.status == args["status"])
        if args["kind"]:
            q = q.where(RiskFlag.kind == args["kind"])
        page = db.paginate(q, page=args["page"], per_page=args["per_page"], error_out=False)
        return {"items": page.items, "total": page.total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/supervision/flags/<int:flag_id>/clear")
class FlagClear(MethodView):
    @blp.arguments(EnforcementReasonInput)
    @blp.response(200, RiskFlagSchema)
    def post(self, data, flag_id):
        """Clear (核销) a flag with a reason (permission ``supervision.act``; audited)."""
        flag = services.clear_flag(flag_id, data["reason"])
        db.session.commit()
        return flag


@blp.route("/supervision/scan")
class Scan(MethodView):
    @blp.response(200)
    def post(self):
        """Run the risk scan now (permission ``supervision.act``); the nightly task does the same."""
        require("supervision.act")
        result = services.scan_risks()
        db.session.commit()
        return result


# ------------------------------------------------------------------ queries

@blp.route("/supervision/queries")
class Queries(MethodView):
    @blp.arguments(SupervisionQueryArgs, location="query")
    @blp.response(200, SupervisionQuerySchema(many=True))
    def get(self, args):
        """Queries: all for auditors and operators, those addressed to your unit otherwise."""
        require("query.view")
        return services.queries_for(current_user, args["status"])

    @blp.arguments(SupervisionAskInput)
    @blp.response(201, SupervisionQuerySchema)
    def post(self, data):
        """Send a query (问询) about an order to its buyer or supplier (permission ``supervision.act``)."""
        q = services.ask_query(data["order_id"], data["party"], data["question"], data.get("flag_id"))
        db.session.commit()
        return q


@blp.route("/supervision/queries/<int:query_id>")
class QueryItem(MethodView):
    @blp.response(200, SupervisionQuerySchema)
    def get(self, query_id):
        """One query (auditors, operators, or the addressed unit)."""
        return services.get_query(query_id)


@blp.route("/supervision/queries/<int:query_id>/answer")
class QueryAnswer(MethodView):
    @blp.arguments(SupervisionAnswerInput)
    @blp.response(200, SupervisionQuerySchema)
    def post(self, data, query_id):
        """Answer a query addressed to your unit (permission ``query.answer``)."""
        q = services.answer_query(query_id, data["answer"])
        db.session.commit()
        return q


@blp.route("/supervision/queries/<int:query_id>/close")
class QueryClose(MethodView):
    @blp.arguments(SupervisionCloseInput)
    @blp.response(200, SupervisionQuerySchema)
    def post(self, data, query_id):
        """Close (办结) a query (permission ``supervision.act``)."""
        q = services.close_query(query_id, data.get("note"))
        db.session.commit()
        return q


# ------------------------------------------------------------------ enforcement

def _enforce(fn, *args):
    action = fn(*args)
    db.session.commit()
    return action


@blp.route("/supervision/suppliers/<int:supplier_id>/suspend")
class SupplierSuspend(MethodView):
    @blp.arguments(EnforcementReasonInput)
    @blp.response(200, EnforcementActionSchema)
    def post(self, data, supplier_id):
        """Suspend a supplier: its products stop being sellable (permission ``supplier.suspend``)."""
        return _enforce(services.suspend_supplier, supplier_id, data["reason"])


@blp.route("/supervision/suppliers/<int:supplier_id>/reinstate")
class SupplierReinstate(MethodView):
    @blp.arguments(EnforcementReasonInput)
    @blp.response(200, EnforcementActionSchema)
    def post(self, data, supplier_id):
        """Reinstate a suspended supplier (permission ``supplier.suspend``)."""
        return _enforce(services.reinstate_supplier, supplier_id, data["reason"])


@blp.route("/supervision/products/<int:product_id>/takedown")
class ProductTakedown(MethodView):
    @blp.arguments(EnforcementReasonInput)
    @blp.response(200, EnforcementActionSchema)
    def post(self, data, product_id):
        """Take a product down with a published reason (permission ``product.takedown``)."""
        return _enforce(services.take_down_product, product_id, data["reason"])


@blp.route("/supervision/products/<int:product_id>/restore")
class ProductRestore(MethodView):
    @blp.arguments(EnforcementReasonInput)
    @blp.response(200, EnforcementActionSchema)
    def post(self, data, product_id):
        """Undo a take-down (permission ``product.takedown``)."""
        return _enforce(services.restore_product, product_id, data["reason"])


# ------------------------------------------------------------------ banks and loans

@blp.route("/banks")
class Banks(MethodView):
    @blp.response(200, PartnerBankSchema(many=True))
    def get(self):
        """Active partner banks of 政采贷 with their contacts (any signed-in user)."""
        require("account.self")
        return services.active_banks()

    @blp.arguments(PartnerBankInput)
    @blp.response(201, PartnerBankSchema)
    def post(self, data):
        """Add a partner bank (permission ``bank.manage``)."""
        bank = services.create_bank(data)
        db.session.commit()
        return bank


@blp.route("/banks/<int:bank_id>")
class BankItem(MethodView):
    @blp.arguments(PartnerBankInput)
    @blp.response(200, PartnerBankSchema)
    def put(self, data, bank_id):
        """Replace a partner bank's details (permission ``bank.manage``)."""
        bank = services.update_bank(bank_id, data)
        db.session.commit()
        return bank


@blp.route("/loans")
class Loans(MethodView):
    @blp.arguments(LoanApplicationArgs, location="query")
    @blp.response(200, LoanApplicationSchema(many=True))
    def get(self, args):
        """Loan applications: a supplier's own; all for operators and auditors."""
        require("loan.view")
        return services.loans_for(current_user, args["status"])

    @blp.arguments(LoanApplicationInput)
    @blp.response(201, LoanApplicationSchema)
    def post(self, data):
        """Apply for a loan against your confirmed order (permission ``loan.apply``); the amount
        may not exceed the order total less what is already asked or granted."""
        loan = services.apply_loan(data["order_id"], data)
        db.session.commit()
        return loan


@blp.route("/loans/<int:loan_id>/decision")
class LoanDecision(MethodView):
    @blp.arguments(LoanDecisionInput)
    @blp.response(200, LoanApplicationSchema)
    def post(self, data, loan_id):
        """Record the bank's decision and amount (permission ``bank.manage``, for the bank)."""
        loan = services.decide_loan(loan_id, data)
        db.session.commit()
        return loan
