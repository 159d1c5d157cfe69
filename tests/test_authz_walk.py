"""The authorisation walk: every page and API route of the mall, for every role, with who gets in.

``ACCESS`` declares, for every route of ``app.url_map`` (rule → method → :class:`Access`, or a
tuple of them for several objects), which of eight roles may use it: ``anonymous``,
``disabled`` (a buyer of U whose account was disabled after signing in), ``buyer`` (budget
unit U), ``other_buyer`` (unit U2), ``supplier`` (supplier A, which owns the product, order,
loan, query and notification of the world), ``other_supplier`` (supplier Z, another company),
``auditor`` (财政局) and ``operator`` (交易中心).  ``tests/authz_world.py`` builds the world
afresh for each route.

A request *gets in* unless it is refused: 401/403, a page redirecting to the sign-in page, or
404 where the route hides objects from non-parties (``hidden``: an order of another unit is
answered as if it did not exist).  No request may ever answer 5xx.  Every refusal, and every
other 4xx answer, must leave the database exactly as it was: every row of every table (the
sign-in bookkeeping columns aside) and the audit chain head.  Within a route the refused roles
go first, so a permitted write cannot mask a refusal that changed something.  No answer may
show a role a text of the world it may not see (``SECRET_READERS``: another unit's budget line,
a draft, a risk flag, a query, a loan, a notification, an open competition).

A route that exists but is not in ``ACCESS`` fails ``test_every_route_is_classified``: a new
route must be classified here.  Known authorisation bugs in code that is still being edited
elsewhere are declared per (route, method, role) with ``bugs={role: reason}``: that route's test
is an expected failure while the bug shows, and fails once it is gone (remove the marker).
``AUTHZ_WALK_LOG=<file>`` writes the whole matrix (route, method, role, status) for review.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select, update

from mall.extensions import db
from tests.authz_world import ROLES, SECRETS, build
from tests.factories import PASSWORD

# --------------------------------------------------------------------------- who

ALL = frozenset(ROLES)
SIGNED_IN = ALL - {"anonymous", "disabled"}
BUYERS = frozenset({"buyer", "other_buyer"})
SUPPLIERS = frozenset({"supplier", "other_supplier"})
AUDITOR = frozenset({"auditor"})
OPERATOR = frozenset({"operator"})
SUPERVISORS = AUDITOR | OPERATOR
# the order O (buyer unit U, supplier A) and its documents: the parties and the supervisors
ORDER_PARTIES = frozenset({"buyer", "supplier"}) | SUPERVISORS
# the open competition of U, to which A is invited
COMPETITION_PARTIES = frozenset({"buyer", "supplier"}) | SUPERVISORS


class W(str):
    """A value taken from the world at request time, e.g. ``W("order")`` → the id of order O."""


@dataclass(frozen=True)
class Access:
    who: frozenset
    hidden: bool = False          # refused roles may be answered 404 (not their object to see)
    data: dict | None = None      # form fields (pages) or JSON body (API); W(...) values resolved
    args: dict = field(default_factory=dict)   # URL argument → world key, overriding PARAMS
    query: dict = field(default_factory=dict)  # query string arguments
    status: int | None = None     # every role must get exactly this status (and change nothing)
    bugs: dict = field(default_factory=dict)   # role → reason: a known authorisation bug (xfail)


def ok(who, **kw) -> Access:
    return Access(frozenset(who), **kw)


def hidden(who, **kw) -> Access:
    return Access(frozenset(who), hidden=True, **kw)


PUBLIC = ok(ALL)
SIGNED = ok(SIGNED_IN)
OPS = ok(OPERATOR)
STORE = ok(SUPPLIERS)             # a supplier's own storefront (acts on its own organisation)
OWN_PRODUCT = ok({"supplier"})    # product P of supplier A: other suppliers are refused
AUDIT_READ = ok(SUPERVISORS)
AUDITOR_ACTS = ok(AUDITOR)
ORDER = hidden(ORDER_PARTIES)
# a draft product is its supplier's and the supervisors'; a draft agreement the operators': others get 404
DRAFT_PRODUCT = hidden({"supplier"} | SUPERVISORS, args={"product_id": "draft_product"})
DRAFT_AGREEMENT = hidden(OPERATOR, args={"agreement_id": "draft_agreement"})

REASON = {"reason": "经核查，价格高于市场参考价"}
REQUIREMENT = {"category_code": "A02010105", "title": "教室电脑更新", "quantity": 5, "specs": "i5处理器，16G内存",
               "budget_line_id": W("budget_line"), "budget_amount": "25000.00", "method": "competition",
               "deadline": W("deadline")}
ORDER_IN = {"budget_line_id": W("budget_line"), "lines": [{"product_id": W("central_product"), "quantity": 1}]}
BANK_IN = {"name": "福建海峡银行", "contact_name": "林经理", "phone": "0591-88888888"}

# URL arguments → the world's objects (see tests/authz_world.py)
PARAMS = {
    "product_id": "product", "order_id": "order", "supplier_id": "supplier", "agreement_id": "agreement",
    "application_id": "application", "policy_id": "policy", "user_id": "buyer_user", "token_id": "buyer_token",
    "competition_id": "competition", "notification_id": "notification", "flag_id": "flag", "query_id": "query",
    "loan_id": "loan", "bank_id": "bank", "number": "order_number", "filename": "image",
}

ACCESS: dict[str, dict[str, Access | tuple[Access, ...]]] = {
    # ------------------------------------------------------------------ home, accounts
    "/": {"GET": PUBLIC},
    "/dashboard": {"GET": SIGNED},
    "/disclosure": {"GET": PUBLIC},
    "/login": {"GET": PUBLIC, "POST": PUBLIC},
    "/logout": {"POST": PUBLIC},
    "/register": {"GET": PUBLIC, "POST": PUBLIC},
    "/account": {"GET": SIGNED},
    "/account/password": {"POST": SIGNED},
    "/account/tokens": {"POST": SIGNED},
    "/account/tokens/<token_id>/revoke": {"POST": ok({"buyer"})},  # the buyer's own token only
    "/admin/users": {"GET": OPS, "POST": OPS},
    "/admin/users/<user_id>/toggle": {"POST": OPS},
    "/admin/organisations": {"GET": OPS, "POST": OPS},
    # ------------------------------------------------------------------ catalog administration (交易中心)
    "/admin/": {"GET": OPS},
    "/admin/agreements": {"GET": OPS},
    "/admin/agreements/new": {"GET": OPS, "POST": OPS},
    "/admin/agreements/<agreement_id>/edit": {"GET": OPS, "POST": OPS},
    "/admin/agreements/<agreement_id>/entrants": {"GET": OPS, "POST": ok(OPERATOR, data={
        "action": "suspend", "entrant_id": W("application"), "note": ""})},
    "/admin/agreements/<agreement_id>/status": {"POST": ok(OPERATOR, data={"to": "suspended", "note": ""})},
    "/admin/applications": {"GET": OPS, "POST": ok(OPERATOR, data={
        "entrant_id": W("application"), "decision": "reject", "note": ""})},
    "/admin/policies": {"GET": OPS},
    "/admin/policies/new": {"GET": OPS, "POST": OPS},
    "/admin/policies/<policy_id>": {"GET": OPS, "POST": OPS},
    "/admin/policies/<policy_id>/publish": {"POST": OPS},
    "/admin/solicitations": {"GET": OPS, "POST": ok(OPERATOR, data={"action": "create"})},
    "/admin/zones": {"GET": OPS, "POST": ok(OPERATOR, data={"code": "self", "action": "describe",
                                                           "description": "公开征集品目"})},
    "/admin/pavilion": {"GET": OPS, "POST": ok(OPERATOR, data={"supplier_id": W("supplier"),
                                                             "decision": "reject", "note": ""})},
    "/policy": {"GET": SIGNED},
    # ------------------------------------------------------------------ public catalog
    "/zones/<code>": {"GET": PUBLIC},
    "/categories": {"GET": PUBLIC},
    "/categories/<code>": {"GET": PUBLIC},
    "/products/<product_id>": {"GET": (PUBLIC, DRAFT_PRODUCT)},
    "/search": {"GET": PUBLIC},
    "/suppliers/<supplier_id>": {"GET": PUBLIC},
    "/media/products/<filename>": {"GET": PUBLIC},
    "/agreements": {"GET": PUBLIC},
    "/agreements/<agreement_id>": {"GET": (PUBLIC, DRAFT_AGREEMENT)},
    # A is admitted, Z has applied: both get in (and are told so); only suppliers may apply
    "/agreements/<agreement_id>/apply": {"POST": STORE},
    "/agreements/<agreement_id>/withdraw": {"POST": STORE},
    # ------------------------------------------------------------------ supplier storefront
    "/store": {"GET": STORE},
    "/store/products": {"GET": STORE},
    "/store/products/new": {"GET": STORE, "POST": STORE},
    "/store/products/<product_id>/edit": {"GET": OWN_PRODUCT, "POST": OWN_PRODUCT},
    "/store/products/<product_id>/quick": {"POST": ok({"supplier"}, data={"price": "1150.00", "stock": "40"})},
    "/store/products/<product_id>/listing": {"POST": ok({"supplier"}, data={"action": "delist"})},
    "/store/products/<product_id>/images": {"POST": OWN_PRODUCT},
    "/store/products/<product_id>/images/action": {"POST": OWN_PRODUCT},
    "/store/import": {"GET": STORE, "POST": STORE},
    "/store/export.xlsx": {"GET": STORE},
    "/store/import-template.xlsx": {"GET": STORE},
    "/store/declaration": {"GET": STORE, "POST": STORE},
    "/store/agreements": {"GET": STORE, "POST": STORE},
    "/store/pavilion": {"GET": STORE, "POST": STORE},
    # ------------------------------------------------------------------ buying
    "/budget": {"GET": ok(BUYERS)},
    "/cart": {"GET": ok(BUYERS)},
    "/cart/add": {"POST": ok(BUYERS, data={"product_id": W("product"), "quantity": "1"})},
    # the buyer's cart item: another buyer is told it does not exist
    "/cart/update": {"POST": hidden({"buyer"}, data={"item_id": W("cart_item"), "action": "remove"})},
    "/cart/checkout": {"POST": ok(BUYERS, data={"token": "authz-walk"})},
    "/orders": {"GET": SIGNED},
    "/orders/<order_id>": {"GET": ORDER},
    "/orders/<order_id>/transition": {"POST": hidden(ORDER_PARTIES, data={"to": "archived"})},
    "/orders/<order_id>/payment": {"GET": ORDER},
    "/orders/<order_id>/payment/treasury-paid": {"POST": hidden(SUPERVISORS)},
    "/orders/<order_id>/payment/refund": {"POST": hidden({"supplier", "operator"},
                                                         data={"amount": "1.00", "reason": "退货"})},
    "/orders/<order_id>/payment/capture": {"POST": hidden({"buyer", "operator"})},
    "/orders/<order_id>/payment/switch-to-treasury": {"POST": hidden({"buyer", "operator"})},
    "/payments/treasury": {"GET": ok(SUPERVISORS)},
    # signed by Stripe: without a valid signature everyone is answered 400 and nothing changes
    "/payments/stripe/webhook": {"POST": Access(ALL, status=400,
                                                data={"id": "evt_authz", "type": "payment_intent.succeeded"})},
    "/competitions": {"GET": SIGNED},
    "/competitions/new": {"GET": ok(BUYERS), "POST": ok(BUYERS)},
    "/competitions/<competition_id>": {"GET": ok(COMPETITION_PARTIES)},
    "/competitions/<competition_id>/bid": {"POST": ok({"supplier"}, data={
        "product_id": W("central_product"), "unit_price": "4800.00"})},
    "/competitions/<competition_id>/award": {"POST": ok({"buyer"})},
    "/competitions/<competition_id>/result": {"GET": ok(ALL, args={"competition_id": "failed_competition"})},
    "/competitions/results": {"GET": PUBLIC},
    "/notifications": {"GET": SIGNED},
    "/notifications/<notification_id>/read": {"POST": ok({"supplier"})},
    "/notifications/read-all": {"POST": SIGNED},
    # ------------------------------------------------------------------ supervision (财政局)
    "/supervision/": {"GET": SIGNED},  # auditors: the orders; buyers and suppliers: the queries to them
    "/supervision/orders": {"GET": AUDIT_READ},
    "/supervision/orders.xlsx": {"GET": AUDIT_READ},
    "/supervision/orders/<order_id>": {"GET": AUDIT_READ},
    "/supervision/orders/<order_id>/archive": {"GET": AUDIT_READ},
    "/supervision/archive/export": {"GET": ok(SUPERVISORS, query={"order": W("order_number")})},
    "/supervision/flags": {"GET": AUDIT_READ},
    "/supervision/flags/<flag_id>/clear": {"POST": ok(AUDITOR, data=REASON)},
    "/supervision/scan": {"POST": AUDITOR_ACTS},
    "/supervision/orders/<order_id>/queries": {"POST": ok(AUDITOR, data={
        "party": "supplier", "question": "请说明供货价格构成"})},
    "/supervision/queries": {"GET": SIGNED},
    "/supervision/queries/<query_id>": {"GET": ok({"supplier"} | SUPERVISORS),
                                        "POST": ok({"supplier"}, data={"answer": "价格含三年上门保修"})},
    "/supervision/queries/<query_id>/close": {"POST": AUDITOR_ACTS},
    "/supervision/enforcement": {"GET": AUDIT_READ},
    "/supervision/suppliers/<supplier_id>/suspend": {"POST": ok(SUPERVISORS, data=REASON)},
    "/supervision/suppliers/<supplier_id>/reinstate": {"POST": ok(SUPERVISORS, data=REASON)},
    "/supervision/products/<product_id>/takedown": {"POST": ok(SUPERVISORS, data=REASON)},
    "/supervision/products/<product_id>/restore": {"POST": ok(SUPERVISORS, data=REASON)},
    "/supervision/banks": {"GET": OPS, "POST": ok(OPERATOR, data=BANK_IN)},
    "/supervision/banks/<bank_id>": {"GET": OPS, "POST": ok(OPERATOR, data=BANK_IN)},
    "/supervision/loans": {"GET": ok(SUPPLIERS | SUPERVISORS)},
    "/supervision/loans/<loan_id>/decide": {"POST": ok(OPERATOR, data={"decision": "rejected",
                                                                      "note": "授信额度不足"})},
    "/supervision/orders/<order_id>/loan": {"GET": ok({"supplier"}),
                                            "POST": ok({"supplier"}, data={"bank_id": W("bank"),
                                                                           "amount": "1000.00"})},
    "/stats": {"GET": AUDIT_READ},
    # ------------------------------------------------------------------ public disclosure (信息公开)
    "/public/": {"GET": PUBLIC},
    "/public/announcements": {"GET": PUBLIC},
    "/public/announcements/<number>": {"GET": PUBLIC},
    "/public/enforcement": {"GET": PUBLIC},
    "/public/open-data": {"GET": PUBLIC},
    "/public/sme-declarations": {"GET": PUBLIC},
    # ------------------------------------------------------------------ API /api/v1
    "/api/v1/health": {"GET": PUBLIC},
    "/api/v1/openapi.json": {"GET": PUBLIC},
    "/api/v1/me": {"GET": SIGNED},
    "/api/v1/tokens": {"GET": SIGNED, "POST": ok(SIGNED_IN, data={"name": "对接系统"})},
    "/api/v1/tokens/<token_id>": {"DELETE": ok({"buyer"})},
    "/api/v1/categories": {"GET": PUBLIC},
    "/api/v1/categories/<code>": {"GET": PUBLIC},
    "/api/v1/policy/current": {"GET": SIGNED},
    "/api/v1/policy/versions": {"GET": SIGNED},
    "/api/v1/agreements": {"GET": PUBLIC, "POST": ok(OPERATOR, data={})},
    "/api/v1/agreements/<agreement_id>": {"GET": (PUBLIC, DRAFT_AGREEMENT), "PATCH": ok(OPERATOR, data={})},
    "/api/v1/agreements/<agreement_id>/status": {"POST": ok(OPERATOR, data={"to": "suspended"})},
    "/api/v1/agreements/<agreement_id>/entrants": {"POST": ok(OPERATOR,
                                                              data={"supplier_id": W("other_supplier")})},
    "/api/v1/agreements/<agreement_id>/prices": {"POST": ok(OPERATOR, data={"prices": [
        {"supplier_id": W("supplier"), "brand": "联想", "model": "启天M450", "max_price": "4900.00"}]})},
    "/api/v1/agreements/<agreement_id>/applications": {"GET": OPS, "POST": ok(SUPPLIERS, data={})},
    "/api/v1/agreements/<agreement_id>/applications/<application_id>/decision": {
        "POST": ok(OPERATOR, data={"decision": "reject"})},
    "/api/v1/products": {"GET": PUBLIC, "POST": ok(SUPPLIERS, data={})},
    "/api/v1/products/<product_id>": {"GET": (PUBLIC, DRAFT_PRODUCT),
                                      "PATCH": ok({"supplier"}, data={"stock": 30})},
    "/api/v1/suppliers/<supplier_id>": {"GET": PUBLIC},
    "/api/v1/search": {"GET": PUBLIC},
    "/api/v1/search/suggest": {"GET": PUBLIC},
    "/api/v1/budget-lines": {"GET": ok(BUYERS)},
    "/api/v1/orders": {"GET": SIGNED, "POST": ok(BUYERS, data=ORDER_IN)},
    "/api/v1/orders/check": {"POST": ok(BUYERS, data=ORDER_IN)},
    "/api/v1/orders/<order_id>": {"GET": ORDER},
    "/api/v1/orders/<order_id>/transitions": {"POST": hidden(ORDER_PARTIES, data={"to": "archived"})},
    "/api/v1/orders/<order_id>/payment": {"GET": ORDER},
    "/api/v1/orders/<order_id>/payment/treasury-paid": {"POST": hidden(SUPERVISORS, data={})},
    "/api/v1/orders/<order_id>/payment/refunds": {"POST": hidden({"supplier", "operator"},
                                                                 data={"amount": "1.00", "reason": "退货"})},
    "/api/v1/orders/<order_id>/payment/capture": {"POST": hidden({"buyer", "operator"})},
    "/api/v1/competitions": {"GET": SIGNED, "POST": ok(BUYERS, data=REQUIREMENT)},
    "/api/v1/competitions/<competition_id>": {"GET": ok(COMPETITION_PARTIES)},
    "/api/v1/competitions/<competition_id>/bids": {"POST": ok({"supplier"}, data={
        "product_id": W("central_product"), "unit_price": "4800.00"})},
    "/api/v1/competitions/<competition_id>/award": {"POST": ok({"buyer"})},
    "/api/v1/notifications": {"GET": SIGNED},
    "/api/v1/notifications/<notification_id>/read": {"POST": ok({"supplier"})},
    "/api/v1/ocds/releases": {"GET": PUBLIC},
    "/api/v1/stats": {"GET": AUDIT_READ},
    "/api/v1/supervision/flags": {"GET": AUDIT_READ},
    "/api/v1/supervision/flags/<flag_id>/clear": {"POST": ok(AUDITOR, data=REASON)},
    "/api/v1/supervision/scan": {"POST": AUDITOR_ACTS},
    "/api/v1/supervision/queries": {"GET": SIGNED, "POST": ok(AUDITOR, data={
        "order_id": W("order"), "party": "supplier", "question": "请说明供货价格构成"})},
    "/api/v1/supervision/queries/<query_id>": {"GET": ok({"supplier"} | SUPERVISORS)},
    "/api/v1/supervision/queries/<query_id>/answer": {"POST": ok({"supplier"}, data={"answer": "价格含三年保修"})},
    "/api/v1/supervision/queries/<query_id>/close": {"POST": ok(AUDITOR, data={})},
    "/api/v1/supervision/suppliers/<supplier_id>/suspend": {"POST": ok(SUPERVISORS, data=REASON)},
    "/api/v1/supervision/suppliers/<supplier_id>/reinstate": {"POST": ok(SUPERVISORS, data=REASON)},
    "/api/v1/supervision/products/<product_id>/takedown": {"POST": ok(SUPERVISORS, data=REASON)},
    "/api/v1/supervision/products/<product_id>/restore": {"POST": ok(SUPERVISORS, data=REASON)},
    "/api/v1/banks": {"GET": SIGNED, "POST": ok(OPERATOR, data=BANK_IN)},
    "/api/v1/banks/<bank_id>": {"PUT": ok(OPERATOR, data=BANK_IN)},
    "/api/v1/loans": {"GET": ok(SUPPLIERS | SUPERVISORS), "POST": ok({"supplier"}, data={
        "order_id": W("order"), "bank_id": W("bank"), "amount": "1000.00"})},
    "/api/v1/loans/<loan_id>/decision": {"POST": ok(OPERATOR, data={"decision": "rejected"})},
}

SKIPPED_ENDPOINTS = {"static", "bootstrap.static"}  # files of the app and of Bootstrap-Flask
IGNORED_METHODS = {"HEAD", "OPTIONS"}

# who may ever be shown each text of tests/authz_world.SECRETS (in any answer of any route)
SECRET_READERS = {
    "budget_project": {"buyer"} | SUPERVISORS,
    "draft_product": {"supplier"} | SUPERVISORS,
    "draft_agreement": OPERATOR,
    "flag": SUPERVISORS,
    "query": {"supplier"} | SUPERVISORS,
    "loan": {"supplier"} | SUPERVISORS,
    "notification": {"supplier"},
    "competition": COMPETITION_PARTIES,
    "competition_title": COMPETITION_PARTIES,
    "application": {"other_supplier", "operator"},
}
assert set(SECRET_READERS) == set(SECRETS)

# the sign-in bookkeeping (a refused request never touches it, but signing in does)
VOLATILE_COLUMNS = {"user_account": {"last_login_at", "failed_logins", "locked_until"},
                    "api_token": {"last_used_at"}}
REFERENCE_TABLES = {"category", "alembic_version"}  # 4,272 品目: no route writes them


# --------------------------------------------------------------------------- helpers

def normalise(rule: str) -> str:
    """``/admin/agreements/<int:agreement_id>`` → ``/admin/agreements/<agreement_id>``."""
    return re.sub(r"<(?:[^<>:]+:)?(\w+)>", r"<\1>", rule)


def existing_routes(app) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        routes.setdefault(normalise(rule.rule), set()).update(set(rule.methods) - IGNORED_METHODS)
    return routes


def cases(entry) -> tuple[Access, ...]:
    return entry if isinstance(entry, tuple) else (entry,)


def resolve(value, world):
    if isinstance(value, W):
        return world.ids[str(value)]
    if isinstance(value, dict):
        return {k: resolve(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, world) for v in value]
    return value


def url_for_rule(rule: str, access: Access, world) -> str:
    def arg(m):
        name = m.group(1)
        if name == "code":
            return "central" if rule.startswith("/zones/") else "A02010105"
        return str(world.ids[access.args.get(name) or PARAMS[name]])

    url = re.sub(r"<(\w+)>", arg, rule)
    if access.query:
        url += "?" + urlencode(resolve(access.query, world))
    return url


def snapshot() -> dict[str, list[str]]:
    """Every row of every table (the audit trail and its chain head included)."""
    state = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in REFERENCE_TABLES:
                continue
            cols = [c for c in table.c if c.name not in VOLATILE_COLUMNS.get(table.name, ())]
            state[table.name] = sorted(repr(tuple(row)) for row in conn.execute(select(*cols)))
    return state


def changes(before: dict, after: dict) -> str:
    out = []
    for name in before:
        if before[name] != after[name]:
            added = sorted(set(after[name]) - set(before[name]))
            removed = sorted(set(before[name]) - set(after[name]))
            first = (added or removed)[0][:160]
            out.append(f"{name} (+{len(added)} −{len(removed)} rows, e.g. {first})")
    return "; ".join(out)


def judge(role: str, resp, api: bool) -> str:
    """"error" (5xx), "refused" (401/403, sent to sign in), "hidden" (404) or "in"."""
    code = resp.status_code
    if code >= 500:
        return "error"
    if code in (401, 403):
        return "refused"
    if code == 404:
        return "hidden"
    if not api and code in (301, 302, 303, 307, 308) \
            and urlsplit(resp.headers.get("Location", "")).path == "/login":
        return "refused"
    return "in"


def leaked(role: str, resp) -> list[str]:
    """The secrets of the world an answer shows to a role that may not see them."""
    if not resp.mimetype or not (resp.mimetype.startswith("text/") or resp.mimetype.endswith("json")):
        return []
    text = resp.get_data(as_text=True)
    if resp.mimetype.endswith("json"):
        try:
            text = json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            pass
    return [name for name, secret in SECRETS.items() if secret in text and role not in SECRET_READERS[name]]


class Walker:
    def __init__(self, app, world):
        self.app = app
        self.world = world
        self.clients = {}

    def disable(self, role: str, api: bool) -> None:
        """The operator disables the account (after it signed in, for pages): its session and
        token must no longer open anything but public pages."""
        from mall.accounts.models import User

        if not api:
            self.client(role, api)
        db.session.execute(update(User).where(User.id == self.world.users[role]).values(active=False))
        db.session.commit()
        db.session.remove()

    def client(self, role: str, api: bool):
        if api or role == "anonymous":
            return self.clients.setdefault("api" if api else role, self.app.test_client())
        if role not in self.clients:
            c = self.app.test_client()
            resp = c.post("/login", data={"username": self.world.usernames[role], "password": PASSWORD})
            assert resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/dashboard", \
                f"{role} could not sign in"
            db.session.remove()
            self.clients[role] = c
        return self.clients[role]

    def request(self, role: str, method: str, url: str, data):
        api = url.startswith("/api/")
        c = self.client(role, api)
        headers = {"Authorization": f"Bearer {self.world.tokens[role]}"} if api and role != "anonymous" else {}
        kw = {}
        if method != "GET":
            if api or url.startswith("/payments/stripe/"):
                kw["json"] = data if data is not None else {}
            else:
                kw["data"] = data or {}
        try:
            return c.open(url, method=method, headers=headers, **kw)
        finally:
            db.session.remove()  # a request never sees the session of another (as in production)


def log(method, rule, role, resp, verdict) -> None:
    """AUTHZ_WALK_LOG=<file>: append one line per request (the matrix, for reviewing the table)."""
    path = os.environ.get("AUTHZ_WALK_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            location = resp.headers.get("Location", "")
            fh.write(f"{method} {rule} {role} {resp.status_code} {verdict} {location}\n")


# --------------------------------------------------------------------------- tests

@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    """Cheap password hashes for the world's six users (the default scrypt costs ~0.3 s each)."""
    from functools import partial

    from werkzeug.security import generate_password_hash

    from mall.accounts import models as account_models

    monkeypatch.setattr(account_models, "generate_password_hash",
                        partial(generate_password_hash, method="pbkdf2:sha256:1000"))


def test_every_route_is_classified(app):
    routes = existing_routes(app)
    missing = sorted(f"{m} {r}" for r, methods in routes.items() for m in methods
                     if m not in ACCESS.get(r, {}))
    stale = sorted(f"{m} {r}" for r, methods in ACCESS.items() for m in methods
                   if m not in routes.get(r, set()))
    assert not missing, f"routes not classified in ACCESS (add who may use them): {missing}"
    assert not stale, f"ACCESS names routes that no longer exist: {stale}"


def check(role: str, access: Access, resp, verdict: str) -> str | None:
    """What is wrong with this answer, if anything (the database is checked by the caller)."""
    expected_in = role in access.who
    if verdict == "error":
        return "server error"
    if access.status is not None:
        return None if resp.status_code == access.status else f"expected {access.status}"
    if expected_in and verdict != "in":
        return f"should get in, was {verdict}"
    if not expected_in and not (verdict == "refused" or (verdict == "hidden" and access.hidden)):
        return f"should be refused, got {verdict}"
    shown = leaked(role, resp)
    if shown:
        return f"shows {', '.join(shown)}"
    return None


@pytest.mark.parametrize("rule", sorted(ACCESS))
def test_route(rule, app, make):
    world = build(make)
    walker = Walker(app, world)
    walker.disable("disabled", api=rule.startswith("/api/"))
    failures, bug_hits, bugs_gone = [], [], []
    for method in sorted(ACCESS[rule], key=lambda m: (m != "GET", m)):
        for access in cases(ACCESS[rule][method]):
            url = url_for_rule(rule, access, world)
            data = resolve(access.data, world)
            # the refused first: a permitted write must not mask a refusal that changed something
            order = [r for r in ROLES if r not in access.who] + [r for r in ROLES if r in access.who]
            before = snapshot()
            for role in order:
                if before is None and (method != "GET" or role not in access.who):
                    before = snapshot()
                resp = walker.request(role, method, url, data)
                verdict = judge(role, resp, url.startswith("/api/"))
                log(method, rule, role, resp, verdict)
                problem = check(role, access, resp, verdict)
                if role not in access.who or resp.status_code >= 400 or access.status:
                    # a refusal (or any other 4xx) changes nothing; after a page a permitted role read
                    # (``before`` unknown, to save time) only the refusals, which come first, are checked
                    after = snapshot() if before is not None else None
                    if after is not None and after != before:
                        problem = (problem + "; " if problem else "") + "changed " + changes(before, after)
                    before = after
                else:
                    before = None
                where = f"{method} {url} as {role}: {resp.status_code}"
                if role in access.bugs:
                    (bug_hits if problem else bugs_gone).append(f"{where}: {access.bugs[role]}")
                elif problem:
                    failures.append(f"{where} — {problem}")
    assert not failures, "\n".join(failures)
    assert not bugs_gone, "known bug no longer shows, remove its BUG marker: " + "; ".join(bugs_gone)
    if bug_hits:
        pytest.xfail("BUG: " + "; ".join(bug_hits))
