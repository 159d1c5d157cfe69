"""The search service behind the page and the API: parse, search, help, load products.

* ``parse(args)`` turns request arguments into a :class:`SearchQuery` and notices (bad input
  never fails: it is corrected or ignored with a Chinese message saying so);
* ``search(query, notices)`` runs the serving engine, helps when nothing was found (a corrected
  query — homophones, pinyin, Latin typos, words that match nothing dropped — and related 品目)
  and loads the products, keeping only those that may be sold now (whatever the engine says);
* ``suggest(prefix)`` completes what a buyer is typing from the catalog's vocabulary.
"""
from __future__ import annotations

import difflib
import math
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Mapping, Optional

from flask import current_app, has_app_context
from sqlalchemy import bindparam, func, select

from mall.extensions import db
from mall.paging import PagerMixin

from . import lexicon
from . import text as stext
from .embedded import _TTLCache
from .engine import SORTS, SearchQuery, SearchResult, empty_facets, has_filters

MAX_RESULT_WINDOW = 10_000
MAX_PER_PAGE = 100
_CODE_RE = re.compile(r"^[abc]\d{0,8}$")


@dataclass
class SearchPage(PagerMixin):
    query: SearchQuery
    items: list = field(default_factory=list)      # Product objects, in result order
    highlights: dict = field(default_factory=dict)  # product id → Markup title
    total: int = 0
    facets: dict = field(default_factory=empty_facets)
    engine: str = ""
    fallback: Optional[str] = None
    notices: list[str] = field(default_factory=list)
    corrected: Optional[dict] = None                # {"from", "to", "total"}
    related: list[dict] = field(default_factory=list)
    took_ms: float = 0.0
    approximate: bool = False                       # total and facet counts are estimates
    unfiltered_total: int = 0                       # nothing under the filters: how many without them

    # pagination protocol of templates/_formhelpers.html `pager`
    @property
    def page(self) -> int:
        return self.query.page

    @property
    def per_page(self) -> int:
        return self.query.per_page

    @property
    def pages(self) -> int:
        shown = min(self.total, MAX_RESULT_WINDOW)
        return max(1, math.ceil(shown / self.per_page)) if shown else 0


# ====================================================================== parsing

def _arg(args: Mapping, name: str) -> str:
    value = args.get(name)
    if value is None:
        return ""
    return str(value).strip()


def _money(raw: str, label: str, notices: list[str]) -> Optional[Decimal]:
    if not raw:
        return None
    try:
        value = Decimal(raw.replace(",", "").replace("¥", "").replace("￥", ""))
    except (InvalidOperation, ValueError):
        notices.append(f"{label}“{raw[:20]}”不是有效金额，已忽略")
        return None
    if not value.is_finite() or value < 0 or value > Decimal("1000000000"):
        notices.append(f"{label}须为 0 至 10 亿元之间的金额，已忽略")
        return None
    return value.quantize(Decimal("0.01"))


def _int(raw: str, label: str, notices: list[str]) -> Optional[int]:
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        notices.append(f"{label}“{raw[:20]}”无效，已忽略")
        return None
    if not 0 < value < 2**31:
        notices.append(f"{label}“{raw[:20]}”无效，已忽略")
        return None
    return value


def _flag(raw: str) -> Optional[bool]:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    return None


def parse(args: Mapping, per_page: int | None = None) -> tuple[SearchQuery, list[str]]:
    """Request arguments → (query, notices). Accepts q, zone, category, brand, supplier, sme,
    price_min/min_price, price_max/max_price, in_stock, agreement, sort, page, per_page."""
    from catalog import pinmu
    from catalog.models import ZONE_LABELS

    notices: list[str] = []
    raw_q = _arg(args, "q")
    if len(raw_q) > stext.MAX_QUERY_CHARS:
        notices.append(f"搜索词过长（{len(raw_q):,}个字符），已只按前{stext.MAX_QUERY_CHARS}个字符搜索")
        raw_q = raw_q[:stext.MAX_QUERY_CHARS]
    text = stext.normalize(raw_q)
    q = SearchQuery(text=text)

    category = _arg(args, "category").upper()
    compact = text.replace(" ", "")
    if compact and _CODE_RE.match(compact) and compact.upper() in pinmu.tree():
        category = compact.upper()  # a 品目 code typed in the box: browse the 品目 and its descendants
        notices.append(f"按品目编码 {category}（{pinmu.name_of(category)}）显示")
        q.text = text = ""
    if category:
        if category in pinmu.tree():
            q.category = category
            q.categories = pinmu.descendants(category)
        else:
            notices.append(f"品目编码“{category[:20]}”不存在，已忽略")

    words = stext.query_tokens(text)
    if len(stext.runs(text)) > stext.MAX_QUERY_TOKENS * 2 or len(words) >= stext.MAX_QUERY_TOKENS:
        notices.append(f"搜索词过多，已只按前{stext.MAX_QUERY_TOKENS}个词搜索")
    q.tokens = stext.tokens_with_synonyms(words)
    q.boost_categories = intent_categories(words, text)
    if text and not q.tokens:
        notices.append("搜索词中没有可检索的文字或数字（符号、表情和标点不参与搜索）")

    zone = _arg(args, "zone")
    if zone:
        if zone in ZONE_LABELS:
            q.zone = zone
        else:
            notices.append(f"专区“{zone[:20]}”不存在，已忽略")
    brand = _arg(args, "brand")
    if brand:
        q.brand = brand[:100]
    q.supplier_id = _int(_arg(args, "supplier"), "供应商", notices)
    q.agreement_id = _int(_arg(args, "agreement"), "框架协议", notices)
    q.sme = True if _flag(_arg(args, "sme")) else None
    q.in_stock = bool(_flag(_arg(args, "in_stock")))
    q.price_min = _money(_arg(args, "price_min") or _arg(args, "min_price"), "最低价", notices)
    q.price_max = _money(_arg(args, "price_max") or _arg(args, "max_price"), "最高价", notices)
    if q.price_min is not None and q.price_max is not None and q.price_min > q.price_max:
        q.price_min, q.price_max = q.price_max, q.price_min
        notices.append("最低价高于最高价，已互换")
    band = _arg(args, "price")
    if band and q.price_min is None and q.price_max is None and "-" in band:
        lo, _, hi = band.partition("-")
        q.price_min = _money(lo, "价格区间", notices)
        hi_value = _money(hi, "价格区间", notices)
        q.price_max = hi_value - Decimal("0.01") if hi_value else None

    sort = _arg(args, "sort") or "relevance"
    if sort not in SORTS:
        notices.append(f"排序方式“{sort[:20]}”不支持，已按综合排序")
        sort = "relevance"
    q.sort = sort
    size = per_page or (current_app.config.get("PAGE_SIZE", 24) if has_app_context() else 24)
    requested = _int(_arg(args, "per_page"), "每页条数", notices) if "per_page" in args else None
    if requested:
        size = min(requested, MAX_PER_PAGE)
    q.per_page = size
    page = _int(_arg(args, "page"), "页码", notices) or 1
    max_page = max(1, MAX_RESULT_WINDOW // size)
    if page > max_page:
        notices.append(f"最多可浏览前{MAX_RESULT_WINDOW:,}条结果（第{max_page}页），请增加筛选条件")
        page = max_page
    q.page = page
    return q, notices


_intent_index: dict[str, set[str]] = {}


def _intent_words() -> dict[str, set[str]]:
    """word → 品目 codes it names: each 品目's name and the aliases of it and its ancestors."""
    if not _intent_index:
        from catalog import pinmu

        index: dict[str, set[str]] = {}
        for code, node in pinmu.tree().items():
            if node.kind != "goods" and not code.startswith("C"):
                continue
            words = {stext.normalize(node.name.split(" ")[0])}
            words.update(stext.normalize(a) for a in lexicon.category_aliases(pinmu.path_of(code)))
            for w in words:
                if w:
                    index.setdefault(w, set()).add(code)
        _intent_index.update(index)
    return _intent_index


def intent_categories(words: list[str], text: str = "") -> list[str]:
    """The 品目 the query names (打印机 → A02021000 and its descendants), for the ranking boost."""
    index = _intent_words()
    codes: set[str] = set()
    for w in list(words) + ([text.replace(" ", "")] if text else []):
        codes.update(index.get(w, ()))
    return sorted(codes)


# ====================================================================== searching

def _run(engine, q: SearchQuery) -> SearchResult:
    return engine.search(q)


def search(q: SearchQuery, notices: list[str] | None = None, *, load: bool = True) -> SearchPage:
    from . import get_engine

    t0 = time.perf_counter()
    notices = list(notices or [])
    page = SearchPage(query=q, notices=notices)
    if q.text and not q.tokens:
        page.engine = get_engine().name
        return page
    engine = get_engine()
    result = _run(engine, q)
    if result.total == 0 and q.tokens and has_filters(q):
        # the words find products, the filters exclude them: say so (and which 品目 have them)
        loose = engine.search(_without_filters(q).replace(page=1, per_page=1))
        if loose.total:
            notices.append(f"当前筛选条件下没有找到“{q.text}”；去掉筛选条件有{'约' if loose.approximate else ''}"
                           f"{loose.total:,}件")
            page.related = [{"code": f["value"], "name": f["label"], "count": f["count"]}
                            for f in loose.facets.get("category", [])][:6]
            page.unfiltered_total = loose.total
    if result.total == 0 and q.tokens and not page.unfiltered_total:
        corrected = correct(engine, q)
        if corrected is not None:
            new_q, new_result = corrected
            page.corrected = {"from": q.text, "to": new_q.text, "total": new_result.total}
            notices.append(f"没有找到与“{q.text}”相符的商品，已为您显示“{new_q.text}”的结果")
            q, result = new_q, new_result
            page.query = q
        else:
            page.related = related_categories(engine, q)
    page.total, page.facets, page.engine, page.fallback = result.total, result.facets, result.engine, result.fallback
    page.approximate = result.approximate
    if result.fallback:
        notices.append(result.fallback)
    if load:
        page.items = load_products([h.product_id for h in result.hits])
        terms = q.flat_terms
        page.highlights = {p.id: stext.highlight(p.title, terms) for p in page.items}
    page.took_ms = (time.perf_counter() - t0) * 1000
    return page


class ProductCard:
    """What a result shows of a product (the attributes ``_product_card.html`` and the API read),
    loaded with one Core query instead of ORM objects: a search page costs no ORM overhead."""

    __slots__ = ("id", "title", "brand", "model", "price", "market_price", "unit", "stock", "is_sme", "sales_count",
                 "agreement_price_id", "zone_code", "category_code", "supplier_id", "image_path", "zone", "supplier",
                 "images")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class _Named:
    __slots__ = ("id", "name", "code")

    def __init__(self, name, id=None, code=None):
        self.name, self.id, self.code = name, id, code


class _Image:
    __slots__ = ("id", "filename", "sort_order")

    def __init__(self, id, filename, sort_order):
        self.id, self.filename, self.sort_order = id, filename, sort_order


def _without_filters(q: SearchQuery) -> SearchQuery:
    return q.replace(zone=None, category=None, categories=[], brand=None, supplier_id=None, sme=None,
                     price_min=None, price_max=None, in_stock=False, agreement_id=None)


@lru_cache(maxsize=1)
def _cards_statement():
    """The statement of ``load_products``, built once: a result page's products with their
    supplier, zone and images (one row per image, at least one per product) in one round trip.
    Built per request it cost more Python than the database spent answering it."""
    from catalog.models import Product, ProductImage, Zone
    from catalog.queries import sellable_condition
    from mall.accounts.models import Organisation

    P, I = Product, ProductImage
    return (select(P.id, P.title, P.brand, P.model, P.price, P.market_price, P.unit, P.stock, P.is_sme,
                   P.sales_count, P.agreement_price_id, P.zone_code, P.category_code, P.supplier_id, P.image_path,
                   Organisation.name, Zone.name, I.id, I.filename, I.sort_order)
            .join(Organisation, Organisation.id == P.supplier_id).join(Zone, Zone.code == P.zone_code)
            .outerjoin(I, I.product_id == P.id)
            .where(P.id.in_(bindparam("ids", expanding=True)), sellable_condition())
            .order_by(P.id, I.sort_order, I.id))


def load_products(ids: list[int]) -> list[ProductCard]:
    """The products of these ids that may be sold now, in the given order."""
    if not ids:
        return []
    by_id: dict[int, ProductCard] = {}
    for r in db.session.execute(_cards_statement(), {"ids": list(ids)}):
        card = by_id.get(r[0])
        if card is None:
            card = by_id[r[0]] = ProductCard(
                id=r[0], title=r[1], brand=r[2], model=r[3], price=r[4], market_price=r[5], unit=r[6], stock=r[7],
                is_sme=r[8], sales_count=r[9], agreement_price_id=r[10], zone_code=r[11], category_code=r[12],
                supplier_id=r[13], image_path=r[14], zone=_Named(r[16], code=r[11]),
                supplier=_Named(r[15], id=r[13]), images=[])
        if r[17] is not None:
            card.images.append(_Image(r[17], r[18], r[19]))
    return [by_id[i] for i in ids if i in by_id]


# ====================================================================== zero-result help

vocabulary_cache = _TTLCache(size=8)


def vocabulary() -> list[dict]:
    """Words of the catalog in the index: 品目 names and aliases, brands (with counts), for
    suggestions and corrections. Cached per process (SEARCH_CACHE_SECONDS × 10)."""
    ttl = float(current_app.config.get("SEARCH_VOCABULARY_SECONDS",
                                       0 if current_app.config.get("TESTING") else 300))
    key = str(db.engine.url)
    if ttl > 0:
        hit = vocabulary_cache.get(key)
        if hit is not None:
            return hit
    from catalog import pinmu
    from .indexing import ensure_schema
    from .models import SearchDoc

    ensure_schema(db.engine)
    rows = db.session.execute(select(SearchDoc.category_code, SearchDoc.brand, func.count())
                              .group_by(SearchDoc.category_code, SearchDoc.brand)).all()
    words: dict[str, dict] = {}

    def add(text: str, kind: str, n: int, **extra):
        if not text:
            return
        entry = words.get(text)
        if entry is None:
            words[text] = entry = {"text": text, "kind": kind, "count": 0, **extra}
        entry["count"] += n

    cats: dict[str, int] = {}
    brands: dict[str, int] = {}
    for code, brand, n in rows:
        cats[code] = cats.get(code, 0) + n
        if brand:
            brands[brand] = brands.get(brand, 0) + n
    for code, n in cats.items():
        name = pinmu.name_of(code).split(" ")[0]
        add(name, "category", n, category=code)
        for alias in lexicon.category_aliases(pinmu.path_of(code))[:3]:
            if stext.is_cjk(alias[:1] or "a"):
                add(alias, "category", n, category=code)
    for brand, n in brands.items():
        add(brand, "brand", n, brand=brand)
        for alias in lexicon.brand_aliases(brand):
            if alias.isascii():
                add(alias, "brand", n, brand=brand)
    # Latin words of model series (thinkpad, laserjet, optiplex): for typo corrections
    from catalog.models import Product

    models = (select(Product.model).where(Product.status == "listed", Product.model.isnot(None))
              .limit(50_000).subquery())  # a bounded look at the catalog: enough for typo corrections
    for model, n in db.session.execute(
            select(models.c.model, func.count()).group_by(models.c.model).order_by(func.count().desc()).limit(3000)):
        for word in stext.runs(model or ""):
            if word.isascii() and word.isalpha() and len(word) >= 4:
                add(word, "model", n)
    top_pairs = sorted(((n, code, brand) for code, brand, n in rows if brand), reverse=True)[:300]
    for n, code, brand in top_pairs:
        add(f"{brand} {pinmu.name_of(code).split(' ')[0]}", "brand_category", n, brand=brand, category=code)
    out = list(words.values())
    for entry in out:
        compact = entry["text"].replace(" ", "")
        entry["norm"] = stext.normalize(compact)
        entry["pinyin"] = "".join(stext.pinyin_full(r) if stext.is_cjk(r[0]) else r for r in stext.runs(compact))
        entry["initials"] = "".join(stext.pinyin_initials(r) if stext.is_cjk(r[0]) else r
                                    for r in stext.runs(compact))
    out.sort(key=lambda e: -e["count"])
    if ttl > 0:
        vocabulary_cache.put(key, out, ttl)
    return out


def correct(engine, q: SearchQuery) -> Optional[tuple[SearchQuery, SearchResult]]:
    """A query close to ``q`` that finds products: pinyin → Chinese, homophones (打因机 → 打印机),
    Latin typos (lenvo → lenovo), and at last dropping the words that match nothing."""
    vocab = vocabulary()
    words = [group[0] for group in q.tokens]
    # the whole query may be a homophone or the pinyin of a known word (打因机 → 打印机, dayinji)
    compact = q.text.replace(" ", "")
    whole = _fix_word(compact, vocab) if compact and (len(words) > 1 or compact != words[0]) else None
    if whole and whole != compact:
        new_q = q.replace(text=whole, tokens=stext.tokens_with_synonyms(stext.query_tokens(whole)), page=1)
        result = engine.search(new_q) if new_q.tokens else None
        if result is not None and result.total:
            return new_q, result
    bare = _without_filters(q).replace(facets=False, page=1, per_page=1)
    counts = {w: _matches(engine, bare.replace(tokens=[(w,)])) for w in words}
    fixed: list[str] = []
    changed = False
    for w in words:
        if counts[w]:
            fixed.append(w)
            continue
        repl = _fix_word(w, vocab)
        if repl and repl != w:
            fixed.append(repl)
            changed = True
        else:
            changed = True  # dropped
    if not changed or not fixed:
        return None
    candidates = [fixed]
    if len(fixed) > 1:
        # keep the words that find the most products together
        candidates += [[w for w in fixed if w != drop] for drop in fixed]
    for cand in candidates:
        text = " ".join(cand)
        new_q = q.replace(text=text, tokens=stext.tokens_with_synonyms(stext.query_tokens(text)), page=1)
        if not new_q.tokens:
            continue
        result = engine.search(new_q)
        if result.total:
            return new_q, result
    return None


def _matches(engine, q: SearchQuery) -> bool:
    embedded = getattr(engine, "fallback", engine) if getattr(engine, "primary", None) is not None and \
        engine.primary.down else engine
    check = getattr(embedded, "matches_any", None)
    return check(q) if check is not None else engine.search(q).total > 0


def _close(word: str, candidates, cutoff: float) -> Optional[str]:
    """The closest candidate (difflib), looking only at plausible ones: similar length and, for
    Chinese, sharing a character; for Latin, the same first letter (typos rarely hit it)."""
    if stext.is_cjk(word[0]):
        chars = set(word)
        pool = [c for c in candidates if abs(len(c) - len(word)) <= 1 and chars & set(c)]
    else:
        pool = [c for c in candidates if c[:1] == word[:1] and abs(len(c) - len(word)) <= 2]
    close = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    return close[0] if close else None


def _fix_word(word: str, vocab: list[dict]) -> Optional[str]:
    if stext.looks_like_pinyin(word):
        for key in ("pinyin", "initials"):
            for entry in vocab:
                if entry[key] == word and entry["kind"] != "brand_category":
                    return entry["norm"]
        return _close(word, [e["norm"] for e in vocab if e["norm"].isascii()], 0.75)
    if stext.is_cjk(word[0]):
        py = stext.pinyin_full(word)
        for entry in vocab:
            if entry["pinyin"] == py and entry["kind"] != "brand_category":
                return entry["norm"]
        return _close(word, [e["norm"] for e in vocab if e["kind"] != "brand_category"], 0.67)
    return _close(word, [e["norm"] for e in vocab if e["norm"].isascii()], 0.75)


def related_categories(engine, q: SearchQuery, limit: int = 6) -> list[dict]:
    """品目 that match any of the words (or whose names share a word), most products first."""
    from catalog import pinmu

    any_q = q.replace(match="any", page=1, per_page=1, facets=True)
    result = engine.search(any_q)
    out = [{"code": f["value"], "name": f["label"], "count": f["count"]} for f in result.facets.get("category", [])]
    if len(out) < limit:
        seen = {c["code"] for c in out}
        for entry in vocabulary():
            if entry["kind"] == "category" and entry.get("category") not in seen and any(
                    w in entry["norm"] or entry["norm"] in w for w in q.flat_terms if stext.is_cjk(w[:1] or "a")):
                seen.add(entry["category"])
                out.append({"code": entry["category"], "name": pinmu.name_of(entry["category"]),
                            "count": entry["count"]})
    if len(out) < limit:
        out += _neighbour_categories(q, {c["code"] for c in out}, limit - len(out))
    return out[:limit]


def _neighbour_categories(q: SearchQuery, seen: set[str], limit: int) -> list[dict]:
    """A word names a 品目 nobody sells now (扫描仪, 碎纸机…): the 品目 on sale nearest to it in
    the classification, i.e. under its parent, else its grandparent (never a whole top class)."""
    from catalog import pinmu

    words = [w for w in q.flat_terms if len(w) >= 2 and stext.is_cjk(w[:1])]
    if not words:
        return []
    on_sale = {e["category"]: e["count"] for e in vocabulary() if e["kind"] == "category" and e.get("category")}
    named = [code for code, node in pinmu.tree().items() if any(w in node.name for w in words)][:20]
    out: list[dict] = []
    for code in named:
        for ancestor in reversed(pinmu.path_of(code)[2:-1]):  # parent first; not the two top levels
            near = sorted((c for c in pinmu.descendants(ancestor) if c in on_sale and c not in seen),
                          key=lambda c: -on_sale[c])
            if near:
                for c in near[:limit - len(out)]:
                    seen.add(c)
                    out.append({"code": c, "name": pinmu.name_of(c), "count": on_sale[c]})
                break
        if len(out) >= limit:
            break
    return out


# ====================================================================== suggestions

def suggest(prefix: str, limit: int = 10) -> list[dict]:
    """Completions of what is being typed: 品目, brands, brand + 品目; by text or pinyin."""
    text = stext.normalize(prefix)[:stext.MAX_QUERY_CHARS]
    compact = text.replace(" ", "")
    if not compact:
        return []
    scored = []
    ascii_q = compact.isascii()
    for entry in vocabulary():
        if entry["norm"].startswith(compact):
            score = 3
        elif ascii_q and (entry["pinyin"].startswith(compact) or entry["initials"].startswith(compact)):
            score = 2
        elif len(compact) >= 2 and compact in entry["norm"]:
            score = 1
        else:
            continue
        scored.append((score, entry["count"], entry))
    scored.sort(key=lambda t: (-t[0], -t[1], len(t[2]["text"])))
    out, seen = [], set()
    for _score, count, entry in scored:
        if entry["text"] in seen:
            continue
        seen.add(entry["text"])
        item: dict[str, Any] = {"text": entry["text"], "kind": entry["kind"], "count": count}
        if entry.get("category"):
            item["category"] = entry["category"]
        out.append(item)
        if len(out) >= limit:
            break
    return out
