"""An auditor in a real browser: from a flagged order to a query, the supplier's answer, the
archive and the statistics; then the public through the announcements.

Screenshots: tests/screenshots/auditor-*.png and public-*.png. Run:
    .venv/bin/python -m pytest -q -p no:cacheprovider tests/browser/test_auditor_walk.py
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from mall.extensions import db
from mall.timeutil import utcnow
from tests.browser.steps import login, shot

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
QUESTION = "你单位三笔台式计算机订单合计超过本市货物分散采购限额标准，请说明是否存在拆分采购，并提供预算批复。"
ANSWER = "三笔订单分别用于三个校区，属于不同预算项目（已附预算批复文号：榕财教〔2025〕18号）。"


def seed() -> dict:
    from tests import factories as f
    from tests.supervision_helpers import SNAPSHOT, order
    from supervision import services
    from supervision.models import PartnerBank
    from suppliers.models import SmeDeclaration

    auditor = f.user("auditor", organisation=f.org("finance_bureau", name="福州市财政局"), username="walk-auditor",
                     display_name="李监管")
    supplier = f.supplier_org(name="闽都数码科技有限公司", sme_size="small", contact_name="陈经理",
                              contact_phone="0591-83331234", address="福州市鼓楼区软件大道89号")
    f.user("supplier", organisation=supplier, username="walk-supplier", display_name="陈供应")
    other = f.supplier_org(name="榕城办公家具有限公司", sme_size="micro")
    unit = f.org("budget_unit", name="福州市第三中学", canteen_food_budget=Decimal("300000.00"),
                 address="福州市鼓楼区")
    f.user("buyer", organisation=unit, username="walk-buyer", display_name="张采购")
    agreement = f.agreement(categories=("A02010105",), suppliers=(supplier,), number="FA-2025-0018")
    db.session.add(SmeDeclaration(supplier_id=supplier.id, industry="software", year=2024, staff=68,
                                  revenue=Decimal("23000000"), total_assets=Decimal("15000000"), size="small",
                                  declared_size="small", manufacturer_name="联想（北京）有限公司",
                                  manufacturer_size="large", is_current=True))
    db.session.add(PartnerBank(name="兴业银行福州分行", contact_name="林经理", phone="0591-87820000",
                               products="政采贷：凭订单申请，最高300万元，无需抵押", active=True))
    db.session.commit()
    # the city sets a ¥500,000 threshold for goods: three desktop orders within a month cross it
    city = dict(SNAPSHOT, decentralized_threshold_goods="500000.00", name="福州市2025年版")
    start = utcnow() - dt.timedelta(days=25)
    for i, (qty, days) in enumerate(((36, 0), (34, 9), (33, 18))):
        order(make=f, unit=unit, supplier=supplier, agreement=agreement, snapshot=city,
              lines=[("A02010105", "4999.00", qty, "5200.00", "5699.00", True)],
              placed_at=start + dt.timedelta(days=days), number=f"GM2025031500{i + 1}",
              status="paid" if i == 0 else "confirmed", payment="paid" if i == 0 else None)
    order(make=f, unit=unit, supplier=other, zone="self", lines=[("A05010301", "1380.00", 12, "1380.00", "899.00")],
          placed_at=start + dt.timedelta(days=20), number="GM20250315004")
    services.scan_risks()
    db.session.commit()
    return {"auditor": auditor.username}


@pytest.fixture
def walk(app):
    with app.app_context():
        data = seed()
        db.session.remove()
    return data




def test_auditor_walk_from_flag_to_answer_and_public(walk, new_page):
    from playwright.sync_api import expect

    auditor = new_page()
    login(auditor, "walk-auditor")
    auditor.goto("/supervision/flags")
    split = auditor.locator('[data-flag-kind="split_suspected"]')
    expect(split).to_contain_text("疑似化整为零")
    expect(split).to_contain_text("¥500,000.00")
    expect(auditor.locator('[data-flag-kind="price_above_market"]')).to_contain_text("高53.5%")
    shot(auditor, "auditor-01-flags")

    split.get_by_role("link", name=re.compile("GM20250315003")).click()
    expect(auditor.locator("h1")).to_contain_text("GM20250315003")
    expect(auditor.locator("#order-flags")).to_contain_text("福州市第三中学")
    auditor.select_option("#party", "supplier")
    auditor.fill("#question", QUESTION)
    shot(auditor, "auditor-02-order")
    auditor.locator("#ask-form button[type=submit]").click()
    expect(auditor.locator("#query-status")).to_have_text("待答复")
    expect(auditor.locator("#query-question")).to_have_text(QUESTION)
    shot(auditor, "auditor-03-query-sent")
    query_url = auditor.url

    supplier = new_page()
    login(supplier, "walk-supplier")
    supplier.goto("/supervision/queries")
    expect(supplier.locator("#queries-table")).to_contain_text("GM20250315003")
    supplier.locator("#queries-table a").first.click()
    supplier.fill("#answer", ANSWER)
    supplier.locator("#answer-form button[type=submit]").click()
    expect(supplier.locator("#query-status")).to_have_text("已答复")
    expect(supplier.locator("#query-answer")).to_have_text(ANSWER)
    shot(supplier, "auditor-04-supplier-answered")

    auditor.goto(query_url)
    expect(auditor.locator("#query-answer")).to_have_text(ANSWER)
    auditor.fill("#close-form textarea[name=note]", "说明合理，予以办结")
    auditor.locator("#close-form button[type=submit]").click()
    expect(auditor.locator("#query-status")).to_have_text("已办结")
    shot(auditor, "auditor-05-query-closed")

    auditor.goto("/supervision/orders?flags=open")
    expect(auditor.locator("#orders-table")).to_contain_text("GM20250315003")
    shot(auditor, "auditor-06-orders-flagged")
    auditor.locator("#orders-table a", has_text="GM20250315003").click()
    auditor.get_by_role("link", name=re.compile("档案与时间线")).click()
    expect(auditor.locator("#timeline")).to_contain_text("供应商答复问询")
    expect(auditor.locator("#audit-records")).to_contain_text("query.answer")
    shot(auditor, "auditor-07-archive")
    with auditor.expect_download() as dl:
        auditor.locator("#download-archive").click()
    assert dl.value.suggested_filename == "govmall-archive-GM20250315003.zip"

    auditor.goto("/stats?group_by=supplier")
    expect(auditor.locator("#chart-groups")).to_be_visible()
    expect(auditor.locator("#chart-months")).to_be_visible()
    expect(auditor.locator("#pavilion-share")).to_contain_text("福州市第三中学")
    shot(auditor, "auditor-08-stats")

    public = new_page()
    public.goto("/public/")
    expect(public.locator("#latest-announcements")).to_contain_text("福州市第三中学")
    shot(public, "public-01-index")
    public.goto("/public/announcements")
    rows = public.locator("#announcements tbody tr")
    expect(rows).to_have_count(4)  # the ¥16,560 chair order is above ¥10,000 too
    shot(public, "public-02-announcements")
    public.locator("#announcements a", has_text="GM20250315001").click()
    expect(public.locator("#announcement")).to_contain_text("福州市第三中学网上商城采购成交公告")
    expect(public.locator("#sme-declaration")).to_contain_text("小型企业")
    expect(public.locator("#announcement-total")).to_have_text("¥179,964.00")
    shot(public, "public-03-announcement")
    public.goto("/public/open-data")
    shot(public, "public-04-open-data")
    phone = new_page(390, 844)
    phone.goto("/public/announcements")
    shot(phone, "public-05-announcements-phone")
