"""Sign-in machinery: Flask-Login sessions for pages, bearer tokens for the API, throttling."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

from flask import current_app, g, request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from ..extensions import db, login_manager
from ..timeutil import as_utc, utcnow
from .models import ApiToken, User


def init_app(app) -> None:
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(user_id: str):
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


@lru_cache(maxsize=1)
def _token_statement():
    """One statement, built once: the token with its user (every API request pays for this)."""
    return (select(ApiToken).options(joinedload(ApiToken.user))
            .where(ApiToken.token_hash == bindparam("token_hash", type_=ApiToken.token_hash.type)))


@login_manager.request_loader
def load_user_from_token(req):
    """``Authorization: Bearer <token>`` on the API authenticates as the token's user."""
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = header[7:].strip()
    if not token:
        return None
    row = db.session.scalars(_token_statement(), {"token_hash": ApiToken.hash(token)}).first()
    if row is None or row.revoked_at is not None or not row.user.is_active:
        g.token_rejected = True
        return None
    g.api_token = row
    return row.user


class LoginRefused(Exception):
    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(message)


def authenticate(username: str, password: str) -> User:
    """Check a password sign-in, counting failures and locking the account after too many."""
    username = (username or "").strip()
    user = db.session.query(User).filter_by(username=username).first()
    now = utcnow()
    generic = LoginRefused("invalid_credentials", "用户名或密码错误")
    if user is None:
        raise generic
    locked_until = as_utc(user.locked_until)
    if locked_until and locked_until > now:
        minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
        raise LoginRefused("account_locked", f"连续登录失败次数过多，账户已锁定，请{minutes}分钟后再试")
    if not user.check_password(password or ""):
        user.failed_logins = (user.failed_logins or 0) + 1
        max_failures = current_app.config["LOGIN_MAX_FAILURES"]
        if user.failed_logins >= max_failures:
            user.locked_until = now + dt.timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
            user.failed_logins = 0
            db.session.commit()
            raise LoginRefused("account_locked",
                               f"连续{max_failures}次登录失败，账户已锁定"
                               f"{current_app.config['LOGIN_LOCK_MINUTES']}分钟")
        db.session.commit()
        raise generic
    if not user.is_active:
        raise LoginRefused("account_disabled", "账户已停用，请联系交易中心")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def api_request() -> bool:
    return request.path.startswith("/api/")
