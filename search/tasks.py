"""Celery tasks of search: drain the outbox into Elasticsearch."""
from __future__ import annotations

import logging

from mall.celery_app import celery

log = logging.getLogger(__name__)


@celery.task(name="search.drain_outbox", acks_late=True)
def drain_outbox(batch: int = 500, max_batches: int = 100) -> dict:
    """Every minute (BEAT_SCHEDULE) and after a commit that queued changes: apply queued changes
    to Elasticsearch. Rows stay queued while it is unreachable; claims of dead workers expire."""
    from .indexing import drain

    result = drain(batch=batch, max_batches=max_batches)
    if result.get("error"):
        log.warning("search outbox not drained: %s (%s rows left)", result["error"], result.get("left"))
    return result
