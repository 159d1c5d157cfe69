"""The pagination protocol of ``templates/_formhelpers.html``'s ``pager`` macro (the same one
Flask-SQLAlchemy's ``Pagination`` offers), for pages that are not ``db.paginate`` results.
A subclass provides ``page`` and ``pages``."""
from __future__ import annotations

from typing import Iterator, Optional


class PagerMixin:
    page: int
    pages: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> Optional[int]:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> Optional[int]:
        return self.page + 1 if self.has_next else None

    def iter_pages(self, left_edge=2, left_current=2, right_current=4, right_edge=2) -> Iterator[Optional[int]]:
        last = 0
        for num in range(1, self.pages + 1):
            if (num <= left_edge or self.page - left_current <= num <= self.page + right_current
                    or num > self.pages - right_edge):
                if last + 1 != num:
                    yield None
                yield num
                last = num
