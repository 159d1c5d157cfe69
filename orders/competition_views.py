"""Pages of 二次竞价 / 顺序轮候: publish (buyers), invitations and bids (suppliers), evaluation,
and the public result page."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateTimeLocalField, DecimalField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from catalog import pinmu
from mall.authz import require
from mall.extensions import db
from mall.forms import apply_problems
from mall.problems import ServiceError
from mall.timeutil import LOCAL_TZ, as_utc, today, utcnow

from . import competition as svc
from .models import COMPETITION_STATUSES, BudgetLine, Competition, RotationAward

bp = Blueprint("competitions", __name__)


class CompetitionForm(FlaskForm):
    category_code = StringField("品目编码", validators=[DataRequired("请填写品目编码"), Length(max=12)],
                                description="如 A02010105 台式计算机、C23120301 车辆维修和保养服务")
    title = StringField("项目名称", validators=[Optional(), Length(max=200)])
    quantity = IntegerField("数量", validators=[DataRequired("请填写数量"), NumberRange(1, svc.MAX_QUANTITY)])
    specs = TextAreaField("技术规格和服务要求", validators=[DataRequired("请填写技术规格"), Length(max=4000)],
                          render_kw={"rows": 5})
    budget_line_id = SelectField("预算指标", coerce=int, validators=[DataRequired("请选择预算指标")])
    budget_amount = DecimalField("采购预算（元，最高总价）", places=2, validators=[DataRequired("请填写采购预算")])
    deadline = DateTimeLocalField("报价截止时间", format="%Y-%m-%dT%H:%M", validators=[Optional()],
                                  description="至少1个工作日的响应时间；顺序轮候无需填写")
    method = SelectField("采购方式", choices=[("auto", "按协议自动确定"), ("competition", "二次竞价"),
                                          ("rotation", "顺序轮候")], default="auto")
    payment_method = SelectField("支付方式", choices=[("treasury", "国库集中支付"), ("card", "公务卡")])
    card_payment_method = StringField("公务卡支付令牌", validators=[Optional(), Length(max=203)],
                                      render_kw={"placeholder": "选择公务卡时填写：发卡行提供，以 pm_ 开头",
                                                 "autocomplete": "off"})
    delivery_address = StringField("交付地点", validators=[Optional(), Length(max=300)])
    submit = SubmitField("发布")


class BidForm(FlaskForm):
    product_id = SelectField("报价型号", coerce=int, validators=[DataRequired("请选择报价商品")])
    unit_price = DecimalField("报价单价（元）", places=2, validators=[DataRequired("请填写报价单价")])
    note = StringField("报价说明", validators=[Optional(), Length(max=500)])
    submit = SubmitField("提交报价")


def _budget_choices() -> list[tuple[int, str]]:
    lines = db.session.scalars(select(BudgetLine).where(BudgetLine.unit_id == current_user.organisation_id,
                                                        BudgetLine.year == today().year)
                               .order_by(BudgetLine.project_code)).all()
    return [(b.id, f"{b.project_code} {b.project_name}（{b.economic_class_name}，可用¥{b.available:,.2f}）")
            for b in lines]


@bp.route("/competitions")
@login_required
def index():
    require("competition.view")
    q = svc.visible_competitions_query(current_user)
    status = request.args.get("status")
    if status in COMPETITION_STATUSES:
        q = q.where(Competition.status == status)
    page = db.paginate(q.order_by(Competition.id.desc()), page=request.args.get("page", 1, type=int),
                       per_page=20, error_out=False)
    return render_template("competitions/index.html", page=page, status=status, statuses=COMPETITION_STATUSES)


@bp.route("/competitions/new", methods=["GET", "POST"])
@login_required
def new():
    require("competition.create")
    form = CompetitionForm()
    form.budget_line_id.choices = _budget_choices()
    if request.method == "GET":
        form.category_code.data = form.category_code.data or request.args.get("category", "")
        nxt = svc.earliest_deadline(utcnow()) + dt.timedelta(hours=1)
        form.deadline.data = as_utc(nxt).astimezone(LOCAL_TZ).replace(tzinfo=None, second=0, microsecond=0)
    if form.validate_on_submit():
        data = {k: form[k].data for k in ("category_code", "title", "quantity", "specs", "budget_line_id",
                                          "budget_amount", "method", "payment_method", "card_payment_method",
                                          "delivery_address")}
        data["deadline"] = form.deadline.data.isoformat() if form.deadline.data else None
        try:
            comp = svc.create_competition(current_user, data)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            apply_problems(form, exc.problems)
        else:
            if comp.method == "rotation":
                flash(f"顺序轮候{comp.number}已发布：{comp.result_note or comp.status_label}",
                      "success" if comp.status == "awarded" else "warning")
            else:
                flash(f"二次竞价{comp.number}已发布，已邀请{len(comp.invites)}家入围供应商报价", "success")
            return redirect(url_for("competitions.detail", competition_id=comp.id))
    return render_template("competitions/new.html", form=form)


@bp.route("/competitions/<int:competition_id>")
@login_required
def detail(competition_id):
    comp = svc.get_competition(competition_id, current_user)
    bid_form = None
    my_bid = None
    if current_user.role == "supplier" and comp.status == "open" and comp.method == "competition":
        products = svc.bid_products(comp, current_user.organisation_id)
        my_bid = next((b for b in comp.bids if b.supplier_id == current_user.organisation_id), None)
        bid_form = BidForm()
        bid_form.product_id.choices = [
            (p.id, f"{p.brand or ''} {p.model or ''} {p.title}（协议价¥{p.agreement_price.max_price:,.2f}）")
            for p in products]
        if my_bid is not None:
            bid_form.product_id.data = my_bid.product_id
            bid_form.unit_price.data = my_bid.unit_price
            bid_form.note.data = my_bid.note
    rotation = svc.rotation_history(comp.agreement_id) if comp.method == "rotation" and comp.agreement_id else []
    return render_template("competitions/detail.html", comp=comp, bids=svc.bids_visible_to(comp, current_user),
                           bid_form=bid_form, my_bid=my_bid, rotation=rotation, now=utcnow(), as_utc=as_utc,
                           category_name=pinmu.name_of(comp.category_code),
                           bid_count=len(comp.bids))


@bp.route("/competitions/<int:competition_id>/bid", methods=["POST"])
@login_required
def bid(competition_id):
    require("competition.bid")  # suppliers only: a buyer, auditor or operator never reaches the form
    comp = svc.get_competition(competition_id, current_user)
    form = BidForm()
    form.product_id.choices = [(p.id, p.title) for p in svc.bid_products(comp, current_user.organisation_id)]
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(e, "danger")
        return redirect(url_for("competitions.detail", competition_id=competition_id))
    try:
        b = svc.submit_bid(competition_id, current_user, {"product_id": form.product_id.data,
                                                          "unit_price": form.unit_price.data, "note": form.note.data})
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        if exc.status in (401, 403, 404):
            raise
        for p in exc.problems:
            flash(p.message, "danger")
    else:
        flash(f"报价已提交：单价¥{b.unit_price:,.2f}（截止前可修改）", "success")
    return redirect(url_for("competitions.detail", competition_id=competition_id))


@bp.route("/competitions/<int:competition_id>/award", methods=["POST"])
@login_required
def award(competition_id):
    try:
        comp = svc.award(competition_id, current_user)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        if exc.status in (401, 403, 404):
            raise
        for p in exc.problems:
            flash(p.message, "danger")
        return redirect(url_for("competitions.detail", competition_id=competition_id))
    if comp.status == "awarded":
        flash(f"评审完成，已向成交供应商下单（订单{comp.order.number if comp.order else comp.order_id}）", "success")
    else:
        flash(f"竞价流标：{comp.result_note or ''}", "warning")
    return redirect(url_for("competitions.detail", competition_id=competition_id))


@bp.route("/competitions/<int:competition_id>/result")
def result(competition_id):
    """Public result announcement (成交结果公告): every bid with its evaluated price."""
    comp = db.session.get(Competition, competition_id) or abort(404)
    if comp.status not in ("awarded", "failed"):
        abort(404)
    rotation = []
    if comp.method == "rotation" and comp.agreement_id:
        rotation = db.session.scalars(select(RotationAward).where(RotationAward.competition_id == comp.id)
                                      .order_by(RotationAward.id)).all()
    return render_template("competitions/result.html", comp=comp, bids=svc.ranking(comp), rotation=rotation,
                           category_name=pinmu.name_of(comp.category_code))


@bp.route("/competitions/results")
def results():
    """Public list of decided competitions."""
    q = select(Competition).where(Competition.status.in_(("awarded", "failed"))).order_by(Competition.id.desc())
    page = db.paginate(q, page=request.args.get("page", 1, type=int), per_page=20, error_out=False)
    return render_template("competitions/results.html", page=page)
