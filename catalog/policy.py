"""Policy versions (集中采购目录及标准) looked up by date: rules that change by date are data.

An order is judged by the version in force on its date; the order keeps a snapshot of it.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import or_, select

from mall.extensions import db
from . import pinmu
from .models import CentralizedItem, PolicyVersion


def policy_in_force(day: dt.date, session=None) -> PolicyVersion | None:
    """The published version whose effective period contains ``day`` (latest start wins)."""
    session = session or db.session
    return session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.status == "published", PolicyVersion.effective_from <= day,
               or_(PolicyVersion.effective_to.is_(None), PolicyVersion.effective_to >= day))
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc())
        .limit(1)).first()


def centralized_item_for(policy: PolicyVersion, category_code: str) -> CentralizedItem | None:
    """The centralized-catalog entry covering ``category_code`` (itself or an ancestor)."""
    path = set(pinmu.path_of(category_code)) or {category_code}
    best = None
    for item in policy.items:
        if item.category_code in path:
            # the most specific entry wins
            if best is None or len(pinmu.path_of(item.category_code)) > len(pinmu.path_of(best.category_code)):
                best = item
    return best


def is_centralized(policy: PolicyVersion, category_code: str, amount: Decimal | None = None) -> bool:
    """Whether buying ``category_code`` for ``amount`` falls under the centralized catalog."""
    item = centralized_item_for(policy, category_code)
    if item is None:
        return False
    if item.min_amount is not None and amount is not None and amount < item.min_amount:
        return False
    return True


def snapshot(policy: PolicyVersion) -> dict:
    """What an order stores about the version that judged it."""
    return {
        "policy_id": policy.id, "name": policy.name,
        "effective_from": policy.effective_from.isoformat(),
        "effective_to": policy.effective_to.isoformat() if policy.effective_to else None,
        "decentralized_threshold_goods": str(policy.decentralized_threshold_goods),
        "decentralized_threshold_services": str(policy.decentralized_threshold_services),
        "decentralized_threshold_works": str(policy.decentralized_threshold_works),
        "open_tender_threshold_goods": str(policy.open_tender_threshold_goods),
        "direct_purchase_limit": str(policy.direct_purchase_limit),
        "sme_price_deduction": str(policy.sme_price_deduction),
        "split_window_days": policy.split_window_days,
        "split_action": policy.split_action,
        "cumulative_warning_ratio": str(policy.cumulative_warning_ratio),
    }
