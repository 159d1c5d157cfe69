"""OCDS 1.1.5 open data: every confirmed order is a contracting process, validated by the
official validator (libcoveocds) against the 1.1.5 schema with no errors."""
from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import pytest

from mall.extensions import db
from mall.timeutil import utcnow
from tests.supervision_helpers import order

STANDARD_ZIP = Path("/work/shared/data/ocds/standard-1__1__5.zip")


def validate(package: dict) -> dict:
    """Run the official validator (libcoveocds) offline against the OCDS 1.1.5 schema."""
    if not STANDARD_ZIP.exists():
        pytest.skip("OCDS 1.1.5 schema zip not available")
    from libcoveocds.api import ocds_json_output
    from libcoveocds.config import LibCoveOCDSConfig

    config = LibCoveOCDSConfig()
    config.config["standard_zip"] = f"file://{STANDARD_ZIP}"
    config.config["context"] = "api"
    with tempfile.TemporaryDirectory() as out:
        path = Path(out) / "package.json"
        path.write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
        return ocds_json_output(out, str(path), None, json_data=package, lib_cove_ocds_config=config)


@pytest.fixture
def orders(make):
    micro = make.supplier_org(name="闽江小微科技有限公司", sme_size="micro", address="福州市鼓楼区五四路1号",
                              contact_name="林经理", contact_phone="0591-87654321")
    large = make.supplier_org(name="华东大型集团股份有限公司", sme_size="large")
    agreement = make.agreement(categories=("A02010105",), suppliers=(micro,), number="FA-2025-0101")
    unit = make.org("budget_unit", name="福州市教育局", region_name="福建省福州市", address="福州市鼓楼区")
    placed = utcnow() - dt.timedelta(days=3)
    framework = order(make, unit=unit, supplier=micro, agreement=agreement, status="paid", payment="paid",
                      lines=[("A02010105", "4800.00", 10, "5000.00", None, True), ("A02010108", "6200.50", 2)],
                      placed_at=placed, number="GM202501010001")
    self_zone = order(make, unit=unit, supplier=large, zone="self", lines=[("C16040000", "30000.00", 1)],
                      placed_at=placed, number="GM202501010002")
    cancelled = order(make, unit=unit, supplier=large, status="cancelled", lines=[("A05010201", "900.00", 3)],
                      placed_at=placed, number="GM202501010003")
    # a cancelled order that had been confirmed: the award was cancelled
    from orders.models import OrderStatusChange
    db.session.add(OrderStatusChange(order_id=cancelled.id, from_status="submitted", to_status="confirmed",
                                     actor_role="supplier", created_at=placed + dt.timedelta(minutes=30)))
    never = order(make, unit=unit, supplier=large, status="submitted", placed_at=placed, number="GM202501010004")
    db.session.commit()
    return {"framework": framework, "self": self_zone, "cancelled": cancelled, "never": never,
            "agreement": agreement}


def test_cli_export_validates_with_no_errors(runner, orders, tmp_path):
    out = tmp_path / "package.json"
    today = dt.date.today()
    result = runner.invoke(args=["ocds", "export", "--from", (today - dt.timedelta(days=30)).isoformat(),
                                 "--to", today.isoformat(), "-o", str(out)])
    assert result.exit_code == 0, result.output
    package = json.loads(out.read_text(encoding="utf-8"))
    assert package["version"] == "1.1"
    ocids = sorted(r["ocid"] for r in package["releases"])
    assert ocids == ["ocds-govmall-GM202501010001", "ocds-govmall-GM202501010002", "ocds-govmall-GM202501010003"]

    report = validate(package)
    assert report["validation_errors"] == [], report["validation_errors"]
    assert report.get("schema_version") in ("1.1", None)
    assert not report.get("json_deref_error")


def test_release_content(client, orders, app):
    with app.app_context():
        from supervision import ocds

        releases = {r["ocid"]: r for r in ocds.releases()}
    fw = releases["ocds-govmall-GM202501010001"]
    parties = {p["id"]: p for p in fw["parties"]}
    buyer = next(p for p in fw["parties"] if "buyer" in p["roles"])
    supplier = next(p for p in fw["parties"] if "supplier" in p["roles"])
    assert buyer["identifier"]["scheme"] == "CN-SAIC" and len(buyer["identifier"]["id"]) == 18
    assert buyer["name"] == "福州市教育局" and fw["buyer"]["id"] == buyer["id"] and buyer["id"] in parties
    assert supplier["details"] == {"scale": "micro"}
    assert supplier["contactPoint"] == {"name": "林经理", "telephone": "0591-87654321"}
    assert "payer" in buyer["roles"] and "payee" in supplier["roles"]
    item = fw["awards"][0]["items"][0]
    assert item["classification"] == {"scheme": "CN-PINMU", "id": "A02010105", "description": "台式计算机"}
    assert item["unit"]["value"] == {"amount": 4800, "currency": "CNY"} and item["quantity"] == 10
    assert fw["awards"][0]["value"] == {"amount": 60401, "currency": "CNY"}
    assert fw["awards"][0]["suppliers"] == [{"id": supplier["id"], "name": "闽江小微科技有限公司"}]
    assert fw["contracts"][0]["status"] == "terminated"
    assert fw["contracts"][0]["implementation"]["transactions"][0]["value"]["amount"] == 60401
    assert fw["relatedProcesses"] == [{"id": "1", "relationship": ["framework"], "title": "测试框架协议",
                                      "scheme": "ocid", "identifier": "ocds-govmall-agreement-FA-2025-0101"}]
    assert fw["tender"]["procurementMethod"] == "limited" and fw["tender"]["mainProcurementCategory"] == "goods"
    assert "implementation" in fw["tag"]

    own = releases["ocds-govmall-GM202501010002"]
    assert "relatedProcesses" not in own
    assert own["tender"]["mainProcurementCategory"] == "services"
    assert next(p for p in own["parties"] if "supplier" in p["roles"])["details"] == {"scale": "large"}
    cancelled = releases["ocds-govmall-GM202501010003"]
    assert cancelled["awards"][0]["status"] == "cancelled" and cancelled["contracts"][0]["status"] == "cancelled"
    assert "ocds-govmall-GM202501010004" not in releases


def test_api_is_public_paged_and_valid(client, orders):
    today = dt.date.today()
    args = {"from": (today - dt.timedelta(days=10)).isoformat(), "to": today.isoformat(), "per_page": 2}
    resp = client.get("/api/v1/ocds/releases", query_string=args)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    package = resp.get_json()
    assert len(package["releases"]) == 2 and resp.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in resp.headers["Link"] and "page=2" in resp.headers["Link"]
    assert package["uri"].startswith("http://localhost/api/v1/ocds/releases")
    assert validate(package)["validation_errors"] == []
    second = client.get("/api/v1/ocds/releases", query_string={**args, "page": 2})
    assert len(second.get_json()["releases"]) == 1 and "Link" not in second.headers
    # a period with no orders is an empty, valid package
    empty = client.get("/api/v1/ocds/releases", query_string={"from": "2001-01-01", "to": "2001-01-31"}).get_json()
    assert empty["releases"] == []
    # bad input: 422 with a reason, never a 500
    assert client.get("/api/v1/ocds/releases", query_string={"from": "2025-02-30"}).status_code == 422
    r = client.get("/api/v1/ocds/releases", query_string={"from": "2025-03-01", "to": "2025-02-01"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "period_end_before_start"
    r = client.get("/api/v1/ocds/releases", query_string={"from": "2020-01-01", "to": "2025-02-01"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "period_too_long"
    assert client.get("/api/v1/ocds/releases", query_string={"per_page": 5000}).status_code == 422


def test_open_data_page_documents_the_prefix(client, orders):
    html = client.get("/public/open-data").get_data(as_text=True)
    assert "ocds-govmall-" in html and "CN-SAIC" in html and "CN-PINMU" in html and "framework" in html
