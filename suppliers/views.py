"""Supplier pages: the public storefront (/suppliers/<id>), storefront management (/store/...)
and product images (/media/products/<filename>).

Views are thin: parse the form, call a service, commit once, render.  Every /store page
requires a signed-in supplier (``store.manage``); every write goes through a service that
checks ownership (a product of another supplier gives 403 and changes nothing).
"""
from __future__ import annotations

import io
from decimal import Decimal, InvalidOperation
from functools import wraps

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request, send_file,
                   send_from_directory, url_for)
from flask_login import login_required
from sqlalchemy import select

from catalog import pinmu
from catalog import services as products
from catalog.models import (AGREEMENT_KINDS, ENTRANT_STATUSES, PRODUCT_STATUSES, ZONE_LABELS, Product,
                            ProductImage, Solicitation)
from catalog.queries import sellable_products
from mall.extensions import db
from mall.forms import apply_problems
from mall.problems import ServiceError, errors_only
from mall.timeutil import today

from . import services, xlsx
from .forms import (AgreementApplyForm, DeclarationForm, ImageActionForm, ImageForm, ImportForm, ListActionForm,
                    PavilionForm, ProductForm, QuickEditForm)
from .models import INDUSTRIES, PAVILION_STATUSES, SIZE_LABELS, SUPPLIER_STATUSES, SupplierProfile

bp = Blueprint("suppliers", __name__)

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WAN = Decimal(10000)


def store_page(fn):
    """A storefront-management page: signed in, supplier role (``store.manage``)."""

    @login_required
    @wraps(fn)
    def wrapper(*args, **kwargs):
        org = services.acting_org()
        return fn(org, *args, **kwargs)

    return wrapper


def _back(default_endpoint: str = "suppliers.my_products"):
    target = request.form.get("next") or ""
    if target.startswith("/store") and "//" not in target and "\\" not in target:
        return redirect(target)
    return redirect(url_for(default_endpoint))


def _flash_problems(problems):
    for p in problems:
        flash(p.message, "danger" if p.severity == "error" else "warning")


def _flash_warnings(product: Product):
    for w in products.warnings_for(product):
        flash(w.message, "warning")


# --------------------------------------------------------------------------- public storefront

@bp.route("/suppliers/<int:supplier_id>")
def storefront(supplier_id):
    org = services.supplier_org(supplier_id)
    profile = db.session.get(SupplierProfile, org.id)
    declaration = services.current_declaration(org.id)
    agreements = services.admitted_agreements(org.id)
    q = sellable_products().where(Product.supplier_id == org.id)
    zone = request.args.get("zone")
    if zone in ZONE_LABELS:
        q = q.where(Product.zone_code == zone)
    page = db.paginate(q.order_by(Product.sales_count.desc(), Product.id.desc()),
                       page=request.args.get("page", 1, type=int), per_page=current_app.config["PAGE_SIZE"],
                       error_out=False)
    return render_template("suppliers/storefront.html", org=org, profile=profile, declaration=declaration,
                           agreements=agreements, products=page, zone=zone, INDUSTRIES=INDUSTRIES,
                           SUPPLIER_STATUSES=SUPPLIER_STATUSES)


@bp.route("/media/products/<path:filename>")
def media(filename):
    """Product images, only files that are ProductImage rows (never other uploads)."""
    if "/" in filename or "\\" in filename or filename.startswith("."):
        abort(404)
    exists = db.session.scalar(select(ProductImage.id).where(ProductImage.filename == filename).limit(1))
    if exists is None:
        abort(404)
    resp = send_from_directory(products.image_folder(), filename, max_age=7 * 24 * 3600)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# --------------------------------------------------------------------------- management: overview

@bp.route("/store")
@store_page
def store(org):
    profile = services.profile_of(org.id)
    counts = products.status_counts(org.id)
    declaration = services.current_declaration(org.id)
    entrants = services.my_agreements(org.id)
    halted = db.session.scalars(select(Product).where(Product.supplier_id == org.id, Product.status == "listed",
                                                      Product.halted_reason.is_not(None)).limit(20)).all()
    above_market = db.session.scalars(select(Product).where(Product.supplier_id == org.id,
                                                            Product.market_price.is_not(None),
                                                            Product.price > Product.market_price).limit(20)).all()
    return render_template("store/index.html", org=org, profile=profile, counts=counts, declaration=declaration,
                           entrants=entrants, halted=halted, above_market=above_market,
                           PRODUCT_STATUSES=PRODUCT_STATUSES, PAVILION_STATUSES=PAVILION_STATUSES,
                           ENTRANT_STATUSES=ENTRANT_STATUSES)


# --------------------------------------------------------------------------- management: products

@bp.route("/store/products")
@store_page
def my_products(org):
    status = request.args.get("status") if request.args.get("status") in PRODUCT_STATUSES else None
    zone = request.args.get("zone") if request.args.get("zone") in ZONE_LABELS else None
    q = (request.args.get("q") or "").strip()[:100] or None
    page = db.paginate(products.supplier_products(org.id, status=status, zone=zone, q=q),
                       page=request.args.get("page", 1, type=int), per_page=20, error_out=False)
    return render_template("store/products.html", org=org, products=page, status=status, zone=zone, q=q,
                           counts=products.status_counts(org.id), PRODUCT_STATUSES=PRODUCT_STATUSES,
                           quick_form=QuickEditForm(), list_form=ListActionForm())


def _category_hints(org_id: int) -> list[tuple[str, str, str]]:
    """Codes a supplier is likely to use: its agreements' 品目 and the open solicitations."""
    day = today()
    hints: dict[str, tuple[str, str, str]] = {}
    for e in services.my_agreements(org_id):
        if e.status == "admitted":
            for code in e.agreement.category_codes:
                hints.setdefault(code, (code, pinmu.name_of(code), f"集采区·{e.agreement.number}"))
    for s in db.session.scalars(select(Solicitation).where(Solicitation.status == "open")):
        if s.open_on(day):
            hints.setdefault(s.category_code, (s.category_code, pinmu.name_of(s.category_code), "自采区·公开征集"))
    return sorted(hints.values())


def _form_data(form: ProductForm) -> dict:
    return {"title": form.title.data, "zone": form.zone.data, "category_code": form.category_code.data,
            "brand": form.brand.data, "model": form.model.data, "manufacturer": form.manufacturer.data,
            "unit": form.unit.data, "price": form.price.data, "market_price": form.market_price.data,
            "stock": form.stock.data, "specs": form.specs.data, "description": form.description.data}


def _specs_text(specs: dict | None) -> str:
    return "\n".join(f"{k}: {v}" for k, v in (specs or {}).items())


@bp.route("/store/products/new", methods=["GET", "POST"])
@store_page
def product_new(org):
    form = ProductForm()
    if request.method == "GET" and request.args.get("zone") in ZONE_LABELS:
        form.zone.data = request.args["zone"]
    if form.validate_on_submit():
        try:
            product = products.create_product(_form_data(form), list_now=form.list_now.data)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            apply_problems(form, exc.problems)
        else:
            flash(f"商品“{product.title}”已{'上架' if product.status == 'listed' else '保存为草稿'}", "success")
            _flash_warnings(product)
            return redirect(url_for("suppliers.product_edit", product_id=product.id))
    return render_template("store/product_form.html", form=form, product=None, hints=_category_hints(org.id),
                           category_name=pinmu.name_of(form.category_code.data) if form.category_code.data else None)


@bp.route("/store/products/<int:product_id>/edit", methods=["GET", "POST"])
@store_page
def product_edit(org, product_id):
    product = products.get_own_product(product_id)
    form = ProductForm(obj=None if request.method == "POST" else product)
    if request.method == "GET":
        form.zone.data = product.zone_code
        form.price.data = f"{product.price:.2f}"
        form.market_price.data = f"{product.market_price:.2f}" if product.market_price is not None else ""
        form.stock.data = str(product.stock)
        form.specs.data = _specs_text(product.specs)
    if form.validate_on_submit():
        try:
            products.update_product(product, _form_data(form))
            if form.list_now.data and product.status != "listed":
                products.list_product(product)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            apply_problems(form, exc.problems)
        else:
            flash("商品已保存" + ("并上架" if product.status == "listed" and form.list_now.data else ""), "success")
            _flash_warnings(product)
            return redirect(url_for("suppliers.product_edit", product_id=product.id))
    product = db.session.get(Product, product_id)
    return render_template("store/product_form.html", form=form, product=product, hints=_category_hints(org.id),
                           images=products.product_images(product.id), image_form=ImageForm(),
                           image_action_form=ImageActionForm(), list_form=ListActionForm(),
                           category_name=pinmu.name_of(product.category_code),
                           max_image_mb=current_app.config["MAX_IMAGE_BYTES"] / 1024 / 1024)


@bp.route("/store/products/<int:product_id>/quick", methods=["POST"])
@store_page
def product_quick(org, product_id):
    """Quick price/stock edit from the product list."""
    product = products.get_own_product(product_id)
    form = QuickEditForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(e, "danger")
        return _back()
    try:
        try:
            price_changed = Decimal(str(form.price.data).strip().replace(",", "")) != product.price
        except InvalidOperation:
            price_changed = True  # let the rules explain what is wrong with it
        if price_changed:
            products.update_product(product, {"price": form.price.data, "stock": form.stock.data})
        else:
            products.update_stock(product, form.stock.data)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        _flash_problems(errors_only(exc.problems))
    else:
        flash(f"“{product.title}”：单价{product.price:,.2f}元，库存{product.stock}", "success")
        _flash_warnings(product)
    return _back()


@bp.route("/store/products/<int:product_id>/listing", methods=["POST"])
@store_page
def product_list_action(org, product_id):
    product = products.get_own_product(product_id)
    form = ListActionForm()
    action = form.action.data if form.validate_on_submit() else None
    if action not in ("list", "delist"):
        flash("无效的操作", "danger")
        return _back()
    try:
        products.set_listing(product, action == "list")
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        _flash_problems(exc.problems)
    else:
        flash(f"“{product.title}”已{'上架' if action == 'list' else '下架'}", "success")
    return _back()


@bp.route("/store/products/<int:product_id>/images", methods=["POST"])
@store_page
def product_images(org, product_id):
    product = products.get_own_product(product_id)
    form = ImageForm()
    if form.validate_on_submit():
        upload = form.image.data
        try:
            products.add_image(product, upload.stream if upload else None)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            _flash_problems(exc.problems)
        else:
            flash("图片已上传", "success")
    else:
        flash("上传失败，请刷新页面后重试", "danger")
    return redirect(url_for("suppliers.product_edit", product_id=product_id) + "#images")


@bp.route("/store/products/<int:product_id>/images/action", methods=["POST"])
@store_page
def product_image_action(org, product_id):
    product = products.get_own_product(product_id)
    form = ImageActionForm()
    if not form.validate_on_submit() or form.action.data not in ("delete", "cover") \
            or not str(form.image_id.data).isdigit():
        flash("无效的操作", "danger")
        return redirect(url_for("suppliers.product_edit", product_id=product_id) + "#images")
    try:
        if form.action.data == "delete":
            name = products.remove_image(product, int(form.image_id.data))
            db.session.commit()
            products.delete_image_file(name)
            flash("图片已删除", "success")
        else:
            products.set_cover_image(product, int(form.image_id.data))
            db.session.commit()
            flash("已设为主图", "success")
    except ServiceError as exc:
        db.session.rollback()
        _flash_problems(exc.problems)
    return redirect(url_for("suppliers.product_edit", product_id=product_id) + "#images")


# --------------------------------------------------------------------------- import / export

@bp.route("/store/import", methods=["GET", "POST"])
@store_page
def import_products(org):
    form = ImportForm()
    report = None
    result = None
    if form.validate_on_submit():
        upload = form.file.data
        try:
            result = xlsx.import_products(upload.stream if upload else b"", dry_run=form.dry_run.data)
            if not result.dry_run:
                db.session.commit()
        except xlsx.ImportRejected as exc:
            db.session.rollback()
            report = exc
        else:
            if result.dry_run:
                flash(f"校验通过：共{result.rows}行（将新增{result.created}个、更新{result.updated}个），尚未导入", "info")
            else:
                flash(f"导入成功：共{result.rows}行，新增{result.created}个、更新{result.updated}个商品，"
                      f"上架{result.listed}个、下架{result.delisted}个", "success")
                return redirect(url_for("suppliers.my_products"))
    return render_template("store/import.html", form=form, report=report, result=result, columns=xlsx.COLUMNS,
                           max_rows=xlsx.MAX_ROWS)


@bp.route("/store/export.xlsx")
@store_page
def export_products(org):
    data = xlsx.export_products(org.id)
    return send_file(io.BytesIO(data), mimetype=XLSX_MIME, as_attachment=True,
                     download_name=f"商品导出-{today().isoformat()}.xlsx")


@bp.route("/store/import-template.xlsx")
@store_page
def import_template(org):
    return send_file(io.BytesIO(xlsx.template()), mimetype=XLSX_MIME, as_attachment=True,
                     download_name="商品导入模板.xlsx")


# --------------------------------------------------------------------------- SME declaration

def _wan_to_yuan(text: str | None):
    """The form asks for 万元; the service takes yuan. Unparseable input goes through as is
    so that the service refuses it with its message."""
    try:
        value = Decimal(str(text).strip().replace(",", "")) * WAN
    except (InvalidOperation, ValueError):
        return text
    return value.normalize() if value == value.to_integral_value() else value


@bp.route("/store/declaration", methods=["GET", "POST"])
@store_page
def declaration(org):
    form = DeclarationForm()
    current = services.current_declaration(org.id)
    if request.method == "GET":
        form.year.data = str(today().year - 1)
        if current is not None:
            form.industry.data = current.industry
            form.staff.data = str(current.staff)
            form.revenue.data = f"{(current.revenue / WAN).normalize():f}"
            form.total_assets.data = f"{(current.total_assets / WAN).normalize():f}"
            form.manufacturer_name.data = current.manufacturer_name
            form.manufacturer_size.data = current.manufacturer_size or ""
    if form.validate_on_submit():
        try:
            decl = services.submit_declaration(
                industry=form.industry.data, year=form.year.data, staff=form.staff.data,
                revenue=_wan_to_yuan(form.revenue.data), total_assets=_wan_to_yuan(form.total_assets.data),
                manufacturer_name=form.manufacturer_name.data, manufacturer_size=form.manufacturer_size.data)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            apply_problems(form, exc.problems)
        else:
            flash(f"中小企业声明函已提交：{SIZE_LABELS.get(decl.size, decl.size)}。{decl.explanation}", "success")
            return redirect(url_for("suppliers.declaration"))
    return render_template("store/declaration.html", form=form, current=current,
                           history=services.declaration_history(org.id), profile=services.profile_of(org.id),
                           INDUSTRIES=INDUSTRIES, org=org, sme_products=products.supplier_is_sme(org.id))


# --------------------------------------------------------------------------- agreements

@bp.route("/store/agreements", methods=["GET", "POST"])
@store_page
def agreements(org):
    form = AgreementApplyForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                entrant = services.apply_to_agreement(form.agreement_id.data)
                db.session.commit()
            except ServiceError as exc:
                db.session.rollback()
                _flash_problems(exc.problems)
            else:
                flash(f"已提交加入框架协议{entrant.agreement.number}的申请，交易中心将在7个工作日内审核", "success")
        else:
            flash("请选择要申请加入的框架协议", "danger")
        return redirect(url_for("suppliers.agreements"))
    return render_template("store/agreements.html", org=org, entrants=services.my_agreements(org.id),
                           prices=services.my_agreement_prices(org.id),
                           open_agreements=services.open_agreements_to_join(org.id), form=form,
                           ENTRANT_STATUSES=ENTRANT_STATUSES, AGREEMENT_KINDS=AGREEMENT_KINDS, today=today())


# --------------------------------------------------------------------------- 特色馆

@bp.route("/store/pavilion", methods=["GET", "POST"])
@store_page
def pavilion(org):
    profile = services.profile_of(org.id)
    form = PavilionForm()
    if request.method == "GET" and profile is not None and profile.pavilion_county:
        form.county.data = profile.pavilion_county
        form.note.data = profile.pavilion_note
    if form.validate_on_submit():
        try:
            services.apply_pavilion(county=form.county.data, note=form.note.data)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            apply_problems(form, exc.problems)
        else:
            flash("特色馆资格申请已提交，请等待交易中心审核", "success")
            return redirect(url_for("suppliers.pavilion"))
    return render_template("store/pavilion.html", org=org, profile=profile, form=form,
                           PAVILION_STATUSES=PAVILION_STATUSES)
