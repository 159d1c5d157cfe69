"""Search API: ``GET /api/v1/search`` and ``GET /api/v1/search/suggest`` (public, no token needed)."""
from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from flask import jsonify, url_for
from flask.views import MethodView

from mall.api import api_blueprint

from . import service

blp = api_blueprint("search", __name__, description="Full-text product search")


class SearchArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    q = ma.fields.String(load_default="", metadata={"description": "words, brand, model or 品目 code (≤100 characters)"})
    zone = ma.fields.String(metadata={"description": "central | self | pavilion"})
    category = ma.fields.String(metadata={"description": "品目 code; includes its descendants"})
    brand = ma.fields.String()
    supplier = ma.fields.String(metadata={"description": "supplier organisation id"})
    sme = ma.fields.String(metadata={"description": "1: SME products only"})
    price_min = ma.fields.String()
    price_max = ma.fields.String()
    price = ma.fields.String(metadata={"description": "a price band value from facets.price, e.g. 500-2000"})
    in_stock = ma.fields.String(metadata={"description": "1: in stock only"})
    agreement = ma.fields.String(metadata={"description": "framework agreement id"})
    sort = ma.fields.String(metadata={"description": "relevance | price_asc | price_desc | sales | newest"})
    page = ma.fields.String()
    per_page = ma.fields.String(metadata={"description": "1–100, default 20"})


class RefSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()


class SupplierRefSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()


class SearchItemSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    highlight = ma.fields.String(metadata={"description": "title as HTML with <mark> around matches"})
    brand = ma.fields.String(allow_none=True)
    model = ma.fields.String(allow_none=True)
    price = ma.fields.Decimal(as_string=True)
    market_price = ma.fields.Decimal(as_string=True, allow_none=True)
    unit = ma.fields.String()
    stock = ma.fields.Integer()
    in_stock = ma.fields.Boolean()
    is_sme = ma.fields.Boolean()
    sales_count = ma.fields.Integer()
    agreement_price_id = ma.fields.Integer(allow_none=True)
    zone = ma.fields.Nested(RefSchema)
    category = ma.fields.Nested(RefSchema)
    supplier = ma.fields.Nested(SupplierRefSchema)
    url = ma.fields.String()


class SearchResponseSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(SearchItemSchema))
    total = ma.fields.Integer()
    total_approximate = ma.fields.Boolean(metadata={"description": "over FACET_SAMPLE (5,000) matches: total and facet counts are estimates"})
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    pages = ma.fields.Integer()
    facets = ma.fields.Dict(metadata={"description": "zone, category, brand, sme, price: [{value, label, count}]"})
    engine = ma.fields.String(metadata={"description": "sqlite-fts5 | postgres-fts | elasticsearch"})
    fallback = ma.fields.String(allow_none=True)
    query = ma.fields.Dict()
    notices = ma.fields.List(ma.fields.String())
    corrected = ma.fields.Dict(allow_none=True)
    related_categories = ma.fields.List(ma.fields.Dict())
    unfiltered_total = ma.fields.Integer(metadata={"description": "nothing under the filters: matches without them"})


class SuggestArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    q = ma.fields.String(load_default="")


class SuggestionSchema(ma.Schema):
    text = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "category | brand | brand_category"})
    count = ma.fields.Integer()
    category = ma.fields.String()


class SuggestResponseSchema(ma.Schema):
    suggestions = ma.fields.List(ma.fields.Nested(SuggestionSchema))


def _money(value):
    return None if value is None else f"{Decimal(value):.2f}"


def item_of(p, highlight) -> dict:
    from catalog import pinmu

    return {
        "id": p.id, "title": p.title, "highlight": str(highlight), "brand": p.brand, "model": p.model,
        "price": _money(p.price), "market_price": _money(p.market_price), "unit": p.unit, "stock": p.stock,
        "in_stock": (p.stock or 0) > 0, "is_sme": bool(p.is_sme), "sales_count": p.sales_count or 0,
        "agreement_price_id": p.agreement_price_id,
        "zone": {"code": p.zone_code, "name": p.zone.name if p.zone else p.zone_code},
        "category": {"code": p.category_code, "name": pinmu.name_of(p.category_code)},
        "supplier": {"id": p.supplier_id, "name": p.supplier.name if p.supplier else None},
        "url": url_for("catalog.product", product_id=p.id),
    }


def page_payload(page: "service.SearchPage") -> dict:
    q = page.query
    return {
        "items": [item_of(p, page.highlights.get(p.id, p.title)) for p in page.items],
        "total": page.total, "total_approximate": page.approximate, "page": q.page, "per_page": q.per_page,
        "pages": page.pages,
        "facets": page.facets, "engine": page.engine, "fallback": page.fallback,
        "query": {"q": q.text, "tokens": [list(t) for t in q.tokens], "sort": q.sort, "category": q.category,
                  "zone": q.zone, "brand": q.brand, "sme": q.sme, "in_stock": q.in_stock,
                  "price_min": str(q.price_min) if q.price_min is not None else None,
                  "price_max": str(q.price_max) if q.price_max is not None else None},
        "notices": page.notices, "corrected": page.corrected, "related_categories": page.related,
        "unfiltered_total": page.unfiltered_total,
    }


@blp.route("/search")
class Search(MethodView):
    @blp.arguments(SearchArgsSchema, location="query")
    @blp.response(200, SearchResponseSchema)
    @blp.doc(security=[])
    def get(self, args):
        """Search sellable products: full text, filters, facets, sorting, paging, highlights.

        Only products that may be sold now are returned, whichever engine answers. Bad input is
        corrected or ignored and explained in ``notices``; nothing found gives ``corrected``
        (the query that was run instead) or ``related_categories``."""
        query, notices = service.parse(args, per_page=20)
        page = service.search(query, notices)
        return jsonify(page_payload(page))  # plain JSON types already: no schema pass (the schema documents it)


@blp.route("/search/suggest")
class Suggest(MethodView):
    @blp.arguments(SuggestArgsSchema, location="query")
    @blp.response(200, SuggestResponseSchema)
    @blp.doc(security=[])
    def get(self, args):
        """Completions while typing: 品目, brands and brand + 品目 (matched by text or pinyin)."""
        return jsonify({"suggestions": service.suggest(args.get("q") or "")})
