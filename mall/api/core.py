"""Core API endpoints: health, the token's user, personal tokens."""
from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from sqlalchemy import text

from ..authz import require
from ..extensions import db
from ..problems import NotFound
from ..timeutil import utcnow
from ..accounts.models import ApiToken
from . import api_blueprint

blp = api_blueprint("core", __name__, description="Health, identity and personal tokens")


class OrganisationBrief(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    kind = ma.fields.String()
    uscc = ma.fields.String()


class MeSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.String()
    organisation = ma.fields.Nested(OrganisationBrief)


class TokenSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    prefix = ma.fields.String(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    last_used_at = ma.fields.DateTime(dump_only=True)
    revoked_at = ma.fields.DateTime(dump_only=True)


class NewTokenSchema(TokenSchema):
    token = ma.fields.String(dump_only=True, metadata={"description": "shown once"})


class HealthSchema(ma.Schema):
    status = ma.fields.String()
    database = ma.fields.Dict()
    broker = ma.fields.Dict()
    search = ma.fields.Dict()


def check_database() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
        return {"ok": True, "dialect": db.engine.dialect.name}
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        db.session.rollback()
        return {"ok": False, "dialect": db.engine.dialect.name, "error": str(exc)[:200]}


def check_broker() -> dict:
    cfg = current_app.config
    if cfg["CELERY_ALWAYS_EAGER"]:
        return {"ok": True, "mode": "eager", "url": "memory://"}
    url = cfg["CELERY_BROKER_URL"]
    try:
        from ..celery_app import celery

        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "mode": "broker", "url": _redact(url)}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "mode": "broker", "url": _redact(url), "error": str(exc)[:200]}


def check_search() -> dict:
    from search import engine_status

    return engine_status()


def _redact(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="a component is down")
    @blp.doc(security=[])
    def get(self):
        """Status of the database, the Celery broker and the search engine."""
        result = {"database": check_database(), "broker": check_broker(), "search": check_search()}
        ok = result["database"]["ok"] and result["broker"]["ok"] and result["search"].get("ok", False)
        result["status"] = "ok" if ok else "degraded"
        return result, (200 if result["database"]["ok"] else 503)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """The token's user, role and organisation."""
        require("account.self")
        return current_user


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.response(200, TokenSchema(many=True))
    def get(self):
        """Your personal API tokens (never the secrets)."""
        require("token.manage")
        return db.session.query(ApiToken).filter_by(user_id=current_user.id).order_by(ApiToken.id).all()

    @blp.arguments(TokenSchema)
    @blp.response(201, NewTokenSchema)
    def post(self, data):
        """Create a personal token; the secret is in the answer once."""
        require("token.manage")
        row, token = ApiToken.issue(current_user, data["name"])
        db.session.commit()
        row.token = token  # the secret, shown once (not a column: only its hash is stored)
        return row


@blp.route("/tokens/<int:token_id>")
class TokenItem(MethodView):
    @blp.response(204)
    def delete(self, token_id):
        """Revoke one of your tokens."""
        row = db.session.get(ApiToken, token_id)
        if row is None:
            raise NotFound("令牌")
        require("token.manage", row)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            db.session.commit()
        return None
