"""Products API: list and read (public), create and edit (the owning supplier).

Prices are strings with two decimals (``"1234.50"``); in requests they may be strings or
numbers and are parsed to Decimal by the listing rules.  Refusals are 422
``{"problems": [{"code", "message", "rule", "field", "figures"}]}`` with stable codes; a
supplier acting on another supplier's product gets 403 ``not_owner`` and nothing changes.
"""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from sqlalchemy import func, select

from mall.accounts.models import ROLE_AUDITOR, ROLE_OPERATOR, ROLE_SUPPLIER
from mall.api import api_blueprint
from mall.api.schemas import Id
from mall.extensions import db
from mall.problems import Forbidden, NotFound, Problem, ServiceError

from . import pinmu, services
from .models import PRODUCT_STATUSES, ZONE_LABELS, Product
from .queries import sellable_condition, sellable_products

blp = api_blueprint("products", __name__,
                    description="Products: public listing of sellable products; suppliers create and edit their own")


class SupplierBrief(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()


class AgreementPriceBrief(ma.Schema):
    id = ma.fields.Integer()
    agreement_id = ma.fields.Integer()
    agreement_number = ma.fields.Function(lambda ap: ap.agreement.number if ap.agreement else None)
    max_price = ma.fields.Decimal(as_string=True, places=2)


class ProductSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    supplier = ma.fields.Nested(SupplierBrief)
    zone = ma.fields.String(attribute="zone_code")
    zone_label = ma.fields.Function(lambda p: ZONE_LABELS.get(p.zone_code, p.zone_code))
    category_code = ma.fields.String()
    category_name = ma.fields.Function(lambda p: pinmu.name_of(p.category_code))
    brand = ma.fields.String(allow_none=True)
    model = ma.fields.String(allow_none=True)
    manufacturer = ma.fields.String(allow_none=True)
    unit = ma.fields.String()
    price = ma.fields.Decimal(as_string=True, places=2)
    market_price = ma.fields.Decimal(as_string=True, places=2, allow_none=True)
    stock = ma.fields.Integer()
    status = ma.fields.String()
    status_label = ma.fields.String()
    halted_reason = ma.fields.String(allow_none=True)
    is_sme = ma.fields.Boolean()
    specs = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    description = ma.fields.String(allow_none=True)
    agreement_price = ma.fields.Nested(AgreementPriceBrief, allow_none=True)
    images = ma.fields.Function(lambda p: [f"/media/products/{i.filename}" for i in
                                           sorted(p.images, key=lambda i: (i.sort_order, i.id))])
    sales_count = ma.fields.Integer()
    listed_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ProductPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ProductSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class ProductQuerySchema(ma.Schema):
    zone = ma.fields.String(validate=ma.validate.OneOf(list(ZONE_LABELS)))
    category = ma.fields.String(metadata={"description": "品目 code; its descendants are included"})
    supplier = Id(metadata={"description": "supplier organisation id"})
    sme = ma.fields.Boolean(metadata={"description": "only SME products (true) or only others (false)"})
    status = ma.fields.String(validate=ma.validate.OneOf(list(PRODUCT_STATUSES) + ["all"]),
                              metadata={"description": "suppliers only: their own products in this status"})
    q = ma.fields.String(validate=ma.validate.Length(max=100), metadata={"description": "title/brand/model contains"})
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100000))
    per_page = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


class MoneyOrString(ma.fields.Field):
    """A money value as JSON string or number; the listing rules parse it to Decimal."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None or isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return value if not isinstance(value, float) else repr(value)
        raise ma.ValidationError("须为数字或数字字符串")


class ProductWriteSchema(ma.Schema):
    """Fields are checked by the listing rules (stable codes, Chinese messages), so
    a missing title or a bad price is a 422 ``problems`` answer, not a schema error."""
    title = ma.fields.String(allow_none=True)
    category_code = ma.fields.String(allow_none=True)
    zone = ma.fields.String(allow_none=True)
    brand = ma.fields.String(allow_none=True)
    model = ma.fields.String(allow_none=True)
    manufacturer = ma.fields.String(allow_none=True)
    unit = ma.fields.String(allow_none=True)
    price = MoneyOrString(allow_none=True, metadata={"description": "\"1234.50\" or 1234.5"})
    market_price = MoneyOrString(allow_none=True)
    stock = MoneyOrString(allow_none=True, metadata={"description": "integer ≥ 0"})
    specs = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Raw(allow_none=True), allow_none=True)
    description = ma.fields.String(allow_none=True)


class ProductCreateSchema(ProductWriteSchema):
    list = ma.fields.Boolean(load_default=False, metadata={"description": "list (上架) at once"})


class ProductPatchSchema(ProductWriteSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(["listed", "delisted"]),
                              metadata={"description": "listed: 上架 (zone rules checked); delisted: 下架"})


def _is_supervisor() -> bool:
    return getattr(current_user, "is_authenticated", False) and current_user.role in (ROLE_AUDITOR, ROLE_OPERATOR)


def _visible(product: Product) -> bool:
    if getattr(current_user, "is_authenticated", False):
        if current_user.role == ROLE_SUPPLIER and product.supplier_id == current_user.organisation_id:
            return True
        if _is_supervisor():
            return True
    return bool(db.session.scalar(select(func.count()).select_from(Product)
                                  .where(Product.id == product.id, sellable_condition())))


@blp.route("/products")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductPageSchema)
    @blp.doc(security=[])
    def get(self, args):
        """Sellable products (public), filtered by zone, 品目 (with descendants), supplier, SME.

        A supplier passing ``status`` sees its own products in that status (``all``: every status)."""
        status = args.get("status")
        if status:
            if not getattr(current_user, "is_authenticated", False):
                raise ServiceError(Problem("unauthenticated", "按状态查询须登录（仅供应商查询本单位商品）"), status=401)
            if current_user.role != ROLE_SUPPLIER:
                raise Forbidden("只有供应商可以按状态查询本单位的商品", code="forbidden_role")
            if args.get("supplier") not in (None, current_user.organisation_id):
                raise Forbidden("只能按状态查询本单位的商品", code="not_owner")
            q = select(Product).where(Product.supplier_id == current_user.organisation_id)
            if status != "all":
                q = q.where(Product.status == status)
        else:
            q = sellable_products()
            if args.get("supplier") is not None:
                q = q.where(Product.supplier_id == args["supplier"])
        if args.get("zone"):
            q = q.where(Product.zone_code == args["zone"])
        if args.get("category"):
            codes = pinmu.descendants(args["category"].strip().upper())
            if not codes:
                raise ServiceError(Problem("category_unknown", f"品目编码“{args['category'][:20]}”不存在",
                                           field="category", rule="product.category"))
            q = q.where(Product.category_code.in_(codes))
        if args.get("sme") is not None:
            q = q.where(Product.is_sme.is_(args["sme"]))
        if args.get("q"):
            like = f"%{args['q'].strip()}%"
            q = q.where(Product.title.ilike(like) | Product.brand.ilike(like) | Product.model.ilike(like))
        page = db.paginate(q.order_by(Product.id), page=args["page"], per_page=args["per_page"], error_out=False,
                           count=True)
        return {"items": page.items, "total": page.total, "page": args["page"], "per_page": args["per_page"]}

    @blp.arguments(ProductCreateSchema)
    @blp.response(201, ProductSchema)
    @blp.alt_response(422, description="refused: {\"problems\": [...]}")
    def post(self, data):
        """Create a product of the token's supplier (a draft, or listed with ``list: true``)."""
        list_now = data.pop("list", False)
        product = services.create_product(data, list_now=list_now)
        db.session.commit()
        return product


@blp.route("/products/<int:product_id>")
class ProductItem(MethodView):
    @blp.response(200, ProductSchema)
    @blp.doc(security=[])
    def get(self, product_id):
        """A product: sellable ones are public; others only for their supplier and supervisors."""
        product = db.session.get(Product, product_id)
        if product is None or not _visible(product):
            raise NotFound("商品")
        return product

    @blp.arguments(ProductPatchSchema)
    @blp.response(200, ProductSchema)
    @blp.alt_response(422, description="refused: {\"problems\": [...]}")
    def patch(self, data, product_id):
        """Edit the supplier's own product (price changes are recorded in the price history);
        ``status`` lists or delists it. A stock-only change does not re-check the zone rules."""
        product = services.get_own_product(product_id)
        status = data.pop("status", None)
        if data and set(data) == {"stock"}:
            services.update_stock(product, data["stock"])
        elif data:
            services.update_product(product, data)
        if status:
            services.set_listing(product, status == "listed")
        db.session.commit()
        return product
