from tests.conftest import bearer


def test_home_page_renders_in_chinese(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert "政采商城" in resp.get_data(as_text=True)


def test_health_reports_components(client):
    data = client.get("/api/v1/health").get_json()
    assert data["database"]["ok"] is True
    assert "engine" in data["search"]


def test_me_requires_token_and_reports_identity(client, make):
    assert client.get("/api/v1/me").status_code == 401
    u = make.user("buyer")
    t = make.token(u)
    data = client.get("/api/v1/me", headers=bearer(t)).get_json()
    assert data["username"] == u.username and data["role"] == "buyer"
    assert data["organisation"]["kind"] == "budget_unit"
    assert client.get("/api/v1/me", headers=bearer(t + "x")).status_code == 401


def test_openapi_document_lists_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/me" in spec["paths"] and "/api/v1/health" in spec["paths"]
