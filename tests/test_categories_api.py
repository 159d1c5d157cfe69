"""The 品目 classification API: public tree navigation over the 2022 catalogue (4,272 codes)."""
from catalog import pinmu
from tests.conftest import bearer


def test_roots_are_goods_works_services(client):
    resp = client.get("/api/v1/categories")
    assert resp.status_code == 200
    roots = {r["code"]: r for r in resp.get_json()}
    assert set(roots) == {"A", "B", "C"}
    assert roots["A"]["name"] == "货物" and roots["A"]["kind"] == "goods" and roots["A"]["level"] == 0
    assert roots["B"]["kind"] == "works" and roots["C"]["name"] == "服务"
    assert roots["A"]["parent"] is None
    assert roots["A"]["children_count"] == len(pinmu.tree()["A"].children) > 0


def test_leaf_node_has_path_and_no_children(client):
    data = client.get("/api/v1/categories/A02010105").get_json()
    assert data["name"] == "台式计算机" and data["kind"] == "goods"
    assert data["parent"] == "A02010100"
    assert [p["code"] for p in data["path"]] == ["A", "A02000000", "A02010000", "A02010100", "A02010105"]
    assert data["path"][-1]["name"] == "台式计算机"
    assert data["level"] == 4 and data["children"] == [] and data["children_count"] == 0


def test_inner_node_lists_children_with_counts(client):
    data = client.get("/api/v1/categories/A02010100").get_json()
    children = {c["code"]: c for c in data["children"]}
    assert {"A02010104", "A02010105", "A02010108"} <= set(children)
    assert children["A02010104"]["name"] == "服务器"
    assert all(c["parent"] == "A02010100" for c in data["children"])
    assert data["children_count"] == len(data["children"])


def test_services_node_and_lowercase_code(client):
    data = client.get("/api/v1/categories/c16040000").get_json()
    assert data["code"] == "C16040000" and data["name"] == "云计算服务" and data["kind"] == "services"


def test_unknown_code_is_404_with_stable_code(client):
    resp = client.get("/api/v1/categories/A99999999")
    assert resp.status_code == 404
    err = resp.get_json()["error"]
    assert err["code"] == "category_not_found"
    assert "A99999999" in err["message"]


def test_tree_is_public_and_works_with_a_token(client, make):
    t = make.token(make.user("supplier"))
    assert client.get("/api/v1/categories/A", headers=bearer(t)).status_code == 200
    assert client.get("/api/v1/categories/A").status_code == 200


def test_every_code_is_reachable_from_the_roots(client):
    """Walking the API from the roots reaches all 4,272 codes exactly once."""
    seen, stack = set(), ["A", "B", "C"]
    nodes = pinmu.tree()
    while stack:
        code = stack.pop()
        assert code not in seen
        seen.add(code)
        stack.extend(nodes[code].children)
    assert len(seen) == len(nodes) == 4272
    # spot-check the API agrees with the tree for a deep sample
    for code in ("A05010201", "A07031201", "C23120301"):
        data = client.get(f"/api/v1/categories/{code}").get_json()
        assert data["path"][0]["code"] == code[0] and data["path"][-1]["code"] == code


def test_openapi_documents_catalog_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for p in ("/api/v1/categories", "/api/v1/categories/{code}", "/api/v1/policy/current",
              "/api/v1/policy/versions", "/api/v1/agreements", "/api/v1/agreements/{agreement_id}",
              "/api/v1/agreements/{agreement_id}/status",
              "/api/v1/agreements/{agreement_id}/applications/{application_id}/decision"):
        assert p in paths, p
