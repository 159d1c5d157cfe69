"""Working days (工作日): deadlines of the order lifecycle count them, not calendar days.

A working day is Monday to Friday, except public holidays, plus the weekend days that are
worked instead (调休上班). Both lists are data: the defaults below follow the State Council's
holiday notices (国务院办公厅关于部分节假日安排的通知) for 2025 and 2026; a city adds or replaces
them with the configuration keys ``ORDER_HOLIDAYS`` and ``ORDER_MAKEUP_WORKDAYS`` (lists of
ISO dates, e.g. ``["2027-01-01"]``), without touching code.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable

from mall.timeutil import LOCAL_TZ

DEFAULT_CONFIRM_WORKDAYS = 2
DEFAULT_ACCEPT_REMINDER_WORKDAYS = 5


def _span(first: str, last: str) -> list[dt.date]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


# 法定节假日 (days off, including the weekend days inside a holiday period)
HOLIDAYS: dict[dt.date, str] = {}
for _name, _first, _last in (
    ("元旦", "2025-01-01", "2025-01-01"),
    ("春节", "2025-01-28", "2025-02-04"),
    ("清明节", "2025-04-04", "2025-04-06"),
    ("劳动节", "2025-05-01", "2025-05-05"),
    ("端午节", "2025-05-31", "2025-06-02"),
    ("国庆节、中秋节", "2025-10-01", "2025-10-08"),
    ("元旦", "2026-01-01", "2026-01-03"),
    ("春节", "2026-02-15", "2026-02-23"),
    ("清明节", "2026-04-04", "2026-04-06"),
    ("劳动节", "2026-05-01", "2026-05-05"),
    ("端午节", "2026-06-19", "2026-06-21"),
    ("中秋节", "2026-09-25", "2026-09-27"),
    ("国庆节", "2026-10-01", "2026-10-07"),
):
    for _day in _span(_first, _last):
        HOLIDAYS[_day] = _name

# 调休上班: weekend days that are working days
MAKEUP_WORKDAYS: dict[dt.date, str] = {dt.date.fromisoformat(d): name for d, name in (
    ("2025-01-26", "春节调休"), ("2025-02-08", "春节调休"), ("2025-04-27", "劳动节调休"),
    ("2025-09-28", "国庆节调休"), ("2025-10-11", "国庆节调休"),
    ("2026-01-04", "元旦调休"), ("2026-02-14", "春节调休"), ("2026-02-28", "春节调休"),
    ("2026-05-09", "劳动节调休"), ("2026-09-20", "国庆节调休"), ("2026-10-10", "国庆节调休"),
)}


def _dates(values: Iterable) -> set[dt.date]:
    out = set()
    for v in values or ():
        out.add(v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v).strip()))
    return out


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset = field(default_factory=frozenset)
    makeup_workdays: frozenset = field(default_factory=frozenset)

    def is_workday(self, day: dt.date) -> bool:
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_workdays(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after ``day`` (``day`` itself does not count)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        current = day
        while n > 0:
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                n -= 1
        return current

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        count, current = 0, start
        while current < end:
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                count += 1
        return count

    def deadline(self, placed_at: dt.datetime, workdays: int) -> dt.datetime:
        """End (24:00 local time) of the ``workdays``-th working day after the placement date."""
        local_day = placed_at.astimezone(LOCAL_TZ).date()
        last = self.add_workdays(local_day, workdays)
        end_local = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0, 0), tzinfo=LOCAL_TZ)
        return end_local.astimezone(dt.timezone.utc)


def calendar(config: dict | None = None) -> WorkCalendar:
    """The calendar of the running app: defaults plus/replaced by configuration.

    ``ORDER_HOLIDAYS`` / ``ORDER_MAKEUP_WORKDAYS`` add to the defaults;
    ``ORDER_HOLIDAYS_REPLACE = True`` uses only the configured lists.
    """
    if config is None:
        from flask import current_app, has_app_context

        config = current_app.config if has_app_context() else {}
    replace = bool(config.get("ORDER_HOLIDAYS_REPLACE"))
    holidays = _dates(config.get("ORDER_HOLIDAYS")) | (set() if replace else set(HOLIDAYS))
    makeup = _dates(config.get("ORDER_MAKEUP_WORKDAYS")) | (set() if replace else set(MAKEUP_WORKDAYS))
    return WorkCalendar(frozenset(holidays), frozenset(makeup))


def confirm_workdays(config: dict | None = None) -> int:
    if config is None:
        from flask import current_app

        config = current_app.config
    try:
        return max(0, int(config.get("ORDER_CONFIRM_WORKDAYS", DEFAULT_CONFIRM_WORKDAYS)))
    except (TypeError, ValueError):
        return DEFAULT_CONFIRM_WORKDAYS
