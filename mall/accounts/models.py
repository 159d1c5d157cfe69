from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Optional

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, Boolean, Integer, DateTime, Numeric
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..timeutil import utcnow

# Organisation kinds and user roles
ORG_BUDGET_UNIT = "budget_unit"
ORG_SUPPLIER = "supplier"
ORG_FINANCE_BUREAU = "finance_bureau"
ORG_TRADING_CENTER = "trading_center"
ORG_KINDS = {
    ORG_BUDGET_UNIT: "预算单位",
    ORG_SUPPLIER: "供应商",
    ORG_FINANCE_BUREAU: "财政局",
    ORG_TRADING_CENTER: "交易中心",
}

ROLE_BUYER = "buyer"
ROLE_SUPPLIER = "supplier"
ROLE_AUDITOR = "auditor"
ROLE_OPERATOR = "operator"
ROLES = {
    ROLE_BUYER: "采购人",
    ROLE_SUPPLIER: "供应商",
    ROLE_AUDITOR: "监管人员",
    ROLE_OPERATOR: "运营人员",
}
# Which organisation kind each role belongs to.
ROLE_ORG_KIND = {
    ROLE_BUYER: ORG_BUDGET_UNIT,
    ROLE_SUPPLIER: ORG_SUPPLIER,
    ROLE_AUDITOR: ORG_FINANCE_BUREAU,
    ROLE_OPERATOR: ORG_TRADING_CENTER,
}


class Organisation(db.Model):
    __tablename__ = "organisation"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisation.id"), index=True)
    region_code: Mapped[Optional[str]] = mapped_column(String(12))
    region_name: Mapped[Optional[str]] = mapped_column(String(100))
    contact_name: Mapped[Optional[str]] = mapped_column(String(50))
    contact_phone: Mapped[Optional[str]] = mapped_column(String(30))
    address: Mapped[Optional[str]] = mapped_column(String(300))
    # 特色馆 share (budget units): the yearly canteen food budget the 10% target applies to
    canteen_food_budget: Mapped[Optional[object]] = mapped_column(Numeric(14, 2))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    parent = relationship("Organisation", remote_side=[id], backref="children")

    @property
    def kind_label(self) -> str:
        return ORG_KINDS.get(self.kind, self.kind)

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.name}>"


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    __audited__ = True
    __audit_exclude__ = {"password_hash", "failed_logins", "locked_until", "last_login_at"}

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[Optional[str]] = mapped_column(String(200))
    phone: Mapped[Optional[str]] = mapped_column(String(30))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    organisation: Mapped[Organisation] = relationship(backref="users")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.active)

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class ApiToken(db.Model):
    """A personal API token. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_token"
    __audited__ = True
    __audit_exclude__ = {"token_hash", "last_used_at"}

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(backref="tokens")

    TOKEN_PREFIX = "gm_"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str) -> tuple["ApiToken", str]:
        token = cls.TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = cls(user=user, name=name or "token", prefix=token[:10], token_hash=cls.hash(token))
        db.session.add(row)
        return row, token

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
