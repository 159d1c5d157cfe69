"""The search results page (``search.results`` at /search)."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from . import service
from .engine import SORTS

bp = Blueprint("search", __name__)


@bp.record_once
def _preload(state) -> None:
    """Load the segmenter's dictionary and the 品目 word index once, when the app is built: with
    ``gunicorn --preload`` the workers share them instead of loading them per process or per request."""
    from . import text

    text.segmenter()
    service._intent_words()


@bp.route("/search")
def results():
    query, notices = service.parse(request.args)
    page = service.search(query, notices)
    active = {k: request.args.get(k) for k in ("zone", "category", "brand", "sme", "in_stock", "price",
                                               "price_min", "price_max", "min_price", "max_price", "supplier",
                                               "agreement") if request.args.get(k)}
    return render_template("search/results.html", page=page, q=query, sorts=SORTS, active=active)
