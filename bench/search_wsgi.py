"""WSGI entry for the search benchmark: ``gunicorn --preload bench.search_wsgi:app``.

The app is the mall's own (``create_app``); the segmenter and the 品目 tree are loaded before
the workers fork (``--preload``), so workers share them. ``BENCH_SEARCH_CACHE`` sets
SEARCH_CACHE_SECONDS (0 = no facet cache: every query computed in full).
"""
import os

from mall import create_app

app = create_app({"SEARCH_CACHE_SECONDS": float(os.environ.get("BENCH_SEARCH_CACHE", "30"))})

from catalog import pinmu  # noqa: E402
from search import text as _text  # noqa: E402

_text.segmenter()
pinmu.tree()
