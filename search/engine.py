"""The search interface shared by every engine: a query, a result, the engine protocol.

Engines (``embedded_sqlite``, ``embedded_pg``, ``es``) answer a :class:`SearchQuery` with a
:class:`SearchResult` of product ids, a total and facet counts.  The service layer
(``search.service``) turns the ids into products (re-checking that each may be sold now),
highlights titles and helps when nothing was found.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional, Protocol

SORTS = {
    "relevance": "综合排序",
    "price_asc": "价格从低到高",
    "price_desc": "价格从高到低",
    "sales": "销量",
    "newest": "最新上架",
}

# Price bands for the facet (yuan): lower bound inclusive, upper bound exclusive.
PRICE_BANDS: list[tuple[Decimal, Optional[Decimal], str]] = [
    (Decimal("0"), Decimal("500"), "500元以下"),
    (Decimal("500"), Decimal("2000"), "500–2,000元"),
    (Decimal("2000"), Decimal("10000"), "2,000–1万元"),
    (Decimal("10000"), Decimal("50000"), "1万–5万元"),
    (Decimal("50000"), None, "5万元以上"),
]

# Facet sizes: how many values each facet lists
FACET_SIZES = {"category": 20, "brand": 20}

# Broad queries are ranked over the best CANDIDATE_CAP matches (in quality order): ranking costs
# 1.4–3.7 µs per matching row (the project brief's PERF_NOTES.md), so 59,000 matches of 打印机 at 1M would take ~130 ms.
CANDIDATE_CAP = 3000

# Facets of more than FACET_SAMPLE matches are counted on the first FACET_SAMPLE (in quality
# order) and scaled: the total and the counts are then estimates ("约"), like a search engine's.
# 5,000 rows keep a facet value holding 5% of the matches within about ±6% (1σ) of its count,
# at half the cost of 10,000 (PostgreSQL 100k, 电脑: 30 → 14 ms).
FACET_SAMPLE = 5000


def has_filters(q) -> bool:
    return bool(q.zone or q.categories or q.brand or q.supplier_id is not None or q.sme is not None
                or q.price_min is not None or q.price_max is not None or q.in_stock or q.agreement_id is not None)


def price_band(price) -> int:
    p = Decimal(price or 0)
    for i, (lo, hi, _label) in enumerate(PRICE_BANDS):
        if p >= lo and (hi is None or p < hi):
            return i
    return 0


@dataclass
class SearchQuery:
    text: str = ""                      # the query as typed (normalised)
    tokens: list[tuple[str, ...]] = field(default_factory=list)  # each token with its synonyms
    zone: Optional[str] = None
    category: Optional[str] = None      # a 品目 code: matches it and its descendants
    categories: list[str] = field(default_factory=list)  # filled from ``category`` (descendants)
    brand: Optional[str] = None
    supplier_id: Optional[int] = None
    sme: Optional[bool] = None
    price_min: Optional[Decimal] = None
    price_max: Optional[Decimal] = None
    in_stock: bool = False
    agreement_id: Optional[int] = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = 24
    match: str = "all"                  # all tokens must match, or "any"
    boost_categories: list[str] = field(default_factory=list)  # 品目 the words name (ranked × 1.5)
    facets: bool = True

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def flat_terms(self) -> list[str]:
        return [t for group in self.tokens for t in group]

    def replace(self, **changes) -> "SearchQuery":
        return dataclasses.replace(self, **changes)

    def filter_key(self) -> tuple:
        return (self.zone, tuple(self.categories), self.brand, self.supplier_id, self.sme,
                str(self.price_min), str(self.price_max), self.in_stock, self.agreement_id)


@dataclass
class Hit:
    product_id: int
    score: float = 0.0
    highlight: Optional[str] = None     # an engine's own highlight of the title, if any


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict = field(default_factory=dict)
    engine: str = ""
    fallback: Optional[str] = None
    took_ms: float = 0.0
    approximate: bool = False           # total and facet counts estimated from a sample (huge sets)


class Engine(Protocol):
    name: str

    def search(self, query: SearchQuery) -> SearchResult: ...

    def status(self) -> dict: ...


# ------------------------------------------------------------------ shared SQL pieces

def filter_sql(q: SearchQuery, params: dict, alias: str = "d") -> str:
    """``AND ...`` conditions over the search_doc columns (bound parameters only)."""
    parts = []
    if q.zone:
        parts.append(f"{alias}.zone_code = :f_zone")
        params["f_zone"] = q.zone
    if q.categories:
        names = []
        for i, code in enumerate(q.categories):
            params[f"f_cat{i}"] = code
            names.append(f":f_cat{i}")
        parts.append(f"{alias}.category_code IN ({', '.join(names)})")
    if q.brand:
        parts.append(f"{alias}.brand = :f_brand")
        params["f_brand"] = q.brand
    if q.supplier_id is not None:
        parts.append(f"{alias}.supplier_id = :f_supplier")
        params["f_supplier"] = q.supplier_id
    if q.sme is not None:
        parts.append(f"{alias}.is_sme = :f_sme")
        params["f_sme"] = bool(q.sme)
    if q.price_min is not None:
        parts.append(f"{alias}.price >= :f_pmin")
        params["f_pmin"] = q.price_min
    if q.price_max is not None:
        parts.append(f"{alias}.price <= :f_pmax")
        params["f_pmax"] = q.price_max
    if q.in_stock:
        parts.append(f"{alias}.stock > 0")
    if q.agreement_id is not None:
        parts.append(f"{alias}.agreement_id = :f_agreement")
        params["f_agreement"] = q.agreement_id
    return "".join(" AND " + p for p in parts)


def category_boost_sql(q: SearchQuery, params: dict, factor: float, alias: str = "d") -> str:
    """`` * (CASE WHEN category IN (...) THEN factor ELSE 1 END)`` for the 品目 the query names."""
    if not q.boost_categories:
        return ""
    names = []
    for i, code in enumerate(q.boost_categories[:400]):
        params[f"b_cat{i}"] = code
        names.append(f":b_cat{i}")
    params["b_factor"] = factor
    return f" * (CASE WHEN {alias}.category_code IN ({', '.join(names)}) THEN :b_factor ELSE 1.0 END)"


def order_sql(sort: str, alias: str = "d") -> str:
    return {
        "price_asc": f"{alias}.price ASC, {alias}.id",
        "price_desc": f"{alias}.price DESC, {alias}.id",
        "sales": f"{alias}.sales_count DESC, {alias}.id",
        "newest": f"{alias}.listed_at DESC, {alias}.product_id DESC",
    }.get(sort, f"{alias}.sales_count DESC, {alias}.id")


def facets_from_groups(rows) -> tuple[dict, int]:
    """Facets from rows of (zone, category, brand, is_sme, band, count) of one GROUP BY."""
    zone: dict = {}
    cat: dict = {}
    brand: dict = {}
    sme: dict = {}
    band: dict = {}
    total = 0
    for z, c, b, s, p, n in rows:
        total += n
        zone[z] = zone.get(z, 0) + n
        cat[c] = cat.get(c, 0) + n
        if b:
            brand[b] = brand.get(b, 0) + n
        s = bool(s)
        sme[s] = sme.get(s, 0) + n
        band[p] = band.get(p, 0) + n
    return build_facets(zone, cat, brand, sme, band), total


def build_facets(zone: dict, cat: dict, brand: dict, sme: dict, band: dict) -> dict:
    from catalog import pinmu
    from catalog.models import ZONE_LABELS

    def top(counts: dict, size: int):
        return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:size]

    return {
        "zone": [{"value": z, "label": ZONE_LABELS.get(z, z), "count": n}
                 for z, n in top(zone, 10)],
        "category": [{"value": c, "label": pinmu.name_of(c), "count": n}
                     for c, n in top(cat, FACET_SIZES["category"])],
        "brand": [{"value": b, "label": b, "count": n} for b, n in top(brand, FACET_SIZES["brand"])],
        "sme": [{"value": "1" if k else "0", "label": "中小企业" if k else "非中小企业", "count": n}
                for k, n in sorted(sme.items(), key=lambda kv: not kv[0]) if n],
        "price": [{"value": _band_value(i), "label": PRICE_BANDS[i][2],
                   "min": str(PRICE_BANDS[i][0]), "max": str(PRICE_BANDS[i][1]) if PRICE_BANDS[i][1] else None,
                   "count": band[i]} for i in sorted(band) if band[i] and 0 <= i < len(PRICE_BANDS)],
    }


def _band_value(i: int) -> str:
    lo, hi, _ = PRICE_BANDS[i]
    return f"{lo}-{hi}" if hi is not None else f"{lo}-"


def empty_facets() -> dict:
    return {"zone": [], "category": [], "brand": [], "sme": [], "price": []}
