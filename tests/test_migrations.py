"""The Alembic migrations build exactly the schema of the models, on SQLite and PostgreSQL.

Runs ``flask --app mall db upgrade`` in a subprocess against a fresh database of the same
kind as the suite's, compares the result with the models' metadata, then downgrades to base.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from mall.extensions import db

# the FTS5 virtual table (SQLite) is created outside the ORM metadata; the GIN index on
# search_doc.tsv is PostgreSQL-only (ddl_if), which autogenerate's comparison does not honour
IGNORED_PREFIXES = ("search_fts", "ix_search_doc_tsv")


@pytest.fixture
def fresh_url(app, tmp_path):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        name = f"govmall_migr_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        fresh = url.set(database=name)
        yield fresh.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path}/migrations.sqlite3"


def _flask(args, url, tmp_path):
    env = {**os.environ, "GOVMALL_DATABASE_URL": url, "GOVMALL_SECRET_KEY": "x",
           "GOVMALL_INSTANCE_PATH": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "mall", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def _relevant(diff) -> bool:
    item = diff[0] if isinstance(diff, list) else diff
    names = [getattr(x, "name", "") or "" for x in item if hasattr(x, "name")]
    return not any(str(n).startswith(IGNORED_PREFIXES) for n in names)


def test_migrations_match_models_and_downgrade(app, fresh_url, tmp_path):
    up = _flask(["db", "upgrade"], fresh_url, tmp_path)
    assert up.returncode == 0, up.stderr[-2000:]
    engine = create_engine(fresh_url)
    with engine.connect() as conn:
        diffs = [d for d in compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}),
                                             db.metadata) if _relevant(d)]
    assert diffs == [], "models and migrations differ (run `flask --app mall db migrate`): " + "; ".join(
        f"{d[0] if isinstance(d, tuple) else d[0][0]} {getattr(d[1], 'name', '') if isinstance(d, tuple) else ''}"
        for d in diffs[:10])
    down = _flask(["db", "downgrade", "base"], fresh_url, tmp_path)
    assert down.returncode == 0, down.stderr[-2000:]
    with engine.connect() as conn:
        left = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
    engine.dispose()
    assert left == []
