"""Time helpers: timezone-aware UTC timestamps, the mall's local date (Asia/Shanghai)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def today() -> dt.date:
    """The calendar date in the mall's time zone (rules are judged by local date)."""
    return dt.datetime.now(LOCAL_TZ).date()


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes; treat them as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value
