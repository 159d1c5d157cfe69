"""Operator pages (交易中心): policy versions, framework agreements and their entrants, open-agreement
applications, 自采区 solicitations, zones and 特色馆 reviews. Every page requires the operator's
permission; every write goes through a service (catalog.policy / agreements / operations)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import func, or_, select

from mall.authz import permission_required
from mall.extensions import db
from mall.forms import apply_problems
from mall.problems import ServiceError
from mall.routing import MAX_ID
from mall.timeutil import today
from . import agreements as svc
from . import operations, pinmu
from .inputs import clean_str
from . import policy as policy_svc
from .forms import (AgreementForm, BulkPriceForm, EntrantForm, PolicyForm, PriceForm, PublishForm,
                    SolicitationForm, StatusForm)
from .models import (AGREEMENT_KINDS, AGREEMENT_STATUSES, ZONE_CENTRAL, Agreement, AgreementPrice,
                     AgreementSupplier, PolicyVersion, Product, Solicitation, Zone)

bp = Blueprint("admin", __name__, url_prefix="/admin")

POLICY_DEFAULTS = {  # central figures (国办发〔2019〕55号 etc.), for the first version
    "decentralized_threshold_goods": "1000000", "decentralized_threshold_services": "1000000",
    "decentralized_threshold_works": "1200000", "open_tender_threshold_goods": "2000000",
    "open_tender_threshold_services": "2000000", "open_tender_threshold_works": "4000000",
    "direct_purchase_limit": "200000", "sme_price_deduction": "10", "split_window_days": "90",
    "split_action": "refuse", "cumulative_warning_ratio": "80",
}


def _run(fn, *args, form=None, success: str | None = None, **kwargs):
    """Call a service, commit once; on refusal roll back and show the problems. Returns
    (result, ok). Permission and not-found refusals propagate to the error pages."""
    try:
        result = fn(*args, **kwargs)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        if exc.status in (401, 403, 404):
            raise
        if form is not None:
            apply_problems(form, exc.problems)
        else:
            for p in exc.problems:
                flash(p.message, "danger" if p.severity == "error" else "warning")
        return None, False
    if success:
        flash(success, "success")
    return result, True


def _form_id(name: str) -> int:
    """An id posted in a form (0 when missing or not a database integer: a 404 follows)."""
    value = request.form.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ID else 0


def _agreement_or_404(agreement_id: int) -> Agreement:
    return db.session.get(Agreement, agreement_id) or abort(404)


def _percent(ratio) -> str:
    return "" if ratio is None else format((Decimal(ratio) * 100).normalize(), "f")


# ------------------------------------------------------------------ home

@bp.route("/")
@login_required
@permission_required("agreement.manage")
def index():
    from suppliers.models import SupplierProfile

    day = today()
    by_status = dict(db.session.execute(select(Agreement.status, func.count())
                                        .group_by(Agreement.status)).all())
    pending = svc.pending_applications()
    overdue = [e for e in pending if (svc.review_deadline(e) or day) < day]
    figures = {
        "policy": policy_svc.policy_in_force(day),
        "policy_drafts": db.session.scalar(select(func.count()).select_from(PolicyVersion)
                                           .where(PolicyVersion.status == "draft")),
        "agreements": by_status,
        "applications": len(pending), "applications_overdue": len(overdue),
        "solicitations": db.session.scalar(select(func.count()).select_from(Solicitation)
                                           .where(Solicitation.status == "open")),
        "zones": db.session.scalars(select(Zone).order_by(Zone.sort_order)).all(),
        "pavilion_pending": db.session.scalar(select(func.count()).select_from(SupplierProfile)
                                              .where(SupplierProfile.pavilion_status == "applied")),
        "expiring": db.session.scalars(select(Agreement).where(
            Agreement.status == "active", Agreement.term_end <= day + dt.timedelta(days=30))
            .order_by(Agreement.term_end)).all(),
    }
    return render_template("admin/index.html", f=figures, today=day, statuses=AGREEMENT_STATUSES)


# ------------------------------------------------------------------ policy versions

@bp.route("/policies")
@login_required
@permission_required("policy.manage")
def policies():
    versions = db.session.scalars(select(PolicyVersion).order_by(PolicyVersion.effective_from.desc(),
                                                                 PolicyVersion.id.desc())).all()
    current = policy_svc.policy_in_force(today())
    return render_template("admin/policies.html", versions=versions, current=current,
                           publish_form=PublishForm(), today=today())


def _policy_form_data(form: PolicyForm) -> dict:
    return {k: v for k, v in form.data.items() if k not in ("csrf_token", "submit", "items")}


@bp.route("/policies/new", methods=["GET", "POST"])
@login_required
@permission_required("policy.manage")
def policy_new():
    form = PolicyForm()
    if request.method == "GET":
        base = policy_svc.policy_in_force(today())
        if base is not None:  # the version in force is the starting point of the next one
            _fill_policy_form(form, base)
            form.name.data = ""
            form.effective_from.data = form.effective_to.data = ""
        else:
            for key, value in POLICY_DEFAULTS.items():
                getattr(form, key).data = value
    if form.validate_on_submit():
        policy, ok = _run(policy_svc.create_policy, _policy_form_data(form), form.items.data, percent=True,
                          form=form)
        if ok:
            flash(f"已保存草稿“{policy.name}”，核对无误后请发布", "success")
            return redirect(url_for("admin.policy_edit", policy_id=policy.id))
    return render_template("admin/policy_form.html", form=form, policy=None)


def _fill_policy_form(form: PolicyForm, policy: PolicyVersion) -> None:
    for key in policy_svc.MONEY_FIELDS:
        getattr(form, key).data = str(getattr(policy, key))
    form.name.data = policy.name
    form.effective_from.data = policy.effective_from.isoformat()
    form.effective_to.data = policy.effective_to.isoformat() if policy.effective_to else ""
    form.sme_price_deduction.data = _percent(policy.sme_price_deduction)
    form.cumulative_warning_ratio.data = _percent(policy.cumulative_warning_ratio)
    form.split_window_days.data = str(policy.split_window_days)
    form.split_action.data = policy.split_action
    form.items.data = policy_svc.items_text(policy)
    form.note.data = policy.note or ""


@bp.route("/policies/<int:policy_id>", methods=["GET", "POST"])
@login_required
@permission_required("policy.manage")
def policy_edit(policy_id):
    policy = db.session.get(PolicyVersion, policy_id) or abort(404)
    form = PolicyForm()
    if request.method == "GET":
        _fill_policy_form(form, policy)
    if form.validate_on_submit():
        _, ok = _run(policy_svc.update_policy, policy, _policy_form_data(form), form.items.data, percent=True,
                     form=form, success="已保存")
        if ok:
            return redirect(url_for("admin.policy_edit", policy_id=policy.id))
    in_force = policy.status == "published" and policy.effective_from <= today()
    if in_force:  # frozen: only the end date (and the note) may change
        for name in (*policy_svc.FROZEN_FIELDS, "items"):
            if name == "split_action":
                continue
            field = getattr(form, name)
            field.render_kw = {**(field.render_kw or {}), "readonly": True}
    return render_template("admin/policy_form.html", form=form, policy=policy, in_force=in_force,
                           publish_form=PublishForm())


@bp.route("/policies/<int:policy_id>/publish", methods=["POST"])
@login_required
@permission_required("policy.manage")
def policy_publish(policy_id):
    policy = db.session.get(PolicyVersion, policy_id) or abort(404)
    form = PublishForm()
    if form.validate_on_submit():
        _run(policy_svc.publish_policy, policy, form.note.data,
             success=f"已发布“{policy.name}”，{policy.effective_from}起生效")
    return redirect(url_for("admin.policy_edit", policy_id=policy_id))


# ------------------------------------------------------------------ agreements

@bp.route("/agreements")
@login_required
@permission_required("agreement.manage")
def agreements():
    q = select(Agreement).order_by(Agreement.id.desc())
    status = request.args.get("status") or None
    if status:
        q = q.where(Agreement.status == status)
    text = clean_str(request.args.get("q"))[:100]
    if text:
        q = q.where(or_(Agreement.number.contains(text), Agreement.title.contains(text)))
    page = db.paginate(q, page=request.args.get("page", 1, type=int), per_page=30, error_out=False)
    counts = {}
    if page.items:
        ids = [a.id for a in page.items]
        counts = dict(db.session.execute(
            select(AgreementSupplier.agreement_id, func.count()).where(
                AgreementSupplier.agreement_id.in_(ids), AgreementSupplier.status == "admitted")
            .group_by(AgreementSupplier.agreement_id)).all())
    pending = dict(db.session.execute(
        select(AgreementSupplier.agreement_id, func.count()).where(AgreementSupplier.status == "applied")
        .group_by(AgreementSupplier.agreement_id)).all())
    return render_template("admin/agreements.html", agreements=page, status=status, q=text, counts=counts,
                           pending=pending, statuses=AGREEMENT_STATUSES, today=today())


def _agreement_form(form: AgreementForm) -> AgreementForm:
    zones = db.session.scalars(select(Zone).order_by(Zone.sort_order))
    form.zone_code.choices = [(z.code, z.name) for z in zones]
    return form


def _agreement_data(form: AgreementForm) -> dict:
    return {k: v for k, v in form.data.items() if k not in ("csrf_token", "submit")}


@bp.route("/agreements/new", methods=["GET", "POST"])
@login_required
@permission_required("agreement.manage")
def agreement_new():
    form = _agreement_form(AgreementForm())
    if request.method == "GET":
        form.zone_code.data = ZONE_CENTRAL
    if form.validate_on_submit():
        agreement, ok = _run(svc.create_agreement, _agreement_data(form), form=form)
        if ok:
            flash(f"已创建框架协议{agreement.number}（草稿），请添加入围供应商和协议价格后生效", "success")
            return redirect(url_for("admin.agreement_entrants", agreement_id=agreement.id))
    return render_template("admin/agreement_form.html", form=form, agreement=None)


@bp.route("/agreements/<int:agreement_id>/edit", methods=["GET", "POST"])
@login_required
@permission_required("agreement.manage")
def agreement_edit(agreement_id):
    agreement = _agreement_or_404(agreement_id)
    form = _agreement_form(AgreementForm())
    if request.method == "GET":
        for key in ("number", "title", "kind", "subject", "zone_code", "second_stage", "procuring_body",
                    "description"):
            getattr(form, key).data = getattr(agreement, key) or ""
        form.term_start.data = agreement.term_start.isoformat()
        form.term_end.data = agreement.term_end.isoformat()
        form.categories.data = " ".join(agreement.category_codes)
    if form.validate_on_submit():
        _, ok = _run(svc.update_agreement, agreement, _agreement_data(form), form=form, success="已保存")
        if ok:
            return redirect(url_for("admin.agreement_entrants", agreement_id=agreement.id))
    return render_template("admin/agreement_form.html", form=form, agreement=agreement)


@bp.route("/agreements/<int:agreement_id>/entrants", methods=["GET", "POST"])
@login_required
@permission_required("agreement.manage")
def agreement_entrants(agreement_id):
    """The agreement's management page: status, entrants (add / suspend / reinstate / remove) and
    agreement prices (one model, or many lines at once)."""
    agreement = _agreement_or_404(agreement_id)
    entrant_form = EntrantForm(prefix="entrant")
    price_form = PriceForm(prefix="price")
    bulk_form = BulkPriceForm(prefix="bulk")
    action = request.form.get("action") if request.method == "POST" else None
    if action == "add_entrant" and entrant_form.validate_on_submit():
        supplier = svc.find_supplier(entrant_form.supplier.data)
        entrant, ok = _run(svc.add_entrant, agreement, supplier, entrant_form.note.data, form=entrant_form)
        if ok:
            flash(f"已将{supplier.name}加入入围供应商", "success")
            return redirect(url_for("admin.agreement_entrants", agreement_id=agreement_id))
    elif action in ("suspend", "reinstate", "remove") and StatusForm().validate_on_submit():
        entrant = db.session.get(AgreementSupplier, _form_id("entrant_id"))
        if entrant is None or entrant.agreement_id != agreement.id:
            abort(404)
        name = entrant.supplier.name
        _, ok = _run(svc.change_entrant, agreement, entrant, action, request.form.get("note"),
                     success=f"已{svc.ENTRANT_ACTIONS[action][2]}入围供应商{name}")
        return redirect(url_for("admin.agreement_entrants", agreement_id=agreement_id))
    elif action == "add_price" and price_form.validate_on_submit():
        row = {k: v for k, v in price_form.data.items() if k not in ("csrf_token", "submit")}
        _, ok = _run(svc.add_prices, agreement, [row], form=price_form,
                     success=f"已录入协议价格：{row['brand']} {row['model']}")
        if ok:
            return redirect(url_for("admin.agreement_entrants", agreement_id=agreement_id))
    elif action == "add_prices_bulk" and bulk_form.validate_on_submit():
        rows = svc.parse_price_lines(bulk_form.lines.data, bulk_form.supplier_id.data)
        saved, ok = _run(svc.add_prices, agreement, rows, form=bulk_form)
        if ok:
            flash(f"已录入{len(saved)}条协议价格", "success")
            return redirect(url_for("admin.agreement_entrants", agreement_id=agreement_id))
    elif action == "remove_price" and StatusForm().validate_on_submit():
        price = db.session.get(AgreementPrice, _form_id("price_id")) or abort(404)
        _run(svc.remove_price, agreement, price, success=f"已删除协议价格：{price.brand} {price.model}")
        return redirect(url_for("admin.agreement_entrants", agreement_id=agreement_id))
    elif request.method == "POST" and action not in ("add_entrant", "add_price", "add_prices_bulk"):
        abort(400)
    choices = [(str(e.supplier_id), e.supplier.name) for e in agreement.entrants
               if e.status in ("admitted", "suspended")]
    price_form.supplier_id.choices = bulk_form.supplier_id.choices = choices
    if not price_form.category_code.data and len(agreement.category_codes) == 1:
        price_form.category_code.data = agreement.category_codes[0]
    prices_by_supplier: dict[int, list] = {}
    for p in sorted(agreement.prices, key=lambda p: (p.brand, p.model)):
        prices_by_supplier.setdefault(p.supplier_id, []).append(p)
    transitions = [(to, verb) for (frm, to), verb in svc.TRANSITIONS.items() if frm == agreement.status]
    return render_template("admin/agreement_entrants.html", agreement=agreement, entrant_form=entrant_form,
                           price_form=price_form, bulk_form=bulk_form, status_form=StatusForm(),
                           prices_by_supplier=prices_by_supplier, transitions=transitions,
                           statuses=AGREEMENT_STATUSES, kinds=AGREEMENT_KINDS, pinmu=pinmu,
                           review_deadline=svc.review_deadline, today=today(),
                           entrant_labels=svc.ENTRANT_STATUSES)


@bp.route("/agreements/<int:agreement_id>/status", methods=["POST"])
@login_required
@permission_required("agreement.manage")
def agreement_status(agreement_id):
    agreement = _agreement_or_404(agreement_id)
    form = StatusForm()
    if form.validate_on_submit():
        to = form.to.data
        result, ok = _run(svc.transition, agreement, to, form.note.data)
        if ok:
            msg = f"框架协议{agreement.number}已改为“{AGREEMENT_STATUSES[to]}”"
            parts = ([f"停售商品{result['halted']}件"] if result["halted"] else []) + \
                ([f"恢复销售{result['restored']}件"] if result["restored"] else [])
            if parts:
                msg += "：" + "，".join(parts)
            flash(msg, "success")
    return redirect(request.form.get("next") if request.form.get("next", "").startswith("/admin/")
                    else url_for("admin.agreement_entrants", agreement_id=agreement_id))


# ------------------------------------------------------------------ open agreements: applications

@bp.route("/applications", methods=["GET", "POST"])
@login_required
@permission_required("agreement.manage")
def applications():
    if request.method == "POST":
        form = StatusForm()
        if form.validate_on_submit():
            entrant = db.session.get(AgreementSupplier, _form_id("entrant_id")) or abort(404)
            decision = request.form.get("decision")
            name, number = entrant.supplier.name, entrant.agreement.number
            verb = "同意" if decision == "admit" else "不同意"
            _run(svc.decide_application, entrant, decision, form.note.data,
                 success=f"已{verb}{name}加入框架协议{number}")
        return redirect(url_for("admin.applications"))
    pending = svc.pending_applications()
    rows = [(e, svc.review_deadline(e)) for e in pending]
    decided = db.session.scalars(
        select(AgreementSupplier).join(Agreement).where(
            Agreement.kind == "open", AgreementSupplier.applied_at.is_not(None),
            AgreementSupplier.status != "applied", AgreementSupplier.decided_at.is_not(None))
        .order_by(AgreementSupplier.decided_at.desc()).limit(30)).all()
    return render_template("admin/applications.html", rows=rows, decided=decided, today=today(),
                           status_form=StatusForm(), labels=svc.ENTRANT_STATUSES,
                           review_days=svc.REVIEW_WORKING_DAYS, publish_days=svc.PUBLISH_WORKING_DAYS,
                           local_date=svc.local_date)


# ------------------------------------------------------------------ solicitations (自采区)

@bp.route("/solicitations", methods=["GET", "POST"])
@login_required
@permission_required("solicitation.manage")
def solicitations():
    form = SolicitationForm(prefix="new")
    action = request.form.get("action") if request.method == "POST" else None
    if action == "create" and form.validate_on_submit():
        data = {k: v for k, v in form.data.items() if k not in ("csrf_token", "submit")}
        created, ok = _run(operations.create_solicitation, data, form=form)
        if ok:
            flash(f"已发布征集“{created.title}”（{created.category_code} {pinmu.name_of(created.category_code)}）",
                  "success")
            for warning in getattr(created, "warnings", []):
                flash(warning.message, "warning")
            return redirect(url_for("admin.solicitations"))
    elif action == "close":
        if StatusForm().validate_on_submit():
            row = db.session.get(Solicitation, _form_id("solicitation_id")) or abort(404)
            _run(operations.close_solicitation, row, request.form.get("note"), success=f"已结束征集“{row.title}”")
        return redirect(url_for("admin.solicitations"))
    elif request.method == "POST" and action != "create":
        abort(400)
    status = request.args.get("status") or None
    q = select(Solicitation).order_by(Solicitation.status.desc(), Solicitation.id.desc())
    if status:
        q = q.where(Solicitation.status == status)
    rows = db.paginate(q, page=request.args.get("page", 1, type=int), per_page=30, error_out=False)
    return render_template("admin/solicitations.html", form=form, rows=rows, status=status, pinmu=pinmu,
                           status_form=StatusForm(), today=today())


# ------------------------------------------------------------------ zones

@bp.route("/zones", methods=["GET", "POST"])
@login_required
@permission_required("zone.manage")
def zones():
    if request.method == "POST":
        if StatusForm().validate_on_submit():
            zone = db.session.get(Zone, request.form.get("code", "")) or abort(404)
            action = request.form.get("action")
            if action == "toggle":
                enabled = not zone.enabled
                _run(operations.update_zone, zone, enabled=enabled, note=request.form.get("note"),
                     success=f"已{'启用' if enabled else '停用'}{zone.name}")
            elif action == "describe":
                _run(operations.update_zone, zone, description=request.form.get("description"),
                     success=f"已更新{zone.name}的说明")
            else:
                abort(400)
        return redirect(url_for("admin.zones"))
    rows = db.session.scalars(select(Zone).order_by(Zone.sort_order)).all()
    counts = dict(db.session.execute(select(Product.zone_code, func.count()).where(Product.status == "listed")
                                     .group_by(Product.zone_code)).all())
    return render_template("admin/zones.html", zones=rows, counts=counts, status_form=StatusForm())


# ------------------------------------------------------------------ 特色馆 reviews

@bp.route("/pavilion", methods=["GET", "POST"])
@login_required
@permission_required("pavilion.review")
def pavilion():
    from suppliers.models import PAVILION_STATUSES, SupplierProfile

    if request.method == "POST":
        if StatusForm().validate_on_submit():
            profile = db.session.get(SupplierProfile, _form_id("supplier_id")) or abort(404)
            decision = request.form.get("decision")
            name = profile.organisation.name
            _run(operations.review_pavilion, profile, decision, request.form.get("note"),
                 success=f"{name}：{operations.PAVILION_DECISIONS.get(decision, '')}")
        return redirect(url_for("admin.pavilion", status=request.args.get("status")))
    status = request.args.get("status") or "applied"
    q = select(SupplierProfile).where(SupplierProfile.pavilion_status == status) \
        .order_by(SupplierProfile.organisation_id)
    rows = db.paginate(q, page=request.args.get("page", 1, type=int), per_page=30, error_out=False)
    counts = dict(db.session.execute(select(SupplierProfile.pavilion_status, func.count())
                                     .group_by(SupplierProfile.pavilion_status)).all())
    return render_template("admin/pavilion.html", rows=rows, status=status, labels=PAVILION_STATUSES,
                           counts=counts, status_form=StatusForm())
