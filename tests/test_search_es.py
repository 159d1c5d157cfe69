"""The Elasticsearch engine with the client's transport replaced by an in-memory node (no server
runs here): index creation and analyzers, request bodies, response handling, the outbox (same
transaction, eager drain, Elasticsearch down, a worker dying mid-batch), fallback to the
embedded engine, and the full reindex with an alias switch.  ``bench/es_smoke.py`` runs the same
engine against a real cluster."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from elastic_transport import ApiResponseMeta, BaseNode, ConnectionError as EsConnectionError, HttpHeaders
from elastic_transport._node._base import NodeApiResponse
from elasticsearch import Elasticsearch
from sqlalchemy import func, select

from mall.extensions import db


class FakeCluster:
    """Enough of Elasticsearch's REST API for the engine: indices, aliases, bulk, search, count."""

    def __init__(self, plugins=()):
        self.plugins = list(plugins)
        self.indices: dict[str, dict] = {}
        self.aliases: dict[str, set] = {}
        self.requests: list[tuple[str, str, object]] = []
        self.down = False
        self.search_response = None
        self.refuse_ids: set[str] = set()   # documents the cluster rejects (a mapping error, say)
        self.reject_searches = 0            # how many next searches get a 400
        self.nodes_without_plugins = 0      # more nodes, without the plugins

    # -- helpers
    def resolve(self, name):
        if name in self.aliases:
            return sorted(self.aliases[name])
        return [name] if name in self.indices else []

    def docs(self, name):
        out = {}
        for i in self.resolve(name):
            out.update(self.indices[i]["docs"])
        return out

    def handle(self, method, target, body):
        path, _, _query = target.partition("?")
        parts = [p for p in path.split("/") if p]
        data = None
        if body:
            text = body.decode()
            data = [json.loads(l) for l in text.splitlines() if l.strip()] if path.endswith("_bulk") else json.loads(text)
        self.requests.append((method, path, data))
        if self.down:
            raise EsConnectionError("connection refused (test)")
        if path == "/":
            return 200, {"version": {"number": "8.15.0"}, "tagline": "You Know, for Search"}
        if parts[:1] == ["_nodes"]:
            nodes = {"n1": {"plugins": [{"name": p} for p in self.plugins]}}
            for i in range(self.nodes_without_plugins):
                nodes[f"bare{i}"] = {"plugins": []}
            return 200, {"nodes": nodes}
        if parts[:1] == ["_aliases"]:
            for action in data["actions"]:
                (kind, spec), = action.items()
                if kind == "add":
                    self.aliases.setdefault(spec["alias"], set()).add(spec["index"])
                else:
                    self.aliases.get(spec["alias"], set()).discard(spec["index"])
            return 200, {"acknowledged": True}
        if parts[:1] == ["_alias"]:
            name = parts[1]
            if name not in self.aliases or not self.aliases[name]:
                return 404, {"error": "alias_missing", "status": 404}
            return 200, {i: {"aliases": {name: {}}} for i in self.aliases[name]}
        if parts and parts[-1] == "_bulk":
            items = []
            it = iter(data)
            for action in it:
                (op, meta), = action.items()
                target_index = self.resolve(meta["_index"])
                if not target_index:
                    target_index = [meta["_index"]]
                    self.indices.setdefault(meta["_index"], {"body": None, "docs": {}})
                docs = self.indices[target_index[0]]["docs"]
                if op == "index" and meta["_id"] in self.refuse_ids:
                    next(it)
                    items.append({"index": {"_id": meta["_id"], "status": 400, "error": {
                        "type": "document_parsing_exception", "reason": "failed to parse field [price]"}}})
                elif op == "index":
                    docs[meta["_id"]] = next(it)
                    items.append({"index": {"_id": meta["_id"], "status": 200, "result": "updated"}})
                elif op == "delete":
                    found = docs.pop(meta["_id"], None)
                    items.append({"delete": {"_id": meta["_id"], "status": 200 if found else 404,
                                             "result": "deleted" if found else "not_found"}})
            return 200, {"took": 1, "errors": any(i[next(iter(i))]["status"] >= 300 for i in items), "items": items}
        if parts and parts[-1] == "_search":
            if self.reject_searches:
                self.reject_searches -= 1
                return 400, {"error": {"type": "search_phase_execution_exception", "reason": "too many clauses"},
                             "status": 400}
            if self.search_response is not None:
                return 200, self.search_response
            docs = self.docs(parts[0])
            hits = [{"_id": k, "_score": 1.0} for k in sorted(docs, key=int)]
            return 200, {"took": 1, "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits[:data.get("size", 10)]},
                         "aggregations": {"zone": {"buckets": _buckets(docs, "zone_code")},
                                          "category": {"buckets": _buckets(docs, "category_code")},
                                          "brand": {"buckets": _buckets(docs, "brand")},
                                          "sme": {"buckets": _buckets(docs, "is_sme")},
                                          "price": {"buckets": []}}}
        if parts and parts[-1] == "_count":
            return 200, {"count": len(self.docs(parts[0]))}
        if parts and parts[-1] in ("_settings", "_refresh"):
            return 200, {"acknowledged": True}
        if len(parts) == 3 and parts[1] == "_alias" and method == "HEAD":
            return (200 if parts[0] in self.aliases.get(parts[2], set()) else 404), None
        if len(parts) == 3 and parts[1] == "_alias" and method == "PUT":
            self.aliases.setdefault(parts[2], set()).add(parts[0])
            return 200, {"acknowledged": True}
        if len(parts) == 1:
            name = parts[0]
            if method == "PUT":
                self.indices[name] = {"body": data, "docs": {}}
                return 200, {"acknowledged": True, "index": name}
            if method == "HEAD":
                return (200 if name in self.indices else 404), None
            if method == "DELETE":
                self.indices.pop(name, None)
                for members in self.aliases.values():
                    members.discard(name)
                return 200, {"acknowledged": True}
        return 400, {"error": f"fake cluster: unsupported {method} {path}"}


def _buckets(docs, field):
    counts = {}
    for d in docs.values():
        counts[d.get(field)] = counts.get(d.get(field), 0) + 1
    return [{"key": k, "doc_count": n} for k, n in counts.items() if k is not None]


def fake_client(cluster: FakeCluster) -> Elasticsearch:
    class FakeNode(BaseNode):
        _CLIENT_META_HTTP_CLIENT = ("fake", "1.0")

        def perform_request(self, method, target, body=None, headers=None, request_timeout=None):
            status, payload = cluster.handle(method, target, body)
            raw = b"" if payload is None else json.dumps(payload).encode()
            meta = ApiResponseMeta(status=status, http_version="1.1",
                                   headers=HttpHeaders({"x-elastic-product": "Elasticsearch",
                                                        "content-type": "application/json"}),
                                   duration=0.0, node=self.config)
            return NodeApiResponse(meta, raw)

        def close(self):
            pass

    return Elasticsearch("http://es.test:9200", node_class=FakeNode, max_retries=0)


@pytest.fixture
def cluster(app, monkeypatch):
    c = FakeCluster()
    monkeypatch.setitem(app.config, "SEARCH_ENGINE", "elasticsearch")
    monkeypatch.setitem(app.config, "ELASTICSEARCH_INDEX", "govmall-test")
    monkeypatch.setitem(app.config, "ELASTICSEARCH_CLIENT", fake_client(c))
    return c


@pytest.fixture
def catalog(make):
    sme = make.supplier_org(name="福州鑫源信息技术有限公司", sme_size="small")
    big = make.supplier_org(name="福建省大型商贸集团有限公司", sme_size="large")
    printer = make.product(sme, zone="central", category_code="A02021003", brand="惠普", model="M404dn",
                           title="惠普 LaserJet Pro M404dn 黑白激光打印机", price="2399.00")
    laptop = make.product(big, zone="central", category_code="A02010108", brand="联想", model="E14",
                          title="联想ThinkPad E14 笔记本电脑", price="5699.00")
    return {"sme": sme, "big": big, "printer": printer, "laptop": laptop}


def outbox_count():
    from search.models import SearchOutbox

    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(SearchOutbox))


def bodies(cluster, suffix):
    return [d for m, p, d in cluster.requests if p.endswith(suffix)]


# ---------------------------------------------------------------------------------- index and analysis

@pytest.mark.parametrize("plugins,index_analyzer,search_analyzer", [
    ((), "cjk", "cjk"),
    (("analysis-ik",), "ik_max_word", "ik_smart"),
    (("analysis-smartcn",), "smartcn", "smartcn"),
])
def test_index_has_explicit_mappings_and_the_best_chinese_analyzer(ctx, cluster, plugins, index_analyzer,
                                                                    search_analyzer):
    from search import get_es_engine

    cluster.plugins = list(plugins)
    get_es_engine().ensure_index()
    (name, spec), = cluster.indices.items()
    assert name.startswith("govmall-test-") and cluster.aliases["govmall-test"] == {name}
    props = spec["body"]["mappings"]["properties"]
    assert spec["body"]["mappings"]["dynamic"] == "strict"
    assert props["title"] == {"type": "text", "analyzer": index_analyzer, "search_analyzer": search_analyzer}
    assert props["brand"]["type"] == "keyword" and props["category_path"]["type"] == "keyword"
    assert props["price"] == {"type": "scaled_float", "scaling_factor": 100}
    assert props["is_sme"]["type"] == "boolean"


# ---------------------------------------------------------------------------------- search requests

def test_search_body_has_filters_sme_boost_facets_sort_and_highlight(client, cluster, catalog):
    from search import get_es_engine

    get_es_engine().ensure_index()
    r = client.get("/api/v1/search", query_string={
        "q": "激光打印机", "zone": "central", "category": "A02020000", "sme": "1", "price_min": "1000",
        "price_max": "5000", "in_stock": "1", "sort": "price_asc", "page": "2", "per_page": "10"})
    assert r.status_code == 200
    body = bodies(cluster, "/_search")[-1]
    fs = body["query"]["function_score"]
    assert fs["functions"] == [{"filter": {"term": {"is_sme": True}}, "weight": 1.2}]
    assert fs["boost_mode"] == "multiply"
    inner = fs["query"]["bool"]
    assert {"term": {"zone_code": "central"}} in inner["filter"]
    assert {"term": {"category_path": "A02020000"}} in inner["filter"]      # 品目 and its descendants
    assert {"term": {"is_sme": True}} in inner["filter"]
    assert {"range": {"price": {"gte": 1000.0, "lte": 5000.0}}} in inner["filter"]
    assert {"range": {"stock": {"gt": 0}}} in inner["filter"]
    mm = inner["should"][0]["multi_match"]
    assert mm["operator"] == "and" and "title^4" in mm["fields"] and mm["query"] == "激光打印机"
    assert body["sort"][0] == {"price": "asc"} and body["from"] == 10 and body["size"] == 10
    assert set(body["aggs"]) == {"zone", "category", "brand", "sme", "price"}
    assert body["highlight"]["fields"]["title"]["number_of_fragments"] == 0
    assert body["track_total_hits"] is True


def test_search_response_becomes_items_and_facets_checked_against_the_database(client, cluster, catalog):
    from search import get_es_engine

    get_es_engine().ensure_index()
    printer, laptop = catalog["printer"], catalog["laptop"]
    cluster.search_response = {
        "took": 3, "hits": {"total": {"value": 3, "relation": "eq"}, "hits": [
            {"_id": str(laptop.id), "_score": 7.5, "highlight": {"title": ["联想ThinkPad E14 <mark>笔记本</mark>电脑"]}},
            {"_id": str(printer.id), "_score": 3.1},
            {"_id": "999999", "_score": 1.0},            # not in the database (stale index): never shown
        ]},
        "aggregations": {
            "zone": {"buckets": [{"key": "central", "doc_count": 3}]},
            "category": {"buckets": [{"key": "A02010108", "doc_count": 2}, {"key": "A02021003", "doc_count": 1}]},
            "brand": {"buckets": [{"key": "联想", "doc_count": 2}]},
            "sme": {"buckets": [{"key": 1, "key_as_string": "true", "doc_count": 1},
                                {"key": 0, "key_as_string": "false", "doc_count": 2}]},
            "price": {"buckets": [{"key": "2", "from": 2000.0, "to": 10000.0, "doc_count": 3}]},
        }}
    data = client.get("/api/v1/search", query_string={"q": "笔记本"}).get_json()
    assert data["engine"] == "elasticsearch" and data["total"] == 3
    assert [i["id"] for i in data["items"]] == [laptop.id, printer.id]
    assert data["facets"]["category"][0] == {"value": "A02010108", "label": "便携式计算机", "count": 2}
    assert {f["value"]: f["count"] for f in data["facets"]["sme"]} == {"1": 1, "0": 2}
    # the index is behind the database (the outbox not drained yet): a hit that may no longer be
    # sold is never shown, whatever the cluster says; its totals are the cluster's (approximate)
    printer.status = "delisted"
    db.session.commit()
    data = client.get("/api/v1/search", query_string={"q": "笔记本"}).get_json()
    assert data["engine"] == "elasticsearch" and [i["id"] for i in data["items"]] == [laptop.id]
    assert data["facets"]["price"][0]["count"] == 3 and data["facets"]["price"][0]["value"] == "2000-10000"


# ---------------------------------------------------------------------------------- the outbox

def test_changes_are_queued_in_the_same_transaction_and_drained_after_commit(client, cluster, catalog, make):
    from search.models import SearchOutbox

    printer = catalog["printer"]
    assert outbox_count() == 0                       # drained eagerly after each commit
    assert str(printer.id) in cluster.docs("govmall-test")
    printer.title = "惠普 M404dn 打印机 新标题"
    db.session.flush()
    assert db.session.scalar(select(func.count()).select_from(SearchOutbox)) == 1  # same transaction
    db.session.rollback()
    assert outbox_count() == 0                       # rolled back with the change
    assert cluster.docs("govmall-test")[str(printer.id)]["title"] != "惠普 M404dn 打印机 新标题"

    printer.title = "惠普 M404dn 打印机 新标题"
    db.session.commit()
    assert outbox_count() == 0
    assert cluster.docs("govmall-test")[str(printer.id)]["title"] == "惠普 M404dn 打印机 新标题"

    from suppliers.models import SupplierProfile

    db.session.get(SupplierProfile, catalog["sme"].id).status = "suspended"   # may no longer be sold
    db.session.commit()
    assert str(printer.id) not in cluster.docs("govmall-test")
    deletes = [d for d in bodies(cluster, "_bulk")[-1] if "delete" in d]
    assert deletes == [{"delete": {"_index": "govmall-test", "_id": str(printer.id)}}]


def test_elasticsearch_down_writes_succeed_search_falls_back_and_backlog_is_applied_later(client, cluster, catalog):
    from search import get_es_engine
    from search.indexing import drain

    printer = catalog["printer"]
    cluster.down = True
    printer.price = printer.price - 100
    printer.title = "惠普 M404dn 黑白激光打印机 降价"
    db.session.commit()                                # the write succeeds
    assert outbox_count() == 1                         # and waits in the outbox

    data = client.get("/api/v1/search", query_string={"q": "降价"}).get_json()
    assert data["engine"] in ("sqlite-fts5", "postgres-fts")        # the embedded engine answers
    assert [i["id"] for i in data["items"]] == [printer.id]          # already up to date
    assert data["fallback"] and "Elasticsearch" in data["fallback"]
    health = client.get("/api/v1/health").get_json()["search"]
    assert health["ok"] is False and health["backlog"] == 1 and health["fallback"]
    assert health["engine"] in ("sqlite-fts5", "postgres-fts")

    for _ in range(8):                                 # a long outage: the drains keep failing...
        assert drain()["applied"] == 0
    cluster.down = False
    get_es_engine().mark_up()
    result = drain()                                   # ...and the change is not set aside for that
    assert result["applied"] == 1 and result["left"] == 0 and result["set_aside"] == 0
    assert cluster.docs("govmall-test")[str(printer.id)]["title"].endswith("降价")
    health = client.get("/api/v1/health").get_json()["search"]
    assert health == {**health, "ok": True, "engine": "elasticsearch", "backlog": 0, "fallback": None}


def test_a_worker_dying_mid_batch_leaves_rows_that_are_retried_after_the_lease(client, cluster, catalog):
    from search.indexing import LEASE_SECONDS, claim, drain
    from search.models import SearchOutbox
    from sqlalchemy.orm import Session

    laptop = catalog["laptop"]
    cluster.down = True
    laptop.title = "联想ThinkPad E14 笔记本电脑 第二代"
    db.session.commit()
    cluster.down = False
    from search import get_es_engine

    get_es_engine().mark_up()
    with Session(db.engine) as s:                        # a worker claims the row... and dies
        claimed = claim(s, "dead-worker", 100)
    assert [r.entity for r in claimed] == ["product"]
    assert drain()["applied"] == 0                       # the claim is still fresh: nobody takes it
    assert outbox_count() == 1
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=LEASE_SECONDS + 1)
    result = drain(now=later)
    assert result["applied"] == 1 and outbox_count() == 0
    assert cluster.docs("govmall-test")[str(laptop.id)]["title"].endswith("第二代")
    # applying the same change twice is harmless (upsert by product id)
    before = dict(cluster.docs("govmall-test"))
    db.session.add(SearchOutbox(entity="product", entity_id=laptop.id, attempts=0))
    db.session.commit()
    assert cluster.docs("govmall-test") == before


def test_drain_task_is_scheduled_every_minute():
    from mall.celery_app import BEAT_SCHEDULE

    entry = [e for e in BEAT_SCHEDULE.values() if e["task"] == "search.drain_outbox"]
    assert entry and str(entry[0]["schedule"]).startswith("<crontab: * *")


# ---------------------------------------------------------------------------------- full reindex

def test_full_reindex_builds_a_new_index_and_switches_the_alias(app, cluster, catalog):
    from search.indexing import rebuild_index

    with app.app_context():
        first = rebuild_index()
        assert first["es"]["documents"] == 2
        old_index = first["es"]["index"]
        assert cluster.aliases["govmall-test"] == {old_index}
        second = rebuild_index()
    new_index = second["es"]["index"]
    assert new_index != old_index and cluster.aliases["govmall-test"] == {new_index}
    assert old_index not in cluster.indices and old_index in second["es"]["replaced"]
    assert set(cluster.docs("govmall-test")) == {str(catalog["printer"].id), str(catalog["laptop"].id)}
    settings = [d for m, p, d in cluster.requests if p.endswith("/_settings")]
    assert {"index": {"refresh_interval": "-1"}} in settings and {"index": {"refresh_interval": "1s"}} in settings


def test_a_reindex_that_fails_midway_leaves_the_live_index_and_no_half_built_one(app, cluster, catalog):
    from search.indexing import rebuild_index

    with app.app_context():
        live = rebuild_index()["es"]["index"]
        cluster.refuse_ids = {str(catalog["printer"].id)}   # the new index refuses a document
        messages = []
        result = rebuild_index(progress=messages.append)
    assert result["es"] is None and any("放弃本次 ES 重建" in m for m in messages)
    assert cluster.aliases["govmall-test"] == {live} and set(cluster.indices) == {live}


def test_a_plugin_counts_only_when_every_node_has_it(ctx, cluster):
    from search import get_es_engine

    cluster.plugins = ["analysis-ik"]
    assert get_es_engine().detect_analyzers() == ("ik_max_word", "ik_smart")
    cluster.nodes_without_plugins = 1
    assert get_es_engine().detect_analyzers() == ("cjk", "cjk")


def test_reindex_with_elasticsearch_down_still_rebuilds_the_embedded_index(app, cluster, catalog):
    from search.indexing import rebuild_index

    cluster.down = True
    messages = []
    with app.app_context():
        result = rebuild_index(progress=messages.append)
    assert result["products"] == 2 and result["es"] is None
    assert any("Elasticsearch" in m for m in messages)


# ---------------------------------------------------------------------------------- one writer, refused documents

def test_one_refused_document_does_not_hold_up_the_rest_and_is_set_aside(client, cluster, catalog):
    from search.indexing import MAX_ATTEMPTS, drain
    from search.models import SearchOutbox

    printer, laptop = catalog["printer"], catalog["laptop"]
    cluster.refuse_ids = {str(printer.id)}
    printer.title = "惠普 M404dn 打印机 被拒"
    laptop.title = "联想ThinkPad E14 笔记本电脑 第三代"
    db.session.commit()                               # the eager drain: laptop in, printer refused
    docs = cluster.docs("govmall-test")
    assert docs[str(laptop.id)]["title"].endswith("第三代")
    assert not docs[str(printer.id)]["title"].endswith("被拒")
    row = db.session.scalars(select(SearchOutbox)).one()
    assert (row.entity, row.entity_id, row.attempts) == ("product", printer.id, 1)
    assert "document_parsing_exception" in row.last_error and row.claimed_by is None
    for _ in range(MAX_ATTEMPTS):
        result = drain(batch=1)
    assert result == {**result, "applied": 0, "left": 1, "set_aside": 1}
    health = client.get("/api/v1/health").get_json()["search"]
    assert health["backlog"] == 1 and health["set_aside"] == 1
    laptop.title = "联想ThinkPad E14 笔记本电脑 第四代"  # a later change behind the refused row
    db.session.commit()
    assert cluster.docs("govmall-test")[str(laptop.id)]["title"].endswith("第四代")
    assert outbox_count() == 1                           # only the set-aside row remains
    cluster.refuse_ids = set()                           # the mapping is mended: a reindex covers it
    from search.indexing import rebuild_index

    rebuild_index()
    assert outbox_count() == 0 and cluster.docs("govmall-test")[str(printer.id)]["title"].endswith("被拒")


def test_one_drain_at_a_time_and_none_during_a_reindex(client, cluster, catalog):
    from search.indexing import acquire_lease, drain, release_lease

    laptop = catalog["laptop"]
    assert acquire_lease("reindex-elsewhere")            # another process holds the writer's lease
    laptop.title = "联想ThinkPad E14 笔记本电脑 租约"
    db.session.commit()                                  # the change waits in the outbox
    assert outbox_count() == 1
    assert drain() == {**drain(), "busy": True, "applied": 0, "left": 1}
    assert not cluster.docs("govmall-test")[str(laptop.id)]["title"].endswith("租约")
    assert not acquire_lease("another-drain")
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    assert acquire_lease("another-drain", now=later)    # a holder that stopped renewing is replaced
    release_lease("another-drain")
    release_lease("reindex-elsewhere")                   # (no longer its lease: a no-op)
    assert drain()["applied"] == 1
    assert cluster.docs("govmall-test")[str(laptop.id)]["title"].endswith("租约")


def test_a_change_made_during_a_reindex_reaches_the_new_index(app, cluster, catalog, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite the rebuild's write transaction keeps every other writer out")
    monkeypatch.setitem(app.config, "SEARCH_BULK_REBUILD_MIN", 1)  # writers are not held up
    db.session.commit()
    from sqlalchemy.orm import Session

    from catalog.models import Product
    from search.indexing import drain, rebuild_index

    laptop_id = catalog["laptop"].id
    seen = []

    def meanwhile(done, total):
        if seen:
            return
        with Session(db.engine) as other:                # a supplier edits while the rebuild runs
            other.get(Product, laptop_id).title = "联想ThinkPad E14 笔记本电脑 重建期间"
            other.commit()
        seen.append(drain())                              # the drain after that commit must wait

    with app.app_context():
        rebuild_index(on_batch=meanwhile, batch_size=1)
    assert seen[0]["busy"] is True
    assert outbox_count() == 0                            # applied once the new index was in place
    assert cluster.docs("govmall-test")[str(laptop_id)]["title"].endswith("重建期间")


def test_a_refused_query_is_answered_by_the_embedded_engine_without_switching_elasticsearch_off(client, cluster,
                                                                                                 catalog):
    from search import get_es_engine

    cluster.reject_searches = 1
    data = client.get("/api/v1/search", query_string={"q": "打印机"}).get_json()
    assert [i["id"] for i in data["items"]] == [catalog["printer"].id]
    assert data["engine"] in ("sqlite-fts5", "postgres-fts") and "未能处理本次查询" in data["fallback"]
    assert not get_es_engine().down
    data = client.get("/api/v1/search", query_string={"q": "打印机"}).get_json()
    assert data["engine"] == "elasticsearch" and data.get("fallback") is None


def test_a_rebuild_that_fails_gives_back_the_lease_and_switches_the_change_log_off(app, cluster, catalog):
    from sqlalchemy import text

    from search.indexing import acquire_lease, rebuild_index, release_lease

    def fail(done, total):
        raise RuntimeError("disk full (test)")

    db.session.commit()
    before = db.session.execute(text("SELECT count(*) FROM search_doc")).scalar()
    with app.app_context(), pytest.raises(RuntimeError):
        rebuild_index(on_batch=fail, batch_size=1)
    db.session.rollback()
    # the embedded index is as it was: the rebuild's transaction rolled back whole (on SQLite the
    # FTS table it drops first included)
    assert db.session.execute(text("SELECT count(*) FROM search_doc")).scalar() == before == 2
    if db.engine.dialect.name == "sqlite":
        assert db.session.execute(text("SELECT count(*) FROM search_fts")).scalar() == 2
    assert acquire_lease("the-next-drain")              # not held by the dead rebuild
    release_lease("the-next-drain")
    assert set(cluster.indices) <= {i for members in cluster.aliases.values() for i in members}  # no half index
    if db.engine.dialect.name == "postgresql":
        enabled = db.session.execute(text("SELECT count(*) FROM pg_trigger WHERE tgname = 'search_doc_rebuild_note' "
                                          "AND tgenabled <> 'D'")).scalar()
        assert enabled == 0
