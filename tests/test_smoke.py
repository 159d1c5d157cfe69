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


def test_cli_creates_center_and_operator_and_refuses_bad_code(runner, ctx):
    from mall.accounts import uscc
    from mall.accounts.models import Organisation, User
    from mall.extensions import db

    bad = runner.invoke(args=["org", "create", "--kind", "trading_center", "--name", "交易中心",
                              "--uscc", "12350100MB0000000X"])
    assert bad.exit_code == 1 and "校验位" in bad.output
    code = uscc.make("12350100MB0000001")
    ok = runner.invoke(args=["org", "create", "--kind", "trading_center", "--name", "交易中心", "--uscc", code])
    assert ok.exit_code == 0, ok.output
    org = db.session.query(Organisation).filter_by(uscc=code).one()
    made = runner.invoke(args=["user", "create", "--username", "admin", "--role", "operator",
                               "--org-id", str(org.id)], input="Secr3tpass\nSecr3tpass\n")
    assert made.exit_code == 0, made.output
    assert db.session.query(User).filter_by(username="admin").one().role == "operator"
    token = runner.invoke(args=["token", "issue", "admin"])
    assert token.exit_code == 0 and token.output.startswith("gm_")
