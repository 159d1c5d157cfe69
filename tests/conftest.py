"""Test fixtures (after pallets/flask examples/tutorial): app, client, auth, factories.

The suite runs on an SQLite file by default and on PostgreSQL when
``GOVMALL_TEST_DATABASE_URL`` is set (``.ci/run`` does both). The schema is created once per
session from the models (``tests/test_migrations.py`` separately proves the Alembic migrations
build the same schema on the database in use); after each test the data tables are emptied
(reference data — 品目, zones — stays).
"""
from __future__ import annotations

import os
import re
import tempfile

import pytest
from sqlalchemy import text

from mall import create_app
from mall.extensions import db

KEEP_TABLES = {"category", "zone", "alembic_version"}


def _database_url(tmpdir: str) -> str:
    url = os.environ.get("GOVMALL_TEST_DATABASE_URL")
    if url:
        return _per_worker_postgres(url)
    return f"sqlite:///{tmpdir}/test.sqlite3"


def _per_worker_postgres(url: str) -> str:
    """Each pytest-xdist worker gets its own PostgreSQL database (created if missing)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    conninfo = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _instance_dir():
    with tempfile.TemporaryDirectory(prefix="govmall-test-") as d:
        yield d


@pytest.fixture(scope="session")
def app(_instance_dir):
    os.environ["GOVMALL_INSTANCE_PATH"] = _instance_dir
    app = create_app({
        "TESTING": True,
        "ENV": "testing",
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": _database_url(_instance_dir),
        "WTF_CSRF_ENABLED": False,
        # GOVMALL_TEST_CELERY_BROKER (e.g. redis://127.0.0.1:6379/15) runs tasks on a real worker
        "CELERY_ALWAYS_EAGER": not os.environ.get("GOVMALL_TEST_CELERY_BROKER"),
        "CELERY_BROKER_URL": os.environ.get("GOVMALL_TEST_CELERY_BROKER") or "memory://",
        "UPLOAD_FOLDER": os.path.join(_instance_dir, "uploads"),
        "LOGIN_MAX_FAILURES": 3,
    })
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.create_all()
        from mall.cli import load_base_data

        load_base_data()
    yield app


@pytest.fixture(autouse=True)
def _clean_tables(request, app):
    yield
    with app.app_context():
        db.session.remove()
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # TRUNCATE costs per table: empty only the tables this test wrote to
                probe = " UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")"
                                           for t in tables)
                used = [row[0] for row in conn.execute(text(probe))]
                if used:
                    conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in used)
                                      + " RESTART IDENTITY CASCADE"))
            else:
                for t in tables:
                    conn.execute(t.delete())


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make(ctx):
    from tests import factories

    return factories


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, username, password="Passw0rd!"):
        return self._client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def csrf_token_from(html: str) -> str:
    m = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    return m.group(1) if m else ""


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations():
    """The .mo files are build output (gitignored, ``make translations``): compile any that are
    missing or older than their .po, so tests see the English UI (atomic write: xdist-safe)."""
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent / "mall" / "translations"
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh)
        tmp = mo.with_suffix(f".mo.{os.getpid()}")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        os.replace(tmp, mo)
