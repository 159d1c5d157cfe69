"""Catalog pages: zones, 品目 tree, product pages, framework agreements (public side)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from mall.extensions import db
from . import pinmu
from .models import Product, Zone
from .queries import sellable_products

bp = Blueprint("catalog", __name__)


@bp.route("/zones/<code>")
def zone(code):
    zone = db.session.get(Zone, code) or abort(404)
    q = sellable_products().where(Product.zone_code == code)
    category = request.args.get("category")
    if category:
        q = q.where(Product.category_code.in_(pinmu.descendants(category)))
    if request.args.get("sme") == "1":
        q = q.where(Product.is_sme.is_(True))
    page = db.paginate(q.order_by(Product.sales_count.desc(), Product.id),
                       page=request.args.get("page", 1, type=int),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("catalog/zone.html", zone=zone, products=page, category=category)


@bp.route("/categories")
@bp.route("/categories/<code>")
def categories(code=None):
    nodes = pinmu.tree()
    if code and code not in nodes:
        abort(404)
    current = nodes.get(code) if code else None
    children = [nodes[c] for c in (current.children if current else
                                   [n.code for n in nodes.values() if n.parent_code is None])]
    trail = [nodes[c] for c in pinmu.path_of(code)] if code else []
    products = None
    if code:
        q = sellable_products().where(Product.category_code.in_(pinmu.descendants(code)))
        products = db.paginate(q.order_by(Product.sales_count.desc(), Product.id),
                               page=request.args.get("page", 1, type=int),
                               per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("catalog/categories.html", current=current, children=children, trail=trail,
                           products=products)


@bp.route("/products/<int:product_id>")
def product(product_id):
    product = db.session.get(Product, product_id) or abort(404)
    return render_template("catalog/product.html", product=product)
