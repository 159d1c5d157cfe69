"""Competitions API: publish (二次竞价 / 顺序轮候), read, bid, evaluate and award."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user

from catalog import pinmu
from mall.api import api_blueprint
from mall.api.core import OrganisationBrief
from mall.api.schemas import Id, PageArgsSchema, ProblemsSchema, paged
from mall.authz import require
from mall.extensions import db

from . import competition as svc
from .models import COMPETITION_STATUSES, Competition

blp = api_blueprint("competitions", __name__, description="二次竞价 (mini-competitions) and 顺序轮候 (rotation)")

Money = lambda **kw: ma.fields.Decimal(as_string=True, places=2, **kw)  # noqa: E731


class CompetitionInSchema(ma.Schema):
    category_code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=12))
    title = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=200))
    quantity = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(min=1, max=svc.MAX_QUANTITY))
    specs = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=4000))
    budget_line_id = Id(required=True, strict=True)
    budget_amount = ma.fields.Decimal(required=True, as_string=True, places=None,
                                      metadata={"description": "采购预算: the highest total accepted (yuan)"})
    deadline = ma.fields.String(allow_none=True, metadata={
        "description": "bidding deadline, ISO 8601 (local time Asia/Shanghai without a zone); "
                       "at least COMPETITION_RESPONSE_WORKDAYS working days ahead; not used for rotation"})
    method = ma.fields.String(load_default="auto", validate=ma.validate.OneOf(["auto", "competition", "rotation"]))
    agreement_id = Id(allow_none=True, strict=True,
                        metadata={"description": "rotation agreement when several cover the 品目"})
    payment_method = ma.fields.String(load_default="treasury", validate=ma.validate.OneOf(["treasury", "card"]))
    card_payment_method = ma.fields.String(allow_none=True, metadata={
        "description": "payment_method card: the official card's token (pm_…) the awarded order is held on"})
    delivery_address = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=300))


class BidInSchema(ma.Schema):
    product_id = Id(required=True, strict=True)
    unit_price = ma.fields.Decimal(required=True, as_string=True, places=None)
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=500))


class BidSchema(ma.Schema):
    id = ma.fields.Integer()
    supplier = ma.fields.Nested(OrganisationBrief)
    product_id = ma.fields.Integer()
    unit_price = Money()
    ceiling_price = Money(metadata={"description": "the agreement price the bid may not exceed"})
    sme_size = ma.fields.String(allow_none=True)
    deduction_rate = ma.fields.Decimal(as_string=True)
    evaluated_price = ma.fields.Decimal(as_string=True, metadata={"description": "unit price × (1 − deduction)"})
    rank = ma.fields.Integer(allow_none=True)
    submitted_at = ma.fields.DateTime()


class InviteSchema(ma.Schema):
    supplier = ma.fields.Nested(OrganisationBrief)
    agreement_id = ma.fields.Integer()


class CompetitionBriefSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    method = ma.fields.String()
    status = ma.fields.String()
    status_label = ma.fields.String()
    buyer_unit = ma.fields.Nested(OrganisationBrief)
    category_code = ma.fields.String()
    category_name = ma.fields.Function(lambda c: pinmu.name_of(c.category_code))
    agreement_id = ma.fields.Integer(allow_none=True)
    title = ma.fields.String()
    quantity = ma.fields.Integer()
    specs = ma.fields.String()
    budget_line_id = ma.fields.Integer()
    budget_amount = Money()
    payment_method = ma.fields.String()
    deadline = ma.fields.DateTime()
    sme_price_deduction = ma.fields.Decimal(as_string=True)
    created_at = ma.fields.DateTime()
    evaluated_at = ma.fields.DateTime(allow_none=True)
    awarded_supplier = ma.fields.Nested(OrganisationBrief, allow_none=True)
    order_id = ma.fields.Integer(allow_none=True)
    result_note = ma.fields.String(allow_none=True)
    invited_count = ma.fields.Function(lambda c: len(c.invites))
    bid_count = ma.fields.Function(lambda c: len(c.bids))


class CompetitionSchema(CompetitionBriefSchema):
    invites = ma.fields.List(ma.fields.Nested(InviteSchema), dump_only=True, attribute="visible_invites",
                             metadata={"description": "a supplier sees its own invitation only"})
    bids = ma.fields.List(ma.fields.Nested(BidSchema), dump_only=True, attribute="visible_bids",
                          metadata={"description": "sealed until evaluation: a supplier sees its own bid only"})


class CompetitionPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(CompetitionBriefSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class CompetitionListArgs(PageArgsSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(list(COMPETITION_STATUSES)))


def body(comp: Competition, user) -> Competition:
    """The competition as ``user`` may see it (bids sealed until evaluation)."""
    comp.visible_bids = svc.bids_visible_to(comp, user)
    comp.visible_invites = ([i for i in comp.invites if i.supplier_id == user.organisation_id]
                            if user.role == "supplier" else list(comp.invites))
    return comp


@blp.route("/competitions")
class Competitions(MethodView):
    @blp.arguments(CompetitionListArgs, location="query")
    @blp.response(200, CompetitionPageSchema)
    def get(self, args):
        """Competitions you may see: a buyer its unit's, a supplier those it is invited to, supervisors all."""
        require("competition.view")
        q = svc.visible_competitions_query(current_user)
        if args.get("status"):
            q = q.where(Competition.status == args["status"])
        return paged(q.order_by(Competition.id.desc()), args)

    @blp.arguments(CompetitionInSchema)
    @blp.response(201, CompetitionSchema)
    @blp.alt_response(422, schema=ProblemsSchema, description="refused by the rules (figures in each problem)")
    def post(self, data):
        """Publish a requirement: a mini-competition to every entrant of the 品目 (bids until the
        deadline), or a rotation award to the next entrant at once (the order is placed)."""
        require("competition.create")
        comp = svc.create_competition(current_user, data)
        db.session.commit()
        return body(comp, current_user)


@blp.route("/competitions/<int:competition_id>")
class CompetitionItem(MethodView):
    @blp.response(200, CompetitionSchema)
    def get(self, competition_id):
        """One competition; bids are sealed until evaluation."""
        comp = svc.get_competition(competition_id, current_user)
        return body(comp, current_user)


@blp.route("/competitions/<int:competition_id>/bids")
class CompetitionBids(MethodView):
    @blp.arguments(BidInSchema)
    @blp.response(201, BidSchema)
    @blp.alt_response(422, schema=ProblemsSchema, description="e.g. bid_above_agreement_price with both figures")
    @blp.alt_response(409, description="bidding_closed")
    def post(self, data, competition_id):
        """Bid (or revise the bid) for an invited supplier, at or below its agreement price."""
        bid = svc.submit_bid(competition_id, current_user, data)
        db.session.commit()
        return bid


@blp.route("/competitions/<int:competition_id>/award")
class CompetitionAward(MethodView):
    @blp.response(200, CompetitionSchema)
    @blp.alt_response(409, description="bidding_open: the deadline has not passed")
    def post(self, competition_id):
        """Evaluate after the deadline (SME price deduction, lowest evaluated price wins, ties → earlier
        bid) and place the order with the winner. Repeating it changes nothing."""
        comp = svc.award(competition_id, current_user)
        db.session.commit()
        return body(comp, current_user)
