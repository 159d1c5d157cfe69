"""One order through the real UI, end to end: the buyer searches, adds a 自采区 product to the cart
and checks out on a budget line with 国库集中支付; the supplier confirms, ships and delivers; the
buyer accepts (验收) and gets a treasury payment instruction; the finance bureau marks it paid, and
the budget line shows the money spent.

Screenshots: tests/screenshots/order-NN-<step>.png. Run:
    .venv/bin/python -m pytest -q -p no:cacheprovider tests/browser/test_order_walk.py
"""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from mall.extensions import db
from tests.browser.steps import login, shot

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
CHAIR = "永艺 YY-818 人体工学办公椅（网布/可调扶手）"
ACCEPTANCE = "2把办公椅已到货，外观完好，功能正常，验收合格。"
VOUCHER = "GKPZ-2025-0388"


def seed() -> dict:
    from tests import factories as f

    f.policy(name="福州市2025年版集中采购目录及标准")
    f.solicitation("A05010301", title="福州市办公椅自采区公开征集")
    supplier = f.supplier_org(name="福州鼎信办公设备有限公司", sme_size="small", contact_name="陈敏",
                              contact_phone="0591-87650001", address="福州市鼓楼区五四路128号")
    f.user("supplier", organisation=supplier, username="order-supplier", display_name="陈敏")
    chair = f.product(supplier, zone="self", category_code="A05010301", price="699.00",
                      market_price=Decimal("899.00"), title=CHAIR, brand="永艺", model="YY-818", unit="把",
                      stock=30, specs={"材质": "网布", "扶手": "3D可调"})
    f.product(supplier, zone="self", category_code="A05010301", price="520.00", title="震旦 AC-202 职员办公椅",
              brand="震旦", model="AC-202", unit="把")
    unit = f.org("budget_unit", name="福州市第一中学", address="福州市鼓楼区南门兜")
    f.user("buyer", organisation=unit, username="order-buyer", display_name="张伟")
    line = f.budget_line(unit, amount="50000.00", project_code="FZYZ-2025-006")
    line.project_name = "教学办公家具更新"
    db.session.commit()
    f.user("auditor", organisation=f.org("finance_bureau", name="福州市财政局"), username="order-auditor",
           display_name="李娜")
    return {"chair": chair.id, "budget_line": line.id}


@pytest.fixture
def world(app):
    with app.app_context():
        data = seed()
        db.session.remove()
    return data




def act(page, target: str, note: str | None = None) -> None:
    """Press an order-page action button (a form posting to orders.transition with ``to``)."""
    if note is not None:
        page.fill(f"#note-{target}", note)
    with page.expect_navigation():
        page.locator(f'#order-actions button[data-transition="{target}"]').click()


def test_order_from_search_to_treasury_payment(world, new_page, app):
    from playwright.sync_api import expect

    from orders.models import BudgetLine, Order

    # ---- buyer: search → product → cart → checkout
    buyer = new_page()
    login(buyer, "order-buyer")
    buyer.locator("header form[role=search] input[name=q]").fill("永艺 办公椅")
    buyer.locator("header form[role=search] button[type=submit]").click()
    buyer.wait_for_url("**/search?*")
    results = buyer.locator("#search-results")
    expect(results.locator(f'[data-product-id="{world["chair"]}"]')).to_be_visible()
    shot(buyer, "order-01-search-results")

    results.locator(f'[data-product-id="{world["chair"]}"] a.title').click()
    buyer.wait_for_url(f"**/products/{world['chair']}")
    expect(buyer.locator("h1")).to_contain_text("永艺 YY-818")
    buyer.fill("form.buy-box input[name=quantity]", "2")
    buyer.locator("form.buy-box button[type=submit]").click()
    expect(buyer.locator(".alert-success")).to_contain_text("已加入购物车")
    shot(buyer, "order-02-product-added")

    buyer.goto("/cart")
    group = buyer.locator("section.cart-group")
    expect(group).to_have_count(1)
    expect(group.locator(".cart-line")).to_contain_text("永艺 YY-818")
    expect(group.locator(".group-total")).to_have_text("¥1,398.00")
    # choosing a budget line or payment method re-runs the rule check (the page reloads)
    with buyer.expect_navigation():
        group.locator("select[name^=budget_]").select_option(str(world["budget_line"]))
    with buyer.expect_navigation():
        buyer.locator("section.cart-group select[name^=payment_]").select_option("treasury")
    group = buyer.locator("section.cart-group")
    expect(group.locator("select[name^=payment_]")).to_have_value("treasury")
    expect(group.locator("select[name^=budget_]")).to_have_value(str(world["budget_line"]))
    expect(group.locator(".rule-check")).to_contain_text("全部通过")
    group.locator("input[name^=address_]").fill("福州市鼓楼区南门兜 福州一中行政楼302")
    shot(buyer, "order-03-cart")
    with buyer.expect_navigation():
        group.get_by_role("button", name=re.compile("提交此订单")).click()

    expect(buyer.locator("h1")).to_contain_text("已提交")
    number = buyer.locator("h1 .order-number").inner_text().strip()
    assert re.fullmatch(r"[A-Z]{2}\d{8,}", number), number
    expect(buyer.locator(".alert-success")).to_contain_text(f"订单已提交：{number}")
    expect(buyer.locator(".order-total")).to_have_text("¥1,398.00")
    expect(buyer.locator("#payment-panel")).to_contain_text("国库集中支付：订单验收后生成支付指令")
    order_url = buyer.url
    shot(buyer, "order-04-placed")

    # ---- supplier: orders list → confirm → ship → deliver
    supplier = new_page()
    login(supplier, "order-supplier")
    supplier.goto("/orders")
    supplier.get_by_role("link", name=number).click()
    expect(supplier.locator("h1")).to_contain_text(number)
    expect(supplier.locator("h1")).to_contain_text("已提交")
    shot(supplier, "order-05-supplier-to-confirm")
    act(supplier, "confirmed")
    expect(supplier.locator("h1")).to_contain_text("供应商已确认")
    act(supplier, "shipped", note="德邦物流 DPK2025031188")
    expect(supplier.locator("h1")).to_contain_text("已发货")
    act(supplier, "delivered")
    expect(supplier.locator("h1")).to_contain_text("已送达")
    expect(supplier.locator("#order-actions")).to_have_count(0)  # acceptance is the buyer's
    expect(supplier.locator("#status-timeline")).to_contain_text("德邦物流 DPK2025031188")
    shot(supplier, "order-06-delivered")

    # ---- buyer: acceptance (验收) → treasury payment instruction
    buyer.goto(order_url)
    expect(buyer.locator("h1")).to_contain_text("已送达")
    act(buyer, "accepted", note=ACCEPTANCE)
    expect(buyer.locator("h1")).to_contain_text("已验收")
    expect(buyer.locator(".kv-table")).to_contain_text(ACCEPTANCE)
    expect(buyer.locator("#payment-status")).to_have_text("已下达支付指令")
    instruction = buyer.locator("#payment dt:has-text('支付指令号') + dd").inner_text().strip()
    assert instruction.startswith("GK"), instruction
    expect(buyer.locator("#treasury-paid-form")).to_have_count(0)  # the buyer cannot mark it paid
    shot(buyer, "order-07-accepted")

    # ---- finance bureau: the treasury queue → paid
    auditor = new_page()
    login(auditor, "order-auditor")
    auditor.goto("/payments/treasury")
    row = auditor.locator(f'#treasury tr[data-order="{number}"]')
    expect(row).to_contain_text(instruction)
    expect(row).to_contain_text("¥1,398.00")
    row.locator("input[name=voucher_no]").fill(VOUCHER)
    with auditor.expect_navigation():
        row.get_by_role("button", name="确认已支付").click()
    expect(auditor.locator(".alert-success")).to_contain_text(f"已确认国库集中支付（指令号{instruction}）")
    expect(auditor.locator(f'#treasury tr[data-order="{number}"]')).to_have_count(0)  # left the queue
    auditor.goto("/payments/treasury?status=paid")
    expect(auditor.locator(f'#treasury tr[data-order="{number}"]')).to_contain_text(VOUCHER)

    buyer.goto(order_url)
    expect(buyer.locator("h1")).to_contain_text("已支付")
    expect(buyer.locator("#payment-status")).to_have_text("国库已支付")
    expect(buyer.locator("#payment")).to_contain_text(VOUCHER)
    shot(buyer, "order-08-paid")

    buyer.goto("/budget")
    budget_row = buyer.locator(f'#budget-table tr[data-budget-line="{world["budget_line"]}"]')
    expect(budget_row.locator(".budget-spent")).to_have_text("¥1,398.00")
    expect(budget_row.locator(".budget-reserved")).to_have_text("¥0.00")
    expect(budget_row.locator(".budget-available")).to_have_text("¥48,602.00")
    shot(buyer, "order-09-budget")

    with app.app_context():
        order = db.session.scalar(db.select(Order).where(Order.number == number))
        assert order.status == "paid" and order.total == Decimal("1398.00")
        assert [c.to_status for c in order.history] == ["submitted", "confirmed", "shipped", "delivered",
                                                         "accepted", "paid"]
        line = db.session.get(BudgetLine, world["budget_line"])
        assert (line.spent, line.reserved) == (Decimal("1398.00"), Decimal("0.00"))
        db.session.remove()
