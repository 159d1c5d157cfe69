"""localstripe for the tests: a real Stripe-compatible server in a subprocess, on a free port.

``python -m tests.payments_localstripe`` runs localstripe's own aiohttp application (the
classic ``/v1`` endpoints the ``stripe`` library calls) with two changes:

- the store stays in memory (localstripe otherwise pickles it to the shared
  ``/tmp/localstripe.pickle`` on every write);
- localstripe 1.15 ignores the ``Idempotency-Key`` header, so a middleware gives it Stripe's
  documented behaviour: a repeated POST with the same key and the same parameters answers
  the first result (header ``Idempotent-Replayed: true``) instead of acting again; the same key
  with other parameters is refused with ``idempotency_error``.

The socket is bound and listening before the port is printed, so the fixture needs no
sleep: it reads the port from the first line of output and its first request waits in the
listen backlog until the server accepts it.

The fixture ``localstripe`` (session scope) starts it, points the app's ``STRIPE_API_BASE`` at
it and stops it at the end. Import it into a test module: ``from tests.payments_localstripe
import localstripe  # noqa: F401``.
"""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "whsec_govmall_test_secret"


def _serve() -> None:
    from aiohttp import web
    from localstripe import server
    from localstripe.resources import store

    store.dump_to_disk = lambda: None
    replies: dict[str, tuple[str, int, str]] = {}

    @web.middleware
    async def idempotency(request, handler):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        body = await request.read()
        fingerprint = hashlib.sha256(request.path.encode() + b"\0" + body).hexdigest()
        if key in replies:
            first, status, text = replies[key]
            if first != fingerprint:
                return web.json_response({"error": {
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used with the same parameters "
                               "they were first used with."}}, status=400)
            return web.Response(status=status, text=text, content_type="application/json",
                                headers={"Idempotent-Replayed": "true"})
        response = await handler(request)
        if response.status in (200, 402):  # Stripe saves results once the endpoint ran
            replies[key] = (fingerprint, response.status, response.text)
        return response

    server.app.middlewares.insert(0, idempotency)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    web.run_app(server.app, sock=sock, print=None, access_log=None)


@pytest.fixture(scope="session")
def localstripe(app):
    """The URL of a private localstripe; the app's gateway points at it for the session."""
    import stripe

    log = tempfile.NamedTemporaryFile(prefix="govmall-localstripe-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "tests.payments_localstripe"], cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=log, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            proc.kill()
            raise RuntimeError(f"localstripe did not start: {line!r}; see {log.name}")
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        # first request: answered once the server accepts (it waits in the listen backlog)
        stripe.StripeClient("sk_test_ready", base_addresses={"api": url}).v1.payment_intents.list(params={"limit": 1})
        saved = {k: app.config.get(k) for k in ("STRIPE_API_BASE", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET",
                                                "STRIPE_DEFAULT_PAYMENT_METHOD")}
        app.config.update(STRIPE_API_BASE=url, STRIPE_API_KEY="sk_test_govmall_localstripe",
                          STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_DEFAULT_PAYMENT_METHOD=None)
        yield url
        app.config.update(saved)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        os.unlink(log.name)


if __name__ == "__main__":
    _serve()
    sys.exit(0)


@pytest.fixture(autouse=True)
def fast_passwords(monkeypatch):
    """Cheap password hashes for the many test users (the default scrypt costs ~0.3 s each)."""
    from functools import partial

    from werkzeug.security import generate_password_hash

    from mall.accounts import models as account_models

    monkeypatch.setattr(account_models, "generate_password_hash",
                        partial(generate_password_hash, method="pbkdf2:sha256:1000"))


# --------------------------------------------------------------------------- a small mall for order tests

class OrderWorld:
    """A policy in force, one agreement with one admitted supplier and one central product
    (ceiling ¥5,000.00, price ¥4,799.99), a buyer unit with a budget line, an auditor and an
    operator — shared by the payments and notifications tests."""

    def __init__(self, make, stock: int = 50):
        from decimal import Decimal

        from sqlalchemy import select

        from catalog.models import AgreementPrice
        from mall.extensions import db

        self.policy = make.policy()
        self.supplier = make.supplier_org(name="福州联信科技有限公司")
        self.supplier_user = make.user("supplier", organisation=self.supplier, email="sales@lianxin.example")
        self.agreement = make.agreement(categories=("A02010105",), suppliers=(self.supplier,),
                                        prices=((self.supplier, "联想", "启天M450", "5000.00"),))
        ap = db.session.scalars(select(AgreementPrice).where(AgreementPrice.agreement_id == self.agreement.id)).one()
        self.product = make.product(self.supplier, zone="central", category_code="A02010105", price="4799.99",
                                    brand="联想", model="启天M450", title="联想启天M450台式计算机",
                                    agreement_price=ap, stock=stock, market_price=Decimal("5600.00"))
        self.unit = make.org("budget_unit", name="福州市教育局")
        self.buyer = make.user("buyer", organisation=self.unit, email="caigou@edu.fz.example")
        self.budget = make.budget_line(self.unit, amount="500000.00")
        self.auditor = make.user("auditor")
        self.operator = make.user("operator")
        self.buyer_token = make.token(self.buyer)
        self.supplier_token = make.token(self.supplier_user)
        self.auditor_token = make.token(self.auditor)
        self.operator_token = make.token(self.operator)

    def place(self, quantity: int = 3, payment_method: str = "treasury"):
        from mall.extensions import db
        from orders import services

        order, _ = services.place_order(self.buyer, budget_line_id=self.budget.id,
                                        lines=[(self.product.id, quantity)], payment_method=payment_method)
        db.session.commit()
        return order

    def move(self, order, *steps):
        """Walk the lifecycle: steps of (target, user, note)."""
        from mall.extensions import db
        from orders import services

        for target, user, note in steps:
            services.transition(order.id, target, user=user, note=note)
            db.session.commit()
        db.session.expire_all()

    def deliver_and_accept(self, order):
        self.move(order, ("confirmed", self.supplier_user, None), ("shipped", self.supplier_user, None),
                  ("delivered", self.supplier_user, None), ("accepted", self.buyer, "验收合格"))
