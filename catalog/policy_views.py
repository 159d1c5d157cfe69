"""The policy version in force (集中采购目录及限额标准), readable by every signed-in user."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request
from flask_login import login_required

from mall.authz import permission_required
from mall.timeutil import today
from . import policy as policy_svc

bp = Blueprint("policy", __name__)


@bp.route("/policy")
@login_required
@permission_required("policy.read")
def current():
    day = today()
    asked = request.args.get("date")
    if asked:
        try:
            day = dt.date.fromisoformat(asked)
        except ValueError:
            asked = None
    version = policy_svc.policy_in_force(day)
    items = sorted(version.items, key=lambda i: i.category_code) if version else []
    return render_template("policy/current.html", version=version, items=items, day=day, asked=asked,
                           versions=policy_svc.published_versions(), kinds=policy_svc.KIND_LABELS,
                           split_actions=policy_svc.SPLIT_ACTIONS, today=today())
