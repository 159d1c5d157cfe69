"""Public pages of framework agreements: list, entrants with contacts and agreement prices
(财政部令第110号: entrants' names, contacts, products and agreement prices are published)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import case, func, or_, select
from werkzeug.routing import BuildError

from mall.authz import can, require
from mall.extensions import db
from mall.problems import ServiceError
from mall.timeutil import today
from . import agreements as svc
from . import pinmu
from .inputs import clean_str
from .models import (AGREEMENT_KINDS, AGREEMENT_STATUSES, SECOND_STAGE, Agreement, AgreementCategory,
                     AgreementSupplier)

bp = Blueprint("agreements", __name__)

PUBLIC_STATUSES = ("active", "suspended", "expired")


def storefront_url(supplier_id: int) -> str:
    try:
        return url_for("suppliers.storefront", supplier_id=supplier_id)
    except BuildError:
        return f"/suppliers/{supplier_id}"


def _visible(agreement: Agreement) -> bool:
    """Drafts are internal to the trading center."""
    return agreement.status in PUBLIC_STATUSES or can(current_user, "agreement.manage")


@bp.route("/agreements")
def index():
    q = select(Agreement).where(Agreement.status.in_(PUBLIC_STATUSES))
    status = request.args.get("status") or None
    if status in PUBLIC_STATUSES:
        q = q.where(Agreement.status == status)
    kind = request.args.get("kind") or None
    if kind in AGREEMENT_KINDS:
        q = q.where(Agreement.kind == kind)
    category = clean_str(request.args.get("category"))[:12].upper() or None
    if category:
        codes = set(pinmu.path_of(category)) | set(pinmu.descendants(category))
        q = q.where(Agreement.id.in_(select(AgreementCategory.agreement_id)
                                     .where(AgreementCategory.category_code.in_(codes or {category}))))
    text = clean_str(request.args.get("q"))[:100]
    if text:
        q = q.where(or_(Agreement.number.contains(text), Agreement.title.contains(text)))
    # valid agreements first, then by the most recent term
    q = q.order_by(case((Agreement.status == "active", 0), else_=1), Agreement.term_end.desc(),
                   Agreement.id.desc())
    page = db.paginate(q, page=request.args.get("page", 1, type=int), per_page=20, error_out=False)
    counts = {}
    if page.items:
        counts = dict(db.session.execute(
            select(AgreementSupplier.agreement_id, func.count())
            .where(AgreementSupplier.agreement_id.in_([a.id for a in page.items]),
                   AgreementSupplier.status == "admitted")
            .group_by(AgreementSupplier.agreement_id)).all())
    return render_template("agreements/index.html", agreements=page, status=status, kind=kind,
                           category=category, q=text, counts=counts, statuses=AGREEMENT_STATUSES,
                           kinds=AGREEMENT_KINDS, methods=SECOND_STAGE, pinmu=pinmu, today=today())


@bp.route("/agreements/<int:agreement_id>")
def detail(agreement_id):
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None or not _visible(agreement):
        abort(404)
    entrants = sorted((e for e in agreement.entrants if e.status in ("admitted", "suspended")),
                      key=lambda e: (e.rotation_position or 10 ** 6, e.id))
    prices: dict[int, list] = {}
    for p in sorted(agreement.prices, key=lambda p: (p.category_code, p.brand, p.model)):
        prices.setdefault(p.supplier_id, []).append(p)
    mine = None
    if current_user.is_authenticated and current_user.role == "supplier":
        mine = next((e for e in agreement.entrants if e.supplier_id == current_user.organisation_id), None)
    return render_template("agreements/detail.html", agreement=agreement, entrants=entrants, prices=prices,
                           statuses=AGREEMENT_STATUSES, kinds=AGREEMENT_KINDS, methods=SECOND_STAGE,
                           storefront_url=storefront_url, today=today(), mine=mine,
                           valid=agreement.valid_on(today()), review_days=svc.REVIEW_WORKING_DAYS,
                           labels=svc.ENTRANT_STATUSES, pinmu=pinmu)


def _agreement_or_404(agreement_id: int) -> Agreement:
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None or not _visible(agreement):
        abort(404)
    return agreement


def _commit_or_flash(action):
    """Run a service call and commit: (True, its result), or (False, None) with the refusal's
    problems flashed (401/403 are raised: the error pages handle them)."""
    try:
        result = action()
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        if exc.status in (401, 403):
            raise
        for p in exc.problems:
            flash(p.message, "danger")
        return False, None
    return True, result


@bp.route("/agreements/<int:agreement_id>/apply", methods=["POST"])
@login_required
def apply(agreement_id):
    """A supplier applies to join an open agreement (reviewed within 7 working days)."""
    agreement = _agreement_or_404(agreement_id)
    ok, entrant = _commit_or_flash(
        lambda: svc.apply_to_join(agreement, current_user.organisation_id, request.form.get("note")))
    if ok:
        flash(f"已提交加入申请，交易中心将于{svc.review_deadline(entrant)}前完成审核", "success")
    return redirect(url_for("agreements.detail", agreement_id=agreement_id))


@bp.route("/agreements/<int:agreement_id>/withdraw", methods=["POST"])
@login_required
def withdraw(agreement_id):
    """A supplier withdraws its application, or leaves an open agreement it entered."""
    agreement = _agreement_or_404(agreement_id)
    require("agreement.apply")  # suppliers only; the row acted on is the supplier's own
    mine = next((e for e in agreement.entrants if e.supplier_id == current_user.organisation_id), None)
    if mine is None:
        flash("本单位未申请加入该框架协议", "warning")
        return redirect(url_for("agreements.detail", agreement_id=agreement_id))
    was = mine.status
    ok, _ = _commit_or_flash(
        lambda: svc.withdraw(agreement, mine, (request.form.get("note") or "").strip()[:500] or None))
    if ok:
        flash("已撤回加入申请" if was == "applied" else
              f"已退出框架协议{agreement.number}，本单位在该协议下的商品已下架", "success")
    return redirect(url_for("agreements.detail", agreement_id=agreement_id))
