"""Statistics: totals, SME share, year-on-year growth, groupings, months in local time,
the 特色馆 share, loans; the /stats page (inline SVG, no CDN) and GET /api/v1/stats."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from tests.conftest import bearer
from tests.supervision_helpers import order

D = Decimal
UTC = dt.timezone.utc


@pytest.fixture
def data(make):
    sme = make.supplier_org(name="小微供应商", sme_size="small")
    big = make.supplier_org(name="大型供应商", sme_size="large")
    farm = make.supplier_org(name="东乡农产品合作社", sme_size="micro", pavilion_status="qualified")
    school = make.org("budget_unit", name="市实验小学", canteen_food_budget=D("200000.00"))
    hospital = make.org("budget_unit", name="市中医院", canteen_food_budget=D("500000.00"))
    make.org("budget_unit", name="市图书馆")  # no canteen, no orders: not listed
    # 2025: the 31 Jan 17:00 UTC order is 1 Feb in Beijing
    order(make, unit=school, supplier=sme, lines=[("A02010105", "5000.00", 2, "5500.00")],
          placed_at=dt.datetime(2025, 1, 31, 17, 0, tzinfo=UTC), budget_year=2025)
    order(make, unit=school, supplier=big, lines=[("A02021000", "3000.00", 1, "3000.00")],
          placed_at=dt.datetime(2025, 3, 10, 2, 0, tzinfo=UTC), budget_year=2025, status="paid")
    order(make, unit=hospital, supplier=sme, lines=[("A05010201", "1000.00", 4, "1200.00")], zone="self",
          placed_at=dt.datetime(2025, 3, 11, 2, 0, tzinfo=UTC), budget_year=2025)
    order(make, unit=school, supplier=farm, lines=[("A07031201", "25.00", 1000, "30.00")], zone="pavilion",
          placed_at=dt.datetime(2025, 4, 2, 2, 0, tzinfo=UTC), budget_year=2025)
    # not counted: cancelled and submitted
    order(make, unit=school, supplier=sme, lines=[("A02010105", "9999.00", 1)], status="cancelled",
          placed_at=dt.datetime(2025, 4, 3, 2, 0, tzinfo=UTC), budget_year=2025)
    order(make, unit=hospital, supplier=sme, lines=[("A02010105", "9999.00", 1)], status="submitted",
          placed_at=dt.datetime(2025, 4, 3, 2, 0, tzinfo=UTC), budget_year=2025)
    # 2024
    order(make, unit=school, supplier=sme, lines=[("A02010105", "4000.00", 2, "4400.00")],
          placed_at=dt.datetime(2024, 5, 1, 2, 0, tzinfo=UTC), budget_year=2024)
    order(make, unit=hospital, supplier=big, lines=[("A05010201", "2000.00", 1, "2000.00")], zone="self",
          placed_at=dt.datetime(2024, 6, 1, 2, 0, tzinfo=UTC), budget_year=2024)
    return {"school": school, "hospital": hospital, "sme": sme, "big": big, "farm": farm}


def test_summary_and_year_on_year(ctx, data):
    from supervision import stats

    s = stats.summary(2025)
    assert s["orders"] == 4
    assert s["amount"] == D("42000.00")          # 10,000 + 3,000 + 4,000 + 25,000
    assert s["savings"] == D("6800.00")          # 1,000 + 0 + 800 + 5,000
    assert s["sme_orders"] == 3 and s["sme_amount"] == D("39000.00")
    assert s["sme_share"] == D("92.9")
    assert s["previous"]["orders"] == 2 and s["previous"]["amount"] == D("10000.00")
    assert s["growth"]["amount"] == D("320.0") and s["growth"]["orders"] == D("100.0")
    assert s["growth"]["sme_amount"] == D("387.5")  # 39,000 vs 8,000
    assert stats.summary(2030)["growth"]["amount"] is None


def test_groupings(ctx, data):
    from supervision import stats

    zones = {r["key"]: r for r in stats.grouped(2025, "zone")}
    assert zones["central"]["amount"] == D("13000.00") and zones["central"]["orders"] == 2
    assert zones["self"]["amount"] == D("4000.00") and zones["self"]["previous_amount"] == D("2000.00")
    assert zones["self"]["growth"] == D("100.0") and zones["pavilion"]["label"] == "特色馆"
    units = stats.grouped(2025, "unit")
    assert [r["label"] for r in units] == ["市实验小学", "市中医院"]   # largest amount first
    assert units[0]["amount"] == D("38000.00") and units[0]["sme_amount"] == D("35000.00")
    suppliers = {r["label"]: r for r in stats.grouped(2025, "supplier")}
    assert suppliers["大型供应商"]["sme_orders"] == 0 and suppliers["大型供应商"]["sme_share"] == D("0.0")
    pinmu = {r["key"]: r for r in stats.grouped(2025, "pinmu")}
    assert pinmu["A07031201"]["label"] == "A07031201 蔬菜" and pinmu["A07031201"]["amount"] == D("25000.00")
    assert pinmu["A02010105"]["previous_amount"] == D("8000.00") and pinmu["A02010105"]["growth"] == D("25.0")
    months = stats.grouped(2025, "month")
    assert [m["key"] for m in months] == list(range(1, 13))
    assert months[0]["orders"] == 0 and months[1]["amount"] == D("10000.00")   # local February
    assert months[2]["amount"] == D("7000.00") and months[3]["amount"] == D("25000.00")


def test_pavilion_share(ctx, data):
    from supervision import stats

    pv = stats.pavilion_shares(2025)
    rows = {r["unit"]: r for r in pv["rows"]}
    assert set(rows) == {"市实验小学", "市中医院"}
    school = rows["市实验小学"]
    assert school["amount"] == D("25000.00") and school["share"] == D("12.5") and school["met"] is True
    assert school["target_amount"] == D("20000.00") and school["gap"] == D("0.00")
    hospital = rows["市中医院"]
    assert hospital["amount"] == D("0.00") and hospital["met"] is False and hospital["gap"] == D("50000.00")
    assert pv["target"] == D("10.0") and pv["units"] == 2 and pv["met"] == 1


def test_pavilion_target_is_configurable(app, data):
    from supervision import stats

    with app.app_context():
        app.config["PAVILION_SHARE_TARGET"] = D("0.30")
        try:
            rows = {r["unit"]: r for r in stats.pavilion_shares(2025)["rows"]}
            assert rows["市实验小学"]["met"] is False and rows["市实验小学"]["gap"] == D("35000.00")
        finally:
            app.config.pop("PAVILION_SHARE_TARGET")


def test_api_serialises_decimals_as_strings(client, make, data):
    t = make.token(make.user("auditor"))
    body = client.get("/api/v1/stats", query_string={"year": 2025, "group_by": "supplier"}, headers=bearer(t)).get_json()
    assert body["summary"]["amount"] == "42000.00" and body["summary"]["growth"]["amount"] == "320.0"
    assert body["summary"]["sme_share"] == "92.9" and body["group_by"] == "supplier"
    assert {r["label"] for r in body["rows"]} == {"小微供应商", "大型供应商", "东乡农产品合作社"}
    assert len(body["months"]) == 12
    assert {r["unit"]: r["amount"] for r in body["pavilion"]["rows"]}["市实验小学"] == "25000.00"
    assert "applications" in body["loans"]
    assert client.get("/api/v1/stats", query_string={"group_by": "color"}, headers=bearer(t)).status_code == 422
    assert client.get("/api/v1/stats", query_string={"year": "abc"}, headers=bearer(t)).status_code == 422
    assert client.get("/api/v1/stats").status_code == 401
    assert client.get("/api/v1/stats", headers=bearer(make.token(make.user("buyer")))).status_code == 403


def test_stats_page_draws_inline_svg_without_scripts(client, auth, make, data):
    auth.login(make.user("operator").username)
    resp = client.get("/stats?year=2025&group_by=unit")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert '<svg class="stats-chart' in html and 'id="chart-groups"' in html and 'id="chart-months"' in html
    assert "市实验小学" in html and "4.20万元" in html and "+320.0%" in html
    main = html.split('id="content"', 1)[1].split("<footer", 1)[0]
    assert "<script" not in main
    # offline: every script, stylesheet and image comes from this server, none from a CDN
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)
    assert "12.5%" in html  # the school's pavilion share
    # bad arguments fall back to sane defaults
    assert client.get("/stats?year=99999&group_by=zzz").status_code == 200
