"""Database engine tuning: SQLite pragmas for the embedded default."""
from sqlalchemy import event
from sqlalchemy.engine import Engine


def _sqlite_pragmas(dbapi_connection, connection_record):  # pragma: no cover - trivial
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA cache_size=-262144")  # 256 MB page cache (see PERF_NOTES)
    cur.execute("PRAGMA mmap_size=2147483648")
    cur.close()


def init_app(app):
    event.listen(Engine, "connect", _sqlite_pragmas)


def is_postgres(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if hasattr(session_or_engine, "get_bind") else session_or_engine
    return bind.dialect.name == "postgresql"
