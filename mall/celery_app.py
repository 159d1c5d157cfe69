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
