"""Home page, role dashboards (工作台) and public disclosure (信息公开).

Headline figures over the whole catalog are cached per process for a minute
(``mall.cache``); everything a signed-in user acts on (budget, stock, applications) is read
fresh on every request.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, ROUND_HALF_UP

from flask import Blueprint, current_app, g, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import func, select, true
from sqlalchemy.orm import selectinload

from . import cache
from .extensions import db
from .timeutil import today

bp = Blueprint("main", __name__)

LOW_STOCK = 10            # a listed product with at most this many units is "low stock"
PRICE_RISK_RATIO = Decimal("1.30")  # price above market reference by more than 30%
JOIN_REVIEW_WORKDAYS = 7  # open agreements: an application is reviewed within 7 working days


def N_(text: str) -> str:
    """Marks a string for extraction; it is translated where shown, with ``_()``."""
    return text


# ------------------------------------------------------------------ template helpers

def has_endpoint(name: str) -> bool:
    return name in current_app.view_functions


def link_to(endpoint: str, fallback: str, **values) -> str:
    """``url_for(endpoint)`` when another package has built it, else its planned path."""
    return url_for(endpoint, **values) if has_endpoint(endpoint) else fallback


def product_image_url(product) -> str | None:
    """The first uploaded image of a product (served by ``suppliers.media``), if any."""
    images = sorted(getattr(product, "images", None) or [], key=lambda i: (i.sort_order, i.id))
    if images:
        return "/media/products/" + images[0].filename
    path = getattr(product, "image_path", None)
    if path and "/" not in path and ".." not in path:
        return "/media/products/" + path
    return None


# Icons for product placeholders and category navigation, by 品目 code prefix (longest wins).
CATEGORY_ICONS = {
    "A02010104": "hdd-rack", "A02010108": "laptop", "A02010109": "tablet", "A020101": "pc-display",
    "A020102": "router", "A020103": "shield-lock", "A020104": "display", "A020105": "hdd-network",
    "A020106": "keyboard", "A020108": "cpu", "A0201": "cpu", "A020210": "printer", "A020201": "printer",
    "A020204": "printer", "A020202": "projector", "A0202": "printer", "A0203": "car-front",
    "A020618": "snow", "A0206": "lightbulb", "A0208": "telephone", "A0209": "tv", "A0232": "heart-pulse",
    "A0246": "trophy", "A0501": "lamp", "A0502": "cup-hot", "A0503": "backpack", "A0504": "file-earmark-text",
    "A07": "basket", "A0702": "capsule", "A08": "window-stack", "A04": "journal-bookmark",
    "C16": "cloud", "C17": "broadcast", "C23": "briefcase", "C2312": "wrench-adjustable", "C15": "truck",
    "C21": "building", "C22": "cup-straw", "C": "tools", "B": "building",
}


def category_icon(code: str | None) -> str:
    code = code or ""
    for n in range(len(code), 0, -1):
        icon = CATEGORY_ICONS.get(code[:n])
        if icon:
            return icon
    return "box-seam"


AUDIT_VERBS = {"create": N_("新增"), "update": N_("修改"), "delete": N_("删除")}
AUDIT_OBJECTS = {
    "product": N_("商品"), "user_account": N_("用户"), "organisation": N_("单位"), "budget_line": N_("预算指标"),
    "agreement": N_("框架协议"), "agreement_supplier": N_("入围供应商"), "agreement_price": N_("协议价格"),
    "agreement_category": N_("协议品目"), "supplier_profile": N_("供应商档案"), "sme_declaration": N_("中小企业声明函"),
    "policy_version": N_("目录及标准"), "centralized_item": N_("集中采购品目"), "solicitation": N_("公开征集"),
    "zone": N_("专区"), "api_token": N_("访问令牌"), "order": N_("订单"), "payment": N_("支付"),
}


def audit_label(record) -> tuple[str, str]:
    """What an audit record did, in words: (verb, object), e.g. ("修改", "预算指标")."""
    obj, _, verb = (record.action or "").rpartition(".")
    obj = obj or record.object_type
    return AUDIT_VERBS.get(verb, verb), AUDIT_OBJECTS.get(obj, AUDIT_OBJECTS.get(record.object_type, obj))


def percent(part, whole, digits: str = "0.1") -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(digits), ROUND_HALF_UP)


def url_with(**changes) -> str:
    """The current URL with some query arguments changed (None removes one). The same helper as
    the context processor's in ``mall.templating``, as a global so imported macros (pagers) see it."""
    args = request.args.to_dict()
    args.update(changes)
    args = {k: v for k, v in args.items() if v not in (None, "")}
    if not request.endpoint:
        return request.path
    return url_for(request.endpoint, **(request.view_args or {}), **args)


# Labels stored in models and data (roles, statuses, zones, sizes): translated in templates.
MODEL_LABELS = (
    N_("采购人"), N_("供应商"), N_("监管人员"), N_("运营人员"),
    N_("集采区"), N_("自采区"), N_("特色馆"),
    N_("集中采购目录内商品，仅限框架协议入围供应商按不高于协议价销售"),
    N_("公开征集品目，符合征集条件的注册供应商均可入驻"),
    N_("脱贫地区农副产品等特色商品，供应商须经资格审核"),
    N_("草稿"), N_("在售"), N_("已下架"), N_("被监管下架"),
    N_("有效"), N_("暂停"), N_("已到期"),
    N_("微型企业"), N_("小型企业"), N_("中型企业"), N_("大型企业"), N_("未声明"),
    N_("未申请"), N_("审核中"), N_("已认定"), N_("未通过"),
    # form labels (mall.accounts.forms), shown translated by templates/accounts/_fields.html
    N_("用户名"), N_("密码"), N_("企业名称"), N_("统一社会信用代码"), N_("联系人"), N_("联系电话"), N_("电子邮箱"),
    N_("地址"), N_("登录用户名"), N_("确认密码"), N_("当前密码"), N_("新密码"), N_("确认新密码"), N_("令牌名称"),
    # error messages (mall.errors, mall.problems.NotFound), shown translated by templates/error.html
    N_("请求格式错误"), N_("请先登录或提供有效的访问令牌"), N_("无权执行此操作"), N_("页面或对象不存在"),
    N_("不支持该请求方法"), N_("请求与当前状态冲突"), N_("不支持的内容类型"), N_("提交的数据有误"),
    N_("请求过于频繁"), N_("服务器内部错误，请稍后再试"), N_("商品不存在"), N_("专区不存在"), N_("请先登录"),
)

# Globals (not a context processor) so that imported macros such as _product_card.html see them.
for _fn in (has_endpoint, link_to, product_image_url, category_icon, url_with, audit_label):
    bp.add_app_template_global(_fn)


@bp.before_app_request
def _remember_language():
    g.ui_lang = session.get("lang")


@bp.after_app_request
def _keep_language(response):
    """Signing in or out clears the session (fixation protection); the chosen UI language is not
    identity, so it survives: a visitor who switched to English stays in English after login."""
    lang = g.get("ui_lang")
    if lang and "lang" not in session and not request.path.startswith("/api/"):
        session["lang"] = lang
    return response


@bp.app_template_filter("tr")
def _tr(value) -> str:
    """Translate a label that comes from data (zone names, statuses). Unlike ``_()`` in templates
    it never %-formats, so a label containing "%" cannot break the page."""
    if value is None:
        return ""
    return gettext(str(value)) if str(value) else ""


@bp.app_template_filter("pct")
def _pct(value) -> str:
    return "—" if value is None else f"{value}%"


# ------------------------------------------------------------------ figures (cached)

def headline_figures() -> dict:
    """Public figures of the mall: sellable products per zone, suppliers, SMEs, agreements."""

    def compute():
        from catalog.models import Agreement, AgreementSupplier
        from catalog.views import catalog_counts, zone_counts
        from suppliers.models import SME_SIZES, SupplierProfile

        per_zone = zone_counts()
        size_rows = db.session.execute(
            select(SupplierProfile.sme_size, func.count()).where(SupplierProfile.status == "active")
            .group_by(SupplierProfile.sme_size)).all()
        sizes = {(s or "undeclared"): int(n) for s, n in size_rows}
        suppliers = sum(sizes.values())
        sme = sum(n for s, n in sizes.items() if s in SME_SIZES)
        sme_products = sum(catalog_counts()["sme"].values())
        day = today()
        active_agreement = (Agreement.status == "active", Agreement.term_start <= day,
                            Agreement.term_end >= day)
        agreements = db.session.scalar(select(func.count()).select_from(Agreement).where(*active_agreement))
        entrants = db.session.scalar(
            select(func.count(func.distinct(AgreementSupplier.supplier_id)))
            .join(Agreement, Agreement.id == AgreementSupplier.agreement_id)
            .where(AgreementSupplier.status == "admitted", *active_agreement))
        products = sum(per_zone.values())
        try:  # transactions of the budget year (confirmed, not cancelled), as published in statistics
            from supervision.stats import totals

            orders = totals(day.year)
        except ImportError:
            orders = None
        return {
            "orders": orders, "year": day.year,
            "products": products, "per_zone": per_zone, "sme_products": int(sme_products or 0),
            "sme_product_share": percent(sme_products or 0, products),
            "suppliers": suppliers, "sme_suppliers": sme, "sme_share": percent(sme, suppliers),
            "sizes": sizes, "agreements": int(agreements or 0), "entrants": int(entrants or 0),
        }

    return cache.get_or_set("main.headline_figures", compute)


def _best_seller_ids() -> dict[str, list[int]]:
    """Ids of the best sellers (12), the best-selling SME products (6) and pavilion products (6)."""
    from catalog.models import Product
    from catalog.queries import sellable_condition

    def compute():
        top = db.session.execute(select(Product.id, Product.is_sme).where(sellable_condition())
                                 .order_by(Product.sales_count.desc(), Product.id).limit(80)).all()
        sme = [pid for pid, is_sme in top if is_sme][:6]
        if len(sme) < 6:
            sme = list(db.session.scalars(
                select(Product.id).where(sellable_condition(), Product.is_sme.is_(True))
                .order_by(Product.sales_count.desc(), Product.id).limit(6)))
        pavilion = list(db.session.scalars(
            select(Product.id).where(sellable_condition(), Product.zone_code == "pavilion")
            .order_by(Product.sales_count.desc(), Product.id).limit(6)))
        return {"featured": [pid for pid, _ in top[:12]], "sme": sme, "pavilion": pavilion}

    return cache.get_or_set("main.best_sellers", compute)


def _products_by_ids(ids: list[int]) -> list:
    """Load the cached ids fresh (current price and stock), still sellable, in the cached order."""
    if not ids:
        return []
    from catalog.models import Product
    from catalog.queries import sellable_products
    from catalog.views import card_options

    rows = db.session.scalars(sellable_products().where(Product.id.in_(ids)).options(*card_options())).all()
    order = {pid: i for i, pid in enumerate(ids)}
    return sorted(rows, key=lambda p: order[p.id])


# ------------------------------------------------------------------ pages

@bp.route("/")
def index():
    from catalog.models import Agreement, Zone
    from catalog.views import category_groups

    zones = db.session.scalars(select(Zone).where(Zone.enabled).order_by(Zone.sort_order)).all()
    figures = headline_figures()
    best = _best_seller_ids()
    featured = _products_by_ids(best["featured"])
    sme_picks = _products_by_ids(best["sme"])
    pavilion = _products_by_ids(best["pavilion"])
    agreements = db.session.scalars(
        select(Agreement).where(Agreement.status == "active")
        .order_by(Agreement.term_start.desc(), Agreement.id.desc())
        .options(selectinload(Agreement.categories), selectinload(Agreement.entrants)).limit(6)).all()
    return render_template("main/index.html", zones=zones, figures=figures, featured=featured,
                           sme_picks=sme_picks, pavilion=pavilion, agreements=agreements,
                           groups=category_groups(limit=12, per_group=6),
                           per_zone=figures["per_zone"])


@bp.route("/dashboard")
@login_required
def dashboard():
    builder = {"buyer": _buyer_dashboard, "supplier": _supplier_dashboard,
               "auditor": _auditor_dashboard, "operator": _operator_dashboard}[current_user.role]
    return render_template(f"main/dashboard_{current_user.role}.html", **builder())


def _my_orders() -> dict | None:
    """The user's orders (unit's for buyers, own for suppliers): counts by status and the latest five."""
    if not has_endpoint("orders.list"):
        return None
    from orders.models import ORDER_STATUSES, Order
    from orders.services import visible_orders_query

    q = visible_orders_query(current_user)
    sub = q.subquery()
    counts = dict(db.session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all())
    recent = db.session.scalars(q.order_by(Order.id.desc()).limit(5)
                                .options(selectinload(Order.supplier), selectinload(Order.buyer_unit))).all()
    return {"counts": counts, "recent": recent, "labels": ORDER_STATUSES, "total": sum(counts.values())}


def _buyer_dashboard() -> dict:
    from orders.models import BudgetLine

    unit = current_user.organisation
    year = today().year
    lines = db.session.scalars(select(BudgetLine).where(BudgetLine.unit_id == unit.id)
                               .order_by(BudgetLine.year.desc(), BudgetLine.project_code,
                                         BudgetLine.economic_class)).all()
    current = [b for b in lines if b.year == year]
    totals = {k: sum((getattr(b, k) or Decimal(0) for b in current), Decimal(0))
              for k in ("amount", "reserved", "spent", "available")}
    totals["used_pct"] = percent(totals["reserved"] + totals["spent"], totals["amount"])
    return {"unit": unit, "year": year, "lines": current, "other_lines": [b for b in lines if b.year != year],
            "totals": totals, "figures": headline_figures(), "orders": _my_orders()}


def _supplier_dashboard() -> dict:
    from catalog.models import Agreement, AgreementSupplier, PRODUCT_STATUSES, Product
    from suppliers.models import SmeDeclaration, SupplierProfile

    org = current_user.organisation
    profile = db.session.get(SupplierProfile, org.id)
    declaration = db.session.scalars(
        select(SmeDeclaration)
        .where(SmeDeclaration.supplier_id == org.id, SmeDeclaration.is_current.is_(True))
        .order_by(SmeDeclaration.declared_at.desc()).limit(1)).first()
    by_status = dict(db.session.execute(
        select(Product.status, func.count()).where(Product.supplier_id == org.id)
        .group_by(Product.status)).all())
    by_zone = dict(db.session.execute(
        select(Product.zone_code, func.count())
        .where(Product.supplier_id == org.id, Product.status == "listed")
        .group_by(Product.zone_code)).all())
    low_stock = db.session.scalars(
        select(Product)
        .where(Product.supplier_id == org.id, Product.status == "listed", Product.stock <= LOW_STOCK)
        .order_by(Product.stock, Product.id).limit(10)).all()
    low_stock_total = db.session.scalar(select(func.count()).select_from(Product).where(
        Product.supplier_id == org.id, Product.status == "listed", Product.stock <= LOW_STOCK))
    attention = db.session.scalars(
        select(Product).where(Product.supplier_id == org.id,
                              (Product.status == "taken_down") | Product.halted_reason.is_not(None))
        .order_by(Product.updated_at.desc()).limit(10)).all()
    memberships = db.session.scalars(
        select(AgreementSupplier).where(AgreementSupplier.supplier_id == org.id)
        .options(selectinload(AgreementSupplier.agreement)).order_by(AgreementSupplier.id.desc())).all()
    joined = {m.agreement_id for m in memberships}
    day = today()
    open_to_join = db.session.scalars(
        select(Agreement)
        .where(Agreement.kind == "open", Agreement.status == "active", Agreement.term_end >= day,
               Agreement.id.not_in(joined) if joined else true())
        .order_by(Agreement.term_end).limit(5)).all()
    return {"org": org, "profile": profile, "declaration": declaration,
            "by_status": {s: by_status.get(s, 0) for s in PRODUCT_STATUSES},
            "status_labels": PRODUCT_STATUSES,
            "by_zone": by_zone, "low_stock": low_stock, "low_stock_total": low_stock_total or 0,
            "low_stock_limit": LOW_STOCK, "attention": attention,
            "admitted": [m for m in memberships if m.status == "admitted"],
            "applications": [m for m in memberships if m.status != "admitted"],
            "open_to_join": open_to_join, "total_products": sum(by_status.values()), "orders": _my_orders()}


def _auditor_dashboard() -> dict:
    from catalog.models import Product
    from suppliers.models import SupplierProfile
    from .accounts.models import Organisation
    from .audit import AuditRecord

    from catalog.views import listing_counts

    supplier_status = dict(db.session.execute(select(SupplierProfile.status, func.count())
                                              .group_by(SupplierProfile.status)).all())
    # whole-catalog aggregates: cached for a minute like the public figures
    product_status = cache.get_or_set("auditor.product_status", lambda: dict(
        db.session.execute(select(Product.status, func.count()).group_by(Product.status)).all()))
    sellable = sum(listing_counts().values())
    suspended = db.session.execute(
        select(Organisation, SupplierProfile)
        .join(SupplierProfile, SupplierProfile.organisation_id == Organisation.id)
        .where(SupplierProfile.status == "suspended").order_by(Organisation.name).limit(20)).all()
    above = (Product.status == "listed", Product.market_price.is_not(None), Product.market_price > 0,
             Product.price > Product.market_price * PRICE_RISK_RATIO)

    def compute_risk():
        ids = list(db.session.scalars(select(Product.id).where(*above)
                                      .order_by((Product.price / Product.market_price).desc(), Product.id)
                                      .limit(20)))
        return ids, db.session.scalar(select(func.count()).select_from(Product).where(*above)) or 0

    # the scan over every listing is cached for a minute; the rows are re-checked fresh, so a
    # product just taken down or repriced leaves the list at once
    risky_ids, risky_total = cache.get_or_set("auditor.price_risk", compute_risk)
    risky = sorted(db.session.scalars(select(Product).where(Product.id.in_(risky_ids), *above)
                                      .options(selectinload(Product.supplier))).all(),
                   key=lambda p: risky_ids.index(p.id)) if risky_ids else []
    records = db.session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(20)).all()
    return {"supplier_status": supplier_status, "product_status": product_status, "sellable": sellable or 0,
            "suppliers_total": sum(supplier_status.values()), "products_total": sum(product_status.values()),
            "suspended": suspended, "risky": risky, "risky_total": risky_total or 0,
            "risk_pct": int((PRICE_RISK_RATIO - 1) * 100), "records": records}


def _operator_dashboard() -> dict:
    from catalog.models import AGREEMENT_STATUSES, Agreement, AgreementSupplier, Solicitation
    from catalog.policy import policy_in_force
    from suppliers.models import SupplierProfile
    from .accounts.models import Organisation

    day = today()
    by_status = dict(db.session.execute(
        select(Agreement.status, func.count()).group_by(Agreement.status)).all())
    expiring = db.session.scalars(
        select(Agreement).where(Agreement.status == "active", Agreement.term_end >= day,
                                Agreement.term_end <= day + dt.timedelta(days=30))
        .order_by(Agreement.term_end).limit(20)).all()
    joins = db.session.scalars(
        select(AgreementSupplier).where(AgreementSupplier.status == "applied")
        .options(selectinload(AgreementSupplier.agreement), selectinload(AgreementSupplier.supplier))
        .order_by(AgreementSupplier.applied_at, AgreementSupplier.id).limit(20)).all()
    from orders.workdays import calendar
    from .timeutil import LOCAL_TZ, as_utc

    cal = calendar()
    # 开放式协议: an application is reviewed within 7 working days (财政部令第110号)
    joins = [(m, cal.add_workdays(as_utc(m.applied_at).astimezone(LOCAL_TZ).date(), JOIN_REVIEW_WORKDAYS)
              if m.applied_at else None) for m in joins]
    joins_total = db.session.scalar(select(func.count()).select_from(AgreementSupplier)
                                    .where(AgreementSupplier.status == "applied"))
    pavilion = db.session.execute(
        select(Organisation, SupplierProfile)
        .join(SupplierProfile, SupplierProfile.organisation_id == Organisation.id)
        .where(SupplierProfile.pavilion_status == "applied").order_by(Organisation.id).limit(20)).all()
    solicitations_open = db.session.scalar(select(func.count()).select_from(Solicitation)
                                           .where(Solicitation.status == "open"))
    return {"by_status": {s: by_status.get(s, 0) for s in AGREEMENT_STATUSES},
            "status_labels": AGREEMENT_STATUSES,
            "expiring": expiring, "joins": joins, "joins_total": joins_total or 0, "pavilion": pavilion,
            "policy": policy_in_force(day), "today": day, "solicitations_open": solicitations_open or 0,
            "figures": headline_figures()}


@bp.route("/disclosure")
def disclosure():
    from catalog.models import Agreement, AgreementSupplier
    from catalog import pinmu
    from suppliers.models import SIZE_LABELS

    day = today()
    rows = db.session.execute(
        select(Agreement, func.count(AgreementSupplier.id))
        .outerjoin(AgreementSupplier, (AgreementSupplier.agreement_id == Agreement.id)
                   & (AgreementSupplier.status == "admitted"))
        .where(Agreement.status == "active", Agreement.term_end >= day)
        .group_by(Agreement.id).order_by(Agreement.term_end, Agreement.id)
        .options(selectinload(Agreement.categories))).all()
    figures = headline_figures()
    sizes = [(SIZE_LABELS.get(k, "未声明"), figures["sizes"].get(k, 0), percent(figures["sizes"].get(k, 0),
                                                                               figures["suppliers"]))
             for k in ("micro", "small", "medium", "large", "undeclared")]
    return render_template("main/disclosure.html", figures=figures, agreements=rows, sizes=sizes,
                           category_name=pinmu.name_of, today=day)
