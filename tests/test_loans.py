"""Procurement loans (政采贷): partner banks, applications against confirmed orders, the bank's
decision recorded by an operator, and the loan figures."""
from __future__ import annotations

from decimal import Decimal

import pytest
from flask import render_template
from sqlalchemy import func, select

from mall.audit import AuditRecord
from mall.extensions import db
from tests.conftest import bearer
from tests.supervision_helpers import order

D = Decimal


@pytest.fixture
def bank(make):
    from supervision.models import PartnerBank

    b = PartnerBank(name="兴业银行福州分行", contact_name="陈经理", phone="0591-88886666",
                    products="政采贷：凭中标（成交）通知书及订单申请，最高300万元，年化利率3.45%起", active=True)
    db.session.add(b)
    db.session.commit()
    return b


def test_operator_manages_partner_banks(make, client, auth):
    from supervision.models import PartnerBank

    auth.login(make.user("operator").username)
    resp = client.post("/supervision/banks", data={"name": "中国建设银行福州分行", "contact_name": "李经理",
                                                   "phone": "0591-87654321", "products": "善担贷", "active": "1"})
    assert resp.status_code == 302
    b = db.session.scalars(select(PartnerBank)).one()
    assert b.active and b.phone == "0591-87654321"
    html = client.post("/supervision/banks", data={"name": "中国建设银行福州分行", "contact_name": "",
                                                   "phone": "call me"}).get_data(as_text=True)
    assert "合作银行“中国建设银行福州分行”已存在" in html and "请填写联系人" in html and "联系电话“call me”" in html
    assert db.session.scalar(select(func.count()).select_from(PartnerBank)) == 1
    # untick "active": the bank stops being shown
    client.post(f"/supervision/banks/{b.id}", data={"name": b.name, "contact_name": "李经理", "phone": "0591-87654321"})
    db.session.expire_all()
    assert db.session.get(PartnerBank, b.id).active is False
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)
                             .where(AuditRecord.action == "partner_bank.update")) == 1
    auth.logout()
    auth.login(make.user("supplier").username)
    assert client.get("/supervision/banks").status_code == 403
    assert client.post("/supervision/banks", data={"name": "x", "contact_name": "y", "phone": "1"}).status_code == 403


def test_supplier_applies_and_operator_records_the_decision(make, client, auth, bank):
    from supervision.models import LoanApplication

    supplier = make.supplier_org(name="申请贷款供应商有限公司")
    su = make.user("supplier", organisation=supplier)
    o = order(make, supplier=supplier, lines=[("A02010105", "5000.00", 20)])     # ¥100,000, confirmed
    auth.login(su.username)
    page = client.get(f"/supervision/orders/{o.id}/loan").get_data(as_text=True)
    assert "兴业银行福州分行" in page and "0591-88886666" in page and "¥100,000.00" in page

    too_much = client.post(f"/supervision/orders/{o.id}/loan", data={"bank_id": bank.id, "amount": "100000.01"},
                           follow_redirects=True).get_data(as_text=True)
    assert "贷款金额不得超过订单金额¥100,000.00" in too_much
    for bad in ("abc", "-5", "0", "1.234"):
        client.post(f"/supervision/orders/{o.id}/loan", data={"bank_id": bank.id, "amount": bad})
    assert db.session.scalar(select(func.count()).select_from(LoanApplication)) == 0

    resp = client.post(f"/supervision/orders/{o.id}/loan", data={"bank_id": bank.id, "amount": "60,000",
                                                                  "applicant_note": "用于采购备货"})
    assert resp.status_code == 302
    loan = db.session.scalars(select(LoanApplication)).one()
    assert loan.amount == D("60000.00") and loan.status == "applied" and loan.supplier_id == supplier.id
    # what is left of the order: ¥40,000
    over = client.post(f"/supervision/orders/{o.id}/loan", data={"bank_id": bank.id, "amount": "40000.01"},
                       follow_redirects=True).get_data(as_text=True)
    assert "超过可申请额度¥40,000.00" in over
    assert client.post(f"/supervision/loans/{loan.id}/decide", data={"decision": "approved"}).status_code == 403
    mine = client.get("/supervision/loans").get_data(as_text=True)
    assert o.number in mine and "待银行审批" in mine
    auth.logout()

    operator = make.user("operator")
    auth.login(operator.username)
    bad = client.post(f"/supervision/loans/{loan.id}/decide", data={"decision": "approved", "decided_amount": "70000"},
                      follow_redirects=True).get_data(as_text=True)
    assert "批准金额¥70,000.00超过申请金额¥60,000.00" in bad
    bad = client.post(f"/supervision/loans/{loan.id}/decide", data={"decision": "rejected"},
                      follow_redirects=True).get_data(as_text=True)
    assert "请填写审批意见" in bad
    client.post(f"/supervision/loans/{loan.id}/decide", data={"decision": "approved", "decided_amount": "50000",
                                                             "note": "按订单金额50%授信"})
    db.session.expire_all()
    loan = db.session.get(LoanApplication, loan.id)
    assert loan.status == "approved" and loan.decided_amount == D("50000.00") and loan.decided_by_id == operator.id
    again = client.post(f"/supervision/loans/{loan.id}/decide", data={"decision": "rejected", "note": "x"},
                        follow_redirects=True).get_data(as_text=True)
    assert "不能重复审批" in again
    assert {"loan.apply", "loan.decide"} <= set(db.session.scalars(select(AuditRecord.action)))

    # the approval frees what was asked but not granted: ¥50,000 of the order remains
    from supervision import services
    assert services.loan_committed(o.id) == D("50000.00")

    from supervision import stats
    figures = stats.loan_figures(o.budget_year)
    assert figures["applications"] == 1 and figures["approved"] == 1
    assert figures["approved_amount"] == D("50000.00") and figures["applied_amount"] == D("60000.00")
    assert figures["suppliers"] == 1
    html = client.get(f"/stats?year={o.budget_year}").get_data(as_text=True)
    assert "5.00万元" in html.split('id="loan-figures"', 1)[1]


def test_only_confirmed_orders_of_ones_own_qualify(make, client, bank):
    supplier = make.supplier_org()
    token = make.token(make.user("supplier", organisation=supplier))
    submitted = order(make, supplier=supplier, status="submitted")
    cancelled = order(make, supplier=supplier, status="cancelled")
    delivered = order(make, supplier=supplier, status="delivered")
    foreign = order(make)
    for o in (submitted, cancelled):
        r = client.post("/api/v1/loans", headers=bearer(token), json={"order_id": o.id, "bank_id": bank.id,
                                                                       "amount": "1000"})
        assert r.status_code == 422
        assert r.get_json()["problems"][0]["code"] == "order_not_loanable"
    r = client.post("/api/v1/loans", headers=bearer(token), json={"order_id": foreign.id, "bank_id": bank.id,
                                                                   "amount": "1000"})
    assert r.status_code == 403
    assert client.post("/api/v1/loans", headers=bearer(token), json={"order_id": 999999, "bank_id": bank.id,
                                                                      "amount": "1"}).status_code == 404
    r = client.post("/api/v1/loans", headers=bearer(token), json={"order_id": delivered.id, "bank_id": 999,
                                                                   "amount": "1000"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "bank_not_available"
    r = client.post("/api/v1/loans", headers=bearer(token), json={"order_id": delivered.id, "bank_id": bank.id,
                                                                   "amount": "8000.00"})
    assert r.status_code == 201 and r.get_json()["amount"] == "8000.00" and r.get_json()["status"] == "applied"
    assert [x["order_number"] for x in client.get("/api/v1/loans", headers=bearer(token)).get_json()] == \
        [delivered.number]
    # an operator records the decision through the API too
    op = make.token(make.user("operator"))
    loan_id = r.get_json()["id"]
    d = client.post(f"/api/v1/loans/{loan_id}/decision", headers=bearer(op),
                    json={"decision": "rejected", "note": "经营流水不足"})
    assert d.status_code == 200 and d.get_json()["status"] == "rejected"


def test_partner_banks_are_shown_on_an_order_and_in_the_api(make, app, client, bank):
    from supervision.models import PartnerBank

    db.session.add(PartnerBank(name="停用银行", contact_name="某", phone="1", active=False))
    db.session.commit()
    supplier = make.supplier_org()
    su = make.user("supplier", organisation=supplier)
    o = order(make, supplier=supplier)
    with app.test_request_context("/"):
        from flask_login import login_user
        login_user(su)
        html = render_template("supervision/_partner_banks.html", order=o)
    assert "兴业银行福州分行" in html and "陈经理" in html and "停用银行" not in html
    assert f"/supervision/orders/{o.id}/loan" in html  # the supplier of a confirmed order may apply
    token = make.token(su)
    banks = client.get("/api/v1/banks", headers=bearer(token)).get_json()
    assert [b["name"] for b in banks] == ["兴业银行福州分行"] and banks[0]["phone"] == "0591-88886666"
    from supervision.services import partner_banks_payload
    with app.app_context():
        assert partner_banks_payload()[0]["contact_name"] == "陈经理"
