"""The Elasticsearch engine (official ``elasticsearch`` 8.x client).

Index
  ``ELASTICSEARCH_INDEX`` is an *alias*; the real indices are ``<alias>-<timestamp>``.  A full
  reindex creates a new index with explicit mappings, bulk-loads it in batches (refresh off),
  then moves the alias atomically and deletes the old index: searches never see a half index.

Chinese analysis
  The built-in ``cjk`` analyzer (bigrams; works on a stock server) unless the cluster has a
  Chinese plugin: ``analysis-ik`` (``ik_max_word`` to index, ``ik_smart`` to search) or
  ``analysis-smartcn`` (``smartcn``), detected from the nodes' plugins when an index is created.
  Pinyin initials and full pinyin computed by the mall (``pypinyin``) are indexed in ``pinyin``
  (whitespace analyzer), brand and 品目 aliases in their own fields.

Relevance and the SME boost
  A ``cross_fields`` multi_match over title^4, brand^3, model^3, 品目 name and aliases^3, specs,
  description^0.5 and supplier name, all words required (a second clause matches pinyin and
  model numbers), wrapped in a ``function_score``: documents of SME suppliers (``is_sme``) get
  their score multiplied by ``SEARCH_SME_BOOST`` (default **1.2**), the same preference the
  embedded engines apply to bm25/ts_rank (财库〔2020〕46号: buyers may prefer SME products).
  Ties are broken by sales.

Facets are aggregations (terms for zone, 品目, brand, SME; a range for price bands) over the
filtered matches.  Writes are bulk upserts by product id (idempotent) and deletes (404 ignored).
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from decimal import Decimal

from .embedded import category_boost, sme_boost
from .engine import PRICE_BANDS, Hit, SearchQuery, SearchResult, build_facets, empty_facets, FACET_SIZES

log = logging.getLogger(__name__)

COOLDOWN_SECONDS = 30.0
ANALYZERS = {
    "analysis-ik": ("ik_max_word", "ik_smart"),
    "analysis-smartcn": ("smartcn", "smartcn"),
}
TEXT_FIELDS = ["title^4", "brand.text^3", "brand_aliases^3", "model.text^3", "category_name^3",
               "category_aliases^3", "manufacturer", "specs", "description^0.5", "supplier_name"]


def _es_errors():
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    return (TransportError, ApiError)


def is_outage(exc: Exception) -> bool:
    """A cluster that cannot answer (connection refused, timeout, 5xx), as opposed to one that
    refused this one request (4xx): only an outage should switch every search to the fallback."""
    status = getattr(exc, "status_code", None)
    return not isinstance(status, int) or status >= 500 or status == 429


class BulkItemsFailed(RuntimeError):
    """Some documents of a bulk write were refused; the others were written."""

    def __init__(self, failed: dict[int, str]):
        self.failed = failed  # product id -> reason
        pid, reason = next(iter(failed.items()))
        super().__init__(f"Elasticsearch bulk: {len(failed)} actions failed, e.g. product {pid}: {reason}")


def new_index_name(alias: str) -> str:
    return f"{alias}-{dt.datetime.now(dt.timezone.utc):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"


def doc_source(doc: dict) -> dict:
    """The Elasticsearch document of an indexing document (``search.indexing.build_document``)."""
    raw = doc["raw"]
    listed = doc.get("listed_at")
    return {
        "product_id": doc["product_id"],
        "title": raw["title"], "brand": raw["brand"], "brand_aliases": raw["brand_aliases"],
        "model": raw["model"], "manufacturer": raw["manufacturer"], "specs": raw["specs"],
        "description": raw["description"], "supplier_name": raw["supplier_name"],
        "category_code": doc["category_code"], "category_path": raw["category_path"],
        "category_name": raw["category_name"], "category_aliases": raw["category_aliases"],
        "pinyin": raw["pinyin"], "zone_code": doc["zone_code"], "supplier_id": doc["supplier_id"],
        "agreement_id": doc["agreement_id"], "is_sme": doc["is_sme"],
        "price": float(Decimal(doc["price"])), "price_band": doc["price_band"], "stock": doc["stock"],
        "sales_count": doc["sales_count"],
        "listed_at": listed.isoformat() if isinstance(listed, (dt.datetime, dt.date)) else listed,
    }


def index_body(index_analyzer: str = "cjk", search_analyzer: str = "cjk") -> dict:
    text = {"type": "text", "analyzer": index_analyzer, "search_analyzer": search_analyzer}
    return {
        "settings": {
            "number_of_shards": 1,
            "analysis": {"normalizer": {"lower": {"type": "custom", "filter": ["lowercase", "asciifolding"]}}},
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "product_id": {"type": "integer"},
                "title": text,
                "brand": {"type": "keyword", "fields": {"text": text}},
                "brand_aliases": {"type": "text", "analyzer": "standard"},
                "model": {"type": "keyword", "normalizer": "lower", "fields": {"text": {"type": "text",
                                                                                        "analyzer": "standard"}}},
                "manufacturer": text,
                "specs": text,
                "description": text,
                "supplier_name": text,
                "category_code": {"type": "keyword"},
                "category_path": {"type": "keyword"},
                "category_name": text,
                "category_aliases": text,
                "pinyin": {"type": "text", "analyzer": "whitespace"},
                "zone_code": {"type": "keyword"},
                "supplier_id": {"type": "integer"},
                "agreement_id": {"type": "integer"},
                "is_sme": {"type": "boolean"},
                "price": {"type": "scaled_float", "scaling_factor": 100},
                "price_band": {"type": "byte"},
                "stock": {"type": "integer"},
                "sales_count": {"type": "integer"},
                "listed_at": {"type": "date"},
            },
        },
    }


def _filters(q: SearchQuery) -> list[dict]:
    out: list[dict] = []
    if q.zone:
        out.append({"term": {"zone_code": q.zone}})
    if q.category:
        out.append({"term": {"category_path": q.category}})  # the 品目 and all its descendants
    if q.brand:
        out.append({"term": {"brand": q.brand}})
    if q.supplier_id is not None:
        out.append({"term": {"supplier_id": q.supplier_id}})
    if q.sme is not None:
        out.append({"term": {"is_sme": bool(q.sme)}})
    if q.price_min is not None or q.price_max is not None:
        rng = {}
        if q.price_min is not None:
            rng["gte"] = float(q.price_min)
        if q.price_max is not None:
            rng["lte"] = float(q.price_max)
        out.append({"range": {"price": rng}})
    if q.in_stock:
        out.append({"range": {"stock": {"gt": 0}}})
    if q.agreement_id is not None:
        out.append({"term": {"agreement_id": q.agreement_id}})
    return out


def search_body(q: SearchQuery, boost: float = 1.2, category_weight: float = 1.5) -> dict:
    """The request body of a search (public for tests and the smoke script)."""
    filters = _filters(q)
    if q.tokens:
        text = " ".join(group[0] for group in q.tokens)
        operator = "or" if q.match == "any" else "and"
        should = [
            {"multi_match": {"query": text, "fields": TEXT_FIELDS, "type": "cross_fields", "operator": operator}},
            {"match": {"pinyin": {"query": text, "operator": operator}}},
        ]
        for group in q.tokens:
            for alt in group[1:]:  # synonyms
                should.append({"multi_match": {"query": alt, "fields": TEXT_FIELDS, "type": "cross_fields",
                                               "operator": "and", "boost": 0.8}})
            token = group[0]
            if token.isascii() and len(token) >= 3:
                should.append({"prefix": {"model": {"value": token, "boost": 2.0}}})
        query = {"bool": {"should": should, "minimum_should_match": 1, "filter": filters}}
        functions = [{"filter": {"term": {"is_sme": True}}, "weight": boost}]
        if q.boost_categories:
            functions.append({"filter": {"terms": {"category_code": q.boost_categories[:400]}},
                              "weight": category_weight})
        query = {"function_score": {"query": query, "functions": functions,
                                    "score_mode": "multiply", "boost_mode": "multiply"}}
    else:
        query = {"bool": {"filter": filters}} if filters else {"match_all": {}}
    sort = {
        "price_asc": [{"price": "asc"}, {"product_id": "asc"}],
        "price_desc": [{"price": "desc"}, {"product_id": "asc"}],
        "sales": [{"sales_count": "desc"}, {"product_id": "asc"}],
        "newest": [{"listed_at": {"order": "desc", "missing": "_last"}}, {"product_id": "desc"}],
    }.get(q.sort) or (["_score", {"sales_count": "desc"}, {"product_id": "asc"}] if q.tokens
                      else [{"sales_count": "desc"}, {"product_id": "asc"}])
    body: dict = {
        "query": query,
        "sort": sort,
        "from": q.offset,
        "size": q.per_page,
        "track_total_hits": True,
        "_source": False,
        "docvalue_fields": ["product_id"],
    }
    if q.tokens:
        body["highlight"] = {"pre_tags": ["<mark>"], "post_tags": ["</mark>"],
                             "fields": {"title": {"number_of_fragments": 0}}}
    if q.facets:
        ranges = [{"key": str(i), "from": float(lo), **({"to": float(hi)} if hi is not None else {})}
                  for i, (lo, hi, _label) in enumerate(PRICE_BANDS)]
        body["aggs"] = {
            "zone": {"terms": {"field": "zone_code", "size": 10}},
            "category": {"terms": {"field": "category_code", "size": FACET_SIZES["category"]}},
            "brand": {"terms": {"field": "brand", "size": FACET_SIZES["brand"]}},
            "sme": {"terms": {"field": "is_sme", "size": 2}},
            "price": {"range": {"field": "price", "ranges": ranges}},
        }
    return body


def parse_response(resp, q: SearchQuery) -> SearchResult:
    hits = []
    for h in resp["hits"]["hits"]:
        pid = int(h["_id"])
        hl = (h.get("highlight") or {}).get("title")
        hits.append(Hit(pid, float(h.get("_score") or 0.0), hl[0] if hl else None))
    total = resp["hits"]["total"]
    total = total["value"] if isinstance(total, dict) else int(total)
    facets = empty_facets()
    aggs = resp.get("aggregations") or {}
    if aggs:
        def buckets(name):
            return aggs.get(name, {}).get("buckets", [])

        facets = build_facets(
            {b["key"]: b["doc_count"] for b in buckets("zone")},
            {b["key"]: b["doc_count"] for b in buckets("category")},
            {b["key"]: b["doc_count"] for b in buckets("brand")},
            {bool(b["key"]): b["doc_count"] for b in buckets("sme")},
            {int(b["key"]): b["doc_count"] for b in buckets("price") if b["doc_count"]},
        )
    return SearchResult(hits, total, facets, "elasticsearch")


class EsEngine:
    name = "elasticsearch"

    def __init__(self, client, alias: str):
        self.client = client
        self.alias = alias
        self._down_until = 0.0
        self._down_reason = ""
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, url: str, alias: str, client=None) -> "EsEngine":
        if client is None:
            from elasticsearch import Elasticsearch

            client = Elasticsearch(url, request_timeout=3, max_retries=0, retry_on_timeout=False)
        return cls(client, alias)

    # -- availability (a short circuit breaker so a dead cluster does not slow every search)
    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def mark_down(self, reason: str) -> None:
        with self._lock:
            self._down_until = time.monotonic() + COOLDOWN_SECONDS
            self._down_reason = reason[:200]

    def mark_up(self) -> None:
        self._down_until = 0.0

    def status(self) -> dict:
        try:
            self.client.options(request_timeout=2).info()
            docs = self.client.options(request_timeout=2, ignore_status=404).count(index=self.alias)
            self.mark_up()
            return {"ok": True, "index": self.alias, "docs": docs.get("count") if docs else None}
        except _es_errors() as exc:
            self.mark_down(str(exc))
            return {"ok": False, "index": self.alias, "error": f"{type(exc).__name__}: {exc}"[:200]}

    # -- analysis
    def detect_analyzers(self) -> tuple[str, str]:
        try:
            info = self.client.nodes.info(metric="plugins")
            # a shard may live on any node: use a plugin only when every node has it
            per_node = [{p.get("name") for p in node.get("plugins", [])} for node in info.get("nodes", {}).values()]
            names = set.intersection(*per_node) if per_node else set()
        except _es_errors():
            names = set()
        for plugin, pair in ANALYZERS.items():
            if plugin in names:
                return pair
        return ("cjk", "cjk")

    def create_index(self, name: str) -> dict:
        body = index_body(*self.detect_analyzers())
        self.client.indices.create(index=name, settings=body["settings"], mappings=body["mappings"])
        return body

    def ensure_index(self) -> None:
        """Create the first index and alias if the alias does not exist yet."""
        if self.client.indices.exists_alias(name=self.alias):
            return
        name = new_index_name(self.alias)
        self.create_index(name)
        self.client.indices.put_alias(index=name, name=self.alias)

    # -- search
    def search(self, q: SearchQuery) -> SearchResult:
        t0 = time.perf_counter()
        body = search_body(q, sme_boost(), category_boost())
        resp = self.client.search(index=self.alias, **body)
        self.mark_up()
        result = parse_response(resp, q)
        result.took_ms = (time.perf_counter() - t0) * 1000
        return result

    # -- writes
    def apply(self, docs: list[dict], gone) -> dict:
        """Bulk upsert ``docs`` and delete ``gone`` product ids. Raises a transport error when the
        cluster cannot be reached, BulkItemsFailed naming the products whose actions it refused."""
        from elasticsearch import helpers

        self.ensure_index()
        actions = [{"_op_type": "index", "_index": self.alias, "_id": str(d["product_id"]), "_source": doc_source(d)}
                   for d in docs]
        actions += [{"_op_type": "delete", "_index": self.alias, "_id": str(pid)} for pid in gone]
        if not actions:
            return {"indexed": 0, "deleted": 0}
        ok, errors = helpers.bulk(self.client, actions, raise_on_error=False, raise_on_exception=True,
                                  chunk_size=500, max_retries=2)
        failed: dict[int, str] = {}
        for item in errors:
            op, info = next(iter(item.items()))
            if op == "delete" and info.get("status") == 404:
                continue  # already gone
            try:
                pid = int(info.get("_id"))
            except (TypeError, ValueError):
                raise RuntimeError(f"Elasticsearch bulk: unexpected error item {str(item)[:200]}") from None
            failed[pid] = str(info.get("error") or info.get("status"))[:200]
        if failed:
            raise BulkItemsFailed(failed)
        return {"indexed": len(docs), "deleted": len(list(gone))}

    def start_reindex(self) -> "ReindexJob":
        return ReindexJob(self)


class ReindexJob:
    """A new index filled in batches, then swapped in by moving the alias."""

    def __init__(self, engine: EsEngine):
        from elasticsearch import helpers  # noqa: F401  (fail early if the client is missing)

        self.engine = engine
        self.client = engine.client
        self.name = new_index_name(engine.alias)
        engine.create_index(self.name)
        self.client.indices.put_settings(index=self.name, settings={"index": {"refresh_interval": "-1"}})
        self.count = 0

    def add(self, docs: list[dict]) -> None:
        from elasticsearch import helpers

        actions = [{"_op_type": "index", "_index": self.name, "_id": str(d["product_id"]), "_source": doc_source(d)}
                   for d in docs]
        if actions:
            ok, errors = helpers.bulk(self.client, actions, raise_on_error=False, chunk_size=1000, max_retries=2)
            if errors:
                raise RuntimeError(f"Elasticsearch bulk: {len(errors)} actions failed, e.g. {str(errors[0])[:200]}")
            self.count += ok

    def abandon(self) -> None:
        """A rebuild that failed: its half-built index goes (the alias still names the old one)."""
        try:
            if self.client.indices.exists_alias(name=self.engine.alias, index=self.name):
                return  # the switch went through: this is the live index now
            self.client.indices.delete(index=self.name, ignore_unavailable=True)
        except _es_errors() as exc:
            log.warning("could not delete the abandoned index %s: %s", self.name, exc)

    def finish(self) -> dict:
        self.client.indices.put_settings(index=self.name, settings={"index": {"refresh_interval": "1s"}})
        self.client.indices.refresh(index=self.name)
        alias = self.engine.alias
        old = []
        if self.client.indices.exists_alias(name=alias):
            old = list(self.client.indices.get_alias(name=alias).keys())
        elif self.client.indices.exists(index=alias):
            raise RuntimeError(f"“{alias}”是一个索引而不是别名，请先删除或改名")
        actions = [{"remove": {"index": i, "alias": alias}} for i in old] + [{"add": {"index": self.name, "alias": alias}}]
        self.client.indices.update_aliases(actions=actions)
        for i in old:
            self.client.indices.delete(index=i, ignore_unavailable=True)
        return {"index": self.name, "alias": alias, "documents": self.count, "replaced": old}


class FallbackEngine:
    """Elasticsearch first; the embedded engine when it fails (and for COOLDOWN_SECONDS after)."""

    def __init__(self, primary: EsEngine, fallback):
        self.primary = primary
        self.fallback = fallback

    @property
    def name(self) -> str:
        return self.fallback.name if self.primary.down else self.primary.name

    def search(self, q: SearchQuery) -> SearchResult:
        notice = f"Elasticsearch 暂不可用，本次结果来自内置搜索引擎（{self.fallback.name}）"
        if not self.primary.down:
            try:
                return self.primary.search(q)
            except _es_errors() as exc:
                if is_outage(exc):
                    log.warning("Elasticsearch search failed, falling back to the embedded engine: %s", exc)
                    self.primary.mark_down(f"{type(exc).__name__}: {exc}")
                else:  # the cluster refused this query only: answer it here, keep using the cluster
                    log.error("Elasticsearch refused a search (%s), answered by the embedded engine: %s",
                              getattr(exc, "status_code", "?"), exc)
                    notice = f"Elasticsearch 未能处理本次查询，结果来自内置搜索引擎（{self.fallback.name}）"
        result = self.fallback.search(q)
        result.fallback = notice
        return result

    def status(self) -> dict:
        return self.primary.status()
