"""Walk the mall in a real browser as each role, and save screenshots.

Screenshots go to tests/screenshots/<role>-<page>.png; the home and product pages are taken at
desktop (1366×900) and phone (390×844) widths. Run:
    .venv/bin/python -m pytest -q -p no:cacheprovider tests/browser/test_walk.py
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from mall.extensions import db
from tests.browser.seed import USERNAMES, seed
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
DESKTOP = (1366, 900)
PHONE = (390, 844)


@pytest.fixture
def mall(app):
    with app.app_context():
        ids = seed()
        db.session.remove()
    return ids


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def see(page, *texts: str, scope: str = "main") -> None:
    """Each text is visible in the page's main content (not just present in a closed menu)."""
    for text in texts:
        expect(page.locator(scope).get_by_text(text, exact=False).first).to_be_visible()


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def login(page, role: str) -> None:
    page.goto("/login")
    page.locator("main input[name=username]").fill(USERNAMES[role])
    page.locator("main input[name=password]").fill(PASSWORD)
    page.locator("main form [type=submit]").click()
    page.wait_for_url("**/dashboard")


def walks(ids: dict) -> dict[str, list[tuple[str, str, tuple[str, ...]]]]:
    desktop = f"/products/{ids['desktop']}"
    return {
        "buyer": [
            ("dashboard", "/dashboard", ("采购人工作台", "福州市教育局", "日常办公设备购置", "FZJY-2025-017", "¥325,200.00")),
            ("zone-central", "/zones/central", ("集采区", "联想 启天M437", "框架协议")),
            ("zone-self-sme", "/zones/self?sme=1&sort=price_asc", ("自采区", "仅看中小企业", "得力 A4 复印纸")),
            ("category", "/categories/A02010105", ("计算机", "台式计算机", "集中采购目录品目", "长城 世恒DF700")),
            ("product", desktop, ("联想 启天M437", "¥4,999.00", "FZ-KJ-2025-001", "协议最高限制单价", "价格走势")),
        ],
        "supplier": [
            ("dashboard", "/dashboard", ("供应商工作台", "福州鼎信办公设备有限公司", "小型企业", "库存不足", "FZ-KJ-2025-001")),
            ("product", desktop, ("福州鼎信办公设备有限公司", "规格参数")),
        ],
        "auditor": [
            ("dashboard", "/dashboard", ("监管工作台", "价格风险", "复印纸 A3 80g", "厦门海云贸易有限公司", "最近操作留痕")),
            ("disclosure", "/disclosure", ("信息公开", "FZ-KJ-2025-001", "中小企业供应商占比")),
        ],
        "operator": [
            ("dashboard", "/dashboard", ("运营工作台", "福建闽盛家具制造有限公司", "FZ-KJ-2025-002",
                                         "福州市2025年版集中采购目录及标准", "宁德寿宁县茶业有限公司")),
            ("users", "/admin/users", ("用户管理",)),
        ],
    }


def test_buyer_adds_to_cart_from_the_product_page(app, mall, new_page):
    if "orders.cart_add" not in app.view_functions:
        pytest.skip("the cart is not built yet")
    page = new_page(*DESKTOP)
    login(page, "buyer")
    page.goto(f"/products/{mall['desktop']}")
    page.locator("#qty").fill("2")
    page.get_by_role("button", name="加入购物车").click()
    page.wait_for_url(f"**/products/{mall['desktop']}")
    see(page, "已加入购物车", "联想 启天M437")
    shot(page, "buyer-product-added")


@pytest.mark.parametrize("role", ["buyer", "supplier", "auditor", "operator"])
def test_role_walks_its_pages(role, mall, new_page):
    page = new_page(*DESKTOP)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, role)
    for name, url, texts in walks(mall)[role]:
        response = page.goto(url)
        assert response.status == 200, f"{role} {url}: {response.status}"
        see(page, *texts)
        shot(page, f"{role}-{name}")
    for (width, height), size in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size({"width": width, "height": height})
        page.goto("/")
        see(page, "集采区", "自采区", "特色馆", "热销商品")
        assert no_sideways_scroll(page), f"home page scrolls sideways at {width}px"
        shot(page, f"{role}-home-{size}")
        page.goto(f"/products/{mall['desktop']}")
        see(page, "联想 启天M437", "¥4,999.00", "规格参数")
        assert no_sideways_scroll(page), f"product page scrolls sideways at {width}px"
        shot(page, f"{role}-product-{size}")
    assert errors == []


def test_public_visitor_browses_and_switches_language(mall, new_page):
    page = new_page(*DESKTOP)
    page.goto("/")
    see(page, "政采商城", scope="header")
    see(page, "在售商品", "福州市2025年度台式计算机、便携式计算机框架协议")
    # category navigation → subtree listing → product
    page.locator(".cat-menu").get_by_role("link", name="信息化设备").click()
    page.wait_for_url("**/categories/A02010000")
    see(page, "信息化设备", "计算机")
    page.goto("/zones/central")
    page.get_by_role("link", name="价格从低到高").click()
    # the click only starts the navigation: wait for the sorted page before reading its cards
    page.wait_for_url("**/zones/central?sort=price_asc")
    expect(page.locator(".product-card .title").first).to_have_text(re.compile(r"^\s*奔图 P3325DN"))
    page.locator(".product-card .title", has_text="联想 启天M437").click()
    see(page, "市场参考价", "比市场价节约")
    assert page.locator("#price-chart polyline").count() == 1
    shot(page, "public-product")
    # English, kept for the next pages
    page.get_by_role("link", name="English").click()
    see(page, "Centralized Zone", "Specifications")
    shot(page, "public-product-en")
    page.goto("/")
    see(page, "Home", "Centralized Zone", scope="nav.main-nav")
    see(page, "Best Sellers", "Self-procurement Zone")
    shot(page, "public-home-en")
    page.get_by_role("link", name="简体中文").click()
    see(page, "热销商品")
    # the sign-in and sign-up pages, and a missing product
    page.goto("/login")
    see(page, "登录政采商城", "用户名", "密码")
    shot(page, "public-login")
    page.goto("/register")
    see(page, "供应商自助注册", "统一社会信用代码")
    shot(page, "public-register")
    response = page.goto("/products/987654")
    assert response.status == 404
    see(page, "没有找到", "商品不存在")
    shot(page, "public-404")


def test_phone_menu_opens_and_search_box_is_there(mall, new_page):
    page = new_page(*PHONE)
    page.goto("/")
    assert page.locator(".cat-menu").is_hidden()
    assert page.locator("input[name=q]").is_visible()
    page.locator(".navbar-toggler").click()
    page.get_by_role("link", name="框架协议", exact=True).first.wait_for(state="visible")
    shot(page, "public-home-phone-menu")
