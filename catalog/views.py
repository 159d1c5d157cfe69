"""Catalog pages: zones, the 品目 tree, product pages (the public, buyer-facing side).

Listings show only products that may be sold now (``catalog.queries.sellable_condition``).
Counts per zone and 品目 are aggregated once and cached briefly (``mall.cache``), so browsing a
catalog of 100k products does not run a GROUP BY on every request.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation, ROUND_HALF_UP

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from mall import cache
from mall.authz import can
from mall.extensions import db
from mall.problems import NotFound
from mall.timeutil import as_utc, today, utcnow
from . import pinmu
from .models import Product, Zone
from .queries import sellable_condition, sellable_products

bp = Blueprint("catalog", __name__)


def N_(text: str) -> str:
    """Marks a label for translation extraction; templates translate it with ``_()``."""
    return text


SORTS = {
    "sales": (N_("销量优先"), (Product.sales_count.desc(), Product.id)),
    "price_asc": (N_("价格从低到高"), (Product.price.asc(), Product.id)),
    "price_desc": (N_("价格从高到低"), (Product.price.desc(), Product.id)),
    "newest": (N_("最新上架"), (Product.id.desc(),)),
}
MAX_PRICE_FILTER = Decimal("1000000000")


# ------------------------------------------------------------------ cached aggregates

def catalog_counts() -> dict:
    """Sellable products per (zone, 品目 code), all and SME: one GROUP BY, cached for a minute."""

    def compute():
        rows = db.session.execute(
            select(Product.zone_code, Product.category_code, Product.is_sme, func.count())
            .where(sellable_condition())
            .group_by(Product.zone_code, Product.category_code, Product.is_sme)).all()
        total: dict[tuple[str, str], int] = {}
        sme: dict[tuple[str, str], int] = {}
        for z, c, is_sme, n in rows:
            total[(z, c)] = total.get((z, c), 0) + int(n)
            if is_sme:
                sme[(z, c)] = sme.get((z, c), 0) + int(n)
        return {"all": total, "sme": sme}

    return cache.get_or_set("catalog.counts", compute)


def listing_counts() -> dict[tuple[str, str], int]:
    return catalog_counts()["all"]


def subtree_counts(zone: str | None = None) -> dict[str, int]:
    """Sellable products under every 品目 node (the node and its descendants), optionally in one zone."""
    out: dict[str, int] = {}
    for (z, code), n in listing_counts().items():
        if zone and z != zone:
            continue
        for c in pinmu.path_of(code) or [code]:
            out[c] = out.get(c, 0) + n
    return out


def zone_counts() -> dict[str, int]:
    out: dict[str, int] = {}
    for (z, _code), n in listing_counts().items():
        out[z] = out.get(z, 0) + n
    return out


def subtree_codes(code: str) -> list[str]:
    """The 品目 codes under ``code`` that products use (a short IN list instead of thousands)."""
    used = {c for (_zone, c) in listing_counts()}
    return [c for c in pinmu.descendants(code) if c in used]


def category_groups(zone: str | None = None, limit: int | None = None, per_group: int = 8) -> list[dict]:
    """Navigation of the 品目 used by products: level-2 groups (e.g. 信息化设备, 家具用具) with their
    level-3 classes (e.g. 计算机, 网络设备), largest first."""
    nodes = pinmu.tree()
    counts = subtree_counts(zone)
    groups = []
    for code, n in counts.items():
        node = nodes.get(code)
        if node is None or node.level != 2:
            continue
        subs = [nodes[c] for c in node.children if counts.get(c)]
        subs.sort(key=lambda s: -counts[s.code])
        groups.append({"node": node, "count": n,
                       "children": [{"node": s, "count": counts[s.code]} for s in subs[:per_group]]})
    groups.sort(key=lambda g: (-g["count"], g["node"].code))
    return groups[:limit] if limit else groups


# ------------------------------------------------------------------ listing filters

class ListingFilters:
    """Query-string filters of a product list: SME only, price range, sort; bad input is ignored
    with a notice (never an error page)."""

    def __init__(self, args):
        self.notices: list[str] = []
        self.sme = args.get("sme") == "1"
        self.sort = args.get("sort") if args.get("sort") in SORTS else "sales"
        self.min_price = self._money(args.get("min_price"), _("最低价"))
        self.max_price = self._money(args.get("max_price"), _("最高价"))
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            self.notices.append(_("价格区间的最低价高于最高价，已忽略价格筛选"))
            self.min_price = self.max_price = None
        self.page = args.get("page", 1, type=int) or 1
        if self.page < 1:
            self.page = 1

    def _money(self, raw, label):
        if raw is None or raw.strip() == "":
            return None
        try:
            value = Decimal(raw.strip())
        except (InvalidOperation, ValueError):
            self.notices.append(_("%(label)s“%(value)s”不是有效金额，已忽略", label=label, value=raw[:20]))
            return None
        if not value.is_finite() or value < 0 or value > MAX_PRICE_FILTER:
            self.notices.append(_("%(label)s须在 0 至 1,000,000,000 元之间，已忽略", label=label))
            return None
        return value.quantize(Decimal("0.01"))

    @property
    def cache_key(self) -> str:
        return f"{int(self.sme)}:{self.sort}:{self.min_price}:{self.max_price}"

    @property
    def active(self) -> bool:
        return self.sme or self.min_price is not None or self.max_price is not None

    def apply(self, q):
        if self.sme:
            q = q.where(Product.is_sme.is_(True))
        if self.min_price is not None:
            q = q.where(Product.price >= self.min_price)
        if self.max_price is not None:
            q = q.where(Product.price <= self.max_price)
        return q.order_by(*SORTS[self.sort][1])


def card_options():
    """What a product card shows without one query per card."""
    return (selectinload(Product.images), selectinload(Product.supplier), selectinload(Product.zone))


class Page:
    """One page of a listing: the items, the total and the pager arithmetic of
    Flask-SQLAlchemy's Pagination (what ``_formhelpers.pager`` uses)."""

    def __init__(self, items: list, page: int, per_page: int, total: int):
        self.items, self.page, self.per_page, self.total = items, page, per_page, total

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page)) if self.total else 0

    has_prev = property(lambda self: self.page > 1)
    has_next = property(lambda self: self.page < self.pages)
    prev_num = property(lambda self: self.page - 1 if self.has_prev else None)
    next_num = property(lambda self: self.page + 1 if self.has_next else None)

    def __iter__(self):
        return iter(self.items)

    def iter_pages(self, *, left_edge=2, left_current=2, right_current=4, right_edge=2):
        pages_end = self.pages + 1
        if pages_end == 1:
            return
        left_end = min(1 + left_edge, pages_end)
        yield from range(1, left_end)
        if left_end == pages_end:
            return
        mid_start = max(left_end, self.page - left_current)
        mid_end = min(self.page + right_current + 1, pages_end)
        if mid_start - left_end > 0:
            yield None
        yield from range(mid_start, mid_end)
        if mid_end == pages_end:
            return
        right_start = max(mid_end, pages_end - right_edge)
        if right_start - mid_end > 0:
            yield None
        yield from range(right_start, pages_end)


def paginate_listing(q, filters: ListingFilters, key: str) -> Page:
    """A page of products. The ids and total of each (listing, filters, page) are cached for a
    minute — sorting tens of thousands of rows is the cost, and the first pages are the ones
    everybody opens; the products themselves are loaded fresh (current price, stock, status)."""
    per_page = current_app.config["PAGE_SIZE"]
    filtered = filters.apply(q)

    def compute():
        total = db.session.scalar(select(func.count()).select_from(
            filtered.with_only_columns(Product.id).order_by(None).subquery()))
        ids = list(db.session.scalars(filtered.with_only_columns(Product.id)
                                      .limit(per_page).offset((filters.page - 1) * per_page)))
        return ids, int(total or 0)

    ids, total = cache.get_or_set(
        f"catalog.listing:{key}:{filters.cache_key}:{filters.page}:{per_page}", compute)
    items = []
    if ids:
        rows = db.session.scalars(q.where(Product.id.in_(ids)).options(*card_options())).all()
        order = {pid: i for i, pid in enumerate(ids)}
        items = sorted(rows, key=lambda p: order[p.id])
    return Page(items, filters.page, per_page, total)


# ------------------------------------------------------------------ pages

@bp.route("/zones/<code>")
def zone(code):
    zone = db.session.get(Zone, code)
    if zone is None or not zone.enabled:
        raise NotFound("专区")
    filters = ListingFilters(request.args)
    q = sellable_products().where(Product.zone_code == code)
    category = request.args.get("category") or None
    nodes = pinmu.tree()
    if category:
        if category not in nodes:
            filters.notices.append(_("品目编码“%(code)s”不存在，已显示本区全部商品", code=category[:20]))
            category = None
        else:
            q = q.where(Product.category_code.in_(subtree_codes(category)))
    page = paginate_listing(q, filters, key=f"zone:{code}:{category or ''}")
    return render_template("catalog/zone.html", zone=zone, products=page, filters=filters, sorts=SORTS,
                           category=nodes.get(category) if category else None,
                           groups=category_groups(zone=code), zone_total=zone_counts().get(code, 0))


@bp.route("/categories")
@bp.route("/categories/<code>")
def categories(code=None):
    nodes = pinmu.tree()
    if code and code not in nodes:
        raise NotFound(f"品目“{code[:20]}”")
    counts = subtree_counts()
    current = nodes.get(code) if code else None
    child_codes = current.children if current else [n.code for n in nodes.values() if n.parent_code is None]
    children = [{"node": nodes[c], "count": counts.get(c, 0),
                 "grandchildren": [nodes[g] for g in nodes[c].children if counts.get(g)][:6]}
                for c in child_codes]
    # 品目 with products first, then the rest in code order (the full classification stays browsable)
    children.sort(key=lambda ch: (ch["count"] == 0, ch["node"].code))
    trail = [nodes[c] for c in pinmu.path_of(code)] if code else []
    products = filters = central = policy = None
    if code:
        filters = ListingFilters(request.args)
        q = sellable_products().where(Product.category_code.in_(subtree_codes(code)))
        products = paginate_listing(q, filters, key=f"category:{code}")
        from .policy import centralized_item_for, policy_in_force

        policy = policy_in_force(today())
        central = centralized_item_for(policy, code) if policy else None
    zone_split = {}
    if code:
        subtree = set(pinmu.descendants(code))
        for (z, c), n in listing_counts().items():
            if c in subtree:
                zone_split[z] = zone_split.get(z, 0) + n
    return render_template("catalog/categories.html", current=current, children=children, trail=trail,
                           products=products, filters=filters, sorts=SORTS, counts=counts,
                           central=central, policy=policy, zone_split=zone_split)


@bp.route("/products/<int:product_id>")
def product(product_id):
    product = db.session.get(Product, product_id, options=[selectinload(Product.images),
                                                           selectinload(Product.price_history)])
    if product is None:
        raise NotFound("商品")
    if product.status == "draft" and not (can(current_user, "product.update", product)
                                          or can(current_user, "audit.read")):
        raise NotFound("商品")
    from suppliers.models import SupplierProfile

    profile = db.session.get(SupplierProfile, product.supplier_id)
    sellable = (product.status == "listed" and product.halted_reason is None
                and profile is not None and profile.status == "active")
    nodes = pinmu.tree()
    trail = [nodes[c] for c in pinmu.path_of(product.category_code) if c in nodes]
    savings = None
    if product.market_price and product.market_price > product.price:
        diff = product.market_price - product.price
        savings = {"amount": diff, "rate": (diff / product.market_price * 100).quantize(Decimal("0.1"),
                                                                                     ROUND_HALF_UP)}
    ap = product.agreement_price
    agreement = ap.agreement if ap else None
    compare = db.session.scalars(
        sellable_products().where(Product.zone_code == product.zone_code,
                                  Product.category_code == product.category_code, Product.id != product.id)
        .order_by(Product.price.asc(), Product.id).limit(6).options(*card_options())).all()
    show_cart = sellable and "orders.cart_add" in current_app.view_functions
    return render_template("catalog/product.html", product=product, profile=profile, sellable=sellable,
                           trail=trail, savings=savings, agreement=agreement, agreement_price=ap,
                           chart=price_chart(product), compare=compare, show_cart=show_cart,
                           images=sorted(product.images, key=lambda i: (i.sort_order, i.id)))


# ------------------------------------------------------------------ price history chart

def price_chart(product: Product, width: int = 480, height: int = 180) -> dict | None:
    """A step line of the product's price over time, as SVG coordinates computed here (no JS).

    Points: every recorded price change, extended to now with the current price. None when
    the product has no recorded change (nothing to draw)."""
    history = [(as_utc(h.changed_at), Decimal(h.price)) for h in product.price_history if h.changed_at]
    if not history:
        return None
    history.sort(key=lambda p: p[0])
    now = utcnow()
    points = history + [(max(now, history[-1][0]), Decimal(product.price))]
    pad_l, pad_r, pad_t, pad_b = 62, 14, 12, 28
    t0, t1 = points[0][0], points[-1][0]
    span = (t1 - t0).total_seconds() or 1.0
    prices = [p for _, p in points]
    lo, hi = min(prices), max(prices)
    if lo == hi:
        lo, hi = lo * Decimal("0.9"), hi * Decimal("1.1") if hi else Decimal(1)
    rng = float(hi - lo) or 1.0
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def xy(t: dt.datetime, price: Decimal) -> tuple[float, float]:
        x = pad_l + plot_w * ((t - t0).total_seconds() / span)
        y = pad_t + plot_h * (1 - float(price - lo) / rng)
        return round(x, 1), round(y, 1)

    coords = []
    for i, (t, price) in enumerate(points):
        if i:
            coords.append(xy(t, points[i - 1][1]))  # step: the old price holds until the change
        coords.append(xy(t, price))
    marks = [dict(zip(("x", "y"), xy(t, p)), price=p, when=t) for t, p in history]
    ticks = []
    for frac in (0, 0.5, 1):
        value = lo + (hi - lo) * Decimal(str(frac))
        ticks.append({"y": round(pad_t + plot_h * (1 - frac), 1), "label": f"¥{value:,.0f}"})
    return {"width": width, "height": height, "polyline": " ".join(f"{x},{y}" for x, y in coords),
            "marks": marks, "ticks": ticks, "left": pad_l, "right": width - pad_r,
            "bottom": height - pad_b, "start": t0, "end": t1, "min": min(prices), "max": max(prices),
            "changes": len(history)}
