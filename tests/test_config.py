"""Configuration: the secret key is never a constant; production refuses to start without one."""
import pytest

from mall.config import ConfigError, build_config


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("GOVMALL_SECRET_KEY", "GOVMALL_DATABASE_URL", "GOVMALL_ENV"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_embedded_default_generates_a_secret_once_into_the_instance_folder(tmp_path, clean_env):
    first = build_config(str(tmp_path))
    second = build_config(str(tmp_path))
    assert len(first["SECRET_KEY"]) >= 40
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "secret_key").read_text().strip() == first["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by the owner only
    assert build_config(str(tmp_path / "other"))["SECRET_KEY"] != first["SECRET_KEY"]


def test_production_refuses_to_start_without_secret_or_database(tmp_path, clean_env):
    clean_env.setenv("GOVMALL_ENV", "production")
    clean_env.setenv("GOVMALL_DATABASE_URL", "postgresql://db/govmall")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        build_config(str(tmp_path))
    assert not (tmp_path / "secret_key").exists()
    clean_env.setenv("GOVMALL_SECRET_KEY", "s3cret-from-the-environment")
    clean_env.delenv("GOVMALL_DATABASE_URL")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        build_config(str(tmp_path))
    clean_env.setenv("GOVMALL_DATABASE_URL", "postgresql://db/govmall")
    cfg = build_config(str(tmp_path))
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/govmall"
    assert cfg["SESSION_COOKIE_SECURE"] is True and cfg["CELERY_ALWAYS_EAGER"] is False


def test_other_govmall_variables_become_settings(tmp_path, clean_env):
    clean_env.setenv("GOVMALL_ORDER_CONFIRM_WORKDAYS", "3")
    clean_env.setenv("GOVMALL_MAIL_USE_TLS", "true")
    clean_env.setenv("GOVMALL_OCDS_PREFIX", "ocds-abc123")
    cfg = build_config(str(tmp_path))
    assert cfg["ORDER_CONFIRM_WORKDAYS"] == 3 and cfg["MAIL_USE_TLS"] is True and cfg["OCDS_PREFIX"] == "ocds-abc123"


def test_postgresql_connections_run_without_jit_unless_asked(tmp_path, clean_env, monkeypatch):
    monkeypatch.setenv("GOVMALL_DATABASE_URL", "postgresql://mall@db/govmall")
    cfg = build_config(str(tmp_path))
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://mall@db/govmall"
    assert cfg["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"] == "-c jit=off"
    assert cfg["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    monkeypatch.setenv("GOVMALL_PG_JIT", "1")
    assert "connect_args" not in build_config(str(tmp_path))["SQLALCHEMY_ENGINE_OPTIONS"]
    monkeypatch.delenv("GOVMALL_PG_JIT")
    monkeypatch.delenv("GOVMALL_DATABASE_URL")
    assert "connect_args" not in build_config(str(tmp_path))["SQLALCHEMY_ENGINE_OPTIONS"]  # SQLite


def test_sqlite_page_cache_and_memory_map_follow_the_settings(tmp_path, clean_env):
    """GOVMALL_SQLITE_MMAP_MB / GOVMALL_SQLITE_CACHE_MB size SQLite's memory map and page cache
    (a map makes search at 1M faster and the worker's RSS larger); the defaults keep it small."""
    import sqlite3

    from sqlalchemy import create_engine

    from mall import db_setup

    class App:
        config = {}

    def pragmas(**config):
        App.config = config
        db_setup.init_app(App)
        engine = create_engine(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            sizes = (raw.execute("PRAGMA mmap_size").fetchone()[0], raw.execute("PRAGMA cache_size").fetchone()[0])
        engine.dispose()
        return sizes

    try:
        assert pragmas() == (0, -64 * 1024)  # the defaults: a worker stays small at 1M products
        mmap, cache = pragmas(SQLITE_MMAP_MB=2048, SQLITE_CACHE_MB=256)
        assert mmap >= 2000 * 1024 * 1024 and cache == -256 * 1024  # SQLite caps the map just below 2 GiB
        assert pragmas(SQLITE_MMAP_MB=0, SQLITE_CACHE_MB=16) == (0, -16 * 1024)
    finally:
        db_setup.init_app(type("Defaults", (), {"config": {}}))
