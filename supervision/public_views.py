"""Public disclosure (信息公开), no sign-in (blueprint ``public``, URLs under ``/public/``):
transaction announcements (成交公告), framework agreement entrant lists, SME declarations of
suppliers that won orders, enforcement actions, headline figures and the OCDS open data.

An order is announced once its supplier has confirmed it (and while it is not cancelled or
rejected) if its amount is at least ``PUBLIC_ANNOUNCEMENT_MIN`` (default ¥10,000).
"""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased, selectinload

from catalog import pinmu
from catalog.models import ZONE_LABELS, Agreement, AgreementSupplier
from mall.accounts.models import Organisation
from mall.extensions import db
from mall.timeutil import today
from orders.models import Order, OrderStatusChange
from suppliers.models import INDUSTRIES, SmeDeclaration, SupplierProfile

from . import stats
from .paging import page_arg as _page, paginate_rows
from .models import ENFORCEMENT_KINDS, LOANABLE_ORDER_STATUSES, EnforcementAction
from .settings import setting

bp = Blueprint("public", __name__, url_prefix="/public")

PER_PAGE = 20


def confirmed_at_subquery():
    return (select(OrderStatusChange.order_id.label("order_id"),
                   func.min(OrderStatusChange.created_at).label("confirmed_at"))
            .where(OrderStatusChange.to_status == "confirmed").group_by(OrderStatusChange.order_id).subquery())


def announced_condition():
    return (Order.status.in_(LOANABLE_ORDER_STATUSES)) & (Order.total >= setting("PUBLIC_ANNOUNCEMENT_MIN"))


def announcements_query(q: str | None = None, zone: str | None = None):
    conf = confirmed_at_subquery()
    buyer, supplier = aliased(Organisation), aliased(Organisation)
    stmt = (select(Order, conf.c.confirmed_at, buyer.name, supplier.name)
            .join(buyer, buyer.id == Order.buyer_unit_id).join(supplier, supplier.id == Order.supplier_id)
            .outerjoin(conf, conf.c.order_id == Order.id).where(announced_condition()))
    if q:
        stmt = stmt.where(or_(Order.number.contains(q), buyer.name.contains(q), supplier.name.contains(q)))
    if zone in ZONE_LABELS:
        stmt = stmt.where(Order.zone_code == zone)
    return stmt.order_by(func.coalesce(conf.c.confirmed_at, Order.placed_at).desc(), Order.id.desc())


@bp.route("/")
def index():
    year = today().year
    summary = stats.summary(year)
    latest = db.session.execute(announcements_query().limit(8)).all()
    agreements = db.session.execute(
        select(Agreement, func.count(AgreementSupplier.id))
        .outerjoin(AgreementSupplier, (AgreementSupplier.agreement_id == Agreement.id)
                   & (AgreementSupplier.status == "admitted"))
        .where(Agreement.status == "active", Agreement.term_end >= today())
        .group_by(Agreement.id).order_by(Agreement.term_end, Agreement.id).limit(10)).all()
    return render_template("public/index.html", year=year, summary=summary, latest=latest, agreements=agreements,
                           by_zone=stats.grouped(year, "zone"), loans=stats.loan_figures(year),
                           minimum=setting("PUBLIC_ANNOUNCEMENT_MIN"))


@bp.route("/announcements")
def announcements():
    q = (request.args.get("q") or "").strip()[:100]
    zone = request.args.get("zone") or ""
    page = paginate_rows(announcements_query(q or None, zone or None), _page(),
                         PER_PAGE)
    return render_template("public/announcements.html", page=page, q=q, zone=zone, zones=ZONE_LABELS,
                           minimum=setting("PUBLIC_ANNOUNCEMENT_MIN"))


@bp.route("/announcements/<number>")
def announcement(number):
    row = db.session.execute(announcements_query().where(Order.number == number[:32])).first()
    if row is None:
        abort(404)
    order, confirmed_at = row[0], row[1]
    agreement = db.session.get(Agreement, order.agreement_id) if order.agreement_id else None
    declaration = _current_declaration(order.supplier_id)
    profile = db.session.get(SupplierProfile, order.supplier_id)
    return render_template("public/announcement.html", order=order, confirmed_at=confirmed_at, agreement=agreement,
                           declaration=declaration, profile=profile, pinmu_name=pinmu.name_of, zones=ZONE_LABELS,
                           industries=INDUSTRIES)


def _current_declaration(supplier_id: int):
    return db.session.scalars(select(SmeDeclaration).where(SmeDeclaration.supplier_id == supplier_id,
                                                           SmeDeclaration.is_current.is_(True))
                              .order_by(SmeDeclaration.id.desc())).first()


@bp.route("/sme-declarations")
def sme_declarations():
    """中小企业声明函 of suppliers that won orders (counted transactions)."""
    winners = (select(Order.supplier_id, func.count().label("orders"), func.sum(Order.total).label("amount"))
               .where(Order.status.in_(LOANABLE_ORDER_STATUSES)).group_by(Order.supplier_id).subquery())
    stmt = (select(SmeDeclaration, Organisation, winners.c.orders, winners.c.amount)
            .join(Organisation, Organisation.id == SmeDeclaration.supplier_id)
            .join(winners, winners.c.supplier_id == SmeDeclaration.supplier_id)
            .where(SmeDeclaration.is_current.is_(True)).order_by(winners.c.amount.desc(), Organisation.name))
    q = (request.args.get("q") or "").strip()[:100]
    if q:
        stmt = stmt.where(Organisation.name.contains(q))
    page = paginate_rows(stmt, _page(), PER_PAGE)
    return render_template("public/sme.html", page=page, q=q, industries=INDUSTRIES)


@bp.route("/enforcement")
def enforcement():
    """Published enforcement actions: suspensions and take-downs with their reasons."""
    stmt = (select(EnforcementAction).options(selectinload(EnforcementAction.supplier),
                                              selectinload(EnforcementAction.product))
            .order_by(EnforcementAction.acted_at.desc(), EnforcementAction.id.desc()))
    kind = request.args.get("kind") or ""
    if kind in ENFORCEMENT_KINDS:
        stmt = stmt.where(EnforcementAction.kind == kind)
    page = db.paginate(stmt, page=_page(), per_page=PER_PAGE, error_out=False)
    return render_template("public/enforcement.html", page=page, kind=kind, kinds=ENFORCEMENT_KINDS)


@bp.route("/open-data")
def open_data():
    """Publication policy of the OCDS data and how to download it."""
    from . import ocds

    return render_template("public/open_data.html", prefix=setting("OCDS_PREFIX"), count=ocds.count(),
                           scheme=ocds.IDENTIFIER_SCHEME, classification=ocds.CLASSIFICATION_SCHEME,
                           license=setting("OCDS_LICENSE"), today=today())
