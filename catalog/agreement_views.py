"""Public pages of framework agreements: list, entrants with contacts and agreement prices."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select

from mall.extensions import db
from .models import Agreement

bp = Blueprint("agreements", __name__)


@bp.route("/agreements")
def index():
    q = select(Agreement).order_by(Agreement.status, Agreement.term_end.desc())
    status = request.args.get("status")
    if status:
        q = q.where(Agreement.status == status)
    page = db.paginate(q, page=request.args.get("page", 1, type=int), per_page=20, error_out=False)
    return render_template("agreements/index.html", agreements=page, status=status)


@bp.route("/agreements/<int:agreement_id>")
def detail(agreement_id):
    agreement = db.session.get(Agreement, agreement_id) or abort(404)
    return render_template("agreements/detail.html", agreement=agreement)
