"""Scheduled supervision tasks: the nightly risk scan (``supervision.scan_risks``)."""
from __future__ import annotations

from mall.celery_app import celery
from mall.extensions import db


@celery.task(name="supervision.scan_risks")
def scan_risks() -> dict:
    """Raise risk flags for new findings (idempotent: a rerun creates no duplicates)."""
    from . import services

    try:
        result = services.scan_risks()
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        raise
