"""Entry point for the Celery worker and beat: ``celery -A mall.celery_worker worker``."""
from . import create_app
from .celery_app import celery  # noqa: F401

app = create_app()
