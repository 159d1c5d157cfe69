"""Supervision pages (blueprint ``supervision``): orders with filters and .xlsx export, an
order's full record and archive, risk flags, queries (问询), enforcement, statistics, partner
banks and procurement loans.

Thin entry points: parse the request, call ``services`` / ``archive`` / ``stats``, commit once,
render. Refusals come back as ``ServiceError`` and are flashed (forms) or rendered (pages).
"""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request, send_file,
                   url_for)
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.routing import BuildError

from catalog import pinmu
from catalog.models import ZONE_LABELS, Product
from mall.accounts.models import Organisation
from mall.authz import can, require
from mall.extensions import db
from mall.problems import ServiceError
from mall.timeutil import LOCAL_TZ, as_utc, today
from orders.models import ORDER_STATUSES, RISK_KINDS, RISK_STATUSES, Order, RiskFlag
from suppliers.models import SupplierProfile

from . import archive, filters, services, stats
from .models import (ENFORCEMENT_KINDS, LOAN_STATUSES, QUERY_STATUSES, EnforcementAction, LoanApplication,
                     PartnerBank, Query)
from .paging import page_arg as _page

bp = Blueprint("supervision", __name__)

PER_PAGE = 30
XLSX_MAX_ROWS = 50000


# ------------------------------------------------------------------ template helpers

@bp.app_template_global()
def party_order_url(order) -> str:
    """The order page a buyer or supplier uses (built by the orders package), else ours."""
    for endpoint, arg in (("orders.detail", "order_id"), ("orders.view", "order_id"), ("orders.show", "order_id")):
        if endpoint in current_app.view_functions:
            try:
                return url_for(endpoint, **{arg: order.id})
            except BuildError:
                continue
    if current_user.is_authenticated and can(current_user, "audit.read"):
        return url_for("supervision.order", order_id=order.id)
    return f"/orders/{order.id}"


@bp.app_template_global()
def partner_banks():
    """Active partner banks (政采贷) for ``supervision/_partner_banks.html``."""
    return services.active_banks()


@bp.app_template_global()
def my_open_queries(limit: int = 10):
    """Queries addressed to the signed-in buyer's or supplier's unit (dashboard list)."""
    if not current_user.is_authenticated or current_user.role not in ("buyer", "supplier"):
        return []
    return services.queries_for(current_user, limit=limit)


def _local(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    return as_utc(value).astimezone(LOCAL_TZ).strftime(fmt)


def _flash_problems(exc: ServiceError) -> None:
    db.session.rollback()
    for p in exc.problems:
        flash(p.message, "danger")


def _back(default: str) -> str:
    target = request.form.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else default


# ------------------------------------------------------------------ orders

@bp.route("/supervision/")
@login_required
def index():
    if can(current_user, "audit.read"):
        return redirect(url_for("supervision.orders"))
    return redirect(url_for("supervision.queries"))  # buyers and suppliers: the queries to them


def _filtered():
    f, problems = filters.parse(request.args)
    for p in problems:
        flash(p.message, "warning")
    return f


@bp.route("/supervision/orders")
@login_required
def orders():
    require("audit.read")
    f = _filtered()
    q = filters.orders_query(f).options(selectinload(Order.buyer_unit), selectinload(Order.supplier))
    page = db.paginate(q, page=_page(), per_page=PER_PAGE, error_out=False)
    ids = [o.id for o in page.items]
    flag_counts = dict(db.session.execute(
        select(RiskFlag.order_id, func.count()).where(RiskFlag.order_id.in_(ids or [-1]), RiskFlag.status == "open")
        .group_by(RiskFlag.order_id)).all())
    matching = filters.apply(select(Order.total), f).subquery()
    total_amount = db.session.scalar(select(func.coalesce(func.sum(matching.c.total), 0)))
    return render_template("supervision/orders.html", page=page, f=f, args=filters.as_args(f),
                           flag_counts=flag_counts, total_amount=total_amount, statuses=ORDER_STATUSES,
                           zones=ZONE_LABELS, flag_filters=filters.FLAG_FILTERS, risk_kinds=RISK_KINDS,
                           pinmu_name=pinmu.name_of)


@bp.route("/supervision/orders.xlsx")
@login_required
def orders_xlsx():
    require("audit.read")
    from openpyxl import Workbook
    from openpyxl.styles import Font

    f = _filtered()
    q = filters.orders_query(f).options(selectinload(Order.buyer_unit), selectinload(Order.supplier),
                                        selectinload(Order.lines))
    rows = db.session.scalars(q.limit(XLSX_MAX_ROWS + 1)).all()
    if len(rows) > XLSX_MAX_ROWS:
        flash(f"符合条件的订单超过{XLSX_MAX_ROWS:,}笔，请缩小筛选范围后导出", "danger")
        return redirect(url_for("supervision.orders", **filters.as_args(f)))
    open_flags = dict(db.session.execute(select(RiskFlag.order_id, func.count())
                                         .where(RiskFlag.status == "open").group_by(RiskFlag.order_id)).all())
    wb = Workbook()
    ws = wb.active
    ws.title = "订单"
    header = ["订单号", "下单时间", "采购单位", "统一社会信用代码", "供应商", "交易区", "品目", "订单金额（元）",
              "参考金额（元）", "节约资金（元）", "状态", "中小企业", "预算年度", "待核查预警"]
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for o in rows:
        codes = sorted({line.category_code for line in o.lines})
        ws.append([o.number, _local(o.placed_at), o.buyer_unit.name, o.buyer_unit.uscc, o.supplier.name,
                   ZONE_LABELS.get(o.zone_code, o.zone_code),
                   "；".join(f"{c} {pinmu.name_of(c)}" for c in codes),
                   o.total, o.reference_total, o.savings, o.status_label, "是" if o.is_sme else "否",
                   o.budget_year, open_flags.get(o.id, 0)])
    for col in ("H", "I", "J"):
        for cell in ws[col][1:]:
            cell.number_format = "#,##0.00"
    for col, width in zip("ABCDEFGHIJKLMN", (22, 17, 28, 21, 28, 8, 36, 14, 14, 14, 12, 8, 9, 10)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    meta = wb.create_sheet("筛选条件")
    meta.append(["导出时间", dt.datetime.now(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")])
    meta.append(["导出人", f"{current_user.display_name}（{current_user.username}）"])
    meta.append(["订单数", len(rows)])
    for k, v in filters.as_args(f).items():
        meta.append([k, v])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    name = f"govmall-orders-{today().isoformat()}.xlsx"
    return send_file(buf, as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _order_or_404(order_id) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        abort(404)
    return order


@bp.route("/supervision/orders/<int:order_id>")
@login_required
def order(order_id):
    require("audit.read")
    o = _order_or_404(order_id)
    flags = db.session.scalars(select(RiskFlag).where(RiskFlag.order_id == o.id).order_by(RiskFlag.id)).all()
    pair_flags = db.session.scalars(select(RiskFlag).where(RiskFlag.order_id.is_(None),
                                                           RiskFlag.unit_id == o.buyer_unit_id,
                                                           RiskFlag.supplier_id == o.supplier_id)).all()
    profile = db.session.get(SupplierProfile, o.supplier_id)
    products = {p.id: p for p in db.session.scalars(
        select(Product).where(Product.id.in_([line.product_id for line in o.lines] or [-1])))}
    queries = db.session.scalars(select(Query).where(Query.order_id == o.id).order_by(Query.id)).all()
    loans = db.session.scalars(select(LoanApplication).where(LoanApplication.order_id == o.id)
                               .order_by(LoanApplication.id)).all()
    agreement = None
    if o.agreement_id:
        from catalog.models import Agreement
        agreement = db.session.get(Agreement, o.agreement_id)
    return render_template("supervision/order.html", order=o, flags=flags, pair_flags=pair_flags, profile=profile,
                           products=products, queries=queries, loans=loans, agreement=agreement,
                           pinmu_name=pinmu.name_of, zones=ZONE_LABELS, statuses=ORDER_STATUSES)


@bp.route("/supervision/orders/<int:order_id>/archive")
@login_required
def order_archive(order_id):
    require("audit.read")
    o = _order_or_404(order_id)
    p = archive.parts(o)
    return render_template("supervision/archive.html", order=o, events=archive.timeline(o, p),
                           records=archive.audit_records(o, p), pinmu_name=pinmu.name_of, zones=ZONE_LABELS, **p)


@bp.route("/supervision/archive/export")
@login_required
def archive_export():
    require("audit.read")
    problems = []
    from catalog.inputs import parse_date

    start = parse_date(request.args.get("from"), "from", "开始日期", problems, required=False)
    end = parse_date(request.args.get("to"), "to", "截止日期", problems, required=False)
    if problems:
        raise ServiceError(problems)
    orders_, scope = archive.orders_for_scope(request.args.get("order"), start, end)
    data = archive.build_package(orders_, scope)
    db.session.commit()  # the export itself is on the audit trail
    return send_file(io.BytesIO(data), as_attachment=True, mimetype="application/zip",
                     download_name=archive.package_name(orders_, start if not request.args.get("order") else None,
                                                        end))


# ------------------------------------------------------------------ flags

@bp.route("/supervision/flags")
@login_required
def flags():
    require("audit.read")
    status = request.args.get("status", "open")
    kind = request.args.get("kind") or ""
    q = select(RiskFlag).options(selectinload(RiskFlag.order)).order_by(RiskFlag.created_at.desc(), RiskFlag.id.desc())
    if status in RISK_STATUSES:
        q = q.where(RiskFlag.status == status)
    if kind in RISK_KINDS:
        q = q.where(RiskFlag.kind == kind)
    page = db.paginate(q, page=_page(), per_page=PER_PAGE, error_out=False)
    counts = dict(db.session.execute(select(RiskFlag.kind, func.count()).where(RiskFlag.status == "open")
                                     .group_by(RiskFlag.kind)).all())
    org_ids = {x for fl in page.items for x in (fl.unit_id, fl.supplier_id) if x}
    names = dict(db.session.execute(select(Organisation.id, Organisation.name)
                                    .where(Organisation.id.in_(org_ids or {-1}))).all())
    return render_template("supervision/flags.html", page=page, status=status, kind=kind, counts=counts,
                           risk_kinds=RISK_KINDS, risk_statuses=RISK_STATUSES, names=names)


@bp.route("/supervision/flags/<int:flag_id>/clear", methods=["POST"])
@login_required
def clear_flag(flag_id):
    try:
        flag = services.clear_flag(flag_id, request.form.get("reason"))
        db.session.commit()
        flash(f"已核销预警：{flag.kind_label}", "success")
    except ServiceError as exc:
        if exc.status in (401, 403, 404):
            raise
        _flash_problems(exc)
    return redirect(_back(url_for("supervision.flags")))


@bp.route("/supervision/scan", methods=["POST"])
@login_required
def scan():
    require("supervision.act")
    result = services.scan_risks()
    db.session.commit()
    flash(f"风险扫描完成：检查订单{result['orders_checked']}笔，发现{result['findings']}项，新增预警{result['created']}条",
          "success")
    return redirect(url_for("supervision.flags"))


# ------------------------------------------------------------------ queries (问询)

@bp.route("/supervision/orders/<int:order_id>/queries", methods=["POST"])
@login_required
def ask(order_id):
    try:
        q = services.ask_query(order_id, request.form.get("party"), request.form.get("question"),
                               request.form.get("flag_id"))
        db.session.commit()
        flash(f"问询已发送至{q.addressed_org.name}", "success")
        return redirect(url_for("supervision.query", query_id=q.id))
    except ServiceError as exc:
        if exc.status in (401, 403, 404):
            raise
        _flash_problems(exc)
    return redirect(url_for("supervision.order", order_id=order_id))


@bp.route("/supervision/queries")
@login_required
def queries():
    require("query.view")
    status = request.args.get("status") or None
    rows = services.queries_for(current_user, status if status in QUERY_STATUSES else None)
    return render_template("supervision/queries.html", queries=rows, status=status, statuses=QUERY_STATUSES)


@bp.route("/supervision/queries/<int:query_id>", methods=["GET", "POST"])
@login_required
def query(query_id):
    q = services.get_query(query_id)
    if request.method == "POST":
        try:
            services.answer_query(q.id, request.form.get("answer"))
            db.session.commit()
            flash("答复已提交，财政局将收到通知", "success")
            return redirect(url_for("supervision.query", query_id=q.id))
        except ServiceError as exc:
            if exc.status in (401, 403, 404):
                raise
            _flash_problems(exc)
            q = services.get_query(query_id)
    return render_template("supervision/query.html", q=q, order=q.order,
                           can_answer=can(current_user, "query.answer", q) and q.status == "open",
                           can_close=can(current_user, "supervision.act") and q.status != "closed")


@bp.route("/supervision/queries/<int:query_id>/close", methods=["POST"])
@login_required
def close_query(query_id):
    try:
        services.close_query(query_id, request.form.get("note"))
        db.session.commit()
        flash("问询已办结", "success")
    except ServiceError as exc:
        if exc.status in (401, 403, 404):
            raise
        _flash_problems(exc)
    return redirect(url_for("supervision.query", query_id=query_id))


# ------------------------------------------------------------------ enforcement

@bp.route("/supervision/enforcement")
@login_required
def enforcement():
    require("audit.read")
    actions = db.session.scalars(select(EnforcementAction).options(
        selectinload(EnforcementAction.supplier), selectinload(EnforcementAction.product),
        selectinload(EnforcementAction.acted_by)).order_by(EnforcementAction.id.desc()).limit(200)).all()
    suspended = db.session.execute(
        select(Organisation, SupplierProfile).join(SupplierProfile, SupplierProfile.organisation_id == Organisation.id)
        .where(SupplierProfile.status == "suspended").order_by(Organisation.name)).all()
    taken_down = db.session.scalars(select(Product).where(Product.status == "taken_down")
                                    .options(selectinload(Product.supplier)).order_by(Product.id.desc()).limit(200)).all()
    return render_template("supervision/enforcement.html", actions=actions, suspended=suspended,
                           taken_down=taken_down, kinds=ENFORCEMENT_KINDS)


def _enforce(fn, *args, ok: str, default: str):
    try:
        fn(*args)
        db.session.commit()
        flash(ok, "success")
    except ServiceError as exc:
        if exc.status in (401, 403, 404):
            raise
        _flash_problems(exc)
    return redirect(_back(default))


@bp.route("/supervision/suppliers/<int:supplier_id>/suspend", methods=["POST"])
@login_required
def suspend(supplier_id):
    return _enforce(services.suspend_supplier, supplier_id, request.form.get("reason"), request.form.get("order_id"),
                    ok="已暂停该供应商交易，处理决定已公开", default=url_for("supervision.enforcement"))


@bp.route("/supervision/suppliers/<int:supplier_id>/reinstate", methods=["POST"])
@login_required
def reinstate(supplier_id):
    return _enforce(services.reinstate_supplier, supplier_id, request.form.get("reason"),
                    ok="已恢复该供应商交易", default=url_for("supervision.enforcement"))


@bp.route("/supervision/products/<int:product_id>/takedown", methods=["POST"])
@login_required
def takedown(product_id):
    return _enforce(services.take_down_product, product_id, request.form.get("reason"), request.form.get("order_id"),
                    ok="商品已监管下架，处理决定已公开", default=url_for("supervision.enforcement"))


@bp.route("/supervision/products/<int:product_id>/restore", methods=["POST"])
@login_required
def restore(product_id):
    return _enforce(services.restore_product, product_id, request.form.get("reason"),
                    ok="已撤销商品下架", default=url_for("supervision.enforcement"))


# ------------------------------------------------------------------ statistics

def _year_arg() -> int:
    year = request.args.get("year", type=int)
    return year if year and 2000 <= year <= 2100 else today().year


@bp.route("/stats")
@login_required
def stats_page():
    require("stats.read")
    group_by = request.args.get("group_by", "zone")
    if group_by not in stats.GROUPS or group_by == "month":
        group_by = "zone"
    year = _year_arg()
    data = stats.figures(year, group_by)
    top = data["rows"][:15]
    return render_template("supervision/stats.html", data=data, year=year, group_by=group_by, groups=stats.GROUPS,
                           years=sorted(set(stats.available_years()) | {today().year, year}, reverse=True),
                           bars=stats.bar_chart([(r["label"], r["amount"]) for r in top]),
                           line=stats.line_chart([(r["label"], r["amount"]) for r in data["months"]]))


# ------------------------------------------------------------------ partner banks and loans

@bp.route("/supervision/banks", methods=["GET", "POST"])
@login_required
def banks():
    require("bank.manage")
    if request.method == "POST":
        try:
            bank = services.create_bank(_bank_form())
            db.session.commit()
            flash(f"已添加合作银行：{bank.name}", "success")
            return redirect(url_for("supervision.banks"))
        except ServiceError as exc:
            _flash_problems(exc)
    rows = db.session.scalars(select(PartnerBank).order_by(PartnerBank.active.desc(), PartnerBank.name)).all()
    return render_template("supervision/banks.html", banks=rows,
                           form=_bank_form() if request.method == "POST" else {})


@bp.route("/supervision/banks/<int:bank_id>", methods=["GET", "POST"])
@login_required
def bank(bank_id):
    require("bank.manage")
    b = services.get_bank(bank_id)
    if request.method == "POST":
        try:
            services.update_bank(b.id, _bank_form())
            db.session.commit()
            flash("合作银行信息已保存", "success")
            return redirect(url_for("supervision.banks"))
        except ServiceError as exc:
            _flash_problems(exc)
            b = services.get_bank(bank_id)
    return render_template("supervision/bank_form.html", bank=b, form=_bank_form() if request.method == "POST" else None)


def _bank_form() -> dict:
    """The bank form: an unticked checkbox is absent from the post, which means inactive."""
    data = request.form.to_dict()
    data["active"] = request.form.get("active", "0")
    return data


@bp.route("/supervision/loans")
@login_required
def loans():
    require("loan.view")
    status = request.args.get("status") or None
    rows = services.loans_for(current_user, status if status in LOAN_STATUSES else None)
    figures = stats.loan_figures(_year_arg()) if current_user.role in ("operator", "auditor") else None
    return render_template("supervision/loans.html", loans=rows, status=status, statuses=LOAN_STATUSES,
                           figures=figures, year=_year_arg())


@bp.route("/supervision/loans/<int:loan_id>/decide", methods=["POST"])
@login_required
def decide_loan(loan_id):
    try:
        loan = services.decide_loan(loan_id, request.form)
        db.session.commit()
        flash(f"已记录银行审批结果：{loan.status_label}", "success")
    except ServiceError as exc:
        if exc.status in (401, 403, 404):
            raise
        _flash_problems(exc)
    return redirect(url_for("supervision.loans"))


@bp.route("/supervision/orders/<int:order_id>/loan", methods=["GET", "POST"])
@login_required
def apply_loan(order_id):
    o = _order_or_404(order_id)
    require("loan.apply", o)
    if request.method == "POST":
        try:
            loan = services.apply_loan(o.id, request.form)
            db.session.commit()
            flash(f"已向{loan.bank.name}提交政采贷申请，金额{loan.amount:,.2f}元", "success")
            return redirect(url_for("supervision.loans"))
        except ServiceError as exc:
            if exc.status in (401, 403, 404):
                raise
            _flash_problems(exc)
            o = _order_or_404(order_id)
    existing = db.session.scalars(select(LoanApplication).where(LoanApplication.order_id == o.id)
                                  .order_by(LoanApplication.id)).all()
    committed = services.loan_committed(o.id)
    return render_template("supervision/loan_apply.html", order=o, banks=services.active_banks(), loans=existing,
                           available=max(o.total - committed, Decimal(0)), committed=committed,
                           form=request.form if request.method == "POST" else {})
