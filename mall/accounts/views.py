from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..authz import permission_required, require
from ..extensions import db
from ..forms import apply_problems
from ..problems import ServiceError
from ..timeutil import utcnow
from .auth import LoginRefused, authenticate
from .forms import LoginForm, OrganisationForm, PasswordForm, SupplierRegisterForm, TokenForm, UserCreateForm
from .models import ApiToken, Organisation, User
from . import services

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = authenticate(form.username.data, form.password.data)
        except LoginRefused as exc:
            flash(exc.message, "danger")
        else:
            session.clear()
            login_user(user)
            db.session.commit()
            flash(f"欢迎，{user.display_name}", "success")
            return redirect(_safe_next(request.args.get("next")) or url_for("main.dashboard"))
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    session.clear()
    flash("已退出登录", "info")
    return redirect(url_for("main.index"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Supplier self-registration (may sell in 自采区 at once)."""
    form = SupplierRegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register_supplier(
                company_name=form.company_name.data, uscc=form.uscc.data, contact_name=form.contact_name.data,
                contact_phone=form.contact_phone.data, username=form.username.data,
                password=form.password.data, email=form.email.data or None, address=form.address.data or None)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            apply_problems(form, exc.problems)
        else:
            login_user(user)
            flash("注册成功，您可以在自采区上架商品；如需在集采区销售，请申请加入框架协议", "success")
            return redirect(url_for("main.dashboard"))
    return render_template("accounts/register.html", form=form)


@bp.route("/account", methods=["GET"])
@login_required
def account():
    tokens = db.session.query(ApiToken).filter_by(user_id=current_user.id).order_by(ApiToken.id.desc()).all()
    return render_template("accounts/account.html", tokens=tokens, token_form=TokenForm(),
                           password_form=PasswordForm(), new_token=session.pop("new_token", None))


@bp.route("/account/tokens", methods=["POST"])
@login_required
def create_token():
    require("token.manage")
    form = TokenForm()
    if form.validate_on_submit():
        _, token = ApiToken.issue(current_user, form.name.data.strip())
        db.session.commit()
        session["new_token"] = token
        flash("已生成新令牌，请立即复制保存，它只显示这一次", "success")
    else:
        for errors in form.errors.values():
            for e in errors:
                flash(e, "danger")
    return redirect(url_for("accounts.account"))


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id):
    row = db.session.get(ApiToken, token_id) or abort(404)
    require("token.manage", row)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
        flash(f"令牌“{row.name}”已吊销", "info")
    return redirect(url_for("accounts.account"))


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            flash("当前密码不正确", "danger")
        else:
            problems = services.validate_password(form.password.data)
            if problems:
                flash(problems[0].message, "danger")
            else:
                current_user.set_password(form.password.data)
                db.session.commit()
                flash("密码已修改", "success")
    else:
        for errors in form.errors.values():
            for e in errors:
                flash(e, "danger")
    return redirect(url_for("accounts.account"))


# ------------------------------------------------------------------ operators: users & organisations

@bp.route("/admin/users", methods=["GET", "POST"])
@login_required
@permission_required("user.manage")
def admin_users():
    form = UserCreateForm()
    orgs = db.session.query(Organisation).filter(Organisation.kind != "supplier").order_by(Organisation.name).all()
    form.organisation_id.choices = [(o.id, f"{o.name}（{o.kind_label}）") for o in orgs]
    if form.validate_on_submit():
        try:
            user = services.create_user(username=form.username.data, role=form.role.data,
                                        organisation_id=form.organisation_id.data,
                                        display_name=form.display_name.data, password=form.password.data,
                                        email=form.email.data or None)
            db.session.commit()
            flash(f"已创建用户 {user.username}（{user.role_label}）", "success")
            return redirect(url_for("accounts.admin_users"))
        except ServiceError as exc:
            db.session.rollback()
            apply_problems(form, exc.problems)
    page = request.args.get("page", 1, type=int)
    q = db.select(User).order_by(User.id.desc())
    role = request.args.get("role")
    if role:
        q = q.filter(User.role == role)
    users = db.paginate(q, page=page, per_page=30, error_out=False)
    return render_template("accounts/admin_users.html", form=form, users=users, role=role)


@bp.route("/admin/users/<int:user_id>/toggle", methods=["POST"])
@login_required
@permission_required("user.manage")
def admin_toggle_user(user_id):
    user = db.session.get(User, user_id) or abort(404)
    if user.id == current_user.id:
        flash("不能停用自己的账户", "danger")
    else:
        user.active = not user.active
        db.session.commit()
        flash(f"用户 {user.username} 已{'启用' if user.active else '停用'}", "info")
    return redirect(url_for("accounts.admin_users"))


@bp.route("/admin/organisations", methods=["GET", "POST"])
@login_required
@permission_required("organisation.manage")
def admin_organisations():
    form = OrganisationForm()
    if form.validate_on_submit():
        try:
            org = services.create_organisation(kind=form.kind.data, name=form.name.data, uscc=form.uscc.data,
                                               parent_id=form.parent_id.data or None,
                                               region_name=form.region_name.data or None,
                                               contact_name=form.contact_name.data or None,
                                               contact_phone=form.contact_phone.data or None)
            db.session.commit()
            flash(f"已创建单位 {org.name}", "success")
            return redirect(url_for("accounts.admin_organisations"))
        except ServiceError as exc:
            db.session.rollback()
            apply_problems(form, exc.problems)
    kind = request.args.get("kind") or None
    q = db.select(Organisation).order_by(Organisation.id)
    if kind:
        q = q.filter(Organisation.kind == kind)
    orgs = db.paginate(q, page=request.args.get("page", 1, type=int), per_page=30, error_out=False)
    return render_template("accounts/admin_organisations.html", form=form, orgs=orgs, kind=kind)
