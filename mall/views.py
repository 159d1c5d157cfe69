"""Home page, role dashboards and public disclosure."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from .extensions import db

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    from catalog.models import Agreement, Product, Zone
    from catalog.queries import sellable_products
    from suppliers.models import SupplierProfile

    zones = db.session.scalars(select(Zone).where(Zone.enabled).order_by(Zone.sort_order)).all()
    figures = {
        "products": db.session.scalar(select(func.count()).select_from(sellable_products().subquery())),
        "suppliers": db.session.scalar(select(func.count()).select_from(SupplierProfile)
                                       .where(SupplierProfile.status == "active")),
        "sme_suppliers": db.session.scalar(select(func.count()).select_from(SupplierProfile)
                                           .where(SupplierProfile.sme_size.in_(("micro", "small", "medium")))),
        "agreements": db.session.scalar(select(func.count()).select_from(Agreement)
                                        .where(Agreement.status == "active")),
    }
    sub = sellable_products().subquery()
    per_zone = dict(db.session.execute(select(sub.c.zone_code, func.count()).group_by(sub.c.zone_code)).all())
    featured = db.session.scalars(sellable_products().order_by(Product.sales_count.desc()).limit(12)).all()
    return render_template("main/index.html", zones=zones, figures=figures, featured=featured, per_zone=per_zone)


@bp.route("/dashboard")
@login_required
def dashboard():
    return render_template(f"main/dashboard_{current_user.role}.html")


@bp.route("/disclosure")
def disclosure():
    return render_template("main/disclosure.html")
