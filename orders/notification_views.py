"""In-app notifications: the list with unread count, mark read; the navbar's unread badge."""
from __future__ import annotations

from urllib.parse import urlsplit

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_login import current_user, login_required
from sqlalchemy import func, select

from mall.api import api_blueprint
from mall.api.schemas import PageArgsSchema, page_of
from mall.authz import require
from mall.extensions import db
from mall.problems import NotFound

from . import notifications as svc
from .models import Notification

bp = Blueprint("notifications", __name__)
blp = api_blueprint("notifications", __name__, description="In-app notifications of your organisation")


@bp.app_context_processor
def _unread_badge():
    def unread_notifications() -> int:
        if not getattr(current_user, "is_authenticated", False):
            return 0
        return svc.unread_count(current_user.organisation_id)
    return {"unread_notifications": unread_notifications}


def _own_query(unread_only: bool = False):
    q = select(Notification).where(Notification.recipient_org_id == current_user.organisation_id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    return q


def target_of(n: Notification) -> str | None:
    if n.order_id:
        return f"/orders/{n.order_id}"
    if n.competition_id:
        return url_for("competitions.detail", competition_id=n.competition_id)
    return None


@bp.route("/notifications")
@login_required
def index():
    require("notification.read")
    unread_only = request.args.get("unread") == "1"
    page = db.paginate(_own_query(unread_only).order_by(Notification.id.desc()),
                       page=request.args.get("page", 1, type=int), per_page=20, error_out=False)
    return render_template("notifications/index.html", page=page, unread_only=unread_only,
                           unread=svc.unread_count(current_user.organisation_id), target_of=target_of,
                           kinds=svc.KIND_LABELS, email_statuses=svc.EMAIL_STATUSES)


def _get(notification_id: int) -> Notification:
    row = db.session.get(Notification, notification_id)
    if row is None:
        raise NotFound("通知")
    require("notification.read", row)
    return row


def _safe(target: str | None) -> str | None:
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return None
    return target


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def mark_read(notification_id):
    row = _get(notification_id)
    svc.mark_read(row, current_user)
    db.session.commit()
    if request.form.get("open"):
        return redirect(_safe(target_of(row)) or url_for("notifications.index"))
    return redirect(_safe(request.form.get("next")) or url_for("notifications.index"))


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def mark_all_read():
    n = svc.mark_all_read(current_user)
    db.session.commit()
    flash(f"已将{n}条通知标记为已读", "success")
    return redirect(url_for("notifications.index"))


# --------------------------------------------------------------------------- API

class NotificationSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    title = ma.fields.String()
    body = ma.fields.String(allow_none=True)
    order_id = ma.fields.Integer(allow_none=True)
    competition_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    read_at = ma.fields.DateTime(allow_none=True)
    email_status = ma.fields.String()


class NotificationPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(NotificationSchema))
    total = ma.fields.Integer()
    unread = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class NotificationArgs(PageArgsSchema):
    unread = ma.fields.Boolean(load_default=False)


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(NotificationArgs, location="query")
    @blp.response(200, NotificationPageSchema)
    def get(self, args):
        """Your organisation's notifications, newest first, with the unread count."""
        require("notification.read")
        q = _own_query(args["unread"])
        total = db.session.scalar(select(func.count()).select_from(q.subquery()))
        items = db.session.scalars(q.order_by(Notification.id.desc()).limit(args["per_page"])
                                   .offset((args["page"] - 1) * args["per_page"])).all()
        return {**page_of(items, total, args["page"], args["per_page"]),
                "unread": svc.unread_count(current_user.organisation_id)}


@blp.route("/notifications/<int:notification_id>/read")
class NotificationRead(MethodView):
    @blp.response(200, NotificationSchema)
    def post(self, notification_id):
        """Mark one notification read."""
        row = _get(notification_id)
        svc.mark_read(row, current_user)
        db.session.commit()
        return row
