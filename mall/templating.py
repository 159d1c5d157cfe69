"""Template filters and globals: money, dates, labels, permissions."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, ROUND_HALF_UP

from flask import request, url_for
from flask_babel import get_locale
from flask_login import current_user

from .timeutil import LOCAL_TZ, as_utc


def money(value, symbol: str = "¥") -> str:
    if value is None:
        return "—"
    d = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{symbol}{d:,.2f}"


def wan(value) -> str:
    """Amounts in 万元 for headline figures."""
    if value is None:
        return "—"
    d = (Decimal(value) / Decimal(10000)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{d:,.2f}万元"


def localtime(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return as_utc(value).astimezone(LOCAL_TZ).strftime(fmt)
    return value.strftime("%Y-%m-%d")


def init_app(app):
    from .accounts.models import ROLES
    from .authz import can
    from catalog.models import ZONE_LABELS
    from suppliers.models import SIZE_LABELS

    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["wan"] = wan
    app.jinja_env.filters["localtime"] = localtime

    def url_with(**changes):
        args = request.args.to_dict()
        args.update({k: v for k, v in changes.items()})
        args = {k: v for k, v in args.items() if v not in (None, "")}
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    @app.context_processor
    def globals_():
        return {
            "ROLES": ROLES,
            "ZONE_LABELS": ZONE_LABELS,
            "SIZE_LABELS": SIZE_LABELS,
            "can": lambda action, obj=None: can(current_user, action, obj),
            "url_with": url_with,
            "LANGUAGES": app.config["LANGUAGES"],
            "get_locale": get_locale,
        }
