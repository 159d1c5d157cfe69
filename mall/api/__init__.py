"""The ``/api/v1`` JSON API (flask-smorest): OpenAPI generated from the code.

Authentication: ``Authorization: Bearer <token>`` (personal tokens from the account page or
``flask --app mall token issue USERNAME``). The API never uses the session cookie, so it
needs no CSRF token. Errors are ``{"error": {"code", "message", "details"?}}`` with stable
codes, or ``{"problems": [...]}`` when rules refused the request.
"""
from __future__ import annotations

from flask_smorest import Api as _Api
from flask_smorest import Blueprint

from ..extensions import csrf


class Api(_Api):
    def _register_error_handlers(self):
        """Errors are rendered by mall.errors for pages and API alike."""


api = Api()


def api_blueprint(name: str, import_name: str, description: str = "") -> Blueprint:
    """A flask-smorest blueprint mounted under /api/v1."""
    return Blueprint(f"{name}_api", import_name, url_prefix="/api/v1", description=description)


def init_api(app) -> None:
    from . import core
    from catalog.api import blp as catalog_blp
    from suppliers.api import blp as suppliers_blp
    from orders.api import blp as orders_blp
    from search.api import blp as search_blp
    from catalog.product_api import blp as products_blp

    api.init_app(app)
    for blp in (core.blp, catalog_blp, suppliers_blp, orders_blp, search_blp, products_blp):
        csrf.exempt(blp)
        api.register_blueprint(blp)
    from supervision.api import blp as supervision_blp
    csrf.exempt(supervision_blp)
    api.register_blueprint(supervision_blp)
    from orders.payment_views import blp as payments_blp
    from orders.competition_api import blp as competitions_blp
    from orders.notification_views import blp as notifications_blp
    for extra_blp in (payments_blp, competitions_blp, notifications_blp):
        csrf.exempt(extra_blp)
        api.register_blueprint(extra_blp)
    api.spec.options["security"] = [{"bearerAuth": []}]
