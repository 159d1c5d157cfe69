"""Scheduled catalog tasks."""
from __future__ import annotations

import datetime as dt
import logging

from mall.celery_app import celery
from mall.extensions import db

log = logging.getLogger(__name__)


@celery.task(name="catalog.sweep_agreements")
def sweep_agreements(day: str | None = None) -> dict:
    """Hourly: expire agreements whose term has ended; halt the products of agreements not valid
    today and restore those valid again. Idempotent: a second run changes nothing."""
    from .agreements import sweep

    try:
        result = sweep(dt.date.fromisoformat(day) if day else None)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if result["changed"] or result["expired"]:
        log.info("agreement sweep: %s", result)
    return result
