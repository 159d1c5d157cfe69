"""Command line: ``flask --app mall <command>``."""
from __future__ import annotations

import sys
import time

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from .extensions import db


def init_app(app):
    app.cli.add_command(setup_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(catalog_cli)
    app.cli.add_command(token_cli)
    app.cli.add_command(org_cli)
    app.cli.add_command(user_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(__import__("search.cli", fromlist=["search_cli"]).search_cli)
    from supervision import cli as supervision_cli
    supervision_cli.init_app(app)


def load_base_data() -> dict:
    """Zones and the 品目 classification: needed by every installation."""
    from catalog import pinmu
    from catalog.models import Zone, ZONE_CENTRAL, ZONE_SELF, ZONE_PAVILION

    added = pinmu.load(db.session)
    zones = [
        (ZONE_CENTRAL, "集采区", "集中采购目录内商品，仅限框架协议入围供应商按不高于协议价销售", 1),
        (ZONE_SELF, "自采区", "公开征集品目，符合征集条件的注册供应商均可入驻", 2),
        (ZONE_PAVILION, "特色馆", "脱贫地区农副产品等特色商品，供应商须经资格审核", 3),
    ]
    for code, name, desc, order in zones:
        if db.session.get(Zone, code) is None:
            db.session.add(Zone(code=code, name=name, description=desc, sort_order=order))
    db.session.commit()
    return {"categories_added": added}


@click.command("setup")
@click.option("--demo/--no-demo", default=True, help="load demo data when the database is empty")
@click.option("--products", default=5000, show_default=True)
@with_appcontext
def setup_command(demo, products):
    """Migrate the database, load the 品目 classification, and demo data if empty."""
    from flask_migrate import upgrade
    from .accounts.models import User

    upgrade()
    info = load_base_data()
    click.echo(f"品目分类: {info['categories_added']} added")
    if demo and db.session.scalar(select(func.count()).select_from(User)) == 0:
        from .demo import seed

        t0 = time.perf_counter()
        summary = seed(db.session, products=products, progress=click.echo)
        click.echo(f"demo data: {summary} in {time.perf_counter() - t0:.1f}s")
        _rebuild_search()


@click.command("seed-demo")
@click.option("--products", default=5000, show_default=True, help="number of products (up to 1,000,000)")
@click.option("--seed", "rng_seed", default=2025, show_default=True, help="random seed (reproducible)")
@with_appcontext
def seed_demo_command(products, rng_seed):
    """Build the realistic, reproducible demo mall (refuses if users exist)."""
    from .accounts.models import User
    from .demo import seed

    load_base_data()
    if db.session.scalar(select(func.count()).select_from(User)):
        click.echo("数据库中已有用户，拒绝重复生成演示数据（请使用空数据库）", err=True)
        sys.exit(1)
    t0 = time.perf_counter()
    summary = seed(db.session, products=products, rng_seed=rng_seed, progress=click.echo)
    click.echo(f"demo data: {summary} in {time.perf_counter() - t0:.1f}s")
    _rebuild_search()


def _rebuild_search() -> None:
    """Bulk loads bypass the per-change index sync: rebuild the search index once."""
    from search.indexing import rebuild_index

    result = rebuild_index(progress=click.echo)
    click.echo(f"search index: {result['products']} products in {result['seconds']:.1f}s")


catalog_cli = AppGroup("catalog", help="品目 classification and policy data")


@catalog_cli.command("load-pinmu")
def load_pinmu():
    """Load the 2022 品目 classification (idempotent)."""
    info = load_base_data()
    click.echo(f"{info['categories_added']} categories added")


token_cli = AppGroup("token", help="API tokens")


@token_cli.command("issue")
@click.argument("username")
@click.option("--name", default="cli", help="a label for the token")
def token_issue(username, name):
    """Print a new API token for USERNAME."""
    from .accounts.models import ApiToken, User

    user = db.session.query(User).filter_by(username=username).first()
    if user is None:
        click.echo(f"用户 {username} 不存在", err=True)
        sys.exit(1)
    _, token = ApiToken.issue(user, name)
    db.session.commit()
    click.echo(token)


org_cli = AppGroup("org", help="organisations (trading center, finance bureau, budget units)")


@org_cli.command("create")
@click.option("--kind", type=click.Choice(["trading_center", "finance_bureau", "budget_unit"]), required=True)
@click.option("--name", required=True)
@click.option("--uscc", required=True, help="统一社会信用代码 (checked)")
@click.option("--parent-id", type=int, default=None)
def org_create(kind, name, uscc, parent_id):
    """Create an organisation (e.g. the trading center before its first operator)."""
    from .accounts.services import create_organisation
    from .problems import ServiceError

    try:
        org = create_organisation(kind=kind, name=name, uscc=uscc, parent_id=parent_id)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"created organisation {org.name} id={org.id}")


user_cli = AppGroup("user", help="user accounts (buyers, auditors, operators)")


@user_cli.command("create")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["buyer", "supplier", "auditor", "operator"]), required=True)
@click.option("--org-id", type=int, required=True, help="organisation id")
@click.option("--name", "display_name", default=None)
@click.password_option()
def user_create(username, role, org_id, display_name, password):
    """Create a user in an existing organisation."""
    from .accounts.services import create_user
    from .problems import ServiceError

    try:
        user = create_user(username=username, role=role, organisation_id=org_id,
                           display_name=display_name or username, password=password)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"created user {user.username} ({user.role}) id={user.id}")


audit_cli = AppGroup("audit", help="the tamper-evident audit trail")


@audit_cli.command("verify")
def audit_verify():
    """Recompute the hash chain; report the first record that was edited or removed."""
    from .audit import verify

    result = verify(db.session)
    if result["ok"]:
        click.echo(f"OK: {result['checked']} records, chain intact")
    else:
        bad = result["first_bad"]
        click.echo(f"TAMPERED: {bad['message']} (seq={bad['seq']}, problem={bad['problem']}); "
                   f"{result['checked']} records verified before it", err=True)
        sys.exit(1)
