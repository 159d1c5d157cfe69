"""Celery tasks of notifications, payments and competitions (periodic ones are in BEAT_SCHEDULE).

- ``orders.send_notification_emails``: sweep the notification outbox (see orders.notifications);
- ``orders.retry_card_captures``: capture card payments of accepted orders whose capture failed
  for a passing reason (gateway unreachable at acceptance);
- ``orders.close_competitions``: evaluate mini-competitions whose deadline has passed.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from mall.celery_app import celery
from mall.extensions import db

log = logging.getLogger(__name__)


@celery.task(name="orders.send_notification_emails")
def send_notification_emails(limit: int = 200) -> dict:
    from .notifications import sweep_emails

    return sweep_emails(limit)


@celery.task(name="orders.retry_card_captures")
def retry_card_captures(limit: int = 100) -> dict:
    from .models import Order, Payment
    from .payments import capture_card

    ids = db.session.scalars(
        select(Order.id).join(Payment, Payment.order_id == Order.id)
        .where(Order.status == "accepted", Payment.method == "card", Payment.status == "authorized")
        .order_by(Order.id).limit(limit)).all()
    done = 0
    for order_id in ids:
        order = db.session.get(Order, order_id)
        try:
            if capture_card(order):
                done += 1
            db.session.commit()
        except Exception:  # noqa: BLE001 - one order's trouble must not stop the others
            db.session.rollback()
            log.exception("capture retry of order %s failed", order_id)
    return {"candidates": len(ids), "captured": done}


@celery.task(name="orders.close_competitions")
def close_competitions(limit: int = 100) -> dict:
    from .competition import close_due_competitions

    return close_due_competitions(limit)
