"""Public pages (home, zones, 品目, product, disclosure), role dashboards and the English UI,
rendered with a small realistic mall (tests/browser/seed.py)."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from mall import cache
from mall.extensions import db
from tests.browser.seed import USERNAMES, seed


@pytest.fixture
def mall(app):
    with app.app_context():
        ids = seed()
        db.session.remove()
    return ids


def html(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def by_id(text: str, element_id: str) -> str:
    """The text content of the element with this id (tags stripped)."""
    m = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', text, re.S)
    assert m, f"no element #{element_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(2))).strip()


def card_titles(text: str) -> list[str]:
    return [t.strip() for t in re.findall(r'class="title [^"]*"[^>]*>([^<]+)</a>', text)]


def login(client, role):
    resp = client.post("/login", data={"username": USERNAMES[role], "password": "Passw0rd!"})
    assert resp.status_code == 302


# ------------------------------------------------------------------ home

def test_home_shows_zones_figures_categories_and_best_sellers(client, mall):
    text = html(client.get("/"))
    assert by_id(text, "fig-products") == "33"          # sellable only: no draft, no suspended supplier
    assert by_id(text, "fig-suppliers") == "5"          # active suppliers
    assert by_id(text, "fig-sme") == "4"
    assert "80.0%" in text                               # 4 of 5 active suppliers are SMEs
    assert by_id(text, "fig-agreements") == "3"
    for zone, count in (("central", 7), ("self", 23), ("pavilion", 3)):
        assert re.search(rf'zone-tile {zone}".*?zone-count">{count}<', text, re.S), zone
    titles = card_titles(text)
    assert titles[0].startswith("联想 启天M437")        # best seller first
    assert not any("海云" in t or "待上架" in t for t in titles)
    # 品目 navigation built from the products present
    menu = text[text.index('class="cat-menu"'):]
    for name in ("信息化设备", "家具", "办公用品", "农林牧渔业产品"):
        assert name in menu[:6000]
    assert "A02010000" in menu[:6000] and "/categories/A05010000" in menu[:6000]
    assert "FZ-KJ-2025-001" in text and "/disclosure" in text
    assert text.count('class="badge badge-sme"') >= 6


def test_home_and_disclosure_count_this_years_transactions(app, client, mall):
    from mall.timeutil import today
    from orders.models import Order

    with app.app_context():
        orders = (("confirmed", "10000.00", True), ("accepted", "30000.00", False),
                  ("cancelled", "50000.00", True))
        for n, (status, total, sme) in enumerate(orders):
            db.session.add(Order(number=f"GM-T-{n}", buyer_unit_id=mall["unit"],
                                 buyer_user_id=mall["users"]["buyer"], supplier_id=mall["dingxin"],
                                 budget_line_id=mall["budget_lines"][0], zone_code="self", status=status,
                                 total=Decimal(total), reference_total=Decimal(total) + 1000,
                                 savings=Decimal("1000.00"), budget_year=today().year, is_sme=sme))
        db.session.commit()
        db.session.remove()
    text = html(client.get("/"))
    strip = text[text.index('id="home-figures"'):]
    assert by_id(text, "fig-orders") == "2"                 # the cancelled order is no transaction
    assert "4.00万元" in strip[:3000] and "0.20万元" in strip[:3000] and "25.0%" in strip[:3000]
    assert "25.0%" in html(client.get("/disclosure"))
    if "orders.list" in app.view_functions:             # the unit's latest orders on the buyer's dashboard
        login(client, "buyer")
        panel = html(client.get("/dashboard"))
        panel = panel[panel.index('id="my-orders"'):]
        assert all(f"GM-T-{n}" in panel for n in range(3)) and "共 3 张订单" in panel
        assert re.search(r"待付款 <span[^>]*>1</span>", panel)   # the accepted order waits for payment


def test_home_figures_are_cached_for_a_minute(app, client, mall, make):
    app.config["FIGURES_CACHE_SECONDS"] = 60
    cache.clear()
    try:
        assert by_id(html(client.get("/")), "fig-products") == "33"
        supplier = db.session.get(__import__("mall.accounts.models", fromlist=["Organisation"]).Organisation,
                                  mall["dingxin"])
        make.product(supplier, zone="self", category_code="A05040101", title="得力 A4 复印纸 70g 新品")
        assert by_id(html(client.get("/")), "fig-products") == "33"   # served from the cache
        cache.clear()
        assert by_id(html(client.get("/")), "fig-products") == "34"
    finally:
        del app.config["FIGURES_CACHE_SECONDS"]
        cache.clear()


def test_cache_expires_serves_stale_while_refreshing_and_can_be_off(app, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(cache, "_clock", lambda: now[0])
    with app.app_context():
        app.config["FIGURES_CACHE_SECONDS"] = 60
        try:
            assert cache.get_or_set("t.a", lambda: "v1") == "v1"
            assert cache.get_or_set("t.a", lambda: "v2") == "v1"          # fresh for 60 s
            now[0] += 61
            assert cache.get_or_set("t.a", lambda: "v2") == "v1"          # stale at once, refreshing
            cache.last_refresh.join(5)
            assert cache.get_or_set("t.a", lambda: "v3") == "v2"          # the refreshed value
            now[0] += 60 * cache.STALE_FACTOR + 61
            assert cache.get_or_set("t.a", lambda: "v4") == "v4"          # too old: computed now
            app.config["FIGURES_CACHE_SECONDS"] = 0                       # off: computed every time
            assert cache.get_or_set("t.b", lambda: "x") == "x"
            assert cache.get_or_set("t.b", lambda: "y") == "y"
        finally:
            del app.config["FIGURES_CACHE_SECONDS"]
            cache.clear("t.")


def test_cached_listing_never_shows_a_product_that_stopped_selling(app, client, mall):
    from catalog.models import Product

    app.config["FIGURES_CACHE_SECONDS"] = 60
    cache.clear()
    try:
        assert "奔图 P3325DN" in " ".join(card_titles(html(client.get("/zones/central"))))
        with app.app_context():
            p = db.session.scalars(select(Product).where(Product.model == "P3325DN")).one()
            p.status = "delisted"
            db.session.commit()
            db.session.remove()
        titles = card_titles(html(client.get("/zones/central")))      # ids from the cache…
        assert len(titles) == 6 and not any("奔图" in t for t in titles)   # …products loaded fresh
    finally:
        del app.config["FIGURES_CACHE_SECONDS"]
        cache.clear()


# ------------------------------------------------------------------ zones

def test_zone_lists_only_sellable_products_sorted_and_filtered(app, client, mall, make):
    text = html(client.get("/zones/self"))
    assert "共 23 件商品" in text
    titles = card_titles(text)
    assert not any("海云" in t for t in titles)            # supplier suspended
    assert not any("待上架" in t for t in titles)          # draft
    cheap = card_titles(html(client.get("/zones/self?sort=price_asc")))
    assert cheap[0].startswith("晨光 A4 复印纸")            # ¥135.00 is the cheapest
    dear = card_titles(html(client.get("/zones/self?sort=price_desc")))
    assert dear[0].startswith("美的 KFR-72LW")              # ¥6,899.00

    from mall.accounts.models import Organisation
    lenovo = db.session.get(Organisation, mall["lenovo"])
    make.product(lenovo, zone="self", category_code="A05040101", title="联想 复印纸 A4 大企业产品", price="150.00")
    assert "联想 复印纸 A4 大企业产品" in card_titles(html(client.get("/zones/self")))
    sme_only = html(client.get("/zones/self?sme=1"))
    assert "联想 复印纸 A4 大企业产品" not in card_titles(sme_only) and "共 23 件商品" in sme_only

    chairs = card_titles(html(client.get("/zones/self?category=A05010301")))
    assert chairs and all(("椅" in t) for t in chairs)
    ranged = card_titles(html(client.get("/zones/self?min_price=500&max_price=700")))
    assert ranged and "永艺 YY-818 人体工学办公椅（网布/可调扶手）" in ranged and not any("复印纸" in t for t in ranged)


def test_zone_bad_input_gives_notices_not_errors(client, mall):
    text = html(client.get("/zones/self?min_price=abc&max_price=1e9999&page=-3&sort=evil&category=ZZ"))
    assert "最低价“abc”不是有效金额，已忽略" in text
    assert "最高价须在 0 至 1,000,000,000 元之间，已忽略" in text
    assert "品目编码“ZZ”不存在" in text
    assert "共 23 件商品" in text
    text = html(client.get("/zones/self?min_price=900&max_price=100"))
    assert "最低价高于最高价" in text
    resp = client.get("/zones/nowhere")
    assert resp.status_code == 404 and "专区不存在" in resp.get_data(as_text=True)


def test_zone_pages_through_products(app, client, mall):
    app.config["PAGE_SIZE"] = 10
    try:
        first = html(client.get("/zones/self"))
        assert "第 1 / 3 页" in first and len(card_titles(first)) == 10
        assert 'href="/zones/self?page=2"' in first
        third = html(client.get("/zones/self?page=3&sme=1"))
        assert len(card_titles(third)) == 3 and "page=2" in third and "sme=1" in third
    finally:
        app.config["PAGE_SIZE"] = 24


# ------------------------------------------------------------------ 品目

def test_category_tree_with_breadcrumbs_children_and_subtree_products(client, mall):
    root = html(client.get("/categories"))
    for name in ("货物", "工程", "服务"):
        assert name in root
    text = html(client.get("/categories/A02010000"))
    crumbs = text[text.index('class="breadcrumb"'):text.index("</ol>")]
    assert all(n in crumbs for n in ("品目分类", "货物", "设备", "信息化设备"))
    assert '/categories/A02010100' in text                # child 计算机, with its count
    assert re.search(r'计算机</a>\s*<span class="badge[^"]*">5</span>', text)
    titles = card_titles(text)
    assert len(titles) == 5 and any(t.startswith("联想 ThinkPad E14") for t in titles)
    assert not any("办公桌" in t for t in titles)

    central = html(client.get("/categories/A02010105"))
    assert "集中采购目录品目" in central and "福州市2025年版集中采购目录及标准" in central
    assert "：非集中采购品目" in html(client.get("/categories/A05010201"))
    missing = client.get("/categories/ZZZ")
    assert missing.status_code == 404 and "品目“ZZZ”不存在" in missing.get_data(as_text=True)


# ------------------------------------------------------------------ product page

def test_product_page_shows_prices_agreement_supplier_specs_and_history(client, mall):
    text = html(client.get(f"/products/{mall['desktop']}"))
    assert "联想 启天M437 台式计算机" in text
    assert 'id="price-now">¥4,999.00<' in text and "¥5,699.00" in text
    assert "比市场价节约 ¥700.00（12.3%）" in text
    assert "3 台" in text and "Intel 酷睿 i5-12500" in text and "联想（中国）有限公司" in text
    assert f'href="/suppliers/{mall["dingxin"]}"' in text and "福州鼎信办公设备有限公司" in text
    assert "小型企业" in text and 'class="badge badge-sme' in text
    box = by_id(text, "agreement-box")
    assert "FZ-KJ-2025-001" in box and "¥5,200.00" in box and "低于限价 ¥201.00" in box
    assert f'href="/agreements/{mall["computers_agreement"]}"' in text
    chart = re.search(r'<svg class="price-chart".*?</svg>', text, re.S).group(0)
    points = re.search(r'<polyline class="line" points="([^"]+)"', chart).group(1).split()
    assert len(points) == 7                               # 3 changes as steps (2 points each), to today
    assert chart.count("<circle") == 3 and "¥5,399" in chart
    assert "调价 3 次 · 最低 ¥4,999.00 · 最高 ¥5,399.00" in text
    compare = text[text.index("同品目比价"):]
    assert "华为 擎云B730E" in compare and "长城 世昂" not in compare


def test_product_images_on_page_and_card(app, client, mall):
    from catalog.models import ProductImage

    with app.app_context():
        for order, name in ((1, "b-side.jpg"), (0, "a-front.jpg")):
            db.session.add(ProductImage(product_id=mall["desktop"], filename=name, content_type="image/jpeg",
                                        size=1000, width=800, height=600, sort_order=order))
        db.session.commit()
        db.session.remove()
    text = html(client.get(f"/products/{mall['desktop']}"))
    gallery = text[text.index('id="gallery-main"'):]
    assert gallery.index("/media/products/a-front.jpg") < gallery.index("/media/products/b-side.jpg")
    assert 'src="/media/products/a-front.jpg"' in html(client.get("/zones/central"))   # the card's thumbnail
    other = html(client.get(f"/products/{mall['laptop']}"))
    assert "/media/products/" not in other[other.index('id="gallery-main"'):other.index("product-badges")]


def test_price_chart_geometry(app, mall):
    from catalog.models import Product
    from catalog.views import price_chart

    with app.app_context():
        assert price_chart(db.session.get(Product, mall["toner"])) is None      # no recorded change
        chart = price_chart(db.session.get(Product, mall["laptop"]))
        ys = {m["price"]: m["y"] for m in chart["marks"]}
        assert ys[Decimal("5899.00")] < ys[Decimal("5699.00")]                  # dearer is higher up
        xs = [float(p.split(",")[0]) for p in chart["polyline"].split()]
        assert xs == sorted(xs) and xs[0] == chart["left"] and xs[-1] == chart["right"]
        db.session.remove()


def test_unsellable_and_unknown_products(client, mall):
    hidden = html(client.get(f"/products/{mall['hidden']}"))
    assert "供应商暂停交易，该商品暂不可采购" in hidden and 'action="/cart/add"' not in hidden
    assert client.get(f"/products/{mall['draft']}").status_code == 404    # drafts: not public
    login(client, "supplier")                                             # …but the owner sees it
    assert "草稿：该商品尚未上架" in html(client.get(f"/products/{mall['draft']}"))
    resp = client.get("/products/987654")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 404 and "商品不存在" in body and "没有找到" in body
    resp = client.get("/no/such/page")
    assert resp.status_code == 404 and "页面或对象不存在" in resp.get_data(as_text=True)


def test_cart_button_only_when_the_cart_exists(app, client, mall):
    has_cart = "orders.cart_add" in app.view_functions
    anonymous = html(client.get(f"/products/{mall['desktop']}"))
    assert ("登录后采购" in anonymous) == has_cart
    login(client, "buyer")
    text = html(client.get(f"/products/{mall['desktop']}"))
    assert ('name="product_id" value="%d"' % mall["desktop"] in text) == has_cart
    if has_cart:
        assert 'action="/cart/add"' in text


# ------------------------------------------------------------------ language

def test_english_switch_is_kept_in_the_session(client, mall):
    text = html(client.get("/?lang=en"))
    assert '<html lang="en"' in text
    for words in ("Home", "Centralized Zone", "Self-procurement Zone", "Specialty Pavilion", "Categories",
                  "Best Sellers", "Sign in"):
        assert words in text, words
    assert "热销商品" not in text
    again = html(client.get(f"/products/{mall['desktop']}"))
    assert "Specifications" in again and "Saves ¥700.00 (12.3%) against market price" in again
    assert "热销商品" in html(client.get("/?lang=zh_Hans_CN"))     # switch back…
    assert "热销商品" in html(client.get("/"))                     # …and it stays


def test_english_dashboard_and_error_page(client, mall):
    client.get("/?lang=en")
    login(client, "buyer")
    text = html(client.get("/dashboard"))
    assert "Buyer dashboard" in text and "Budget lines" in text and "福州市教育局" in text
    resp = client.get("/products/987654")
    assert resp.status_code == 404 and "The product does not exist" in resp.get_data(as_text=True)


# ------------------------------------------------------------------ dashboards

def test_dashboard_needs_sign_in(client):
    resp = client.get("/dashboard")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_buyer_dashboard_shows_budget_lines(client, mall):
    login(client, "buyer")
    text = html(client.get("/dashboard"))
    assert "采购人工作台" in text and "福州市教育局" in text
    lines = by_id(text, "budget-lines")
    assert "FZJY-2025-017" in lines and "日常办公设备购置" in lines and "教学办公耗材" in lines
    assert "¥48,500.00" in lines and "¥126,300.00" in lines and "¥325,200.00" in lines
    assert by_id(text, "kpi-amount").startswith("¥620,000.00")
    assert by_id(text, "kpi-available").startswith("¥445,200.00")


def test_supplier_dashboard_shows_products_stock_and_agreements(app, client, mall):
    from catalog.models import Product

    with app.app_context():
        listed = db.session.scalar(select(func.count()).select_from(Product).where(
            Product.supplier_id == mall["dingxin"], Product.status == "listed"))
        db.session.remove()
    login(client, "supplier")
    text = html(client.get("/dashboard"))
    assert "供应商工作台" in text and "福州鼎信办公设备有限公司" in text
    assert by_id(text, "kpi-listed").startswith(str(listed))
    low = by_id(text, "low-stock")
    assert "联想 启天M437" in low and "复印纸 A3 80g" in low and "震旦" not in low
    assert by_id(text, "kpi-low-stock").startswith("2")
    assert "小型企业" in by_id(text, "sme-status")
    agreements = by_id(text, "agreements")
    assert "FZ-KJ-2025-001" in agreements and "FZ-KJ-2025-002" in agreements and "已入围" in agreements
    assert "FZ-KF-2025-003" in text                       # open agreement it may apply to
    assert "/store/products" in text or "/store" in text


def test_auditor_dashboard_shows_risks_suspensions_and_trail(client, mall):
    login(client, "auditor")
    text = html(client.get("/dashboard"))
    risk = by_id(text, "price-risk")
    assert "复印纸 A3 80g" in risk and "72.9%" in risk and "海云 豪华老板椅" in risk and "122.1%" in risk
    assert "联想 启天M437" not in risk
    assert by_id(text, "kpi-risky").startswith("2")
    suspended = by_id(text, "suspended")
    assert "厦门海云贸易有限公司" in suspended and "暂停交易整改" in suspended
    trail = text[text.index('id="audit-records"'):]
    assert trail.count("<tr>") >= 20 and "新增" in trail


def test_operator_dashboard_shows_applications_expiry_and_policy(client, mall):
    login(client, "operator")
    text = html(client.get("/dashboard"))
    joins = by_id(text, "join-applications")
    assert "福建闽盛家具制造有限公司" in joins and "FZ-KF-2025-003" in joins
    assert re.search(r"\d{4}-\d{2}-\d{2}", joins)          # review due date (7 working days)
    expiring = by_id(text, "expiring")
    assert "FZ-KJ-2025-002" in expiring and "12" in expiring and "FZ-KJ-2025-001" not in expiring
    assert "宁德寿宁县茶业有限公司" in by_id(text, "pavilion-applications")
    assert "福州市2025年版集中采购目录及标准" in text and "¥200,000.00" in text
    assert by_id(text, "kpi-joins").startswith("1")
    for path in ("/admin/policies", "/admin/agreements", "/admin/applications", "/admin/pavilion",
                 "/admin/users"):
        assert f'href="{path}"' in text


# ------------------------------------------------------------------ disclosure

def test_disclosure_lists_agreements_with_entrants_and_sme_share(client, mall):
    text = html(client.get("/disclosure"))
    start = text.index('id="active-agreements"')
    table = text[start:text.index("</table>", start)]
    row = re.search(r"FZ-KJ-2025-001.*?</tr>", table, re.S).group(0)
    assert re.search(r'fw-semibold">2</td>', row)         # two admitted entrants
    assert "台式计算机" in row
    assert re.search(r'FZ-KF-2025-003.*?fw-semibold">0</td>', table, re.S)  # applications are not entrants
    share = text[text.index('id="sme-share"'):][:3000]
    assert "80.0%" in share and "4 / 5" in share
