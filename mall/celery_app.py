"""Celery wired to the Flask app: every task runs inside an application context.

The embedded default runs tasks eagerly (no broker needed); production and CI use Redis and
a real worker: ``celery -A mall.celery_worker worker`` and ``... beat``.
Tasks are declared with ``@celery.task(name=...)`` in each feature package's ``tasks.py``.
"""
from __future__ import annotations

from celery import Celery, Task
from celery.schedules import crontab
from flask import has_app_context

_flask_app = None


class AppContextTask(Task):
    abstract = True

    def __call__(self, *args, **kwargs):
        if has_app_context() or _flask_app is None:
            return self.run(*args, **kwargs)
        with _flask_app.app_context():
            return self.run(*args, **kwargs)


celery = Celery("govmall", task_cls=AppContextTask)

BEAT_SCHEDULE = {
    "agreements-sweep": {"task": "catalog.sweep_agreements", "schedule": crontab(minute=5)},
    "orders-cancel-overdue": {"task": "orders.cancel_overdue", "schedule": crontab(minute="*/15")},
    "orders-reminders": {"task": "orders.send_reminders", "schedule": crontab(minute=0, hour="9,14")},
    "orders-notification-emails": {"task": "orders.send_notification_emails", "schedule": crontab()},
    "orders-card-capture-retry": {"task": "orders.retry_card_captures", "schedule": crontab(minute="*/10")},
    "orders-close-competitions": {"task": "orders.close_competitions", "schedule": crontab(minute="*/5")},
    "supervision-scan-risks": {"task": "supervision.scan_risks", "schedule": crontab(minute=30, hour=2)},
    "search-drain-outbox": {"task": "search.drain_outbox", "schedule": crontab(minute="*")},
}


def init_celery(app) -> Celery:
    global _flask_app
    _flask_app = app
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        result_backend=app.config.get("CELERY_RESULT_BACKEND") or None,
        task_always_eager=app.config["CELERY_ALWAYS_EAGER"],
        task_eager_propagates=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        timezone="Asia/Shanghai",
        broker_connection_retry_on_startup=True,
        beat_schedule=BEAT_SCHEDULE,
    )
    app.extensions["celery"] = celery
    _import_tasks()
    return celery


def _import_tasks() -> None:
    import catalog.tasks  # noqa: F401
    import orders.tasks  # noqa: F401
    import orders.notify_tasks  # noqa: F401
    import supervision.tasks  # noqa: F401
    import search.tasks  # noqa: F401
