"""Scheduled order tasks (Celery beat, see mall/celery_app.BEAT_SCHEDULE).

- ``orders.cancel_overdue``: orders the supplier did not confirm within the confirmation
  deadline (``ORDER_CONFIRM_WORKDAYS`` working days) are cancelled by the system: the budget
  and the stock are released, the change is audited and ``order_transitioned`` is sent. Each
  order in its own transaction; a rerun finds nothing left to do (idempotent).
- ``orders.send_reminders``: in-app notices (with their e-mail outbox row) to suppliers whose
  confirmation deadline falls today or on the next working day, and to buyers whose delivered
  order has waited ``ORDER_ACCEPT_REMINDER_WORKDAYS`` working days for acceptance (验收).
  Each notice has a ``dedup_key``; a rerun never creates a second one.
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mall.celery_app import celery
from mall.extensions import db
from mall.problems import ServiceError
from mall.timeutil import as_utc, utcnow

from . import services, workdays
from .models import Notification, Order

log = logging.getLogger(__name__)


def cancel_overdue(now: dt.datetime | None = None) -> dict:
    now = now or utcnow()
    days = workdays.confirm_workdays()
    ids = db.session.scalars(select(Order.id).where(Order.status == "submitted", Order.confirm_deadline.is_not(None),
                                                    Order.confirm_deadline < now).order_by(Order.id)).all()
    db.session.rollback()
    cancelled, skipped = [], []
    for order_id in ids:
        try:
            order = db.session.get(Order, order_id)
            if order is None or order.status != "submitted" or as_utc(order.confirm_deadline) >= now:
                skipped.append(order_id)
                db.session.rollback()
                continue
            services.transition(order, "cancelled", system=True, now=now,
                                note=f"供应商未在{days}个工作日内确认订单（截止{_local(order.confirm_deadline)}），系统自动取消")
            db.session.commit()
            cancelled.append(order.number)
        except ServiceError as exc:  # moved meanwhile (confirmed just now): nothing to do
            db.session.rollback()
            skipped.append(order_id)
            log.info("overdue order %s not cancelled: %s", order_id, exc)
    return {"cancelled": cancelled, "skipped": len(skipped)}


def _local(value: dt.datetime) -> str:
    from mall.templating import localtime

    return localtime(value)


def _notify(dedup_key: str, **fields) -> bool:
    """Insert a notification once per dedup_key (a savepoint absorbs a concurrent twin)."""
    if db.session.scalar(select(Notification.id).where(Notification.dedup_key == dedup_key)) is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(Notification(dedup_key=dedup_key, **fields))
        return True
    except IntegrityError:
        return False


def send_reminders(now: dt.datetime | None = None) -> dict:
    now = now or utcnow()
    cal = workdays.calendar()
    today_local = services.local_date(now)
    horizon = cal.add_workdays(today_local, 1)  # deadline today or on the next working day
    created = {"confirm": 0, "accept": 0}
    pending = db.session.scalars(select(Order).where(Order.status == "submitted",
                                                     Order.confirm_deadline.is_not(None),
                                                     Order.confirm_deadline >= now)).all()
    for order in pending:
        deadline_day = services.local_date(order.confirm_deadline - dt.timedelta(seconds=1))
        if deadline_day > horizon:
            continue
        if _notify(f"order-reminder:confirm:{order.id}", recipient_org_id=order.supplier_id, order_id=order.id,
                   kind="order.confirm_reminder", title=f"请及时确认订单{order.number}",
                   body=f"订单{order.number}（{order.buyer_unit.name}，金额¥{order.total:,.2f}）须在"
                        f"{_local(order.confirm_deadline)}前确认，逾期系统将自动取消。"):
            created["confirm"] += 1
    wait = int(current_app.config.get("ORDER_ACCEPT_REMINDER_WORKDAYS", workdays.DEFAULT_ACCEPT_REMINDER_WORKDAYS))
    delivered = db.session.scalars(select(Order).where(Order.status == "delivered")).all()
    for order in delivered:
        since = max((c.created_at for c in order.history if c.to_status == "delivered"), default=None)
        if since is None or cal.workdays_between(services.local_date(since), today_local) < wait:
            continue
        if _notify(f"order-reminder:accept:{order.id}", recipient_org_id=order.buyer_unit_id, order_id=order.id,
                   kind="order.accept_reminder", title=f"请及时验收订单{order.number}",
                   body=f"订单{order.number}已于{_local(since)}送达，已超过{wait}个工作日未验收，请尽快组织验收。"):
            created["accept"] += 1
    db.session.commit()
    return created


@celery.task(name="orders.cancel_overdue")
def cancel_overdue_task():
    return cancel_overdue()


@celery.task(name="orders.send_reminders")
def send_reminders_task():
    return send_reminders()
