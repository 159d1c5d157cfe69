"""Policy versions (集中采购目录及限额标准): lookup by date, validation of the figures, publishing
without overlapping periods, freezing once in force, and reading the version in force."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import pytest
from flask_login import login_user
from sqlalchemy import func, select

from catalog import policy as pol
from catalog.models import CentralizedItem, PolicyVersion
from mall.audit import AuditRecord
from mall.extensions import db
from mall.problems import ServiceError
from mall.timeutil import today
from tests.conftest import bearer


@pytest.fixture
def acting(app, ctx):
    @contextmanager
    def as_user(user):
        with app.test_request_context("/"):
            login_user(user)
            yield user
    return as_user


def raw(**over) -> dict:
    """A valid version as an operator types it (ratios as fractions)."""
    data = {"name": "2027年版", "effective_from": "2027-01-01", "effective_to": "",
            "decentralized_threshold_goods": "1,000,000", "decentralized_threshold_services": "1000000",
            "decentralized_threshold_works": "1200000", "open_tender_threshold_goods": "2000000",
            "open_tender_threshold_services": "2000000", "open_tender_threshold_works": "4000000",
            "direct_purchase_limit": "200000", "sme_price_deduction": "0.10", "split_window_days": "90",
            "split_action": "refuse", "cumulative_warning_ratio": "0.80", "note": ""}
    data.update(over)
    return data


ITEMS = "A02010105 - 台式计算机\nA02010108\nA02020400 50000 单项或批量5万元以上\nA08060301"


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# ------------------------------------------------------------------ lookup (reused by checkout)

def test_version_in_force_by_date_and_amount_condition(ctx, make):
    old = make.policy(name="2024年版", effective_from=dt.date(2024, 1, 1), effective_to=dt.date(2024, 12, 31))
    new = make.policy(name="2025年版", effective_from=dt.date(2025, 1, 1))
    assert pol.policy_in_force(dt.date(2024, 6, 1)).id == old.id
    assert pol.policy_in_force(dt.date(2025, 6, 1)).id == new.id
    assert pol.policy_in_force(dt.date(2023, 6, 1)) is None
    # 多功能一体机 only from ¥50,000; a child 品目 of a listed one is covered too
    assert pol.is_centralized(new, "A02020400", Decimal("60000"))
    assert not pol.is_centralized(new, "A02020400", Decimal("49999.99"))
    assert pol.is_centralized(new, "A02010105", Decimal("1"))
    assert not pol.is_centralized(new, "A05010201", Decimal("100000"))


# ------------------------------------------------------------------ validation

def test_valid_version_is_saved_as_draft_with_items(ctx, make, acting):
    with acting(make.user("operator")):
        p = pol.create_policy(raw(), ITEMS)
        db.session.commit()
    p = db.session.get(PolicyVersion, p.id)
    assert p.status == "draft" and p.decentralized_threshold_goods == Decimal("1000000.00")
    items = {i.category_code: i for i in p.items}
    assert set(items) == {"A02010105", "A02010108", "A02020400", "A08060301"}
    assert items["A02020400"].min_amount == Decimal("50000.00") and items["A02010105"].min_amount is None
    assert items["A02010105"].note == "台式计算机"
    assert pol.policy_in_force(dt.date(2027, 6, 1)) is None  # drafts never judge orders


def test_open_tender_below_decentralized_names_both_figures(ctx, make, acting):
    with acting(make.user("operator")):
        with pytest.raises(ServiceError) as exc:
            pol.create_policy(raw(open_tender_threshold_goods="500000"), ITEMS)
    p = exc.value.problems[0]
    assert p.code == "open_tender_below_decentralized" and p.field == "open_tender_threshold_goods"
    assert "货物公开招标数额标准¥500,000.00低于货物分散采购限额标准¥1,000,000.00" in p.message
    db.session.rollback()
    assert _count(PolicyVersion) == 0 and _count(CentralizedItem) == 0


@pytest.mark.parametrize("field,value,code,text", [
    ("decentralized_threshold_works", "-1", "negative_amount", "工程分散采购限额标准不能为负数"),
    ("direct_purchase_limit", "0", "zero_amount", "单笔直购限额必须大于0"),
    ("direct_purchase_limit", "1500000", "direct_limit_above_threshold", "单笔直购限额¥1,500,000.00高于货物分散采购限额标准"),
    ("decentralized_threshold_goods", "一百万", "invalid_number", "货物分散采购限额标准“一百万”不是有效的数字"),
    ("open_tender_threshold_services", "2000000.005", "too_many_decimals", "最多保留2位小数"),
    ("sme_price_deduction", "0.25", "sme_deduction_out_of_range", "中小企业价格扣除比例25.00%超出财库〔2022〕19号规定的10.00%–20.00%"),
    ("sme_price_deduction", "0.06", "sme_deduction_out_of_range", "10.00%–20.00%"),
    ("split_window_days", "400", "out_of_range", "拆分识别时间窗（天）须在1–366之间"),
    ("split_action", "ignore", "invalid_choice", "拆分处置方式"),
    ("cumulative_warning_ratio", "1.5", "warning_ratio_out_of_range", "累计金额预警比例150.00%"),
    ("effective_to", "2026-12-31", "period_end_before_start", "截止日期2026-12-31早于生效日期2027-01-01"),
    ("effective_from", "2027-02-30", "invalid_date", "生效日期“2027-02-30”不是有效的日期"),
])
def test_invalid_figures_refused_with_chinese_messages(ctx, make, acting, field, value, code, text):
    with acting(make.user("operator")):
        with pytest.raises(ServiceError) as exc:
            pol.create_policy(raw(**{field: value}), ITEMS)
    problems = {p.code: p for p in exc.value.problems}
    assert code in problems, exc.value.problems
    assert text in problems[code].message
    db.session.rollback()
    assert _count(PolicyVersion) == 0


def test_pre_2022_versions_use_the_old_deduction_range(ctx, make, acting):
    with acting(make.user("operator")):
        p = pol.create_policy(raw(name="2021年版", effective_from="2021-01-01", effective_to="2021-12-31",
                                  sme_price_deduction="0.06"), ITEMS)
        assert p.sme_price_deduction == Decimal("0.0600")
        with pytest.raises(ServiceError) as exc:
            pol.create_policy(raw(name="2021年版B", effective_from="2021-01-01", sme_price_deduction="0.15"), ITEMS)
    assert "财库〔2020〕46号" in exc.value.problems[0].message


def test_bad_item_codes_and_duplicates_refused(ctx, make, acting):
    with acting(make.user("operator")):
        with pytest.raises(ServiceError) as exc:
            pol.create_policy(raw(), "A02010105\nA0201010X\nA02010105 100\nA02021000 -3")
    messages = [p.message for p in exc.value.problems]
    assert any("第2行" in m and "A0201010X" in m and "品目分类目录" in m for m in messages)
    assert any("第3行" in m and "重复" in m for m in messages)
    assert any("第4行" in m and "不能为负数" in m for m in messages)


# ------------------------------------------------------------------ publishing

def test_publish_refuses_overlap_until_the_current_version_is_closed(ctx, make, acting):
    current = make.policy(name="2025年版", effective_from=dt.date(2025, 1, 1))  # open-ended, in force
    op = make.user("operator")
    start = dt.date(today().year + 1, 1, 1)
    with acting(op):
        draft = pol.create_policy(raw(effective_from=start.isoformat()), ITEMS)
        db.session.commit()
        with pytest.raises(ServiceError) as exc:
            pol.publish_policy(draft)
        p = exc.value.problems[0]
        assert p.code == "policy_period_overlap" and "2025年版" in p.message and "长期" in p.message
        db.session.rollback()
        # the version in force may only get an end date; its figures are frozen
        form = {"name": current.name, "effective_from": current.effective_from,
                "effective_to": (start - dt.timedelta(days=1)).isoformat(), "note": "",
                **{f: getattr(current, f) for f in (*pol.MONEY_FIELDS, *pol.RATIO_FIELDS)},
                "split_window_days": current.split_window_days, "split_action": current.split_action}
        with pytest.raises(ServiceError) as exc:
            pol.update_policy(current, {**form, "direct_purchase_limit": "300000"}, pol.items_text(current))
        assert exc.value.problems[0].code == "policy_in_force_frozen"
        assert "单笔直购限额" in exc.value.problems[0].message
        db.session.rollback()
        with pytest.raises(ServiceError) as exc:
            pol.update_policy(current, {**form, "effective_to": (today() - dt.timedelta(days=1)).isoformat()},
                              pol.items_text(current))
        assert exc.value.problems[0].code == "policy_end_in_past"
        db.session.rollback()
        pol.update_policy(current, form, pol.items_text(current))
        db.session.commit()
        pol.publish_policy(draft, "市政府办公厅印发2027年版目录")
        db.session.commit()
    assert db.session.get(PolicyVersion, draft.id).status == "published"
    assert pol.policy_in_force(start).id == draft.id
    assert pol.policy_in_force(start - dt.timedelta(days=1)).id == current.id
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "policy.publish")).one()
    assert rec.note == "市政府办公厅印发2027年版目录" and rec.actor_id == op.id


def test_publish_needs_items_and_refuses_non_operators(ctx, make, acting):
    with acting(make.user("operator")):
        empty = pol.create_policy(raw(), "")
        db.session.commit()
        with pytest.raises(ServiceError) as exc:
            pol.publish_policy(empty)
        assert exc.value.problems[0].code == "policy_without_items"
        db.session.rollback()
    with acting(make.user("buyer")):
        with pytest.raises(ServiceError) as exc:
            pol.publish_policy(db.session.get(PolicyVersion, empty.id))
    assert exc.value.status == 403
    db.session.rollback()
    assert db.session.get(PolicyVersion, empty.id).status == "draft"


def test_future_published_version_stays_editable(ctx, make, acting):
    make.policy(name="现行", effective_from=dt.date(2025, 1, 1), effective_to=today() + dt.timedelta(days=60))
    start = today() + dt.timedelta(days=61)
    with acting(make.user("operator")):
        p = pol.create_policy(raw(effective_from=start.isoformat()), ITEMS)
        pol.publish_policy(p)
        pol.update_policy(p, raw(effective_from=start.isoformat(), direct_purchase_limit="150000"), ITEMS)
        db.session.commit()
        # moving it into the current version's period is an overlap
        with pytest.raises(ServiceError) as exc:
            pol.update_policy(p, raw(effective_from=today().isoformat()), ITEMS)
        assert exc.value.problems[0].code == "policy_period_overlap"
    db.session.rollback()
    assert db.session.get(PolicyVersion, p.id).direct_purchase_limit == Decimal("150000.00")


# ------------------------------------------------------------------ reading

def test_api_current_version_for_signed_in_users(client, make):
    make.policy(name="2024年版", effective_from=dt.date(2024, 1, 1), effective_to=dt.date(2024, 12, 31),
                direct_purchase_limit=Decimal("100000"))
    make.policy(name="2025年版", effective_from=dt.date(2025, 1, 1))
    t = make.token(make.user("buyer"))
    assert client.get("/api/v1/policy/current").status_code == 401
    data = client.get("/api/v1/policy/current", headers=bearer(t)).get_json()
    assert data["name"] == "2025年版" and data["decentralized_threshold_goods"] == "1000000.00"
    assert data["open_tender_threshold_works"] == "4000000.00" and data["sme_price_deduction"] == "0.1000"
    items = {i["category_code"]: i for i in data["items"]}
    assert items["A02020400"]["min_amount"] == "50000.00" and items["A02020400"]["category_name"] == "多功能一体机"
    assert items["A02010105"]["min_amount"] is None
    old = client.get("/api/v1/policy/current?date=2024-05-01", headers=bearer(t)).get_json()
    assert old["name"] == "2024年版" and old["direct_purchase_limit"] == "100000.00"
    resp = client.get("/api/v1/policy/current?date=2020-01-01", headers=bearer(t))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "no_policy_in_force"
    assert client.get("/api/v1/policy/current?date=nope", headers=bearer(t)).status_code == 422


def test_api_versions_hide_drafts_from_buyers(client, make):
    make.policy(name="2025年版", effective_from=dt.date(2025, 1, 1))
    draft = make.policy(name="草稿版", effective_from=dt.date(2030, 1, 1))
    draft.status = "draft"
    db.session.commit()
    bt, ot = make.token(make.user("buyer")), make.token(make.user("operator"))
    assert [v["name"] for v in client.get("/api/v1/policy/versions", headers=bearer(bt)).get_json()] == ["2025年版"]
    names = [v["name"] for v in client.get("/api/v1/policy/versions", headers=bearer(ot)).get_json()]
    assert names == ["草稿版", "2025年版"]
    assert client.get("/api/v1/policy/versions").status_code == 401


def test_policy_page_shows_the_version_in_force(client, make, auth):
    make.policy(name="2025年版", effective_from=dt.date(2025, 1, 1))
    assert client.get("/policy").status_code == 302  # sign in first
    buyer = make.user("buyer")
    auth.login(buyer.username)
    html = client.get("/policy").get_data(as_text=True)
    for text in ("2025年版", "¥1,000,000.00", "¥1,200,000.00", "¥200,000.00", "台式计算机", "多功能一体机",
                 "¥50,000.00", "10%", "拒绝下单"):
        assert text in html, text
    html = client.get("/policy?date=2001-01-01").get_data(as_text=True)
    assert "没有生效的" in html
