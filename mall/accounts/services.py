"""Account operations: organisations, users, supplier self-registration."""
from __future__ import annotations

import re

from ..extensions import db
from ..problems import Problem, ServiceError
from . import uscc as uscc_mod
from .models import ORG_SUPPLIER, ROLE_ORG_KIND, ROLES, Organisation, User

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")


def validate_password(password: str) -> list[Problem]:
    if not password or len(password) < 8:
        return [Problem("weak_password", "密码至少8位", field="password")]
    if password.isdigit() or password.isalpha():
        return [Problem("weak_password", "密码须同时包含字母和数字", field="password")]
    return []


def create_organisation(*, kind: str, name: str, uscc: str, **fields) -> Organisation:
    problems = []
    name = (name or "").strip()
    if not name:
        problems.append(Problem("name_required", "单位名称不能为空", field="name"))
    try:
        code = uscc_mod.validate(uscc)
    except uscc_mod.InvalidUSCC as exc:
        problems.append(Problem("invalid_uscc", str(exc), field="uscc"))
        code = None
    parent_id = fields.get("parent_id")
    if parent_id is not None and db.session.get(Organisation, parent_id) is None:
        problems.append(Problem("parent_not_found", f"上级单位（ID {parent_id}）不存在", field="parent_id"))
    if code and db.session.query(Organisation.id).filter_by(uscc=code).first():
        problems.append(Problem("uscc_taken", f"统一社会信用代码{code}已注册", field="uscc"))
    if problems:
        raise ServiceError(problems)
    org = Organisation(kind=kind, name=name, uscc=code, **fields)
    db.session.add(org)
    db.session.flush()
    return org


def create_user(*, username: str, role: str, organisation_id: int, display_name: str, password: str,
                email: str | None = None, phone: str | None = None) -> User:
    problems = []
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        problems.append(Problem("invalid_username", "用户名须为3–64位字母、数字、下划线、点或连字符",
                                field="username"))
    elif db.session.query(User.id).filter_by(username=username).first():
        problems.append(Problem("username_taken", f"用户名“{username}”已被使用", field="username"))
    if role not in ROLES:
        problems.append(Problem("invalid_role", "角色无效", field="role"))
    org = db.session.get(Organisation, organisation_id)
    if org is None:
        problems.append(Problem("organisation_not_found", "所属单位不存在", field="organisation_id"))
    elif role in ROLE_ORG_KIND and org.kind != ROLE_ORG_KIND[role]:
        problems.append(Problem("role_org_mismatch",
                                f"角色“{ROLES[role]}”须属于{ROLE_ORG_KIND[role]}类单位，"
                                f"“{org.name}”是{org.kind_label}", field="role"))
    problems += validate_password(password)
    if problems:
        raise ServiceError(problems)
    user = User(username=username, role=role, organisation_id=organisation_id,
                display_name=(display_name or username).strip(), email=email, phone=phone)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def register_supplier(*, company_name: str, uscc: str, contact_name: str, contact_phone: str,
                      username: str, password: str, email: str | None = None,
                      address: str | None = None) -> User:
    """Self-registration: a supplier may sell in 自采区 at once, no manual approval."""
    from suppliers.models import SupplierProfile

    problems = []
    try:
        org = create_organisation(kind=ORG_SUPPLIER, name=company_name, uscc=uscc,
                                  contact_name=contact_name, contact_phone=contact_phone, address=address)
    except ServiceError as exc:
        problems += exc.problems
        org = None
    if org is None:
        # still report user-field problems together with organisation problems
        problems += [p for p in _user_field_problems(username, password)]
        raise ServiceError(problems)
    db.session.add(SupplierProfile(organisation_id=org.id, status="active"))
    user = create_user(username=username, role="supplier", organisation_id=org.id,
                       display_name=contact_name or username, password=password, email=email,
                       phone=contact_phone)
    return user


def _user_field_problems(username, password) -> list[Problem]:
    out = []
    if not USERNAME_RE.match((username or "").strip()):
        out.append(Problem("invalid_username", "用户名须为3–64位字母、数字、下划线、点或连字符", field="username"))
    elif db.session.query(User.id).filter_by(username=username.strip()).first():
        out.append(Problem("username_taken", f"用户名“{username}”已被使用", field="username"))
    return out + validate_password(password)
