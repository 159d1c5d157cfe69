"""Search: one interface, two engines.

* ``embedded`` (default): full-text on the database in use — SQLite FTS5 (``sqlite-fts5``) or
  PostgreSQL tsvector + GIN (``postgres-fts``) — over jieba tokens; its index is updated in the
  same transaction as every product change.
* ``elasticsearch``: the official client; changes reach it through the ``search_outbox``; when
  it is unreachable, searches fall back to the embedded engine (kept up to date regardless).

Configuration: ``SEARCH_ENGINE`` ("embedded" | "elasticsearch"), ``ELASTICSEARCH_URL``,
``ELASTICSEARCH_INDEX`` (the alias), ``SEARCH_SME_BOOST`` (relevance × 1.2 for SME products),
``SEARCH_CACHE_SECONDS`` (facet cache of slow broad queries, 30 s).
"""
from __future__ import annotations

import threading

from flask import current_app

_es_engines: dict = {}
_lock = threading.Lock()


def embedded_engine(session=None):
    from mall.extensions import db

    bind = (session or db.session).get_bind()
    if bind.dialect.name == "postgresql":
        from .embedded_pg import PostgresEngine

        return PostgresEngine(session)
    from .embedded_sqlite import SqliteEngine

    return SqliteEngine(session)


def get_es_engine():
    """The Elasticsearch engine when configured (one client per URL and index), else None."""
    cfg = current_app.config
    if cfg.get("SEARCH_ENGINE") != "elasticsearch":
        return None
    url = cfg.get("ELASTICSEARCH_URL") or "http://127.0.0.1:9200"
    key = (url, cfg.get("ELASTICSEARCH_INDEX"), id(cfg.get("ELASTICSEARCH_CLIENT")))
    with _lock:
        engine = _es_engines.get(key)
        if engine is None:
            from .es import EsEngine

            client = cfg.get("ELASTICSEARCH_CLIENT")  # tests inject a client with a fake transport
            engine = EsEngine.from_config(url, cfg.get("ELASTICSEARCH_INDEX") or "govmall-products", client=client)
            _es_engines[key] = engine
    return engine


def get_engine():
    """The engine serving searches: Elasticsearch (falling back to embedded) or embedded."""
    es = get_es_engine()
    if es is not None:
        from .es import FallbackEngine

        return FallbackEngine(es, embedded_engine())
    return embedded_engine()


def engine_status() -> dict:
    """For /api/v1/health: {"ok", "engine" (serving), "configured", "fallback", "backlog", ...}."""
    from .indexing import outbox_counts

    configured = current_app.config.get("SEARCH_ENGINE", "embedded")
    embedded = embedded_engine()
    emb = embedded.status()
    out = {"ok": emb.get("ok", False), "engine": embedded.name, "configured": configured,
           "fallback": None}
    out["backlog"], set_aside = outbox_counts()
    if emb.get("error"):
        out["error"] = emb["error"]
    es = get_es_engine()
    if es is not None:
        st = es.status()
        out["index"] = st.get("index")
        out["set_aside"] = set_aside  # changes the cluster refused MAX_ATTEMPTS times (a reindex covers them)
        if st.get("ok"):
            out.update(ok=True, engine=es.name)
            out.pop("error", None)
        else:
            out.update(ok=False, fallback=f"Elasticsearch 不可用，由内置引擎 {embedded.name} 提供搜索",
                       error=st.get("error"))
    return out


def clear_caches() -> None:
    """Forget cached facets and vocabulary (after a rebuild; tests)."""
    from .embedded import facet_cache
    from . import service

    facet_cache.clear()
    service.vocabulary_cache.clear()
