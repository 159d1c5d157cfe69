"""Archives (档案): an order's archive page and timeline, and the zip archive package
(self-contained HTML + JSON records with the audit hashes)."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile

from sqlalchemy import select

from mall.audit import AuditRecord
from mall.extensions import db
from mall.timeutil import utcnow
from orders.models import RiskFlag
from tests.supervision_helpers import order


def _setup(make, client, auth):
    supplier = make.supplier_org(name="档案测试供应商有限公司")
    supplier_user = make.user("supplier", organisation=supplier)
    o = order(make, supplier=supplier, status="accepted", payment="paid", number="GM-ARCH-1",
              lines=[("A02010105", "5200.00", 3, "5000.00", None)])
    db.session.add(RiskFlag(order_id=o.id, kind="price_above_market", message="价格高于市场参考价：测试",
                            figures={"markup": "0.4"}, status="open", source="scan", dedup_key="arch:1"))
    db.session.commit()
    auditor = make.user("auditor", display_name="王审计")
    auth.login(auditor.username)
    client.post(f"/supervision/orders/{o.id}/queries", data={"party": "supplier", "question": "请说明单价高于协议价的原因"})
    auth.logout()
    from supervision.models import Query
    q = db.session.scalars(select(Query)).one()
    auth.login(supplier_user.username)
    client.post(f"/supervision/queries/{q.id}", data={"answer": "系升级配置，已报备"})
    auth.logout()
    auth.login(auditor.username)
    return o, q


def test_archive_page_shows_the_whole_timeline(make, client, auth):
    o, q = _setup(make, client, auth)
    html = client.get(f"/supervision/orders/{o.id}/archive").get_data(as_text=True)
    timeline = html.split('id="timeline"', 1)[1].split("</ol>", 1)[0]
    for text in ("已提交", "供应商已确认", "已送达", "已验收", "风险预警：价格高于市场参考价", "问询供应商",
                 "供应商答复问询", "系升级配置，已报备", "支付"):
        assert text in timeline, text
    records = html.split('id="audit-records"', 1)[1]
    assert "order.create" in records and "query.ask" in records and "query.answer" in records
    assert "risk_flag.create" in records and "order_line.create" in records


def test_order_archive_package(make, client, auth):
    o, q = _setup(make, client, auth)
    resp = client.get("/supervision/archive/export", query_string={"order": o.number})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert "govmall-archive-GM-ARCH-1.zip" in resp.headers["Content-Disposition"]
    zf = zipfile.ZipFile(io.BytesIO(resp.data))
    names = set(zf.namelist())
    assert names == {"index.html", "manifest.json", "orders/GM-ARCH-1.json"}

    html = zf.read("index.html").decode("utf-8")
    assert "GM-ARCH-1" in html and "档案测试供应商有限公司" in html and "请说明单价高于协议价的原因" in html
    assert "<style>" in html
    # self-contained: no external stylesheet, script, image or font
    assert not re.search(r'<(link|script|img)\b', html)
    assert not re.search(r'(src|href)="(https?:)?//', html) and "url(" not in html

    record = json.loads(zf.read("orders/GM-ARCH-1.json"))
    assert record["order"]["number"] == "GM-ARCH-1" and record["order"]["total"] == "15600.00"
    assert [line["category_code"] for line in record["lines"]] == ["A02010105"]
    assert [h["to_status"] for h in record["history"]] == ["submitted", "confirmed", "shipped", "delivered", "accepted"]
    assert record["queries"][0]["answer"] == "系升级配置，已报备"
    assert record["risk_flags"][0]["kind"] == "price_above_market"
    assert record["payments"][0]["status"] == "paid"
    # the audit records carry their hashes, identical to the live chain
    seqs = [r["seq"] for r in record["audit_records"]]
    assert seqs == sorted(seqs) and len(seqs) >= 6
    live = {r.seq: r for r in db.session.scalars(select(AuditRecord).where(AuditRecord.seq.in_(seqs)))}
    for r in record["audit_records"]:
        assert r["hash"] == live[r["seq"]].hash and r["prev_hash"] == live[r["seq"]].prev_hash
    actions = {r["action"] for r in record["audit_records"]}
    assert {"order.create", "order_line.create", "query.ask", "query.answer", "payment.create"} <= actions

    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["orders"] == ["GM-ARCH-1"] and manifest["scope"] == "订单GM-ARCH-1"
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == digest
    head = manifest["audit_chain_head"]
    assert head["seq"] >= max(seqs) and len(head["hash"]) == 64

    # the export itself is on the audit trail
    export = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "archive.export")).one()
    assert export.note == "导出档案包：订单GM-ARCH-1"


def test_period_archive_package_and_bad_requests(make, client, auth):
    unit = make.org("budget_unit")
    inside = order(make, unit=unit, placed_at=utcnow() - dt.timedelta(days=2), number="GM-IN")
    order(make, unit=unit, placed_at=utcnow() - dt.timedelta(days=60), number="GM-OUT")
    auth.login(make.user("auditor").username)
    today = dt.date.today()
    resp = client.get("/supervision/archive/export",
                      query_string={"from": (today - dt.timedelta(days=7)).isoformat(), "to": today.isoformat()})
    assert resp.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(resp.data))
    assert "orders/GM-IN.json" in zf.namelist() and "orders/GM-OUT.json" not in zf.namelist()
    assert json.loads(zf.read("manifest.json"))["orders"] == [inside.number]
    # by id works too
    assert client.get("/supervision/archive/export", query_string={"order": inside.id}).status_code == 200
    r = client.get("/supervision/archive/export")
    assert r.status_code == 422 and "请指定订单" in r.get_data(as_text=True)
    assert client.get("/supervision/archive/export", query_string={"order": "GM-NOPE"}).status_code == 404
    r = client.get("/supervision/archive/export", query_string={"from": "2025-05-01", "to": "2025-04-01"})
    assert r.status_code == 422 and "早于开始日期" in r.get_data(as_text=True)
    assert client.get("/supervision/archive/export", query_string={"from": "x", "to": "y"}).status_code == 422
