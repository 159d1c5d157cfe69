"""Public disclosure (no sign-in): transaction announcements above the configured amount once
confirmed, SME declarations of suppliers that won orders, headline figures, entrant lists."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from mall.extensions import db
from mall.timeutil import utcnow
from tests.supervision_helpers import order

D = Decimal


@pytest.fixture
def published(make):
    from suppliers.models import SmeDeclaration

    winner = make.supplier_org(name="榕城信息技术有限公司", sme_size="small")
    idle = make.supplier_org(name="未成交供应商有限公司", sme_size="micro")
    db.session.add_all([
        SmeDeclaration(supplier_id=winner.id, industry="software", year=2024, staff=45, revenue=D("8000000"),
                       total_assets=D("5000000"), size="small", declared_size="small",
                       manufacturer_name="福建星网锐捷通讯股份有限公司", manufacturer_size="medium", is_current=True),
        SmeDeclaration(supplier_id=idle.id, industry="retail", year=2024, staff=5, revenue=D("500000"),
                       total_assets=D("100000"), size="micro", is_current=True)])
    unit = make.org("budget_unit", name="福州市卫生健康委员会")
    agreement = make.agreement(suppliers=(winner,), number="FA-2025-0200")
    big = order(make, unit=unit, supplier=winner, agreement=agreement, lines=[("A02010105", "5000.00", 4)],
                number="GM-PUB-BIG", placed_at=utcnow() - dt.timedelta(days=2))
    small = order(make, unit=unit, supplier=winner, lines=[("A05040101", "150.00", 10)], number="GM-PUB-SMALL")
    pending = order(make, unit=unit, supplier=idle, lines=[("A02010105", "5000.00", 4)], status="submitted",
                    number="GM-PUB-PENDING")
    cancelled = order(make, unit=unit, supplier=winner, lines=[("A02010105", "5000.00", 4)], status="cancelled",
                      number="GM-PUB-CANCELLED")
    make.user("buyer", organisation=unit, display_name="张采购")
    return {"big": big, "small": small, "pending": pending, "cancelled": cancelled, "agreement": agreement}


def test_announcements_list_only_confirmed_orders_from_the_minimum(client, published):
    html = client.get("/public/announcements").get_data(as_text=True)
    assert "GM-PUB-BIG" in html and "福州市卫生健康委员会" in html and "榕城信息技术有限公司" in html
    for hidden in ("GM-PUB-SMALL", "GM-PUB-PENDING", "GM-PUB-CANCELLED"):
        assert hidden not in html
    assert "¥10,000.00" in html  # the threshold is stated
    assert "GM-PUB-BIG" in client.get("/public/announcements?q=卫生健康").get_data(as_text=True)
    assert "GM-PUB-BIG" not in client.get("/public/announcements?q=不存在的单位").get_data(as_text=True)
    assert "GM-PUB-BIG" not in client.get("/public/announcements?zone=self").get_data(as_text=True)
    assert client.get("/public/announcements?page=abc&zone=<script>").status_code == 200


def test_announcement_detail_with_the_sme_declaration(client, published):
    html = client.get("/public/announcements/GM-PUB-BIG").get_data(as_text=True)
    assert "福州市卫生健康委员会网上商城采购成交公告" in html
    assert "¥20,000.00" in html and "A02010105" in html and "FA-2025-0200" in html
    decl = html.split('id="sme-declaration"', 1)[1].split("</div>", 1)[0]
    assert "软件和信息技术服务业" in decl and "45 人" in decl and "小型企业" in decl and "福建星网锐捷" in decl
    assert "张采购" not in html  # no personal data of the buyer's staff
    for hidden in ("GM-PUB-SMALL", "GM-PUB-PENDING", "GM-PUB-CANCELLED", "nope"):
        assert client.get(f"/public/announcements/{hidden}").status_code == 404


def test_announcement_minimum_is_configurable(app, client, published):
    app.config["PUBLIC_ANNOUNCEMENT_MIN"] = D("1000")
    try:
        assert "GM-PUB-SMALL" in client.get("/public/announcements").get_data(as_text=True)
        assert client.get("/public/announcements/GM-PUB-SMALL").status_code == 200
    finally:
        app.config.pop("PUBLIC_ANNOUNCEMENT_MIN")


def test_sme_declarations_of_winners_only(client, published):
    html = client.get("/public/sme-declarations").get_data(as_text=True)
    assert "榕城信息技术有限公司" in html and "未成交供应商有限公司" not in html
    assert "福建星网锐捷通讯股份有限公司" in html and "中型企业" in html


def test_public_index_figures_and_links(client, published):
    html = client.get("/public/").get_data(as_text=True)
    figures = html.split('id="public-figures"', 1)[1].split("</div>\n\n", 1)[0]
    # confirmed this year: ¥20,000 + ¥1,500 (the small one counts in the figures, not in announcements)
    assert "2.15万元" in figures
    assert "FA-2025-0200" in html and "/agreements/" in html
    assert 'href="/public/open-data"' in html
    disclosure = client.get("/disclosure").get_data(as_text=True)
    assert 'href="/public/announcements"' in disclosure


def test_public_pages_need_no_sign_in(client, published):
    for url in ("/public/", "/public/announcements", "/public/announcements/GM-PUB-BIG", "/public/sme-declarations",
                "/public/enforcement", "/public/open-data", "/api/v1/ocds/releases"):
        assert client.get(url).status_code == 200, url
