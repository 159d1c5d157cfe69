"""What the two embedded engines share: the query plan, caps on ranking, the facet cache.

A query runs as at most three statements on the index tables:

1. **facets and total** in one pass over the matches (one GROUP BY on SQLite, GROUPING SETS on
   PostgreSQL); the total is the sum of the zone counts.  Beyond ``FACET_SAMPLE`` (5,000)
   matches they are counted on the first 5,000 in quality order and scaled, and the total is an
   estimate (``total_approximate``; the page says 约): exact counts of 300,000 matches of 电脑 at
   1M products cost ~0.4–0.9 s, a sample of 20,000 ~120–140 ms on PostgreSQL, of 5,000 a quarter;
2. **the page of hits**: ranked (bm25 / ts_rank × SME preference) when sorting by relevance,
   else ordered by price, sales or listing date (on PostgreSQL the plan for a sorted page is
   chosen from the query: see ``PostgresEngine.sorted_hits``).  When more than ``CANDIDATE_CAP`` documents
   match, relevance is computed over the first ``CANDIDATE_CAP`` matches in quality order (the
   doc ids are assigned best-selling first, see ``search.models``), never over all of them;
3. nothing else: products are loaded by the service layer.

Facets of broad queries cost as much as ranking (the project brief's PERF_NOTES.md); when a facet computation takes
longer than ``SLOW_FACETS_MS`` its result is kept for ``SEARCH_CACHE_SECONDS`` (default 30 s) in
the process, keyed by the normalised query and filters.  Hits are never cached.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from decimal import Decimal

from flask import current_app, has_app_context
from sqlalchemy import text

from mall.extensions import db

from .engine import CANDIDATE_CAP, Hit, SearchQuery, SearchResult, empty_facets, filter_sql, order_sql

SLOW_FACETS_MS = 15.0
CATEGORY_BOOST_DEFAULT = 1.5  # the query names a 品目 (打印机, 笔记本电脑): its products first
SME_BOOST_DEFAULT = 1.2  # relevance × 1.2 for SME products (财库〔2020〕46号 preference), SEARCH_SME_BOOST


class _TTLCache:
    def __init__(self, size: int = 1024):
        self.size = size
        self.data: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            hit = self.data.get(key)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                self.data.pop(key, None)
                return None
            self.data.move_to_end(key)
            return hit[1]

    def put(self, key, value, ttl: float) -> None:
        with self.lock:
            self.data[key] = (time.monotonic() + ttl, value)
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


facet_cache = _TTLCache()


def cache_seconds() -> float:
    if not has_app_context():
        return 0.0
    cfg = current_app.config
    return float(cfg.get("SEARCH_CACHE_SECONDS", 0 if cfg.get("TESTING") else 30))


def category_boost() -> float:
    if has_app_context():
        return float(current_app.config.get("SEARCH_CATEGORY_BOOST", CATEGORY_BOOST_DEFAULT))
    return CATEGORY_BOOST_DEFAULT


def sme_boost() -> float:
    if has_app_context():
        return float(current_app.config.get("SEARCH_SME_BOOST", SME_BOOST_DEFAULT))
    return SME_BOOST_DEFAULT


class EmbeddedEngine:
    """Base of the SQLite and PostgreSQL engines; subclasses give the dialect's SQL."""

    name = "embedded"
    dialect = ""

    def __init__(self, session=None):
        self._session = session

    @property
    def session(self):
        return self._session or db.session

    # -- dialect hooks
    def match_expression(self, q: SearchQuery) -> str:
        raise NotImplementedError

    def facets_for(self, q: SearchQuery, match: str | None) -> tuple[dict, int]:
        raise NotImplementedError

    def ranked_hits(self, q: SearchQuery, match: str, cap_cutoff) -> list[Hit]:
        raise NotImplementedError

    def cutoff_for(self, q: SearchQuery, match: str, cap: int):
        raise NotImplementedError

    def sorted_hits(self, q: SearchQuery, match: str | None, total: int | None = None) -> list[Hit]:
        """A page in price, sales or listing order; ``total`` is the exact number of matches when
        known (None when it is an estimate)."""
        raise NotImplementedError

    def count(self, q: SearchQuery, match: str | None) -> int:
        raise NotImplementedError

    # -- the plan
    def search(self, q: SearchQuery) -> SearchResult:
        from .indexing import ensure_schema

        t0 = time.perf_counter()
        ensure_schema(db.engine)
        match = self.match_expression(q) if q.tokens else None
        if q.tokens and not match:
            return SearchResult([], 0, empty_facets(), self.name, took_ms=0.0)
        approximate = False
        if q.facets:
            sampled = self.sampled_facets(q, match)
            if sampled is not None:
                facets, total, approximate = sampled
            else:
                facets, total = self._cached_facets(q, match)
        else:
            facets, total = empty_facets(), self.count(q, match)
        hits: list[Hit] = []
        if total and q.offset < total:
            if match and q.sort == "relevance":
                cap = max(CANDIDATE_CAP, q.offset + q.per_page)
                cutoff = self.cutoff_for(q, match, cap) if total > cap else None
                hits = self.ranked_hits(q, match, cutoff)
            else:
                hits = self.sorted_hits(q, match, None if approximate else total)
        return SearchResult(hits, total, facets, self.name, took_ms=(time.perf_counter() - t0) * 1000,
                            approximate=approximate)

    def matches_any(self, q: SearchQuery) -> bool:
        """Whether anything matches (cheap: stops at the first match)."""
        match = self.match_expression(q) if q.tokens else None
        if q.tokens and not match:
            return False
        params: dict = {}
        where = self._filters(q, params)
        if match:
            params["m"] = match
            sql = (self.match_exists_sql + where + " LIMIT 1")
        else:
            sql = f"SELECT 1 FROM search_doc d WHERE 1 = 1{where} LIMIT 1"
        return bool(self._rows(sql, params))

    def sampled_facets(self, q: SearchQuery, match):
        """(facets, total, approximate) from a bounded sample, or None to count exactly."""
        return None

    def _cached_facets(self, q: SearchQuery, match: str | None):
        ttl = cache_seconds()
        key = (self.name, str(db.engine.url), match, q.filter_key()) if ttl > 0 else None
        if key is not None:
            hit = facet_cache.get(key)
            if hit is not None:
                return hit
        t0 = time.perf_counter()
        value = self.facets_for(q, match)
        if key is not None and (time.perf_counter() - t0) * 1000 >= SLOW_FACETS_MS:
            facet_cache.put(key, value, ttl)
        return value

    # -- helpers for subclasses
    def _rows(self, sql: str, params: dict):
        if self.dialect == "sqlite":  # the sqlite3 driver binds no Decimal (prices are REAL there)
            params = {k: float(v) if isinstance(v, Decimal) else v for k, v in params.items()}
        result = self.session.execute(text(sql), params)
        return result.all() if result.returns_rows else []

    @staticmethod
    def _filters(q: SearchQuery, params: dict) -> str:
        return filter_sql(q, params, "d")

    @staticmethod
    def _order(q: SearchQuery) -> str:
        return order_sql(q.sort, "d")

    def status(self) -> dict:
        from sqlalchemy import exists, select

        from catalog.models import Product
        from .models import SearchDoc

        try:
            has_docs = self.session.scalar(select(exists().where(SearchDoc.id.isnot(None))))
            has_products = self.session.scalar(select(exists().where(Product.status == "listed")))
        except Exception as exc:  # noqa: BLE001
            self.session.rollback()
            return {"ok": False, "engine": self.name, "error": str(exc)[:200]}
        out = {"ok": True, "engine": self.name}
        if has_products and not has_docs:
            out.update(ok=False, error="搜索索引为空：请运行 flask --app mall search reindex")
        return out
