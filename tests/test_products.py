"""Products of a supplier's storefront: services, pages and API, including ownership refusals
that change nothing."""
from __future__ import annotations

import datetime as dt
import io
import os
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from catalog import services
from catalog.models import PriceHistory, Product, ProductImage
from mall.extensions import db
from mall.problems import ServiceError
from mall.timeutil import today
from tests.conftest import bearer, csrf_token_from

DESK = "A05010201"
DESKTOP = "A02010105"


def png_bytes(size=(40, 30), fmt="PNG") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def fresh(product_id) -> Product:
    db.session.expire_all()
    return db.session.get(Product, product_id)


def self_data(**kw):
    data = {"title": "钢木办公桌 1.4米", "zone": "self", "category_code": DESK, "brand": "震旦", "model": "AD-140",
            "price": "1200.00", "market_price": "1350.00", "stock": "10", "unit": "张", "specs": "材质: 钢木"}
    data.update(kw)
    return data


def central_data(**kw):
    data = {"title": "联想 启天M437 台式计算机", "zone": "central", "category_code": DESKTOP, "brand": "联想",
            "model": "启天M437", "price": "5600.00", "stock": "20", "unit": "台"}
    data.update(kw)
    return data


@pytest.fixture
def seller(make):
    """A small-enterprise supplier user, with an open 自采区 solicitation for 办公桌."""
    make.solicitation(DESK)
    return make.user("supplier")


@pytest.fixture
def admitted(make, seller):
    """The seller admitted to an active agreement on 台式计算机 with a ¥5,800 price for 联想 启天M437."""
    org = seller.organisation
    return make.agreement(categories=(DESKTOP,), suppliers=(org,), prices=((org, "联想", "启天M437", "5800.00"),))


# ------------------------------------------------------------------ services

def test_create_self_zone_product_is_a_draft_with_sme_label_and_first_price(make, seller):
    p = services.create_product(self_data(), user=seller)
    db.session.commit()
    p = fresh(p.id)
    assert p.status == "draft" and p.listed_at is None
    assert p.supplier_id == seller.organisation_id
    assert p.price == Decimal("1200.00") and p.market_price == Decimal("1350.00") and p.stock == 10
    assert p.specs == {"材质": "钢木"} and p.unit == "张"
    assert p.is_sme is True  # factory supplier is a small enterprise
    assert [h.price for h in p.price_history] == [Decimal("1200.00")]


def test_large_supplier_products_are_not_sme(make):
    make.solicitation(DESK)
    u = make.user("supplier", organisation=make.supplier_org(sme_size="large"))
    p = services.create_product(self_data(), user=u)
    assert p.is_sme is False


def test_create_refused_outside_solicitation_saves_nothing(make):
    u = make.user("supplier")
    with pytest.raises(ServiceError) as exc:
        services.create_product(self_data(), user=u)
    assert [p.code for p in exc.value.problems] == ["self_category_not_solicited"]
    db.session.rollback()
    assert count(Product) == 0


def test_create_reports_all_field_problems_at_once(seller):
    with pytest.raises(ServiceError) as exc:
        services.create_product(self_data(title="", price="0", stock="-1", category_code="A99999999"), user=seller)
    assert {p.code for p in exc.value.problems} == {"title_required", "price_not_positive", "stock_negative",
                                                     "category_unknown"}


def test_central_product_listed_under_agreement_price(seller, admitted):
    p = services.create_product(central_data(), list_now=True, user=seller)
    db.session.commit()
    p = fresh(p.id)
    assert p.status == "listed" and p.listed_at is not None
    assert p.agreement_price.max_price == Decimal("5800.00")
    assert p.agreement.number == admitted.number


def test_central_price_above_agreement_is_refused_naming_both_figures(seller, admitted):
    with pytest.raises(ServiceError) as exc:
        services.create_product(central_data(price="5999.00"), user=seller)
    [problem] = exc.value.problems
    assert problem.code == "central_price_above_agreement"
    assert "¥5,999.00" in problem.message and "¥5,800.00" in problem.message


def test_central_product_of_non_entrant_is_refused(make, seller, admitted):
    other = make.user("supplier")
    with pytest.raises(ServiceError) as exc:
        services.create_product(central_data(), user=other)
    assert exc.value.problems[0].code == "central_not_admitted"


def test_price_change_appends_history_and_rechecks_agreement_price(seller, admitted):
    p = services.create_product(central_data(), list_now=True, user=seller)
    db.session.commit()
    services.update_product(p, {"price": "5500.00"}, user=seller)
    db.session.commit()
    services.update_product(p, {"title": "联想 启天M437（新版）"}, user=seller)  # no price change: no row
    db.session.commit()
    assert [h.price for h in fresh(p.id).price_history] == [Decimal("5600.00"), Decimal("5500.00")]
    with pytest.raises(ServiceError) as exc:
        services.update_product(p, {"price": "5800.01"}, user=seller)
    assert exc.value.problems[0].code == "central_price_above_agreement"
    db.session.rollback()
    p = fresh(p.id)
    assert p.price == Decimal("5500.00") and len(p.price_history) == 2


def test_edit_rechecks_zone_rules_but_stock_can_always_be_corrected(seller, admitted):
    p = services.create_product(central_data(), list_now=True, user=seller)
    db.session.commit()
    admitted.term_end = today() - dt.timedelta(days=1)  # the agreement ended yesterday
    db.session.commit()
    with pytest.raises(ServiceError) as exc:
        services.update_product(p, {"title": "改个名字"}, user=seller)
    assert exc.value.problems[0].code == "central_agreement_not_valid"
    db.session.rollback()
    services.update_stock(p, "0", user=seller)
    db.session.commit()
    p = fresh(p.id)
    assert p.stock == 0 and p.title == "联想 启天M437 台式计算机"
    with pytest.raises(ServiceError):
        services.update_stock(p, "-3", user=seller)


def test_moving_a_product_to_another_zone_is_checked(seller):
    p = services.create_product(self_data(), user=seller)
    db.session.commit()
    with pytest.raises(ServiceError) as exc:
        services.update_product(p, {"zone": "pavilion"}, user=seller)
    assert exc.value.problems[0].code == "pavilion_not_qualified"
    db.session.rollback()
    assert fresh(p.id).zone_code == "self"


def test_pavilion_product_needs_qualified_supplier(make):
    veg = dict(self_data(), zone="pavilion", category_code="A07031201", title="东乡土豆 5kg", unit="箱")
    unqualified = make.user("supplier")
    with pytest.raises(ServiceError) as exc:
        services.create_product(veg, user=unqualified)
    assert exc.value.problems[0].code == "pavilion_not_qualified"
    qualified = make.user("supplier", organisation=make.supplier_org(pavilion_status="qualified"))
    p = services.create_product(veg, list_now=True, user=qualified)
    assert p.status == "listed" and p.zone_code == "pavilion"


def test_listing_and_delisting(make, seller):
    p = services.create_product(self_data(), user=seller)
    services.list_product(p, user=seller)
    db.session.commit()
    assert fresh(p.id).status == "listed"
    services.delist_product(p, user=seller)
    db.session.commit()
    p = fresh(p.id)
    assert p.status == "delisted" and p.status_reason == "供应商下架"


def test_taken_down_product_cannot_be_relisted_by_supplier(make, seller):
    p = make.product(seller.organisation, status="taken_down", status_reason="价格高于市场价")
    with pytest.raises(ServiceError) as exc:
        services.list_product(p, user=seller)
    assert exc.value.problems[0].code == "product_taken_down" and "价格高于市场价" in exc.value.problems[0].message
    with pytest.raises(ServiceError):
        services.delist_product(p, user=seller)
    db.session.rollback()
    assert fresh(p.id).status == "taken_down"


def test_suspended_supplier_cannot_list_or_create_but_can_delist(make):
    make.solicitation(DESK)
    org = make.supplier_org(status="suspended")
    u = make.user("supplier", organisation=org)
    listed = make.product(org, status="listed")
    draft = make.product(org, status="draft")
    with pytest.raises(ServiceError) as exc:
        services.list_product(draft, user=u)
    assert exc.value.problems[0].code == "supplier_suspended"
    with pytest.raises(ServiceError):
        services.create_product(self_data(), user=u)
    db.session.rollback()
    services.delist_product(listed, user=u)
    db.session.commit()
    assert fresh(listed.id).status == "delisted" and fresh(draft.id).status == "draft"


def test_other_supplier_is_refused_and_nothing_changes(make, seller):
    p = services.create_product(self_data(), user=seller)
    db.session.commit()
    intruder = make.user("supplier")
    buyer = make.user("buyer")
    for call in (lambda: services.update_product(p, {"price": "1.00"}, user=intruder),
                 lambda: services.update_stock(p, 0, user=intruder),
                 lambda: services.list_product(p, user=intruder),
                 lambda: services.add_image(p, io.BytesIO(png_bytes()), user=intruder),
                 lambda: services.update_product(p, {"price": "1.00"}, user=buyer)):
        with pytest.raises(ServiceError) as exc:
            call()
        assert exc.value.status == 403
        db.session.rollback()
    with pytest.raises(ServiceError) as exc:
        services.create_product(self_data(), user=buyer)
    assert exc.value.status == 403
    db.session.rollback()
    p = fresh(p.id)
    assert p.price == Decimal("1200.00") and p.stock == 10 and p.status == "draft"
    assert count(ProductImage) == 0 and count(Product) == 1


def test_edit_audited(make, seller):
    from mall.audit import AuditRecord

    p = services.create_product(self_data(), user=seller)
    db.session.commit()
    services.update_product(p, {"price": "1100.00"}, user=seller)
    db.session.commit()
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "product.update")).all()[-1]
    assert rec.before["price"] == "1200.00" and rec.after["price"] == "1100.00"


# ------------------------------------------------------------------ images

def test_image_upload_checked_by_pillow_and_served(app, client, make, seller):
    p = services.create_product(self_data(), user=seller)
    db.session.commit()
    img = services.add_image(p, io.BytesIO(png_bytes()), user=seller)
    db.session.commit()
    assert img.content_type == "image/png" and (img.width, img.height) == (40, 30)
    assert img.filename.endswith(".png") and len(img.filename) == 36
    assert os.path.exists(os.path.join(app.config["UPLOAD_FOLDER"], "products", img.filename))
    assert fresh(p.id).image_path == img.filename
    resp = client.get(f"/media/products/{img.filename}")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    from PIL import Image

    with Image.open(io.BytesIO(resp.data)) as served:
        assert served.size == (40, 30) and served.getpixel((5, 5)) == (200, 30, 30)
    webp = services.add_image(p, io.BytesIO(png_bytes(fmt="WEBP")), user=seller)
    jpeg = services.add_image(p, io.BytesIO(png_bytes(fmt="JPEG")), user=seller)
    assert (webp.content_type, jpeg.content_type) == ("image/webp", "image/jpeg")


def test_uploaded_photo_loses_its_gps_and_camera_metadata_and_is_turned_upright(app, make, seller):
    """A phone photo carries where and when it was taken; the stored image keeps none of it, and
    the EXIF orientation is applied to the pixels instead."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"                      # Make
    exif[0x0112] = 6                                 # Orientation: rotate 90° clockwise to view
    exif[0x8825] = {1: "N", 2: (26.0, 4.0, 30.0)}    # GPSInfo: latitude of Fuzhou
    raw = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(raw, "JPEG", exif=exif)
    with Image.open(io.BytesIO(raw.getvalue())) as original:
        assert original.getexif().get(0x8825)        # the upload does carry GPS
    p = services.create_product(self_data(), user=seller)
    img = services.add_image(p, io.BytesIO(raw.getvalue()), user=seller)
    db.session.commit()
    stored = os.path.join(app.config["UPLOAD_FOLDER"], "products", img.filename)
    with Image.open(stored) as kept:
        assert dict(kept.getexif()) == {} and "exif" not in kept.info
        assert kept.size == (30, 40) and (img.width, img.height) == (30, 40)   # upright
    assert img.size == os.path.getsize(stored)


@pytest.mark.parametrize("payload,code", [
    (b"<?php echo 1; ?>", "image_invalid"),
    (png_bytes()[:60], "image_invalid"),         # truncated PNG
    (b"", "image_empty"),
])
def test_bad_image_refused_and_nothing_stored(app, make, seller, payload, code):
    p = services.create_product(self_data(), user=seller)
    db.session.commit()
    folder = os.path.join(app.config["UPLOAD_FOLDER"], "products")
    files_before = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    with pytest.raises(ServiceError) as exc:
        services.add_image(p, io.BytesIO(payload), user=seller)
    assert exc.value.problems[0].code == code
    db.session.rollback()
    assert count(ProductImage) == 0 and fresh(p.id).image_path is None
    assert (set(os.listdir(folder)) if os.path.isdir(folder) else set()) == files_before


def test_gif_and_oversized_images_refused(app, make, seller):
    p = services.create_product(self_data(), user=seller)
    db.session.commit()
    with pytest.raises(ServiceError) as exc:
        services.add_image(p, io.BytesIO(png_bytes(fmt="GIF")), user=seller)
    assert exc.value.problems[0].code == "image_type"
    old = app.config["MAX_IMAGE_BYTES"]
    app.config["MAX_IMAGE_BYTES"] = 100
    try:
        with pytest.raises(ServiceError) as exc:
            services.add_image(p, io.BytesIO(png_bytes(size=(200, 200))), user=seller)
        assert exc.value.problems[0].code == "image_too_large"
    finally:
        app.config["MAX_IMAGE_BYTES"] = old
    db.session.rollback()
    assert count(ProductImage) == 0


def test_media_route_serves_only_product_images(app, client):
    folder = os.path.join(app.config["UPLOAD_FOLDER"], "products")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "secret.png"), "wb") as fh:
        fh.write(b"not registered")
    assert client.get("/media/products/secret.png").status_code == 404
    assert client.get("/media/products/../secret_key").status_code == 404
    assert client.get("/media/products/%2e%2e%2fsecret_key").status_code == 404


def test_image_pages_upload_cover_and_delete(app, client, auth, make, seller):
    p = services.create_product(self_data(), user=seller)
    db.session.commit()
    auth.login(seller.username)
    for _ in range(2):
        resp = client.post(f"/store/products/{p.id}/images",
                           data={"image": (io.BytesIO(png_bytes()), "photo.png")},
                           content_type="multipart/form-data")
        assert resp.status_code == 302
    first, second = services.product_images(p.id)
    client.post(f"/store/products/{p.id}/images/action", data={"image_id": second.id, "action": "cover"})
    assert services.product_images(p.id)[0].id == second.id and fresh(p.id).image_path == second.filename
    client.post(f"/store/products/{p.id}/images/action", data={"image_id": second.id, "action": "delete"})
    assert [i.id for i in services.product_images(p.id)] == [first.id]
    assert fresh(p.id).image_path == first.filename
    assert not os.path.exists(os.path.join(app.config["UPLOAD_FOLDER"], "products", second.filename))
    resp = client.post(f"/store/products/{p.id}/images", data={"image": (io.BytesIO(b"GIF89a..."), "x.png")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "不是有效的图片" in resp.get_data(as_text=True)


# ------------------------------------------------------------------ pages

def test_store_pages_need_a_supplier(client, auth, make):
    assert client.get("/store/products").status_code == 302  # to the sign-in page
    buyer = make.user("buyer")
    auth.login(buyer.username)
    assert client.get("/store/products").status_code == 403
    assert client.post("/store/products/new", data=self_data()).status_code == 403
    assert count(Product) == 0


def test_my_products_lists_own_products_with_filters(client, auth, make, seller):
    mine = make.product(seller.organisation, title="我的办公桌", status="listed")
    make.product(seller.organisation, title="我的草稿椅", status="draft")
    make.product(make.supplier_org(), title="别人的办公桌")
    auth.login(seller.username)
    html = client.get("/store/products").get_data(as_text=True)
    assert "我的办公桌" in html and "我的草稿椅" in html and "别人的办公桌" not in html
    html = client.get("/store/products?status=draft").get_data(as_text=True)
    assert "我的草稿椅" in html and "我的办公桌" not in html
    html = client.get("/store/products?zone=central").get_data(as_text=True)
    assert "没有符合条件的商品" in html
    assert f'data-product-id="{mine.id}"' in client.get("/store/products?q=办公桌").get_data(as_text=True)
    assert client.get("/store").status_code == 200


def test_new_product_page_creates_and_lists(client, auth, seller):
    auth.login(seller.username)
    assert "发布商品" in client.get("/store/products/new").get_data(as_text=True)
    resp = client.post("/store/products/new", data=dict(self_data(), list_now="y"))
    assert resp.status_code == 302
    p = db.session.scalars(select(Product)).one()
    assert p.status == "listed" and p.title == "钢木办公桌 1.4米" and p.specs == {"材质": "钢木"}
    assert resp.headers["Location"].endswith(f"/store/products/{p.id}/edit")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "钢木办公桌 1.4米" in html and "价格记录" in html


def test_new_product_page_shows_rule_refusals_and_saves_nothing(client, auth, seller, admitted):
    auth.login(seller.username)
    html = client.post("/store/products/new", data=central_data(price="6000.00")).get_data(as_text=True)
    assert "¥6,000.00" in html and "¥5,800.00" in html and "协议价" in html
    html = client.post("/store/products/new", data=self_data(price="12.345", stock="1.5")).get_data(as_text=True)
    assert "单价最多保留两位小数" in html and "库存" in html and "须为整数" in html
    assert count(Product) == 0


def test_edit_page_updates_and_refuses_other_suppliers(client, auth, make, seller):
    p = make.product(seller.organisation, price="1200.00", status="listed")
    other = make.product(make.supplier_org(), price="999.00", title="别人的商品")
    auth.login(seller.username)
    html = client.get(f"/store/products/{p.id}/edit").get_data(as_text=True)
    assert "1200.00" in html and p.title in html
    data = self_data(title="改过的标题", price="1150.00")
    assert client.post(f"/store/products/{p.id}/edit", data=data).status_code == 302
    p = fresh(p.id)
    assert p.title == "改过的标题" and p.price == Decimal("1150.00") and len(p.price_history) == 1
    assert client.get(f"/store/products/{other.id}/edit").status_code == 403
    assert client.post(f"/store/products/{other.id}/edit", data=data).status_code == 403
    assert client.post(f"/store/products/{other.id}/quick", data={"price": "1", "stock": "1"}).status_code == 403
    assert client.post(f"/store/products/{other.id}/listing", data={"action": "delist"}).status_code == 403
    assert client.post(f"/store/products/{other.id}/images", data={"image": (io.BytesIO(png_bytes()), "a.png")},
                       content_type="multipart/form-data").status_code == 403
    other = fresh(other.id)
    assert other.title == "别人的商品" and other.price == Decimal("999.00") and other.status == "listed"
    assert count(ProductImage) == 0
    assert client.get("/store/products/999999/edit").status_code == 404


def test_quick_price_and_stock_edit(client, auth, make, seller):
    p = make.product(seller.organisation, price="1200.00", stock=5, status="listed")
    auth.login(seller.username)
    resp = client.post(f"/store/products/{p.id}/quick", data={"price": "1200.00", "stock": "8",
                                                              "next": "/store/products?status=listed"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/store/products?status=listed")
    assert fresh(p.id).stock == 8 and count(PriceHistory) == 0  # stock only: no price row
    client.post(f"/store/products/{p.id}/quick", data={"price": "1180.50", "stock": "8"})
    p = fresh(p.id)
    assert p.price == Decimal("1180.50") and [h.price for h in p.price_history] == [Decimal("1180.50")]
    html = client.post(f"/store/products/{p.id}/quick", data={"price": "-1", "stock": "8"},
                       follow_redirects=True).get_data(as_text=True)
    assert "单价须大于0" in html and fresh(p.id).price == Decimal("1180.50")
    resp = client.post(f"/store/products/{p.id}/quick", data={"price": "1", "stock": "1", "next": "https://evil.example"})
    assert resp.headers["Location"].endswith("/store/products")


def test_list_action_page(client, auth, make, seller):
    p = make.product(seller.organisation, status="draft")
    auth.login(seller.username)
    client.post(f"/store/products/{p.id}/listing", data={"action": "list"})
    p = fresh(p.id)
    assert p.status == "listed" and p.listed_at is not None
    client.post(f"/store/products/{p.id}/listing", data={"action": "delist"})
    assert fresh(p.id).status == "delisted"
    html = client.post(f"/store/products/{p.id}/listing", data={"action": "destroy"},
                       follow_redirects=True).get_data(as_text=True)
    assert "无效的操作" in html and fresh(p.id).status == "delisted"


def test_listing_refused_on_page_names_the_rule(client, auth, make):
    u = make.user("supplier")  # no solicitation for 办公桌
    p = make.product(u.organisation, status="draft")
    auth.login(u.username)
    html = client.post(f"/store/products/{p.id}/listing", data={"action": "list"},
                       follow_redirects=True).get_data(as_text=True)
    assert "自采区规则" in html and fresh(p.id).status == "draft"


def test_forms_require_csrf_token(app, client, auth, seller):
    auth.login(seller.username)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        resp = client.post("/store/products/new", data=self_data())
        assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
        html = client.get("/store/products/new").get_data(as_text=True)
        token = csrf_token_from(html)
        assert token
        assert client.post("/store/products/new", data=dict(self_data(), csrf_token=token)).status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert count(Product) == 1


# ------------------------------------------------------------------ API

def test_api_lists_only_sellable_products_with_filters_and_paging(client, make, seller):
    org = seller.organisation
    listed = make.product(org, price="1234.50", status="listed", category_code=DESK)
    make.product(org, status="draft")
    make.product(org, status="delisted")
    chair = make.product(org, status="listed", category_code="A05010301", title="办公椅")
    large = make.supplier_org(sme_size="large")
    big = make.product(large, status="listed")
    halted = make.product(org, status="listed", halted_reason="框架协议已到期")
    suspended = make.supplier_org(status="suspended")
    make.product(suspended, status="listed")
    data = client.get("/api/v1/products").get_json()
    assert data["total"] == 3 and data["page"] == 1 and data["per_page"] == 20
    assert {i["id"] for i in data["items"]} == {listed.id, chair.id, big.id}
    item = next(i for i in data["items"] if i["id"] == listed.id)
    assert item["price"] == "1234.50" and item["zone"] == "self" and item["supplier"]["id"] == org.id
    assert item["category_name"] == "办公桌" and item["is_sme"] is True
    assert halted.id not in {i["id"] for i in data["items"]}
    # 品目 filter includes descendants: A0501 (家具) covers 办公桌 and 办公椅
    parent = "A05010000"
    ids = {i["id"] for i in client.get(f"/api/v1/products?category={parent}").get_json()["items"]}
    assert chair.id in ids and listed.id in ids
    assert {i["id"] for i in client.get(f"/api/v1/products?category={DESK}").get_json()["items"]} >= {listed.id}
    assert chair.id not in {i["id"] for i in client.get(f"/api/v1/products?category={DESK}").get_json()["items"]}
    assert [i["id"] for i in client.get("/api/v1/products?sme=false").get_json()["items"]] == [big.id]
    assert client.get(f"/api/v1/products?supplier={large.id}").get_json()["total"] == 1
    assert client.get("/api/v1/products?zone=central").get_json()["total"] == 0
    page2 = client.get("/api/v1/products?per_page=2&page=2").get_json()
    assert page2["total"] == 3 and len(page2["items"]) == 1 and page2["page"] == 2
    assert client.get("/api/v1/products?per_page=1000").status_code == 422
    assert client.get("/api/v1/products?category=Z99").get_json()["problems"][0]["code"] == "category_unknown"


def test_api_status_filter_only_for_the_supplier_itself(client, make, seller):
    org = seller.organisation
    draft = make.product(org, status="draft")
    make.product(make.supplier_org(), status="draft")
    t = make.token(seller)
    data = client.get("/api/v1/products?status=draft", headers=bearer(t)).get_json()
    assert [i["id"] for i in data["items"]] == [draft.id]
    assert client.get("/api/v1/products?status=all", headers=bearer(t)).get_json()["total"] == 1
    assert client.get("/api/v1/products?status=draft").status_code == 401
    buyer_t = make.token(make.user("buyer"))
    assert client.get("/api/v1/products?status=draft", headers=bearer(buyer_t)).status_code == 403
    other = make.supplier_org()
    resp = client.get(f"/api/v1/products?status=draft&supplier={other.id}", headers=bearer(t))
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "not_owner"


def test_api_product_detail_hides_unsellable_products_from_others(client, make, seller):
    draft = make.product(seller.organisation, status="draft", price="10.00")
    listed = make.product(seller.organisation, status="listed")
    assert client.get(f"/api/v1/products/{listed.id}").status_code == 200
    assert client.get(f"/api/v1/products/{draft.id}").status_code == 404
    other_t = make.token(make.user("supplier"))
    assert client.get(f"/api/v1/products/{draft.id}", headers=bearer(other_t)).status_code == 404
    data = client.get(f"/api/v1/products/{draft.id}", headers=bearer(make.token(seller))).get_json()
    assert data["status"] == "draft" and data["price"] == "10.00"
    auditor_t = make.token(make.user("auditor"))
    assert client.get(f"/api/v1/products/{draft.id}", headers=bearer(auditor_t)).status_code == 200


def test_api_create_product(client, make, seller, admitted):
    t = make.token(seller)
    body = {"title": "联想 启天M437", "category_code": DESKTOP, "zone": "central", "brand": "联想",
            "model": "启天M437", "price": 5600.5, "market_price": "6200", "stock": 3, "unit": "台",
            "specs": {"CPU": "i5-12500", "内存": "16GB"}, "list": True}
    resp = client.post("/api/v1/products", json=body, headers=bearer(t))
    assert resp.status_code == 201, resp.get_json()
    data = resp.get_json()
    assert data["price"] == "5600.50" and data["market_price"] == "6200.00" and data["status"] == "listed"
    assert data["agreement_price"]["max_price"] == "5800.00" and data["specs"]["CPU"] == "i5-12500"
    assert data["agreement_price"]["agreement_number"] == admitted.number


def test_api_create_refusals(client, make, seller, admitted):
    t = make.token(seller)
    resp = client.post("/api/v1/products", json={"title": "", "price": "12.345", "stock": -1, "zone": "self",
                                                  "category_code": DESK}, headers=bearer(t))
    assert resp.status_code == 422
    assert {p["code"] for p in resp.get_json()["problems"]} == {"title_required", "price_too_many_decimals",
                                                                "stock_negative"}
    resp = client.post("/api/v1/products", json={"title": "联想", "category_code": DESKTOP, "zone": "central",
                                                  "brand": "联想", "model": "启天M437", "price": "5900",
                                                  "stock": 1}, headers=bearer(t))
    [problem] = resp.get_json()["problems"]
    assert resp.status_code == 422 and problem["code"] == "central_price_above_agreement"
    assert problem["figures"]["price"] == "5900.00" and problem["figures"]["agreement_price"] == "5800.00"
    assert client.post("/api/v1/products", json={"title": "x", "price": [1]}, headers=bearer(t)).status_code == 422
    assert client.post("/api/v1/products", json={"title": "x", "colour": "red"}, headers=bearer(t)).status_code == 422
    assert client.post("/api/v1/products", json=central_data()).status_code == 401
    buyer_t = make.token(make.user("buyer"))
    assert client.post("/api/v1/products", json=central_data(), headers=bearer(buyer_t)).status_code == 403
    assert count(Product) == 0


def test_api_patch_by_owner_and_refusal_of_others(client, make, seller):
    p = make.product(seller.organisation, price="1200.00", stock=5, status="draft")
    t = make.token(seller)
    resp = client.patch(f"/api/v1/products/{p.id}", json={"price": "1150", "title": "新标题", "status": "listed"},
                        headers=bearer(t))
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert data["price"] == "1150.00" and data["title"] == "新标题" and data["status"] == "listed"
    assert [h.price for h in fresh(p.id).price_history] == [Decimal("1150.00")]
    assert client.patch(f"/api/v1/products/{p.id}", json={"stock": 0}, headers=bearer(t)).get_json()["stock"] == 0
    resp = client.patch(f"/api/v1/products/{p.id}", json={"price": "0"}, headers=bearer(t))
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["code"] == "price_not_positive"
    other_t = make.token(make.user("supplier"))
    resp = client.patch(f"/api/v1/products/{p.id}", json={"price": "1.00", "status": "delisted"},
                        headers=bearer(other_t))
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "not_owner"
    assert client.patch(f"/api/v1/products/{p.id}", json={"price": "1.00"}).status_code == 401
    p = fresh(p.id)
    assert p.price == Decimal("1150.00") and p.status == "listed" and p.stock == 0
    resp = client.patch(f"/api/v1/products/{p.id}", json={"status": "delisted"}, headers=bearer(t))
    assert resp.get_json()["status"] == "delisted"
    assert client.patch("/api/v1/products/999999", json={"stock": 1}, headers=bearer(t)).status_code == 404


def test_openapi_documents_product_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/products", "/api/v1/products/{product_id}", "/api/v1/suppliers/{supplier_id}"} <= set(paths)
    assert {"get", "post"} <= set(paths["/api/v1/products"]) and "patch" in paths["/api/v1/products/{product_id}"]
