"""Bulk import/export of products as .xlsx: template, export, import (create/update), and the
all-or-nothing refusal of bad files and bad rows with a row-by-row report."""
from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from catalog.models import PriceHistory, Product
from mall.audit import AuditRecord
from mall.extensions import db
from suppliers import xlsx

DESK = "A05010201"
CHAIR = "A05010301"
HEADERS = [c.header for c in xlsx.COLUMNS]


def book(rows, headers=HEADERS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "商品"
    ws.append(headers)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def row(**kw):
    values = {"id": None, "title": "钢木办公桌 1.4米", "zone": "自采区", "category_code": DESK, "brand": "震旦",
              "model": "AD-140", "manufacturer": "震旦（中国）有限公司", "unit": "张", "price": 1200,
              "market_price": "1350.00", "stock": 10, "specs": "材质:钢木；尺寸:1400×700", "description": "",
              "listed": "是"}
    values.update(kw)
    return [values[c.key] for c in xlsx.COLUMNS]


def read(data: bytes):
    wb = load_workbook(io.BytesIO(data))
    return wb, [list(r) for r in wb["商品"].iter_rows(values_only=True)]


def products_count(*where) -> int:
    return db.session.scalar(select(func.count()).select_from(Product).where(*where))


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditRecord))


@pytest.fixture
def seller(make):
    make.solicitation(DESK)
    make.solicitation(CHAIR, title="办公椅公开征集")
    return make.user("supplier")


@pytest.fixture
def logged_in(client, auth, seller):
    auth.login(seller.username)
    return client


def upload(client, data: bytes, name="products.xlsx", **form):
    return client.post("/store/import", data={"file": (io.BytesIO(data), name), **form},
                       content_type="multipart/form-data")


# ------------------------------------------------------------------ template and export

def test_template_has_documented_headers(logged_in):
    resp = logged_in.get("/store/import-template.xlsx")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in resp.headers["Content-Disposition"]
    wb, rows = read(resp.data)
    assert rows == [HEADERS]
    assert "商品ID(id)" in HEADERS and "单价(元)*(price)" in HEADERS
    help_text = " ".join(str(c) for r in wb["填写说明"].iter_rows(values_only=True) for c in r if c)
    assert "任何一行有错误，所有行都不会导入" in help_text and "品牌+型号" in help_text


def test_export_contains_only_own_products(logged_in, make, seller):
    org = seller.organisation
    p = make.product(org, title="导出测试桌", price="1234.50", stock=7, status="listed", specs={"颜色": "胡桃木"})
    make.product(org, title="草稿椅", status="draft", category_code=CHAIR)
    make.product(make.supplier_org(), title="别人的商品")
    resp = logged_in.get("/store/export.xlsx")
    assert resp.status_code == 200
    _, rows = read(resp.data)
    assert rows[0] == HEADERS and len(rows) == 3
    first = dict(zip([c.key for c in xlsx.COLUMNS], rows[1]))
    assert first["id"] == p.id and first["title"] == "导出测试桌" and first["zone"] == "自采区"
    assert Decimal(str(first["price"])) == Decimal("1234.50") and first["stock"] == 7
    assert first["specs"] == "颜色:胡桃木" and first["listed"] == "是"
    assert rows[2][1] == "草稿椅" and rows[2][-1] == "否"


def test_export_and_template_need_a_supplier(client, auth, make):
    assert client.get("/store/export.xlsx").status_code == 302
    auth.login(make.user("buyer").username)
    assert client.get("/store/export.xlsx").status_code == 403
    assert client.get("/store/import-template.xlsx").status_code == 403
    assert upload(client, book([row()])).status_code == 403
    assert products_count() == 0


# ------------------------------------------------------------------ import

def test_import_creates_and_lists_products(logged_in, seller):
    data = book([row(), row(title="人体工学办公椅", category_code=CHAIR, model="CH-1", price="899.9", listed=""),
                 row(title="会议桌", model="MT-2", listed="否", specs=None, market_price=None)])
    resp = upload(logged_in, data)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/store/products")
    items = db.session.scalars(select(Product).order_by(Product.id)).all()
    assert [(p.title, p.status) for p in items] == [("钢木办公桌 1.4米", "listed"), ("人体工学办公椅", "draft"),
                                                   ("会议桌", "draft")]
    assert items[0].supplier_id == seller.organisation_id and items[0].price == Decimal("1200.00")
    assert items[0].specs == {"材质": "钢木", "尺寸": "1400×700"} and items[0].listed_at is not None
    assert items[1].price == Decimal("899.90") and items[2].market_price is None
    assert all(p.is_sme for p in items)
    html = logged_in.get("/store/products").get_data(as_text=True)
    assert "导入成功" in html and "新增3个" in html


def test_import_updates_by_id_and_by_brand_model(logged_in, make, seller):
    org = seller.organisation
    by_id = make.product(org, title="旧标题A", model="A-1", price="100.00", stock=1, status="listed")
    by_model = make.product(org, title="旧标题B", brand="震旦", model="B-2", price="200.00", status="listed")
    data = book([row(id=by_id.id, title="新标题A", model="A-1", price="95.00", stock=3, listed=""),
                 row(id=None, title="新标题B", brand="震旦", model="B-2", price=200, listed="否")])
    assert upload(logged_in, data).status_code == 302
    db.session.expire_all()
    a, b = db.session.get(Product, by_id.id), db.session.get(Product, by_model.id)
    assert (a.title, a.price, a.stock, a.status) == ("新标题A", Decimal("95.00"), 3, "listed")
    assert (b.title, b.price, b.status) == ("新标题B", Decimal("200.00"), "delisted")
    assert [h.price for h in a.price_history] == [Decimal("95.00")]  # the price changed: one history row
    assert b.price_history == []
    assert products_count() == 2


def test_export_edit_import_round_trip(logged_in, make, seller):
    org = seller.organisation
    p = make.product(org, title="往返测试", price="1500.00", stock=4, status="listed", specs={"材质": "实木"})
    wb, rows = read(logged_in.get("/store/export.xlsx").data)
    ws = wb["商品"]
    price_col = [c.key for c in xlsx.COLUMNS].index("price") + 1
    ws.cell(row=2, column=price_col, value=1450.5)
    out = io.BytesIO()
    wb.save(out)
    assert upload(logged_in, out.getvalue()).status_code == 302
    db.session.expire_all()
    p = db.session.get(Product, p.id)
    assert p.price == Decimal("1450.50") and p.specs == {"材质": "实木"} and p.status == "listed" and p.stock == 4
    assert products_count() == 1


def test_bad_rows_change_nothing_and_are_reported_row_by_row(logged_in, make, seller):
    existing = make.product(seller.organisation, title="不应被修改", price="300.00", status="listed")
    before = audit_count()
    data = book([
        row(title="第一行没问题", model="OK-1"),
        row(title="", model="X-2", price="12.345"),
        row(title="品目不对", model="X-3", category_code="A99999999"),
        row(title="没有征集", model="X-4", category_code="A02021000"),
        row(id=existing.id, title="想改但被连累", model=existing.model, price=1),
        row(title="上架列写错", model="X-6", listed="也许"),
        row(title="库存不对", model="X-7", stock="五"),
    ])
    resp = upload(logged_in, data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "导入失败，未做任何修改" in html
    assert 'data-row="3"' in html and "商品名称不能为空" in html and "单价最多保留两位小数" in html
    assert 'data-row="4"' in html and "A99999999" in html
    assert 'data-row="5"' in html and "自采区规则" in html
    assert 'data-row="7"' in html and "请填写“是”或“否”" in html
    assert 'data-row="8"' in html and "库存" in html
    assert 'data-row="2"' not in html and 'data-row="6"' not in html
    db.session.expire_all()
    assert products_count() == 1
    assert db.session.get(Product, existing.id).title == "不应被修改"
    assert db.session.scalar(select(func.count()).select_from(PriceHistory)) == 0
    assert audit_count() == before


def test_report_names_row_and_column(seller):
    with pytest.raises(xlsx.ImportRejected) as exc:
        xlsx.import_products(io.BytesIO(book([row(), row(model="M-2", price="-5")])), user=seller)
    [err] = exc.value.errors
    assert (err.row, err.column, err.code) == (3, "单价(元)", "price_not_positive")
    assert "单价须大于0" in err.message
    assert exc.value.problems[0].message.startswith("第3行 单价(元)：")


def test_foreign_or_unknown_ids_and_duplicates_are_refused(logged_in, make, seller):
    foreign = make.product(make.supplier_org(), title="别人的商品", price="500.00")
    mine = make.product(seller.organisation, title="我的", model="MY-1")
    data = book([row(id=foreign.id, title="篡改别人的商品", price=1),
                 row(id=999999, title="不存在"),
                 row(id=mine.id, model="MY-1"), row(id=mine.id, model="MY-1"),
                 row(title="同型号1", brand="震旦", model="DUP"), row(title="同型号2", brand="震旦", model="DUP")])
    html = upload(logged_in, data).get_data(as_text=True)
    assert f"商品ID {foreign.id} 不存在或不属于本单位" in html and "商品ID 999999 不存在" in html
    assert "与第4行重复" in html and "与第6行重复" in html
    db.session.expire_all()
    f = db.session.get(Product, foreign.id)
    assert f.title == "别人的商品" and f.price == Decimal("500.00")
    assert products_count() == 2


def test_ambiguous_model_needs_an_id(logged_in, make, seller):
    org = seller.organisation
    make.product(org, brand="震旦", model="SAME")
    make.product(org, brand="震旦", model="SAME")
    html = upload(logged_in, book([row(brand="震旦", model="SAME")])).get_data(as_text=True)
    assert "匹配到本单位2个商品" in html and products_count() == 2


@pytest.mark.parametrize("data,name,message", [
    (b"id,title\n1,desk\n", "products.xlsx", "不是有效的 Excel"),
    (b"PK\x03\x04broken zip", "products.xlsx", "不是有效的 Excel"),
    (b"", "products.xlsx", "请选择要导入的 .xlsx 文件"),
])
def test_bad_files_are_refused(logged_in, data, name, message):
    html = upload(logged_in, data, name).get_data(as_text=True)
    assert message in html and products_count() == 0


def test_wrong_headers_are_refused(logged_in):
    html = upload(logged_in, book([["桌子", 100]], headers=["名称", "价格"])).get_data(as_text=True)
    assert "未知的列“名称”" in html and products_count() == 0
    missing = [h for h in HEADERS if "(price)" not in h and "(id)" not in h]
    html = upload(logged_in, book([row()[1:8] + row()[9:]], headers=missing)).get_data(as_text=True)
    assert "缺少必需的列" in html and "单价(元)*(price)" in html and products_count() == 0
    html = upload(logged_in, book([])).get_data(as_text=True)
    assert "没有商品数据行" in html


def test_price_and_stock_update_file_with_id_column_only(logged_in, make, seller):
    p = make.product(seller.organisation, title="只改价", price="100.00", stock=1)
    data = book([[p.id, 88.8, 9]], headers=["商品ID(id)", "单价(元)*(price)", "库存*(stock)"])
    assert upload(logged_in, data).status_code == 302
    db.session.expire_all()
    p = db.session.get(Product, p.id)
    assert (p.title, p.price, p.stock) == ("只改价", Decimal("88.80"), 9)


def test_dry_run_checks_without_saving(logged_in, seller):
    html = upload(logged_in, book([row(), row(model="M-2")]), dry_run="y").get_data(as_text=True)
    assert "校验通过" in html and "将新增 2 个" in html
    assert products_count() == 0


def test_too_many_rows_refused(monkeypatch, logged_in):
    monkeypatch.setattr(xlsx, "MAX_ROWS", 2)
    html = upload(logged_in, book([row(model=f"M{i}") for i in range(3)])).get_data(as_text=True)
    assert "每个文件最多导入2行商品" in html and products_count() == 0
