"""Numbers too large for the database are the sender's mistake: a 404 for an id in a URL, a 422
naming the field in the API, a clear page elsewhere. Never a 500 (the test app re-raises
anything unexpected, so a database overflow fails these tests)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import bearer
from tests.test_checkout import _fast_password_hashing, build_world, order_count  # noqa: F401

HUGE = 2**70          # past SQLite's 64-bit integers
BIG = 2**40           # past PostgreSQL's integer
DIGITS = "9" * 5000   # past Python's int() digit limit


def _id_routes(app, ident) -> list[tuple[str, str]]:
    """(method, url) of every route with integer ids, the ids set to ``ident``."""
    out = []
    for rule in app.url_map.iter_rules():
        if "<int" in rule.rule:
            url = re.sub(r"<int[^>]*>", str(ident), rule.rule)
            out += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


@pytest.mark.parametrize("ident", [HUGE, BIG, DIGITS], ids=["2**70", "2**40", "5000-digits"])
def test_an_oversized_id_in_any_url_matches_no_route(app, client, auth, make, ident):
    w = build_world(make)
    routes = _id_routes(app, ident)
    assert len(routes) > 70 and ("GET", f"/api/v1/orders/{ident}") in routes
    auth.login(w.buyer.username)
    for method, url in routes:
        api = url.startswith("/api/")
        resp = client.open(url, method=method, headers=bearer(w.token) if api else {},
                           **({"json": {}} if api and method != "GET" else {}))
        # werkzeug answers 405 when another method's rule has the same path (it checks the method
        # before the converter); either way the request is refused before any database work
        assert resp.status_code in (404, 405), (method, url, resp.status_code)
        if api:
            assert resp.get_json()["error"]["code"] in ("not_found", "method_not_allowed")


def test_oversized_ids_in_api_bodies_name_the_field(client, make):
    w = build_world(make)
    headers = bearer(w.token)
    for body, field in (
            ({"budget_line_id": w.budget.id, "lines": [{"product_id": HUGE, "quantity": 1}]}, "lines"),
            ({"budget_line_id": HUGE, "lines": [{"product_id": w.desk.id, "quantity": 1}]}, "budget_line_id"),
            ({"budget_line_id": BIG, "lines": [{"product_id": w.desk.id, "quantity": 1}]}, "budget_line_id"),
            ({"budget_line_id": 0, "lines": [{"product_id": w.desk.id, "quantity": 1}]}, "budget_line_id")):
        for url in ("/api/v1/orders/check", "/api/v1/orders"):
            resp = client.post(url, json=body, headers=headers)
            assert resp.status_code == 422, (url, body)
            error = resp.get_json()["error"]
            assert error["code"] == "validation_error" and field in error["details"]["json"], error
    assert order_count() == 0


@pytest.mark.parametrize("url", [
    f"/orders?budget_line={HUGE}", f"/orders?page={HUGE}", f"/budget?year={HUGE}", f"/zones/central?page={HUGE}",
    f"/search?q=电脑&page={HUGE}", f"/api/v1/orders?page={HUGE}", f"/api/v1/budget-lines?year={HUGE}",
    f"/api/v1/products?supplier={HUGE}"])
def test_oversized_query_numbers_get_an_answer(client, auth, make, url):
    w = build_world(make)
    auth.login(w.buyer.username)
    resp = client.get(url, headers=bearer(w.token) if url.startswith("/api/") else {})
    assert resp.status_code in (200, 404, 422), (url, resp.status_code)
    if resp.status_code == 422 and url.startswith("/api/"):
        assert resp.get_json()["error"]["code"] in ("validation_error", "value_out_of_range")


def test_oversized_numbers_in_cart_forms_are_refused_plainly(client, auth, make):
    w = build_world(make)
    auth.login(w.buyer.username)
    for url, data in (("/cart/add", {"product_id": str(HUGE), "quantity": "1"}),
                      ("/cart/update", {"item_id": str(HUGE), "quantity": "2", "action": "update"}),
                      ("/cart/add", {"product_id": str(w.desk.id), "quantity": str(HUGE)})):
        resp = client.post(url, data=data, follow_redirects=True)
        assert resp.status_code in (200, 404, 422), (url, data, resp.status_code)
    assert client.get("/cart").status_code == 200
