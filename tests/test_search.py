"""Search on the embedded engine of the database in use (SQLite FTS5, or PostgreSQL full-text when
GOVMALL_TEST_DATABASE_URL is set): what a buyer finds, filters, facets, sorting, paging,
highlighting, help on zero results, suggestions, sellability, the index kept in step with
every change, bad input, the CLI and the health report."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text, update

from mall.extensions import db


@pytest.fixture
def shop(make):
    """A small mall: two SME suppliers and a large one, printers, toner, laptops, paper, desks."""
    sme = make.supplier_org(name="福州鑫源信息技术有限公司", sme_size="small")
    sme2 = make.supplier_org(name="厦门博远办公设备有限公司", sme_size="micro")
    big = make.supplier_org(name="福建省大型商贸集团有限公司", sme_size="large")
    ag = make.agreement(categories=("A02021000", "A02010108"), suppliers=(sme, big),
                        prices=((sme, "惠普", "M404dn", "2600", "A02021000"),))
    ap = ag.prices[0]
    p = {}
    p["printer"] = make.product(sme, zone="central", category_code="A02021003", brand="惠普", model="LaserJet Pro M404dn",
                                title="惠普 LaserJet Pro M404dn 黑白激光打印机 A4 双面 有线网络", price="2399.00",
                                agreement_price=ap, specs={"幅面": "A4", "速度": "38页/分钟"})
    p["printer2"] = make.product(big, zone="central", category_code="A02021003", brand="兄弟", model="HL-5595DN",
                                 title="兄弟 HL-5595DN 黑白激光打印机 高速双面", price="3150.00", stock=0)
    p["color"] = make.product(sme2, zone="central", category_code="A02021004", brand="佳能", model="LBP664Cx",
                              title="佳能 LBP664Cx 彩色激光打印机 无线", price="4680.00")
    p["toner"] = make.product(big, zone="self", category_code="A05040202", brand="惠普", model="CF217A",
                              title="惠普 CF217A 原装硒鼓 适用M102/M130打印机", price="399.00")
    p["laptop"] = make.product(sme, zone="central", category_code="A02010108", brand="联想", model="ThinkPad E14",
                               title="联想ThinkPad E14 笔记本电脑 i5-1240P 16G 512G固态 14英寸", price="5699.00",
                               specs={"处理器": "i5-1240P", "内存": "16G"})
    p["laptop2"] = make.product(big, zone="central", category_code="A02010108", brand="戴尔", model="Latitude 3440",
                                title="戴尔 Latitude 3440 商务笔记本电脑 i7 32G", price="7999.00")
    p["desktop"] = make.product(sme2, zone="central", category_code="A02010105", brand="联想", model="启天M437",
                                title="联想 启天M437 台式计算机 i5 8G 1T 23.8英寸显示器", price="4299.00")
    p["paper"] = make.product(sme2, zone="self", category_code="A05040101", brand="得力", model="3904",
                              title="得力 3904 A4复印纸 70g 500张/包 8包/箱", price="189.00")
    p["desk"] = make.product(sme, zone="self", category_code="A05010201", brand="震旦", model="AO-A-TD1408",
                             title="震旦 职员办公桌 1.4米 钢木结构 带抽屉", price="1280.00")
    p["rice"] = make.product(sme2, zone="pavilion", category_code="A07060102", brand="五常", model="稻花香2号",
                             title="五常大米 稻花香2号 10kg 当季新米", price="168.00")
    return {"products": p, "sme": sme, "sme2": sme2, "big": big, "agreement": ag}


def api(client, **params):
    r = client.get("/api/v1/search", query_string=params)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def ids(data):
    return [item["id"] for item in data["items"]]


# ---------------------------------------------------------------------------------- finding

def test_chinese_words_brand_model_and_code_find_the_right_products(client, shop):
    p = shop["products"]
    printers = api(client, q="打印机")
    assert set(ids(printers)[:3]) == {p["printer"].id, p["printer2"].id, p["color"].id}  # printers before toner
    assert p["toner"].id in ids(printers)
    assert printers["engine"] in ("sqlite-fts5", "postgres-fts")

    lenovo = api(client, q="联想 笔记本")
    assert ids(lenovo) == [p["laptop"].id]
    assert ids(api(client, q="联想thinkpad"))[:1] == [p["laptop"].id]       # mixed scripts, no space
    assert ids(api(client, q="M404"))[:1] == [p["printer"].id]              # model number prefix
    assert ids(api(client, q="cf217a")) == [p["toner"].id]                  # model, any case
    assert set(ids(api(client, q="hp"))) == {p["printer"].id, p["toner"].id}  # brand alias
    assert p["printer"].id in ids(api(client, q="dyj"))                     # pinyin initials of 打印机
    assert ids(api(client, q="鑫源"))  # supplier name
    assert set(ids(api(client, q="便携式计算机"))) == {p["laptop"].id, p["laptop2"].id}  # 品目 name
    assert ids(api(client, q="台式机")) == [p["desktop"].id]                # 品目 alias
    assert p["laptop"].id in ids(api(client, q="i5-1240P"))                 # spec fragment

    by_code = api(client, q="A02021000")                                     # a 品目 code: it and descendants
    assert set(ids(by_code)) == {p["printer"].id, p["printer2"].id, p["color"].id}
    assert any("A02021000" in n for n in by_code["notices"])


def test_filters_and_facet_counts(client, shop):
    p = shop["products"]
    all_ = api(client)
    assert all_["total"] == 10
    facets = all_["facets"]
    assert {f["value"]: f["count"] for f in facets["zone"]} == {"central": 6, "self": 3, "pavilion": 1}
    assert {f["value"]: f["count"] for f in facets["sme"]} == {"1": 7, "0": 3}
    assert {f["value"]: f["count"] for f in facets["brand"]}["惠普"] == 2
    assert sum(f["count"] for f in facets["price"]) == 10

    office = api(client, category="A02020000")  # 办公设备: printers are its descendants
    assert set(ids(office)) == {p["printer"].id, p["printer2"].id, p["color"].id}
    assert set(ids(api(client, q="打印机", zone="self"))) == {p["toner"].id}
    assert set(ids(api(client, q="打印机", sme="1"))) == {p["printer"].id, p["color"].id}
    assert set(ids(api(client, q="打印机", brand="惠普"))) == {p["printer"].id, p["toner"].id}
    assert set(ids(api(client, q="打印机", in_stock="1"))) == {p["printer"].id, p["color"].id, p["toner"].id}
    assert set(ids(api(client, q="打印机", price_min="1000", price_max="3200"))) == {p["printer"].id, p["printer2"].id}
    assert set(ids(api(client, supplier=str(shop["sme"].id)))) == {p["printer"].id, p["laptop"].id, p["desk"].id}
    assert ids(api(client, agreement=str(shop["agreement"].id))) == [p["printer"].id]
    band = api(client, price="0-500")
    assert set(ids(band)) == {p["toner"].id, p["paper"].id, p["rice"].id}
    filtered = api(client, q="打印机", sme="1")
    assert {f["value"]: f["count"] for f in filtered["facets"]["zone"]} == {"central": 2}


def test_sorting_and_paging(client, shop):
    asc = api(client, q="打印机", sort="price_asc")
    prices = [Decimal(i["price"]) for i in asc["items"]]
    assert prices == sorted(prices) and len(prices) == 4
    desc = api(client, q="打印机", sort="price_desc")
    assert ids(desc) == list(reversed(ids(asc)))
    page1 = api(client, sort="price_asc", per_page="3", page="1")
    page2 = api(client, sort="price_asc", per_page="3", page="2")
    assert page1["total"] == 10 and page1["pages"] == 4 and len(page2["items"]) == 3
    assert not set(ids(page1)) & set(ids(page2))
    assert Decimal(page1["items"][-1]["price"]) <= Decimal(page2["items"][0]["price"])


def test_browsing_a_category_subtree_sorted_pages_through_every_product_in_order(client, shop, make):
    """Browsing a 品目 with its descendants by price or sales (merged index ranges per 品目 code on
    PostgreSQL): each page in order, pages continuous, nothing skipped or repeated, filters kept."""
    extra = []
    for i, (code, price) in enumerate((("A02010105", "999.00"), ("A02010108", "12999.00"), ("A02010105", "4299.00"),
                                        ("A02010108", "3999.00"), ("A02010104", "25000.00"))):
        extra.append(make.product(shop["big"], zone="central", category_code=code, brand="华为", model=f"X{i}",
                                  title=f"华为 计算机 X{i}", price=price))
    computers = [pr for pr in list(shop["products"].values()) + extra if pr.category_code.startswith("A020101")]
    for sort, key, reverse in (("price_asc", "price", False), ("price_desc", "price", True),
                               ("sales", "sales_count", True)):
        seen = []
        for page in (1, 2, 3):
            data = api(client, category="A02010100", sort=sort, per_page="3", page=str(page))
            values = [Decimal(str(i[key])) for i in data["items"]]
            assert values == sorted(values, reverse=reverse)
            if seen and data["items"]:
                last = Decimal(str(seen[-1][key]))
                assert (values[0] <= last) if reverse else (values[0] >= last)
            seen += data["items"]
        assert sorted(i["id"] for i in seen) == sorted(pr.id for pr in computers)
    huawei = api(client, category="A02010100", brand="华为", sort="price_asc")
    assert [Decimal(i["price"]) for i in huawei["items"]] == sorted(Decimal(pr.price) for pr in extra)


def test_sales_sort_and_sme_preference(client, shop, make):
    p = shop["products"]
    p["printer2"].sales_count = 500
    db.session.commit()
    assert ids(api(client, q="打印机", sort="sales"))[0] == p["printer2"].id
    # two printers with the same words: the SME one ranks first (relevance × SEARCH_SME_BOOST)
    big, sme = shop["big"], shop["sme2"]
    a = make.product(big, zone="self", category_code="A02021006", brand="映美", title="映美 票据针式打印机 FP-630K", price="999")
    b = make.product(sme, zone="self", category_code="A02021006", brand="映美", title="映美 票据针式打印机 FP-630K", price="999")
    order = ids(api(client, q="票据针式打印机"))
    assert order.index(b.id) < order.index(a.id)


def test_highlighted_titles(client, shop):
    item = api(client, q="激光打印机")["items"][0]
    assert "<mark>" in item["highlight"] and "打印机" in item["highlight"]
    page = client.get("/search", query_string={"q": "<script>alert(1)</script>"}).get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


# ---------------------------------------------------------------------------------- only what may be sold

def test_only_sellable_products_are_found_and_changes_reach_the_index_at_once(client, shop, make):
    p = shop["products"]
    printer = p["printer"]
    assert printer.id in ids(api(client, q="M404dn"))

    printer.status = "delisted"
    db.session.commit()
    assert ids(api(client, q="M404dn")) == []
    printer.status = "listed"
    db.session.commit()
    assert ids(api(client, q="M404dn")) == [printer.id]

    printer.halted_reason = "框架协议已到期"
    db.session.commit()
    assert ids(api(client, q="M404dn")) == []
    printer.halted_reason = None
    db.session.commit()

    from suppliers.models import SupplierProfile

    prof = db.session.get(SupplierProfile, shop["sme"].id)
    prof.status = "suspended"
    db.session.commit()
    assert ids(api(client, q="M404dn")) == [] and p["laptop"].id not in ids(api(client, q="联想 笔记本"))
    prof.status = "active"
    db.session.commit()
    assert ids(api(client, q="M404dn")) == [printer.id]

    printer.title = "惠普 M404dn 黑白激光打印机 政府采购专供型号"
    printer.price = Decimal("2199.00")
    db.session.commit()
    data = api(client, q="专供")
    assert ids(data) == [printer.id] and data["items"][0]["price"] == "2199.00"

    draft = make.product(shop["sme"], title="得力 碎纸机 9911 5级保密", brand="得力", status="draft",
                         category_code="A02021301")
    assert ids(api(client, q="碎纸机")) == []
    draft.status = "listed"
    db.session.commit()
    assert ids(api(client, q="碎纸机")) == [draft.id]

    db.session.delete(draft)
    db.session.commit()
    assert ids(api(client, q="碎纸机")) == []


def test_a_rolled_back_change_leaves_the_index_as_it_was(client, shop):
    printer = shop["products"]["printer"]
    printer.title = "临时标题 不应被搜到"
    db.session.flush()
    db.session.rollback()
    assert ids(api(client, q="临时标题")) == []
    assert ids(api(client, q="M404dn")) == [printer.id]


def test_orm_bulk_update_is_indexed(client, shop):
    from catalog.models import Product

    p = shop["products"]
    db.session.execute(update(Product).where(Product.brand == "联想").values(status="delisted"))
    db.session.commit()
    assert ids(api(client, q="联想")) == []
    db.session.execute(update(Product).where(Product.id == p["laptop"].id).values(status="listed"))
    db.session.commit()
    assert ids(api(client, q="联想")) == [p["laptop"].id]


def test_search_never_shows_a_product_its_index_row_calls_sellable(client, shop):
    """Even if an index row were stale, the product is re-checked before it is shown."""
    printer = shop["products"]["printer"]
    db.session.execute(text("UPDATE product SET status = 'taken_down' WHERE id = :id"), {"id": printer.id})
    db.session.commit()  # a raw SQL change bypasses the session events: the index still has the row
    assert printer.id not in ids(api(client, q="M404dn"))
    assert f'/products/{printer.id}"' not in client.get("/search?q=M404dn").get_data(as_text=True)


# ---------------------------------------------------------------------------------- help and suggestions

def test_zero_results_get_a_corrected_query_or_related_categories(client, shop):
    p = shop["products"]
    homophone = api(client, q="打因机")
    assert homophone["corrected"]["to"] == "打印机" and p["printer"].id in ids(homophone)
    typo = api(client, q="thinkpda")
    assert typo["corrected"]["to"] == "thinkpad" and ids(typo) == [p["laptop"].id]
    assert ids(api(client, q="fuyinzhi")) == [p["paper"].id]  # full pinyin of the 品目 is indexed
    wrong_tone = api(client, q="福印纸")  # a homophone of 复印纸
    assert wrong_tone["corrected"]["to"] == "复印纸" and ids(wrong_tone) == [p["paper"].id]
    extra = api(client, q="联想 笔记本 粉红色")
    assert extra["corrected"] and ids(extra) == [p["laptop"].id]
    nothing = api(client, q="挖掘机")
    assert nothing["total"] == 0 and nothing["items"] == []
    page = client.get("/search?q=挖掘机").get_data(as_text=True)
    assert 'id="zero-results"' in page and "检查是否有错别字" in page


def test_related_categories_when_nothing_matches_all_words(client, shop):
    data = api(client, q="激光打印机 游艇")   # one word finds printers: the query is corrected to it
    assert data["corrected"]["to"] == "激光打印机" and data["total"] == 3
    # a 品目 nobody sells now: the 品目 on sale next to it in the classification (扫描仪 A02021118 and
    # the printers are both 办公设备 A02020000), most products first
    data = api(client, q="扫描仪")
    assert data["total"] == 0 and not data.get("corrected")
    related = [c["code"] for c in data["related_categories"]]
    assert related[:2] == ["A02021003", "A02021004"], data["related_categories"]
    assert data["related_categories"][0]["count"] == 2
    page = client.get("/search?q=扫描仪").get_data(as_text=True)
    assert 'id="zero-results"' in page and "A4黑白打印机" in page
    assert api(client, q="游艇")["related_categories"] == []   # nothing near: nothing made up


def test_suggestions_while_typing(client, shop):
    def texts(q):
        r = client.get("/api/v1/search/suggest", query_string={"q": q})
        assert r.status_code == 200
        return [s["text"] for s in r.get_json()["suggestions"]]

    assert "打印机" in texts("打印") or "A4黑白打印机" in texts("打印")
    assert any("联想" in t for t in texts("联"))
    assert any("联想" in t for t in texts("lian"))           # pinyin
    assert "惠普" in texts("hp") or any("惠普" in t for t in texts("hp"))
    assert texts("") == [] and texts("😀") == []
    assert len(texts("x" * 10000)) <= 10


# ---------------------------------------------------------------------------------- bad input

BAD_QUERIES = [
    "", " ", "x" * 10_240, '"打印机" OR NEAR(a b) * ^title: -', "打印机\"", "'; DROP TABLE product; --",
    "1' OR '1'='1", "😀🖨️", "联想thinkpad笔记本电脑i5", "Ａ４复印纸", "\x00\x01", "AND OR NOT", "*", "(", ")", "\\",
    "a:b", "title:打印机", "m404*", "{}[]", "NEAR", "打印机" * 500,
]


@pytest.mark.parametrize("q", BAD_QUERIES)
def test_bad_queries_never_fail(client, shop, q):
    r = client.get("/api/v1/search", query_string={"q": q})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert isinstance(body["items"], list) and body["total"] >= 0
    if len(q) > 100:
        assert any("过长" in n for n in body["notices"])
    page = client.get("/search", query_string={"q": q})
    assert page.status_code == 200
    assert client.get("/api/v1/search/suggest", query_string={"q": q}).status_code == 200


@pytest.mark.parametrize("params,notice", [
    ({"price_min": "abc"}, "最低价"), ({"price_max": "-5"}, "最高价"), ({"page": "abc"}, "页码"),
    ({"page": "99999999"}, "最多可浏览"), ({"sort": "bogus"}, "排序"), ({"category": "ZZZ"}, "品目编码"),
    ({"zone": "mars"}, "专区"), ({"per_page": "0"}, "每页"), ({"supplier": "x"}, "供应商"),
    ({"price_min": "5000", "price_max": "100"}, "互换"),
])
def test_bad_filters_are_explained_not_failed(client, shop, params, notice):
    body = api(client, q="打印机", **params)
    assert any(notice in n for n in body["notices"]), body["notices"]
    assert client.get("/search", query_string={"q": "打印机", **params}).status_code == 200


def test_emoji_only_query_says_why_nothing_was_searched(client, shop):
    body = api(client, q="😀😀")
    assert body["total"] == 0 and any("表情" in n for n in body["notices"])


# ---------------------------------------------------------------------------------- page, CLI, health

def test_results_page(client, shop):
    p = shop["products"]
    html = client.get("/search?q=打印机").get_data(as_text=True)
    assert 'class="badge badge-sme"' in html
    assert f'href="/products/{p["printer"].id}"' in html
    assert "<mark>" in html and 'data-facet="zone"' in html and 'data-facet="brand"' in html
    assert "综合排序" in html and "价格从低到高" in html
    assert "福州鑫源信息技术有限公司" in html
    paged = client.get("/search?per_page=1").get_data(as_text=True)
    assert 'id="search-results"' in paged
    filtered = client.get("/search?q=打印机&zone=self").get_data(as_text=True)
    assert "清除全部筛选" in filtered


def test_health_says_which_engine_serves(client, shop):
    data = client.get("/api/v1/health").get_json()["search"]
    assert data["ok"] is True and data["engine"] in ("sqlite-fts5", "postgres-fts") and data["backlog"] == 0


def test_reindex_command_rebuilds_everything(client, shop, runner):
    from search.models import SearchDoc

    db.session.execute(text("DELETE FROM search_doc"))
    db.session.commit()
    assert api(client, q="打印机")["total"] == 0
    health = client.get("/api/v1/health").get_json()["search"]
    assert health["ok"] is False and "reindex" in health["error"]
    result = runner.invoke(args=["search", "reindex"])
    assert result.exit_code == 0, result.output
    assert "完成" in result.output
    assert db.session.scalar(select(func.count()).select_from(SearchDoc)) == 10
    assert api(client, q="打印机")["total"] == 4
    assert runner.invoke(args=["search", "status"]).exit_code == 0


def test_rebuild_index_function_reports_throughput(app, shop):
    from search.indexing import rebuild_index

    messages, batches = [], []
    result = rebuild_index(progress=messages.append, on_batch=lambda d, t: batches.append((d, t)), batch_size=4)
    assert result["products"] == 10 and result["per_second"] > 0
    assert batches[-1] == (10, 10) and len(batches) == 3 and messages


def test_bulk_rebuild_on_postgresql_swaps_in_a_new_table_with_every_index(app, client, shop, monkeypatch):
    """A large rebuild on PostgreSQL fills a new table, indexes it once and swaps it in: the same
    indexes and constraints under the same names, every document searchable. When a transaction
    keeps reading the old table past the lock timeout, the documents are written row by row into
    the live table instead: nothing is lost and no search waits behind the swap."""
    from sqlalchemy import inspect as sa_inspect

    from search import indexing

    if db.engine.dialect.name != "postgresql":
        pytest.skip("the bulk rebuild is PostgreSQL's")
    monkeypatch.setitem(app.config, "SEARCH_BULK_REBUILD_MIN", 1)

    def layout():
        insp = sa_inspect(db.engine)
        return (sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes("search_doc")),
                insp.get_pk_constraint("search_doc")["name"],
                sorted(u["name"] for u in insp.get_unique_constraints("search_doc")))

    before = layout()
    db.session.commit()  # this test's own session must not hold the table
    messages = []
    result = indexing.rebuild_index(progress=messages.append)
    assert result["products"] == 10 and any("切换" in m for m in messages)
    assert layout() == before
    assert not sa_inspect(db.engine).has_table(indexing.PG_BUILD_TABLE)
    assert ids(api(client, q="打印机"))[:1] and api(client, category="A02010100", sort="price_asc")["total"] == 3

    monkeypatch.setattr(indexing, "SWAP_LOCK_TIMEOUT", "200ms")
    with db.engine.connect() as reader:   # a long transaction that read the table
        reader.exec_driver_sql("BEGIN")
        reader.exec_driver_sql("SELECT count(*) FROM search_doc").scalar()
        messages = []
        result = indexing.rebuild_index(progress=messages.append)
        reader.exec_driver_sql("ROLLBACK")
    assert result["products"] == 10 and any("逐行写入" in m for m in messages)
    assert layout() == before
    assert not sa_inspect(db.engine).has_table(indexing.PG_BUILD_TABLE)
    assert db.session.execute(text("SELECT count(*) FROM search_doc")).scalar() == 10


@pytest.mark.parametrize("bulk", [True, False], ids=["new-table", "in-place"])
def test_changes_made_while_postgresql_rebuilds_are_in_the_index_afterwards(app, client, shop, monkeypatch, bulk):
    """Writers are not stopped by a rebuild: a product edited, one listed and one taken down while
    the rebuild reads the catalog are searchable as they are now once it has committed. (A bulk
    rebuild notes what writers touch and renders it again before the swap; an in-place rebuild
    holds the rows, and the writer's document replaces the rebuild's once it may go on.)"""
    import threading

    from sqlalchemy.orm import Session

    from catalog.models import Product
    from search import indexing

    if db.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite the rebuild holds the database's write lock: writers wait for it")
    monkeypatch.setitem(app.config, "SEARCH_BULK_REBUILD_MIN", 1 if bulk else 10**9)
    p = shop["products"]
    laptop_id, desk_id, rice_id = p["laptop"].id, p["desk"].id, p["rice"].id
    p["rice"].status = "delisted"
    db.session.commit()                       # off sale before the rebuild starts
    assert rice_id not in ids(api(client, q="大米"))
    writers = []

    def write():
        with app.app_context(), Session(db.engine) as other:
            other.get(Product, laptop_id).title = "联想ThinkPad E14 笔记本电脑 重建期间改名"
            other.get(Product, desk_id).status = "delisted"
            other.get(Product, rice_id).status = "listed"
            other.commit()

    def meanwhile(done, total):
        if not writers:                       # once, after the first batch
            writers.append(threading.Thread(target=write))
            writers[0].start()
            if bulk:
                writers[0].join(10)           # not held up: it finishes during the rebuild
                assert not writers[0].is_alive()

    db.session.commit()
    messages = []
    indexing.rebuild_index(on_batch=meanwhile, batch_size=2, progress=messages.append, include_es=False)
    writers[0].join(10)
    assert not writers[0].is_alive()
    if bulk:
        assert any("补写" in m for m in messages)
    db.session.expire_all()
    assert ids(api(client, q="重建期间改名")) == [laptop_id]
    assert desk_id not in ids(api(client, q="办公桌"))
    assert rice_id in ids(api(client, q="大米"))
    n = db.session.execute(text("SELECT count(*) FROM search_doc")).scalar()
    assert n == db.session.execute(text("SELECT count(*) FROM product WHERE status = 'listed'")).scalar()
    trigger = db.session.execute(text("SELECT count(*) FROM pg_trigger WHERE tgname = 'search_doc_rebuild_note' "
                                      "AND tgenabled <> 'D'"))
    assert trigger.scalar() == 0              # the change log is off again


def test_huge_result_sets_count_facets_on_a_sample_and_say_so(client, shop, monkeypatch):
    """Beyond FACET_SAMPLE matches facets are counted on a sample (scaled) and the total is an
    estimate (exact on SQLite when no filter applies); the page says 约 (about)."""
    import search.embedded_pg as es_pg
    import search.embedded_sqlite as es_sqlite

    monkeypatch.setattr(es_sqlite, "FACET_SAMPLE", 2)
    monkeypatch.setattr(es_pg, "FACET_SAMPLE", 2)
    data = api(client, q="打印机")
    assert len(data["items"]) == 4 and data["total_approximate"] is True
    assert "约" in client.get("/search?q=打印机").get_data(as_text=True).split('id="result-count"')[1][:40]
    browse = api(client)
    assert browse["total_approximate"] is True and len(browse["items"]) == 10
    if data["engine"] == "sqlite-fts5":  # FTS5 counts matches exactly; the estimate is the total there
        assert data["total"] == 4 and browse["total"] == 10
        assert sum(f["count"] for f in data["facets"]["zone"]) == 4
    small = api(client, q="联想 笔记本")
    assert small["total"] == 1 and small["total_approximate"] is False
    central = api(client, zone="central")           # browsing a large filtered set: sampled too
    assert len(central["items"]) == 6 and 1 <= central["total"] <= 10


def test_browsing_many_documents_sorted_walks_the_sort_index(client, shop, monkeypatch):
    import search.embedded_sqlite as es_sqlite

    monkeypatch.setattr(es_sqlite, "DENSE_ROWS", 2)
    for sort, key, reverse in (("price_asc", "price", False), ("price_desc", "price", True),
                               ("sales", "sales_count", True)):
        items = api(client, zone="central", sort=sort)["items"]
        values = [Decimal(str(i[key])) for i in items]
        assert len(items) == 6 and values == sorted(values, reverse=reverse)
    newest = api(client, zone="central", sort="newest")
    assert len(newest["items"]) == 6


def test_nothing_under_the_filters_says_how_many_without_them(client, shop):
    data = api(client, q="硒鼓", zone="pavilion")
    assert data["total"] == 0 and data["unfiltered_total"] == 1 and data["corrected"] is None
    assert any("去掉筛选条件" in n for n in data["notices"])
    assert data["related_categories"][0]["code"] == "A05040202"
    html = client.get("/search?q=硒鼓&zone=pavilion").get_data(as_text=True)
    assert "去掉筛选条件有1件" in html and "清除筛选条件后再试" in html


def test_checkout_stock_change_reaches_the_index_without_a_rebuild(app, make, monkeypatch):
    """Placing an order moves stock; the document's stock follows in the same transaction, through
    the light path (no re-segmentation of the text)."""
    from decimal import Decimal

    from mall.extensions import db
    from orders import services
    from search import indexing
    from search.models import SearchDoc

    with app.app_context():
        make.policy(effective_from=__import__("datetime").date(2025, 1, 1))
        make.solicitation("A05010201")
        supplier = make.supplier_org()
        unit = make.org("budget_unit")
        buyer = make.user("buyer", organisation=unit)
        budget = make.budget_line(unit, amount="100000.00")
        desk = make.product(supplier, zone="self", category_code="A05010201", price="1200.00", stock=5,
                            title="震旦 钢木办公桌")
        assert db.session.query(SearchDoc).filter_by(product_id=desk.id).one().stock == 5
        rebuilt = []
        real = indexing.reindex_products
        monkeypatch.setattr(indexing, "reindex_products", lambda conn, ids: rebuilt.append(ids) or real(conn, ids))
        services.place_order(buyer, budget_line_id=budget.id, lines=[(desk.id, 2)])
        db.session.commit()
        db.session.expire_all()
        assert db.session.query(SearchDoc).filter_by(product_id=desk.id).one().stock == 3
        assert all(desk.id not in ids for ids in rebuilt)
        assert Decimal(db.session.get(type(budget), budget.id).reserved) == Decimal("2400.00")


def test_stock_updates_pinned_by_id_skip_the_lookup_others_look_rows_up(app, make):
    """A stock move whose WHERE names the rows by id (every checkout) updates the documents without
    first selecting the ids; a refused move (condition false) leaves them alone; a stock update by
    any other condition still finds its rows first."""
    from sqlalchemy import event, update

    from catalog.models import Product
    from mall.extensions import db
    from search.indexing import _ids_named_by
    from search.models import SearchDoc

    t = Product.__table__
    assert _ids_named_by((t.c.id == 7) & (t.c.stock >= 2), t.c.id) == {7}
    assert _ids_named_by(t.c.id.in_([3, 4]), t.c.id) == {3, 4}
    assert _ids_named_by(t.c.stock >= 2, t.c.id) is None
    assert _ids_named_by((t.c.id == 7) | (t.c.stock >= 2), t.c.id) is None
    assert _ids_named_by(None, t.c.id) is None

    with app.app_context():
        supplier = make.supplier_org()
        desk = make.product(supplier, zone="self", category_code="A05010201", stock=5, title="钢木办公桌")
        chair = make.product(supplier, zone="self", category_code="A05010201", stock=9, title="办公椅")
        db.session.commit()
        desk_id, chair_id = desk.id, chair.id
        seen = []
        listen = lambda conn, cur, stmt, *a: seen.append(" ".join(stmt.split()))  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            res = db.session.execute(update(t).where(t.c.id == desk_id, t.c.stock >= 2).values(stock=t.c.stock - 2))
            assert res.rowcount == 1
            if db.engine.dialect.name == "postgresql":  # product and documents in one round trip
                assert len(seen) == 1 and seen[0].startswith("WITH moved AS (UPDATE product"), seen
            refused = db.session.execute(update(t).where(t.c.id == chair_id, t.c.stock >= 99)
                                         .values(stock=t.c.stock - 99))
            assert refused.rowcount == 0
            assert not any(s.startswith("SELECT product.id FROM") for s in seen), seen
            db.session.execute(update(t).where(t.c.title == "办公椅").values(stock=4))
            assert any(s.startswith("SELECT product.id FROM") for s in seen)
            # an ORM UPDATE by id (it also refreshes the session's objects) takes the plain path
            db.session.expire_all()
            orm = db.session.execute(update(Product).where(Product.id == desk_id).values(stock=Product.stock + 1))
            assert orm.rowcount == 1 and db.session.get(Product, desk_id).stock == 4
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
        db.session.commit()
        stock = dict(db.session.query(SearchDoc.product_id, SearchDoc.stock))
        assert stock[desk_id] == 4 and stock[chair_id] == 4
