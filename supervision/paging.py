"""Pagination of multi-column selects (``db.paginate`` returns only the first column).

``RowPage`` offers what ``templates/_formhelpers.html``'s ``pager`` macro uses.
"""
from __future__ import annotations

import math

from sqlalchemy import func, select

from mall.extensions import db
from mall.paging import PagerMixin


class RowPage(PagerMixin):
    def __init__(self, items, page: int, per_page: int, total: int):
        self.items, self.page, self.per_page, self.total = items, page, per_page, total

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.total else 1


def paginate_rows(stmt, page: int | None, per_page: int) -> RowPage:
    page = page if page and 0 < page < 100000 else 1
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return RowPage(items, page, per_page, total)


def page_arg() -> int:
    """The ``page`` query argument, clamped to 1–100000 (bad input is page 1)."""
    from flask import request

    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), 100000)
