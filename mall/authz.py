"""Authorisation: who may do what, decided in one place.

Every restricted action of the mall is a named permission below, as a rule over the user
and (for ownership) the object concerned.  Views, API endpoints and services call
:func:`require` (or the :func:`permission_required` decorator); ``tests/test_authz_walk.py``
walks every route for every role and checks the refusals change nothing.
"""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask_login import current_user

from .accounts.models import ROLE_AUDITOR, ROLE_BUYER, ROLE_OPERATOR, ROLE_SUPPLIER
from .problems import Forbidden, ServiceError, Problem


def _role(*roles: str) -> Callable[[Any, Any], bool]:
    return lambda user, obj=None: user.role in roles


def _supplier_owns(user, obj) -> bool:
    """A supplier acts only on objects of its own organisation."""
    if user.role != ROLE_SUPPLIER:
        return False
    if obj is None:
        return True
    return owner_org_id(obj) == user.organisation_id


def _buyer_owns(user, obj) -> bool:
    if user.role != ROLE_BUYER:
        return False
    if obj is None:
        return True
    return owner_org_id(obj) == user.organisation_id


def _party_or_supervisor(user, obj) -> bool:
    """Orders and their documents: the buyer unit, the supplier, auditors and operators."""
    if user.role in (ROLE_AUDITOR, ROLE_OPERATOR):
        return True
    if obj is None:
        return user.role in (ROLE_BUYER, ROLE_SUPPLIER)
    return user.organisation_id in party_org_ids(obj)


def _authenticated(user, obj=None) -> bool:
    return True


def _self(user, obj) -> bool:
    return obj is None or getattr(obj, "user_id", None) == user.id


def _competition_party(user, obj) -> bool:
    """A competition: its buyer unit, the invited suppliers, auditors and operators."""
    if user.role in (ROLE_AUDITOR, ROLE_OPERATOR):
        return True
    if obj is None:
        return user.role in (ROLE_BUYER, ROLE_SUPPLIER)
    if user.role == ROLE_BUYER:
        return obj.buyer_unit_id == user.organisation_id
    return user.role == ROLE_SUPPLIER and user.organisation_id in obj.invited_supplier_ids


def _order_buyer_or_operator(user, obj) -> bool:
    if user.role == ROLE_OPERATOR:
        return True
    return user.role == ROLE_BUYER and (obj is None or obj.buyer_unit_id == user.organisation_id)


def _order_supplier_or_operator(user, obj) -> bool:
    if user.role == ROLE_OPERATOR:
        return True
    return user.role == ROLE_SUPPLIER and (obj is None or obj.supplier_id == user.organisation_id)


def _recipient(user, obj) -> bool:
    return obj is None or getattr(obj, "recipient_org_id", None) == user.organisation_id


def _query_addressee(user, obj) -> bool:
    """A supervision query (问询) is answered by the buyer unit or supplier it is addressed to."""
    if user.role not in (ROLE_BUYER, ROLE_SUPPLIER):
        return False
    return obj is None or getattr(obj, "addressed_org_id", None) == user.organisation_id


def _query_party(user, obj) -> bool:
    return user.role in (ROLE_AUDITOR, ROLE_OPERATOR) or _query_addressee(user, obj)


def _loan_party(user, obj) -> bool:
    """Loan applications: the applying supplier, operators (for the banks) and auditors."""
    return user.role in (ROLE_AUDITOR, ROLE_OPERATOR) or _supplier_owns(user, obj)


PERMISSIONS: dict[str, Callable[[Any, Any], bool]] = {
    # accounts
    "account.self": _authenticated,
    "token.manage": _self,
    "user.manage": _role(ROLE_OPERATOR),
    "organisation.manage": _role(ROLE_OPERATOR),
    # catalog, policy, zones, agreements (operators of the trading center)
    "policy.read": _authenticated,
    "policy.manage": _role(ROLE_OPERATOR),
    "zone.manage": _role(ROLE_OPERATOR),
    "solicitation.manage": _role(ROLE_OPERATOR),
    "agreement.manage": _role(ROLE_OPERATOR),
    "agreement.apply": _supplier_owns,
    "pavilion.review": _role(ROLE_OPERATOR),
    # supplier storefront
    "store.manage": _supplier_owns,
    "product.create": _supplier_owns,
    "product.update": _supplier_owns,
    "declaration.submit": _supplier_owns,
    "pavilion.apply": _supplier_owns,
    # supervision
    "supplier.suspend": _role(ROLE_AUDITOR, ROLE_OPERATOR),
    "product.takedown": _role(ROLE_AUDITOR, ROLE_OPERATOR),
    "audit.read": _role(ROLE_AUDITOR, ROLE_OPERATOR),
    "supervision.act": _role(ROLE_AUDITOR),
    "stats.read": _role(ROLE_AUDITOR, ROLE_OPERATOR),
    # buying
    "cart.use": _role(ROLE_BUYER),
    "order.create": _buyer_owns,
    "order.view": _party_or_supervisor,
    "order.list": _role(ROLE_BUYER, ROLE_SUPPLIER, ROLE_AUDITOR, ROLE_OPERATOR),
    "order.transition": _party_or_supervisor,  # which edge: orders/lifecycle.py (role per edge)
    "budget.read": _buyer_owns,
    "competition.create": _buyer_owns,
    "competition.bid": _supplier_owns,
    "competition.view": _competition_party,
    "competition.award": _buyer_owns,
    "payment.treasury_paid": _role(ROLE_AUDITOR, ROLE_OPERATOR),
    "payment.refund": _order_supplier_or_operator,
    "payment.capture_retry": _order_buyer_or_operator,
    "notification.read": _recipient,
    "loan.apply": _supplier_owns,
    "bank.manage": _role(ROLE_OPERATOR),
    "query.view": _query_party,
    "query.answer": _query_addressee,
    "loan.view": _loan_party,
}

DENIAL_MESSAGES = {
    "anonymous": "请先登录",
    "role": "您的角色（{role}）无权执行此操作",
    "owner": "只能操作本单位的数据",
}


def owner_org_id(obj) -> int | None:
    for attr in ("supplier_id", "organisation_id", "buyer_unit_id", "unit_id"):
        if hasattr(obj, attr):
            return getattr(obj, attr)
    return getattr(obj, "id", None) if obj.__class__.__name__ == "Organisation" else None


def party_org_ids(obj) -> set[int]:
    ids = set()
    for attr in ("supplier_id", "buyer_unit_id", "unit_id", "organisation_id"):
        value = getattr(obj, attr, None)
        if value is not None:
            ids.add(value)
    return ids


def can(user, action: str, obj: Any = None) -> bool:
    if action not in PERMISSIONS:
        raise KeyError(f"unknown permission {action!r}")
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(PERMISSIONS[action](user, obj))


def denial(user, action: str, obj: Any = None) -> ServiceError:
    if user is None or not getattr(user, "is_authenticated", False):
        return ServiceError(Problem("unauthenticated", DENIAL_MESSAGES["anonymous"]), status=401)
    role_ok = PERMISSIONS[action](user, None) if obj is not None else False
    if obj is not None and role_ok:
        return Forbidden(DENIAL_MESSAGES["owner"], code="not_owner")
    return Forbidden(DENIAL_MESSAGES["role"].format(role=user.role_label), code="forbidden_role")


def require(action: str, obj: Any = None, user=None) -> None:
    user = user if user is not None else current_user
    if not can(user, action, obj):
        raise denial(user, action, obj)


def permission_required(action: str):
    """Decorator for views/endpoints whose permission needs no object."""

    def decorator(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            require(action)
            return fn(*args, **kwargs)

        wrapper.permission = action
        return wrapper

    return decorator
