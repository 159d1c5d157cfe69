"""Command line: ``flask --app mall ocds export`` and ``flask --app mall supervision scan``."""
from __future__ import annotations

import datetime as dt
import json
import sys

import click
from flask.cli import AppGroup

from mall.extensions import db

ocds_cli = AppGroup("ocds", help="OCDS open data (Open Contracting Data Standard 1.1.5)")
supervision_cli = AppGroup("supervision", help="supervision: risk scan")


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"“{value}”不是有效的日期（格式：2026-01-31）")


@ocds_cli.command("export")
@click.option("--from", "start", callback=_date, help="orders placed on or after (YYYY-MM-DD)")
@click.option("--to", "end", callback=_date, help="orders placed on or before (YYYY-MM-DD)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="write the release package to this file (default: standard output)")
def ocds_export(start, end, output):
    """Write an OCDS 1.1.5 release package of the orders (one contracting process each)."""
    from . import ocds
    from .settings import setting

    if start and end and end < start:
        click.echo(f"截止日期{end}早于开始日期{start}", err=True)
        sys.exit(2)
    releases = ocds.all_releases(start, end)
    base = setting("PUBLIC_BASE_URL").rstrip("/")
    query = "&".join(f"{k}={v}" for k, v in (("from", start), ("to", end)) if v)
    package = ocds.package(releases, uri=f"{base}/api/v1/ocds/releases" + (f"?{query}" if query else ""))
    text = json.dumps(package, ensure_ascii=False, indent=2)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"{len(releases)} releases written to {output}", err=True)
    else:
        click.echo(text)


@supervision_cli.command("scan")
def supervision_scan():
    """Run the risk scan now (the nightly Celery task supervision.scan_risks does the same)."""
    from . import services

    result = services.scan_risks()
    db.session.commit()
    click.echo(f"orders checked: {result['orders_checked']}, findings: {result['findings']}, "
               f"new flags: {result['created']} {result['created_by_kind']}")


def init_app(app) -> None:
    app.cli.add_command(ocds_cli)
    app.cli.add_command(supervision_cli)
