"""A tiny in-process TTL cache for headline figures and listing pages of public pages.

The home page and the disclosure page show counts over the whole catalog, and a zone listing
sorts tens of thousands of rows; on 100k products those cost tens to hundreds of milliseconds,
so each worker process computes them at most once per ``ttl`` seconds
(``FIGURES_CACHE_SECONDS`` in the config, default 60; off under TESTING unless set).

When an entry has expired, the next request still gets the previous value at once while one
background thread recomputes it (stale-while-revalidate, for up to ``STALE_FACTOR`` × ttl), so no
visitor waits for the aggregate after the first one. Values are keyed by name and the database
URL (two apps in one process — tests — never share figures). ``clear()`` empties it.

Only plain data (ints, Decimals, tuples, dicts and lists of them, ids) may be cached: never ORM
objects, which belong to one session.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from flask import current_app, has_app_context

log = logging.getLogger(__name__)

_lock = threading.Lock()
_store: dict[tuple, tuple[float, Any]] = {}
_refreshing: set[tuple] = set()
DEFAULT_TTL = 60.0
STALE_FACTOR = 10     # serve a stale value (while refreshing) for up to 10 × ttl after expiry
MAX_ENTRIES = 4096    # listing pages are cached per filter combination: bound the memory
_clock = time.monotonic
last_refresh: threading.Thread | None = None   # the latest background refresh (tests join it)


def _scope() -> str:
    if has_app_context():
        return str(current_app.config.get("SQLALCHEMY_DATABASE_URI", ""))
    return ""


def _ttl(ttl: float | None) -> float:
    ttl = DEFAULT_TTL if ttl is None else ttl
    if has_app_context():
        # Tests change data between requests: no caching there unless a test asks for it.
        ttl = current_app.config.get("FIGURES_CACHE_SECONDS", 0 if current_app.testing else ttl)
    return float(ttl)


def get_or_set(key: str, compute: Callable[[], Any], ttl: float | None = None) -> Any:
    """The cached value of ``key`` if younger than ``ttl`` seconds, else ``compute()`` stored."""
    ttl = _ttl(ttl)
    full = (_scope(), key)
    now = _clock()
    with _lock:
        hit = _store.get(full)
        if hit is not None:
            expires, value = hit
            if expires > now:
                return value
            if ttl > 0 and now - expires < ttl * STALE_FACTOR and has_app_context():
                if full not in _refreshing:
                    _refreshing.add(full)
                    _refresh_in_background(full, compute, ttl)
                return value
    value = compute()  # outside the lock: a slow query must not block other keys
    _put(full, value, ttl)
    return value


def _put(full: tuple, value: Any, ttl: float) -> None:
    if ttl <= 0:
        return
    with _lock:
        if len(_store) >= MAX_ENTRIES:
            _evict(_clock())
        _store[full] = (_clock() + ttl, value)


def _refresh_in_background(full: tuple, compute: Callable[[], Any], ttl: float) -> None:
    global last_refresh
    app = current_app._get_current_object()

    def run():
        try:
            with app.app_context():
                try:
                    value = compute()
                finally:
                    from .extensions import db

                    db.session.remove()
            _put(full, value, ttl)
        except Exception:  # the stale value stays; the next request after expiry tries again
            log.exception("refreshing cached %s failed", full[1])
        finally:
            with _lock:
                _refreshing.discard(full)

    last_refresh = threading.Thread(target=run, name=f"cache-refresh:{full[1][:40]}", daemon=True)
    last_refresh.start()


def _evict(now: float) -> None:
    """Drop long-expired entries; if still full, the half that expires soonest (lock held)."""
    for k in [k for k, (expires, _) in _store.items() if expires <= now - DEFAULT_TTL * STALE_FACTOR]:
        del _store[k]
    if len(_store) >= MAX_ENTRIES:
        for k, _ in sorted(_store.items(), key=lambda kv: kv[1][0])[:len(_store) // 2]:
            del _store[k]


def clear(prefix: str | None = None) -> None:
    with _lock:
        if prefix is None:
            _store.clear()
        else:
            for k in [k for k in _store if k[1].startswith(prefix)]:
                del _store[k]
