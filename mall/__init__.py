"""govmall — 政府采购网上商城.

``create_app`` builds the application: configuration, extensions, blueprints of every
feature package (accounts, catalog, suppliers, orders, search) and the ``/api/v1`` JSON API.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

from flask import Flask, g, request, session
from flask.sessions import SecureCookieSessionInterface

from .config import build_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    instance_path = os.environ.get("GOVMALL_INSTANCE_PATH") or str(ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=instance_path,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
    )
    from . import routing
    routing.init_app(app)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(build_config(app.instance_path, test_config))
    os.makedirs(app.config["UPLOAD_FOLDER"], exist_ok=True)
    app.session_interface = StatelessApiSessionInterface()

    from .extensions import babel, bootstrap, csrf, db, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    bootstrap.init_app(app)
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories=str(Path(__file__).parent / "translations"))
    login_manager.init_app(app)

    from . import models  # noqa: F401  (register every model on the metadata)
    from . import audit, db_setup
    db_setup.init_app(app)
    audit.init_app(app)

    from .accounts import auth
    auth.init_app(app)

    from .celery_app import init_celery
    init_celery(app)

    _register_request_hooks(app)
    _register_blueprints(app)

    from . import cli, errors, templating
    errors.init_app(app)
    templating.init_app(app)
    cli.init_app(app)
    return app


class StatelessApiSessionInterface(SecureCookieSessionInterface):
    """The API is authenticated by bearer tokens only: no session cookie is read or set there,
    so a browser's cookie can never authorise an API write (and the API needs no CSRF token)."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _select_locale():
    lang = request.args.get("lang")
    if request.path.startswith("/api/"):
        return lang if lang in ("zh_Hans_CN", "en") else "zh_Hans_CN"
    if lang in ("zh_Hans_CN", "en"):
        session["lang"] = lang
    return session.get("lang") or "zh_Hans_CN"


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def assign_request_id():
        # A request never inherits identity from an enclosing app context (tests drive
        # requests inside one): Flask-Login and the token loader start afresh.
        for key in ("_login_user", "api_token", "token_rejected", "audit_actor"):
            g.pop(key, None)
        rid = request.headers.get("X-Request-ID", "")
        g.request_id = rid[:64] if rid else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response


def _register_blueprints(app: Flask) -> None:
    from .api import init_api
    from .accounts.views import bp as accounts_bp
    from .views import bp as main_bp
    from catalog.views import bp as catalog_bp
    from catalog.agreement_views import bp as agreements_bp
    from suppliers.views import bp as suppliers_bp
    from orders.views import bp as orders_bp
    from search.views import bp as search_bp

    for bp in (main_bp, accounts_bp, catalog_bp, agreements_bp, suppliers_bp, orders_bp, search_bp):
        app.register_blueprint(bp)
    from catalog.admin import bp as admin_bp
    from catalog.policy_views import bp as policy_bp
    app.register_blueprint(admin_bp)
    app.register_blueprint(policy_bp)
    from supervision.views import bp as supervision_bp
    from supervision.public_views import bp as public_bp
    app.register_blueprint(supervision_bp)
    app.register_blueprint(public_bp)
    # payments, 二次竞价 / 顺序轮候, notifications (their signal receivers connect on import)
    from orders.payment_views import bp as payments_bp
    from orders.competition_views import bp as competitions_bp
    from orders.notification_views import bp as notifications_bp
    for extra_bp in (payments_bp, competitions_bp, notifications_bp):
        app.register_blueprint(extra_bp)
    init_api(app)
