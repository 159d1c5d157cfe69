"""Configuration.

Every setting can be given as an environment variable of the same name prefixed with
``GOVMALL_`` (e.g. ``GOVMALL_DATABASE_URL``).  The embedded default runs on an SQLite
file in the instance folder, executes Celery tasks eagerly and searches with the embedded
engine; production (``GOVMALL_ENV=production``) refuses to start without a secret key and
a database URL.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ENV_PREFIX = "GOVMALL_"


def env(name: str, default=None):
    return os.environ.get(ENV_PREFIX + name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class ConfigError(RuntimeError):
    """Raised when the configuration cannot be used (e.g. production without a secret)."""


def _instance_secret(instance_path: str) -> str:
    """Generate a secret key once into the instance folder and reuse it afterwards."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


_MAPPED = {"ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
           "CELERY_ALWAYS_EAGER", "SEARCH_ENGINE", "ELASTICSEARCH_URL", "ELASTICSEARCH_INDEX",
           "STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET", "MAIL_SERVER", "MAIL_PORT",
           "MAIL_SENDER", "DEFAULT_LOCALE", "TIMEZONE", "PAGE_SIZE", "UPLOAD_FOLDER", "MAX_CONTENT_LENGTH",
           "MAX_IMAGE_BYTES", "LOGIN_MAX_FAILURES", "LOGIN_LOCK_MINUTES", "INSTANCE_PATH"}


def _parse(raw: str):
    import json

    try:
        return json.loads(raw)
    except ValueError:
        return raw


def build_config(instance_path: str, overrides: dict | None = None) -> dict:
    overrides = dict(overrides or {})
    environment = overrides.get("ENV") or env("ENV", "embedded")
    production = environment == "production"
    db_default = "sqlite:///" + str(Path(instance_path) / "govmall.sqlite3")

    cfg = {
        "ENV_NAME": environment,
        "SECRET_KEY": env("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": env("DATABASE_URL", None if production else db_default),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        # Celery: eager in the embedded default, a real broker in production and CI.
        "REDIS_URL": env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CELERY_BROKER_URL": env("CELERY_BROKER_URL"),
        "CELERY_RESULT_BACKEND": env("CELERY_RESULT_BACKEND"),
        "CELERY_ALWAYS_EAGER": env_bool("CELERY_ALWAYS_EAGER", not production),
        # Search: "embedded" (SQLite FTS5 / PostgreSQL full-text) or "elasticsearch".
        "SEARCH_ENGINE": env("SEARCH_ENGINE", "embedded"),
        "ELASTICSEARCH_URL": env("ELASTICSEARCH_URL"),
        "ELASTICSEARCH_INDEX": env("ELASTICSEARCH_INDEX", "govmall-products"),
        # Payments (Stripe PaymentIntents in CNY; localstripe in tests).
        "STRIPE_API_KEY": env("STRIPE_API_KEY", "sk_test_govmall"),
        "STRIPE_API_BASE": env("STRIPE_API_BASE"),
        "STRIPE_WEBHOOK_SECRET": env("STRIPE_WEBHOOK_SECRET"),
        # Mail (notifications go out through Celery).
        "MAIL_SERVER": env("MAIL_SERVER"),
        "MAIL_PORT": int(env("MAIL_PORT", "25")),
        "MAIL_SENDER": env("MAIL_SENDER", "noreply@govmall.local"),
        # UI
        "BABEL_DEFAULT_LOCALE": env("DEFAULT_LOCALE", "zh_Hans_CN"),
        "BABEL_DEFAULT_TIMEZONE": env("TIMEZONE", "Asia/Shanghai"),
        "LANGUAGES": {"zh_Hans_CN": "简体中文", "en": "English"},
        "BOOTSTRAP_SERVE_LOCAL": True,  # never a CDN: assets come from the installed package
        "PAGE_SIZE": int(env("PAGE_SIZE", "24")),
        # Uploads
        "UPLOAD_FOLDER": env("UPLOAD_FOLDER", str(Path(instance_path) / "uploads")),
        "MAX_CONTENT_LENGTH": int(env("MAX_CONTENT_LENGTH", str(16 * 1024 * 1024))),
        "MAX_IMAGE_BYTES": int(env("MAX_IMAGE_BYTES", str(2 * 1024 * 1024))),
        # Sign-in throttling: lock an account for LOGIN_LOCK_MINUTES after N failures.
        "LOGIN_MAX_FAILURES": int(env("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_LOCK_MINUTES": int(env("LOGIN_LOCK_MINUTES", "15")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "WTF_CSRF_TIME_LIMIT": None,
        # OpenAPI (flask-smorest)
        "API_TITLE": "govmall API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {"description": "政府采购网上商城 JSON API. Authenticate with `Authorization: Bearer <token>`."},
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
    }
    # Every other GOVMALL_<NAME> variable sets the setting <NAME> (JSON values are parsed:
    # numbers, true/false, lists), so components' optional settings need no code here.
    for key, raw in os.environ.items():
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):] not in _MAPPED:
            cfg[key[len(ENV_PREFIX):]] = _parse(raw)
    cfg.update({k: v for k, v in overrides.items() if k != "ENV"})

    if not cfg["SECRET_KEY"]:
        if production:
            raise ConfigError("GOVMALL_SECRET_KEY must be set in production; refusing to start.")
        cfg["SECRET_KEY"] = _instance_secret(instance_path)
    if not cfg["SQLALCHEMY_DATABASE_URI"]:
        raise ConfigError("GOVMALL_DATABASE_URL must be set in production; refusing to start.")
    uri = cfg["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        # psycopg 3 driver
        cfg["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri.split("://", 1)[1]
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # JIT compiles expressions of queries the planner deems expensive (a facet pass over 1M
        # documents): 20–100 ms of compilation on every such web request, never won back by
        # short queries. Off for the mall's connections unless GOVMALL_PG_JIT=1.
        if not cfg.get("PG_JIT"):
            options = dict(cfg["SQLALCHEMY_ENGINE_OPTIONS"])
            connect_args = dict(options.get("connect_args") or {})
            connect_args["options"] = (connect_args.get("options", "") + " -c jit=off").strip()
            options["connect_args"] = connect_args
            cfg["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if not cfg["CELERY_BROKER_URL"]:
        cfg["CELERY_BROKER_URL"] = "memory://" if cfg["CELERY_ALWAYS_EAGER"] else cfg["REDIS_URL"]
    return cfg
