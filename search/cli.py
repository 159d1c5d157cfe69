"""``flask --app mall search ...``: rebuild the index, drain the outbox, show the status."""
from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

search_cli = AppGroup("search", help="搜索索引（内置全文索引 / Elasticsearch）")


@search_cli.command("reindex")
@click.option("--batch-size", default=2000, show_default=True, help="products per batch")
@click.option("--no-es", is_flag=True, help="rebuild only the embedded index")
@click.option("--workers", type=int, default=None, help="processes segmenting text (default: one per core, at most 4)")
def reindex(batch_size, no_es, workers):
    """Rebuild every search index from the database (new ES index + alias switch)."""
    from .indexing import rebuild_index

    state = {"bar": None, "done": 0}

    def on_batch(done, total):
        if state["bar"] is None:
            state["bar"] = click.progressbar(length=total, label="索引商品", show_pos=True).__enter__()
        state["bar"].update(done - state["done"])
        state["done"] = done

    try:
        result = rebuild_index(progress=click.echo, on_batch=on_batch, batch_size=batch_size, include_es=not no_es,
                               workers=workers)
    finally:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)
    click.echo(json.dumps(result, ensure_ascii=False))


@search_cli.command("drain")
@click.option("--batch", default=500, show_default=True)
def drain_command(batch):
    """Apply the queued changes (search_outbox) to Elasticsearch now."""
    from .indexing import drain

    result = drain(batch=batch)
    click.echo(json.dumps(result, ensure_ascii=False))
    if result.get("error"):
        sys.exit(1)


@search_cli.command("status")
def status_command():
    """Which engine serves searches, and the outbox backlog."""
    from . import engine_status

    click.echo(json.dumps(engine_status(), ensure_ascii=False))
