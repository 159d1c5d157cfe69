"""The embedded engine on SQLite: FTS5 over jieba tokens, bm25 with field weights.

``search_fts`` (FTS5, unicode61 over the pre-segmented tokens) has six columns weighted for
bm25: title 10, brand/model 6, 品目 name and aliases 12, specs 1.5, supplier 1, pinyin and codes 1.  Every query token is a
quoted FTS5 string (operators and quotes typed by a buyer are plain text), alternatives
(synonyms) are OR-ed, tokens are AND-ed; Latin/digit tokens of three or more characters also
match as a prefix (M404 → M404dn).  The FTS table is always the outer loop (CROSS JOIN) and
``search_doc`` is looked up by rowid for filters and facets.
"""
from __future__ import annotations

from .embedded import EmbeddedEngine, category_boost, sme_boost
from .engine import FACET_SAMPLE, Hit, SearchQuery, build_facets, category_boost_sql, facets_from_groups

BM25_WEIGHTS = "10.0, 6.0, 12.0, 1.5, 1.0, 1.0"  # title, brand, category, specs, supplier, pinyin+codes
_FROM = "FROM search_fts CROSS JOIN search_doc d ON d.id = search_fts.rowid"
SORT_INDEXES = {"price_asc": "ix_search_doc_price", "price_desc": "ix_search_doc_price",
                "sales": "ix_search_doc_sales", "newest": "ix_search_doc_listed"}
DENSE_ROWS = 5000


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _term(token: str) -> str:
    if token.isascii() and len(token) >= 3 and token[-1:].isalnum():
        return _quote(token) + "*"
    return _quote(token)


class SqliteEngine(EmbeddedEngine):
    name = "sqlite-fts5"
    dialect = "sqlite"
    match_exists_sql = f"SELECT 1 {_FROM} WHERE search_fts MATCH :m"

    def match_expression(self, q: SearchQuery) -> str:
        groups = []
        for alternatives in q.tokens:
            terms = [_term(t) for t in alternatives if t]
            if terms:
                groups.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
        return (" OR " if q.match == "any" else " AND ").join(groups)

    def facets_for(self, q: SearchQuery, match):
        params: dict = {}
        where = self._filters(q, params)
        if match:
            params["m"] = match
            sql = (f"SELECT d.zone_code, d.category_code, d.brand, d.is_sme, d.price_band, count(*) {_FROM} "
                   f"WHERE search_fts MATCH :m{where} GROUP BY 1, 2, 3, 4, 5")
        else:
            # browsing without words: one small GROUP BY per facet (indexes help) beats one
            # five-column GROUP BY that sorts every document
            counts = []
            for col in ("zone_code", "category_code", "brand", "is_sme", "price_band"):
                rows = self._rows(f"SELECT d.{col}, count(*) FROM search_doc d WHERE 1 = 1{where} GROUP BY 1", params)
                counts.append({(bool(k) if col == "is_sme" else k): n for k, n in rows if k is not None})
            zone, cat, brand, sme, band = counts
            return build_facets(zone, cat, brand, sme, band), sum(zone.values())
        return facets_from_groups(self._rows(sql, params))

    def sampled_facets(self, q: SearchQuery, match):
        """Facets of the first FACET_SAMPLE matches (doc ids are in quality order); exact when there
        are fewer.  Beyond, the total is estimated from how many FTS matches the sample spans
        (exact without filters) and the counts are scaled to it."""
        params: dict = {"s": FACET_SAMPLE}
        where = self._filters(q, params)
        if not match and where:
            # browsing with filters: when few documents pass, count them exactly (the filters' indexes
            # find them); a sample in id order is only worth it for large sets
            bounded = self._rows(f"SELECT count(*) FROM (SELECT 1 FROM search_doc d WHERE 1 = 1{where} LIMIT :s)",
                                 params)[0][0]
            if bounded < FACET_SAMPLE:
                return None
        if match:
            params["m"] = match
            inner = (f"SELECT d.id, d.zone_code, d.category_code, d.brand, d.is_sme, d.price_band {_FROM} "
                     f"WHERE search_fts MATCH :m{where} ORDER BY search_fts.rowid LIMIT :s")
        else:
            inner = (f"SELECT d.id, d.zone_code, d.category_code, d.brand, d.is_sme, d.price_band FROM search_doc d "
                     f"WHERE 1 = 1{where} ORDER BY d.id LIMIT :s")
        rows = self._rows(f"SELECT zone_code, category_code, brand, is_sme, price_band, count(*), max(id) "
                          f"FROM ({inner}) GROUP BY 1, 2, 3, 4, 5", params)
        facets, n = facets_from_groups([r[:6] for r in rows])
        if n < FACET_SAMPLE:
            return facets, n, False
        last = max(r[6] for r in rows)
        if match:
            total_all = self._rows("SELECT count(*) FROM search_fts WHERE search_fts MATCH :m", {"m": match})[0][0]
            spanned = self._rows("SELECT count(*) FROM search_fts WHERE search_fts MATCH :m AND rowid <= :last",
                                 {"m": match, "last": last})[0][0]
        else:
            total_all = self._rows("SELECT count(*) FROM search_doc", {})[0][0]
            spanned = self._rows("SELECT count(*) FROM search_doc WHERE id <= :last", {"last": last})[0][0]
        total = n if spanned <= n and total_all == n else round(total_all * n / max(spanned, 1))
        scale = total / n
        for entries in facets.values():
            for f in entries:
                f["count"] = max(1, round(f["count"] * scale))
        return facets, max(total, n), True

    def count(self, q: SearchQuery, match) -> int:
        params: dict = {}
        where = self._filters(q, params)
        if match:
            params["m"] = match
            sql = f"SELECT count(*) {_FROM} WHERE search_fts MATCH :m{where}"
        else:
            sql = f"SELECT count(*) FROM search_doc d WHERE 1 = 1{where}"
        return self._rows(sql, params)[0][0]

    def cutoff_for(self, q: SearchQuery, match: str, cap: int):
        params: dict = {"m": match, "off": cap - 1}
        where = self._filters(q, params)
        rows = self._rows(f"SELECT search_fts.rowid {_FROM} WHERE search_fts MATCH :m{where} "
                          f"ORDER BY search_fts.rowid LIMIT 1 OFFSET :off", params)
        return rows[0][0] if rows else None

    def ranked_hits(self, q: SearchQuery, match: str, cutoff) -> list[Hit]:
        params: dict = {"m": match, "lim": q.per_page, "off": q.offset, "boost": sme_boost()}
        where = self._filters(q, params)
        if cutoff is not None:
            where += " AND search_fts.rowid <= :cutoff"
            params["cutoff"] = cutoff
        boost_cat = category_boost_sql(q, params, category_boost())
        sql = (f"SELECT d.product_id, bm25(search_fts, {BM25_WEIGHTS}) * "
               f"(CASE WHEN d.is_sme THEN :boost ELSE 1.0 END){boost_cat} AS score {_FROM} "
               f"WHERE search_fts MATCH :m{where} ORDER BY score, d.id LIMIT :lim OFFSET :off")
        return [Hit(pid, -float(score)) for pid, score in self._rows(sql, params)]

    def sorted_hits(self, q: SearchQuery, match, total: int | None = None) -> list[Hit]:
        params: dict = {"lim": q.per_page, "off": q.offset}
        where = self._filters(q, params)
        order = self._order(q)
        if match:
            params["m"] = match
            sql = (f"SELECT d.product_id {_FROM} WHERE search_fts MATCH :m{where} "
                   f"ORDER BY {order} LIMIT :lim OFFSET :off")
        else:
            table = "search_doc d"
            index = SORT_INDEXES.get(q.sort)
            if index and where:
                # many documents pass the filters: walking the sort's index stops after one page,
                # where the planner would read and sort all of them (1.7 s at 1M for a broad 品目)
                dense = self._rows(f"SELECT count(*) FROM (SELECT 1 FROM search_doc d WHERE 1 = 1{where} "
                                   f"LIMIT {DENSE_ROWS})", params)[0][0]
                if dense >= DENSE_ROWS:
                    table = f"search_doc d INDEXED BY {index}"
            sql = f"SELECT d.product_id FROM {table} WHERE 1 = 1{where} ORDER BY {order} LIMIT :lim OFFSET :off"
        return [Hit(row[0]) for row in self._rows(sql, params)]
