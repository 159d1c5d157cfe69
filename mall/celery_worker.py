"""Entry point for the Celery worker and beat: ``celery -A mall.celery_worker worker``
(and ``celery -A mall.celery_worker beat``). Tasks run inside this Flask app's context."""
from . import create_app
from .celery_app import celery  # noqa: F401  (celery finds the Celery app by this name)

flask_app = create_app()
