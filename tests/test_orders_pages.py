"""Buying pages: cart (changes noticed, rules shown before submission), orders list and detail
with the role's actions, transitions from the page, budget lines."""
from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from mall.extensions import db
from tests.test_checkout import _fast_password_hashing, build_world, fresh  # noqa: F401 (autouse fixture)


def text(resp) -> str:
    return resp.get_data(as_text=True)


def place(w, *lines):
    from orders import services

    order, _ = services.place_order(w.buyer, budget_line_id=w.budget.id, lines=list(lines) or [(w.central.id, 2)])
    db.session.commit()
    return order


# ------------------------------------------------------------------ cart

def test_cart_requires_a_signed_in_buyer(client, auth, make):
    w = build_world(make)
    resp = client.get("/cart")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    auth.login(w.supplier_user.username)
    assert client.get("/cart").status_code == 403
    assert client.post("/cart/add", data={"product_id": w.desk.id, "quantity": 1}).status_code == 403


def test_add_to_cart_from_product_page_redirects_back_with_flash(client, auth, make):
    from orders.models import CartItem

    w = build_world(make)
    auth.login(w.buyer.username)
    product_url = f"/products/{w.desk.id}"
    resp = client.post("/cart/add", data={"product_id": w.desk.id, "quantity": 3},
                       headers={"Referer": f"http://localhost{product_url}"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(product_url)
    client.post("/cart/add", data={"product_id": w.desk.id, "quantity": 2})
    item = db.session.scalars(select(CartItem)).one()
    assert item.quantity == 5 and item.price_seen == Decimal("1200.00")
    page = text(client.get(product_url))
    assert "已加入购物车" in page
    # an external referrer is not followed
    resp = client.post("/cart/add", data={"product_id": w.desk.id, "quantity": 1},
                       headers={"Referer": "http://evil.example/x"})
    assert resp.headers["Location"].endswith("/cart")


def test_add_to_cart_refuses_bad_input_without_saving(client, auth, make):
    from orders.models import CartItem

    w = build_world(make)
    w.central.status = "delisted"
    db.session.commit()
    auth.login(w.buyer.username)
    for data in ({"product_id": w.desk.id, "quantity": 0}, {"product_id": w.desk.id, "quantity": "abc"},
                 {"product_id": w.central.id, "quantity": 1}):
        resp = client.post("/cart/add", data=data, follow_redirects=True)
        assert resp.status_code == 200
    assert db.session.scalars(select(CartItem)).all() == []
    assert client.post("/cart/add", data={"product_id": 999999, "quantity": 1}).status_code == 404


def test_cart_groups_by_supplier_and_shows_rule_problems_before_submission(client, auth, make):
    w = build_world(make, budget_amount="5000.00")
    other = make.supplier_org(name="闽江家具有限公司")
    chair = make.product(other, zone="self", category_code="A05010201", price="300.00", title="人体工学椅")
    auth.login(w.buyer.username)
    client.post("/cart/add", data={"product_id": w.central.id, "quantity": 2})   # ¥9,600 > ¥5,000 budget
    client.post("/cart/add", data={"product_id": chair.id, "quantity": 1})
    page = text(client.get("/cart"))
    groups = re.findall(r'data-group="([^"]+)"', page)
    assert len(groups) == 2
    assert "福州联信科技有限公司" in page and "闽江家具有限公司" in page
    assert "【预算指标】" in page and "不足以支付订单金额¥9,600.00" in page
    assert 'data-code="budget_insufficient"' in page
    # the refused group cannot be submitted; the other can
    central_group = page[page.index(f'id="group-{groups[0]}"'):page.index(f'id="group-{groups[1]}"')]
    assert re.search(r'name="group" value="[^"]+" disabled', central_group)


def test_cart_shows_warnings_and_direct_limit_hint(client, auth, make):
    w = build_world(make, budget_amount="900000.00", desk_stock=1000)
    auth.login(w.buyer.username)
    client.post("/cart/add", data={"product_id": w.desk.id, "quantity": 680})    # ¥816,000
    page = text(client.get("/cart"))
    assert 'data-code="direct_limit_exceeded"' in page and "二次竞价" in page
    assert 'data-code="cumulative_threshold_warning"' in page and "80.0%" not in page  # 81.6%
    assert "81.6%" in page


def test_cart_notices_price_and_stock_changes_and_unsellable(client, auth, make):
    from orders.models import CartItem

    w = build_world(make)
    auth.login(w.buyer.username)
    client.post("/cart/add", data={"product_id": w.desk.id, "quantity": 2})
    client.post("/cart/add", data={"product_id": w.central.id, "quantity": 1})
    w.desk.price = Decimal("1300.00")
    w.central.stock = 0
    db.session.commit()
    page = text(client.get("/cart"))
    assert "价格已由¥1,200.00调整为¥1,300.00" in page and "确认新价格" in page
    assert "库存不足" in page
    assert 'data-code="price_increased"' in page
    # checkout refuses the raised price until the buyer confirms it
    token = re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)
    desk_group = next(g for g in re.findall(r'data-group="([^"]+)"', page) if "-self-" in g)
    resp = client.post("/cart/checkout", data={"token": token, "group": desk_group,
                                               f"budget_{desk_group}": w.budget.id}, follow_redirects=True)
    assert "请在购物车确认新价格后再提交" in text(resp)
    item = db.session.scalars(select(CartItem).where(CartItem.product_id == w.desk.id)).one()
    client.post("/cart/update", data={"item_id": item.id, "action": "accept_price"})
    assert fresh(item).price_seen == Decimal("1300.00")
    resp = client.post("/cart/checkout", data={"token": token, "group": desk_group,
                                               f"budget_{desk_group}": w.budget.id})
    assert resp.status_code == 302 and "/orders/" in resp.headers["Location"]
    # a product taken down is shown as not buyable
    w.central.status = "taken_down"
    db.session.commit()
    assert "已被监管部门下架" in text(client.get("/cart"))


def test_cart_quantity_update_and_remove(client, auth, make):
    from orders.models import CartItem

    w = build_world(make)
    auth.login(w.buyer.username)
    client.post("/cart/add", data={"product_id": w.desk.id, "quantity": 1})
    item = db.session.scalars(select(CartItem)).one()
    client.post("/cart/update", data={"item_id": item.id, "quantity": 7, "action": "update"})
    assert fresh(item).quantity == 7
    resp = client.post("/cart/update", data={"item_id": item.id, "quantity": 0, "action": "update"},
                       follow_redirects=True)
    assert "数量须在1至100000之间" in text(resp) and fresh(item).quantity == 7
    # someone else's cart item is not found
    other = make.user("buyer")
    auth.logout()
    auth.login(other.username)
    assert client.post("/cart/update", data={"item_id": item.id, "action": "remove"}).status_code == 404
    auth.logout()
    auth.login(w.buyer.username)
    client.post("/cart/update", data={"item_id": item.id, "action": "remove"})
    assert db.session.scalars(select(CartItem)).all() == []
    assert "购物车是空的" in text(client.get("/cart"))


# ------------------------------------------------------------------ orders list and detail

def test_orders_list_is_role_scoped_with_filters(client, auth, make):
    from orders import services

    w = build_world(make)
    a = place(w, (w.desk.id, 1))
    b = place(w, (w.central.id, 1))
    services.transition(b, "confirmed", user=w.supplier_user)
    db.session.commit()
    auth.login(w.buyer.username)
    page = text(client.get("/orders"))
    assert a.number in page and b.number in page
    page = text(client.get("/orders?status=confirmed"))
    assert b.number in page and a.number not in page
    page = text(client.get(f"/orders?q={a.number}"))
    assert a.number in page and b.number not in page
    assert client.get("/orders?status=nonsense&page=-3").status_code == 200
    auth.logout()
    auth.login(w.supplier_user.username)
    assert a.number in text(client.get("/orders"))
    auth.logout()
    stranger = make.user("buyer")
    auth.login(stranger.username)
    page = text(client.get("/orders"))
    assert a.number not in page and "没有符合条件的订单" in page
    assert client.get(f"/orders/{a.id}").status_code == 404
    auth.logout()
    auth.login(make.user("auditor").username)
    assert a.number in text(client.get("/orders"))


def test_order_detail_shows_lines_savings_budget_timeline_snapshot_and_role_actions(client, auth, make):
    w = build_world(make)
    order = place(w, (w.central.id, 2))
    auth.login(w.supplier_user.username)
    page = text(client.get(f"/orders/{order.id}"))
    assert order.number in page and "联想启天M450台式计算机" in page
    assert "¥9,600.00" in page and "¥400.00" in page                      # total and savings
    assert 'id="rule-snapshot"' in page and "2025年版" in page and "¥200,000.00" in page
    assert 'data-transition="confirmed"' in page and 'data-transition="rejected"' in page
    assert 'data-transition="cancelled"' not in page
    assert "拒绝理由" in page
    assert w.budget.project_code not in page                               # suppliers do not see the budget line
    auth.logout()
    auth.login(w.buyer.username)
    page = text(client.get(f"/orders/{order.id}"))
    assert 'data-transition="cancelled"' in page and 'data-transition="confirmed"' not in page
    assert w.budget.project_code in page and 'id="status-timeline"' in page
    auth.logout()
    auth.login(make.user("auditor").username)
    page = text(client.get(f"/orders/{order.id}"))
    assert "data-transition=" not in page


def test_transition_from_the_page(client, auth, make):
    w = build_world(make)
    order = place(w, (w.desk.id, 2))
    auth.login(w.supplier_user.username)
    resp = client.post(f"/orders/{order.id}/transition", data={"to": "rejected", "note": ""}, follow_redirects=True)
    assert "须填写拒绝理由" in text(resp) and fresh(order).status == "submitted"
    resp = client.post(f"/orders/{order.id}/transition", data={"to": "accepted", "note": "x"}, follow_redirects=True)
    assert "不能变更为" in text(resp) and fresh(order).status == "submitted"
    resp = client.post(f"/orders/{order.id}/transition", data={"to": "confirmed"}, follow_redirects=True)
    assert "已变更为“供应商已确认”" in text(resp) and fresh(order).status == "confirmed"
    page = text(resp)
    assert 'data-transition="shipped"' in page
    auth.logout()
    auth.login(w.buyer.username)
    resp = client.post(f"/orders/{order.id}/transition", data={"to": "shipped"}, follow_redirects=True)
    assert "无权执行" in text(resp) and fresh(order).status == "confirmed"
    resp = client.post(f"/orders/{order.id}/transition", data={"to": "cancelled", "note": "项目调整"},
                       follow_redirects=True)
    assert fresh(order).status == "cancelled" and "项目调整" in text(resp)
    assert fresh(w.budget).reserved == 0 and fresh(w.desk).stock == 50


def test_budget_page(client, auth, make):
    w = build_world(make)
    place(w, (w.desk.id, 2))
    auth.login(w.buyer.username)
    page = text(client.get("/budget"))
    assert w.budget.project_code in page
    assert "¥500,000.00" in page and "¥2,400.00" in page and "¥497,600.00" in page
    auth.logout()
    auth.login(w.supplier_user.username)
    assert client.get("/budget").status_code == 403
