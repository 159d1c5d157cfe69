"""Supervision settings: app config keys with the defaults DOMAIN.md names.

Each key may be set in the Flask config or as the environment variable ``GOVMALL_<KEY>``.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import current_app, has_app_context

from mall.config import env

DEFAULTS = {
    # a price more than this share above the reference market price is flagged
    "SUPERVISION_PRICE_MARKUP": Decimal("0.30"),
    # one unit buying more than this share of its year's amount from one supplier ...
    "SUPERVISION_CONCENTRATION_SHARE": Decimal("0.60"),
    # ... once the unit has placed at least this many orders in the year
    "SUPERVISION_CONCENTRATION_MIN_ORDERS": 5,
    # an order within this share below the direct-purchase limit or the threshold is flagged
    "SUPERVISION_NEAR_THRESHOLD_RATIO": Decimal("0.05"),
    # delivery due within N working days of confirmation; acceptance within N of delivery
    "SUPERVISION_DELIVERY_WORKDAYS": 7,
    "SUPERVISION_ACCEPTANCE_WORKDAYS": 5,
    # budget years the nightly scan looks at (this year and the previous one)
    "SUPERVISION_SCAN_YEARS": 2,
    # 成交公告: orders from this amount are announced once confirmed
    "PUBLIC_ANNOUNCEMENT_MIN": Decimal("10000"),
    # 特色馆: share of the canteen food budget to buy in the pavilion
    "PAVILION_SHARE_TARGET": Decimal("0.10"),
    # OCDS ocid prefix. "ocds-govmall" is a placeholder: a production publisher must register
    # its own prefix with the Open Contracting Partnership and set GOVMALL_OCDS_PREFIX.
    "OCDS_PREFIX": "ocds-govmall",
    "OCDS_PUBLISHER_NAME": "公共资源交易中心 · 政府采购网上商城",
    "OCDS_LICENSE": "http://opendatacommons.org/licenses/pddl/1.0/",
    # absolute base of public links in exports made outside a request (CLI)
    "PUBLIC_BASE_URL": "http://localhost:5000",
}


def setting(name: str):
    default = DEFAULTS[name]
    value = None
    if has_app_context():
        value = current_app.config.get(name)
    if value is None:
        value = env(name)
    if value is None:
        return default
    try:
        if isinstance(default, Decimal):
            return Decimal(str(value))
        if isinstance(default, int):
            return int(value)
    except (InvalidOperation, ValueError):
        return default
    return value
