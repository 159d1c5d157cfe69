"""二次竞价 and 顺序轮候: publishing, invitations, bids within the agreement price, sealed bids, SME
price deduction, the award placing the order, the public result, rotation rounds."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from mall.extensions import db
from mall.timeutil import LOCAL_TZ, utcnow
from tests.conftest import bearer
from tests.payments_localstripe import fast_passwords, localstripe  # noqa: F401


class Mall:
    """Desktop computers (A02010105) under a closed agreement with three admitted suppliers —
    a large firm, a small one and a micro one — plus one applicant (not admitted) and an entrant
    of an expired agreement; a buyer unit with a budget line of ¥500,000."""

    def __init__(self, make):
        from catalog.models import AgreementPrice

        self.make = make
        self.policy = make.policy()  # direct-purchase limit ¥200,000, SME deduction 10%
        self.large = make.supplier_org(name="大华电脑集团有限公司", sme_size="large")
        self.small = make.supplier_org(name="福州小型科技有限公司", sme_size="small")
        self.micro = make.supplier_org(name="闽侯微型电子商行", sme_size="micro")
        self.applicant = make.supplier_org(name="申请中科技有限公司")
        self.expired_entrant = make.supplier_org(name="过期协议供应商有限公司")
        self.agreement = make.agreement(
            categories=("A02010105",), suppliers=(self.large, self.small, self.micro), second_stage="competition",
            prices=((self.large, "联想", "启天M450", "5000.00"), (self.small, "华为", "擎云B730", "5000.00"),
                    (self.micro, "清华同方", "超越E500", "5000.00"), (self.applicant, "惠普", "ProDesk", "5000.00")))
        from catalog.models import AgreementSupplier

        db.session.add(AgreementSupplier(agreement_id=self.agreement.id, supplier_id=self.applicant.id,
                                         status="applied"))
        old_start = dt.date.today() - dt.timedelta(days=400)
        self.expired = make.agreement(categories=("A02010105",), suppliers=(self.expired_entrant,),
                                      term_start=old_start, term_end=old_start + dt.timedelta(days=300),
                                      prices=((self.expired_entrant, "戴尔", "OptiPlex", "5000.00"),))
        db.session.commit()
        self.products = {}
        for s in (self.large, self.small, self.micro):
            ap = db.session.scalars(select(AgreementPrice).where(AgreementPrice.agreement_id == self.agreement.id,
                                                                 AgreementPrice.supplier_id == s.id)).one()
            self.products[s.id] = make.product(s, zone="central", category_code="A02010105", price="4990.00",
                                               brand=ap.brand, model=ap.model, title=f"{ap.brand}{ap.model}台式计算机",
                                               agreement_price=ap, stock=100)
        self.unit = make.org("budget_unit", name="福州市卫生健康委员会")
        self.buyer = make.user("buyer", organisation=self.unit)
        self.budget = make.budget_line(self.unit, amount="500000.00")
        self.buyer_token = make.token(self.buyer)
        self.users = {s.id: make.user("supplier", organisation=s) for s in
                      (self.large, self.small, self.micro, self.applicant)}
        self.tokens = {sid: make.token(u) for sid, u in self.users.items()}

    def requirement(self, **kw):
        deadline = (utcnow() + dt.timedelta(days=10)).astimezone(LOCAL_TZ).replace(tzinfo=None, microsecond=0)
        return {"category_code": "A02010105", "title": "门诊电脑更新", "quantity": 50,
                "specs": "i5 及以上处理器，16G 内存，512G 固态硬盘，23.8 寸显示器，三年上门保修",
                "budget_line_id": self.budget.id, "budget_amount": "260000.00",
                "deadline": deadline.isoformat(timespec="minutes"), **kw}


@pytest.fixture
def mall(make):
    return Mall(make)


def publish(client, mall, **kw):
    resp = client.post("/api/v1/competitions", json=mall.requirement(**kw), headers=bearer(mall.buyer_token))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def bid(client, mall, comp_id, supplier, price, product=None):
    return client.post(f"/api/v1/competitions/{comp_id}/bids", headers=bearer(mall.tokens[supplier.id]),
                       json={"product_id": (product or mall.products[supplier.id]).id, "unit_price": price})


def close_bidding(comp_id):
    """Time passes: the deadline is now behind us."""
    from orders.models import Competition

    db.session.execute(update(Competition).where(Competition.id == comp_id)
                       .values(deadline=utcnow() - dt.timedelta(minutes=1)))
    db.session.commit()


# --------------------------------------------------------------------------- publishing

def test_publish_invites_every_admitted_entrant_of_valid_agreements(client, mall):
    from orders.models import Notification

    data = publish(client, mall)
    assert data["status"] == "open" and data["method"] == "competition" and data["number"].startswith("JJ")
    invited = {i["supplier"]["id"] for i in data["invites"]}
    assert invited == {mall.large.id, mall.small.id, mall.micro.id}   # not the applicant, not the expired entrant
    assert data["sme_price_deduction"] == "0.1000" and data["bids"] == []
    notices = db.session.scalars(select(Notification).where(Notification.kind == "competition.invite")).all()
    assert {n.recipient_org_id for n in notices} == invited
    assert all("门诊电脑更新" in n.title for n in notices)


def test_publish_refusals_name_the_rule_and_figures(client, mall):
    from orders.models import Competition

    soon = (utcnow() + dt.timedelta(hours=2)).astimezone(LOCAL_TZ).replace(tzinfo=None).isoformat(timespec="minutes")
    resp = client.post("/api/v1/competitions", json=mall.requirement(deadline=soon), headers=bearer(mall.buyer_token))
    assert resp.status_code == 422
    p = resp.get_json()["problems"][0]
    assert p["code"] == "deadline_too_soon" and "至少1个工作日" in p["message"] and p["figures"]["earliest"]

    resp = client.post("/api/v1/competitions", json=mall.requirement(budget_amount="1200000.00"),
                       headers=bearer(mall.buyer_token))
    codes = {p["code"] for p in resp.get_json()["problems"]}
    assert resp.status_code == 422 and {"budget_insufficient", "formal_procurement_required"} <= codes

    resp = client.post("/api/v1/competitions", json=mall.requirement(category_code="A02021000"),
                       headers=bearer(mall.buyer_token))
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["code"] == "no_entrants"

    for bad in ({"quantity": 0}, {"budget_amount": "abc"}, {"category_code": "ZZZ"}, {"deadline": "明天"}):
        resp = client.post("/api/v1/competitions", json=mall.requirement(**bad), headers=bearer(mall.buyer_token))
        assert resp.status_code == 422, bad

    # suppliers do not publish; another unit's budget line is refused
    assert client.post("/api/v1/competitions", json=mall.requirement(),
                       headers=bearer(mall.tokens[mall.small.id])).status_code == 403
    other = mall.make.budget_line(mall.make.org("budget_unit"))
    resp = client.post("/api/v1/competitions", json=mall.requirement(budget_line_id=other.id),
                       headers=bearer(mall.buyer_token))
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["code"] == "budget_line_not_found"
    assert db.session.scalar(select(func.count()).select_from(Competition)) == 0


# --------------------------------------------------------------------------- bids

def test_bids_capped_by_agreement_price_and_sealed_until_evaluation(client, mall):
    comp = publish(client, mall)
    resp = bid(client, mall, comp["id"], mall.small, "5000.01")
    assert resp.status_code == 422
    p = resp.get_json()["problems"][0]
    assert p["code"] == "bid_above_agreement_price"
    assert p["figures"]["unit_price"] == "5000.01" and p["figures"]["agreement_price"] == "5000.00"
    assert "¥5,000.01" in p["message"] and "¥5,000.00" in p["message"]

    over_budget = bid(client, mall, comp["id"], mall.small, "5000.00")  # 50 × 5,000 = 250,000 ≤ 260,000: fine
    assert over_budget.status_code == 201
    assert bid(client, mall, comp["id"], mall.small, "4900.00").status_code == 201   # revised before the deadline
    assert bid(client, mall, comp["id"], mall.applicant, "4000.00",
               product=mall.products[mall.large.id]).status_code == 403  # not invited
    # another supplier's product is not a valid offer
    assert bid(client, mall, comp["id"], mall.micro, "4000.00", product=mall.products[mall.small.id]).status_code == 422

    seen_by_buyer = client.get(f"/api/v1/competitions/{comp['id']}", headers=bearer(mall.buyer_token)).get_json()
    assert seen_by_buyer["bids"] == [] and seen_by_buyer["bid_count"] == 1
    own = client.get(f"/api/v1/competitions/{comp['id']}", headers=bearer(mall.tokens[mall.small.id])).get_json()
    assert [b["unit_price"] for b in own["bids"]] == ["4900.00"]
    assert client.get(f"/api/v1/competitions/{comp['id']}",
                      headers=bearer(mall.tokens[mall.applicant.id])).status_code == 403

    assert client.post(f"/api/v1/competitions/{comp['id']}/award", headers=bearer(mall.buyer_token)).status_code == 409
    close_bidding(comp["id"])
    late = bid(client, mall, comp["id"], mall.large, "4000.00")
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "bidding_closed"


def test_award_applies_sme_deduction_breaks_ties_by_time_and_places_the_order(client, mall):
    from orders.models import Competition, Order

    comp = publish(client, mall)
    assert bid(client, mall, comp["id"], mall.large, "4500.00").status_code == 201   # evaluated 4,500.00
    assert bid(client, mall, comp["id"], mall.small, "4950.00").status_code == 201   # 4,950 × 0.9 = 4,455.00
    assert bid(client, mall, comp["id"], mall.micro, "4950.00").status_code == 201   # 4,455.00, but later
    close_bidding(comp["id"])

    assert client.post(f"/api/v1/competitions/{comp['id']}/award",
                       headers=bearer(mall.tokens[mall.small.id])).status_code == 403
    resp = client.post(f"/api/v1/competitions/{comp['id']}/award", headers=bearer(mall.buyer_token))
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert data["status"] == "awarded" and data["awarded_supplier"]["id"] == mall.small.id
    ranked = [(b["supplier"]["id"], b["rank"], b["evaluated_price"]) for b in data["bids"]]
    assert ranked == [(mall.small.id, 1, "4455.0000"), (mall.micro.id, 2, "4455.0000"),
                      (mall.large.id, 3, "4500.0000")]

    order = db.session.get(Order, data["order_id"])
    assert order.status == "submitted" and order.competition_id == comp["id"]
    assert order.supplier_id == mall.small.id and order.total == Decimal("247500.00")   # above the ¥200,000 limit
    assert [(ln.unit_price, ln.quantity, ln.reference_price) for ln in order.lines] == [
        (Decimal("4950.00"), 50, Decimal("5000.00"))]
    assert db.session.get(type(mall.budget), mall.budget.id).reserved == Decimal("247500.00")

    # a repeated award (double click) decides nothing new
    again = client.post(f"/api/v1/competitions/{comp['id']}/award", headers=bearer(mall.buyer_token))
    assert again.status_code == 200 and again.get_json()["order_id"] == order.id
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1

    # the public result page shows every bid's evaluated price
    page = client.get(f"/competitions/{comp['id']}/result").get_data(as_text=True)
    assert mall.small.name in page and "¥4,455.00" in page and "¥4,500.00" in page and "10%" in page
    assert db.session.get(Competition, comp["id"]).evaluated_at is not None


def test_winner_who_cannot_deliver_passes_the_award_to_the_next(client, mall):
    from catalog.models import Product

    comp = publish(client, mall, quantity=10, budget_amount="60000.00")
    bid(client, mall, comp["id"], mall.large, "4800.00")
    bid(client, mall, comp["id"], mall.small, "4900.00")   # evaluated 4,410: first
    db.session.execute(update(Product).where(Product.id == mall.products[mall.small.id].id).values(stock=3))
    db.session.commit()
    close_bidding(comp["id"])
    data = client.post(f"/api/v1/competitions/{comp['id']}/award", headers=bearer(mall.buyer_token)).get_json()
    assert data["status"] == "awarded" and data["awarded_supplier"]["id"] == mall.large.id
    assert "依次递补" in data["result_note"] and "库存不足" in data["result_note"]


def test_no_bids_fails_and_the_task_evaluates_due_competitions(client, mall):
    from orders.models import Competition
    from orders.notify_tasks import close_competitions

    empty = publish(client, mall)
    full = publish(client, mall)
    bid(client, mall, full["id"], mall.micro, "4700.00")
    close_bidding(empty["id"])
    close_bidding(full["id"])
    assert close_competitions.delay().get() == {"awarded": 1, "failed": 1, "refused": 0}
    db.session.expire_all()
    assert db.session.get(Competition, empty["id"]).status == "failed"
    assert db.session.get(Competition, full["id"]).awarded_supplier_id == mall.micro.id
    assert close_competitions.delay().get() == {"awarded": 0, "failed": 0, "refused": 0}


def test_buyer_side_refusal_leaves_the_competition_open(client, mall):
    from orders.models import BudgetLine, Competition

    comp = publish(client, mall)
    bid(client, mall, comp["id"], mall.large, "5000.00")   # 250,000
    db.session.execute(update(BudgetLine).where(BudgetLine.id == mall.budget.id).values(spent=Decimal("300000.00")))
    db.session.commit()
    close_bidding(comp["id"])
    resp = client.post(f"/api/v1/competitions/{comp['id']}/award", headers=bearer(mall.buyer_token))
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["code"] == "budget_insufficient"
    assert db.session.get(Competition, comp["id"]).status == "open"


# --------------------------------------------------------------------------- rotation

class Services:
    """Vehicle repair (C23120301) under a rotation agreement: entrants at positions 1, 2, 3."""

    def __init__(self, make):
        from catalog.models import AgreementPrice, AgreementSupplier

        self.policy = make.policy()
        self.garages = [make.supplier_org(name=f"第{i}汽车修理厂") for i in (1, 2, 3)]
        self.agreement = make.agreement(categories=("C23120301",), subject="services", second_stage="rotation",
                                        suppliers=self.garages,
                                        prices=[(g, "定点维修", f"M{i}", "800.00") for i, g in enumerate(self.garages)])
        for pos, g in zip((2, 3, 1), self.garages):   # the positions, not the insertion order, decide
            db.session.execute(update(AgreementSupplier).where(AgreementSupplier.agreement_id == self.agreement.id,
                                                               AgreementSupplier.supplier_id == g.id)
                               .values(rotation_position=pos))
        db.session.commit()
        self.by_position = {1: self.garages[2], 2: self.garages[0], 3: self.garages[1]}
        self.products = {}
        for i, g in enumerate(self.garages):
            ap = db.session.scalars(select(AgreementPrice).where(AgreementPrice.supplier_id == g.id)).one()
            self.products[g.id] = make.product(g, zone="central", category_code="C23120301", price="760.00",
                                               brand="定点维修", model=f"M{i}", title="公务车辆保养",
                                               agreement_price=ap, stock=1000, unit="次")
        self.unit = make.org("budget_unit", name="福州市公安局")
        self.buyer = make.user("buyer", organisation=self.unit)
        self.budget = make.budget_line(self.unit, amount="100000.00")

    def publish(self):
        from orders import competition

        comp = competition.create_competition(self.buyer, {
            "category_code": "C23120301", "quantity": 2, "specs": "两台公务车常规保养", "method": "auto",
            "budget_line_id": self.budget.id, "budget_amount": "2000.00"})
        db.session.commit()
        return comp


def test_rotation_awards_each_entrant_once_per_round_by_position(make):
    from orders.models import Order, RotationAward

    s = Services(make)
    winners = [s.publish() for _ in range(4)]
    assert all(c.method == "rotation" and c.status == "awarded" and c.number.startswith("LH") for c in winners)
    assert [c.awarded_supplier_id for c in winners] == [s.by_position[1].id, s.by_position[2].id,
                                                        s.by_position[3].id, s.by_position[1].id]
    rows = db.session.scalars(select(RotationAward).order_by(RotationAward.id)).all()
    assert [(r.round_no, r.rotation_position, r.outcome) for r in rows] == [
        (1, 1, "awarded"), (1, 2, "awarded"), (1, 3, "awarded"), (2, 1, "awarded")]
    order = db.session.get(Order, winners[0].order_id)
    assert order.competition_id == winners[0].id and order.total == Decimal("1520.00")
    assert order.lines[0].unit_price == Decimal("760.00") and order.lines[0].reference_price == Decimal("800.00")


def test_rotation_passes_over_an_entrant_that_cannot_take_its_turn(make):
    from catalog.models import Product
    from orders.models import RotationAward

    s = Services(make)
    second = s.by_position[2]
    db.session.execute(update(Product).where(Product.supplier_id == second.id).values(status="delisted"))
    db.session.commit()
    first, then = s.publish(), s.publish()
    assert first.awarded_supplier_id == s.by_position[1].id
    assert then.awarded_supplier_id == s.by_position[3].id
    skipped = db.session.scalars(select(RotationAward).where(RotationAward.outcome == "skipped")).one()
    assert skipped.supplier_id == second.id and "轮空" in skipped.note
    # round 1 is complete (awarded, skipped, awarded): the next turn opens round 2 at position 1
    assert s.publish().awarded_supplier_id == s.by_position[1].id


# --------------------------------------------------------------------------- pages

def test_pages_publish_bid_award_and_public_result(client, auth, mall):
    from orders.models import Competition

    auth.login(mall.buyer.username)
    form = client.get("/competitions/new")
    assert form.status_code == 200 and "发布采购需求" in form.get_data(as_text=True)
    req = mall.requirement()
    req["deadline"] = req["deadline"][:16]
    resp = client.post("/competitions/new", data={**req, "method": "auto", "payment_method": "treasury"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    comp = db.session.scalars(select(Competition)).one()
    assert client.get(f"/competitions/{comp.id}/result").status_code == 404   # not decided yet
    auth.logout()

    auth.login(mall.users[mall.micro.id].username)
    page = client.get(f"/competitions/{comp.id}").get_data(as_text=True)
    assert 'id="bid-form"' in page and "协议价¥5,000.00" in page
    resp = client.post(f"/competitions/{comp.id}/bid", data={"product_id": mall.products[mall.micro.id].id,
                                                             "unit_price": "5100.00"}, follow_redirects=True)
    assert "高于" in resp.get_data(as_text=True)
    client.post(f"/competitions/{comp.id}/bid", data={"product_id": mall.products[mall.micro.id].id,
                                                      "unit_price": "4600.00"})
    assert "competitions" in client.get("/competitions").get_data(as_text=True)
    auth.logout()

    close_bidding(comp.id)
    auth.login(mall.buyer.username)
    resp = client.post(f"/competitions/{comp.id}/award", follow_redirects=True)
    assert "评审完成" in resp.get_data(as_text=True)
    detail = client.get(f"/competitions/{comp.id}").get_data(as_text=True)
    assert 'id="bids"' in detail and "¥4,140.00" in detail          # 4,600 × 0.9 for the micro firm
    auth.logout()
    auditor = mall.make.user("auditor")
    auth.login(auditor.username)
    assert client.get("/competitions").status_code == 200
    assert mall.small.name in client.get(f"/competitions/{comp.id}").get_data(as_text=True)   # sees the invitees
    assert client.get("/competitions/new").status_code == 403
    auth.logout()
    public = client.get(f"/competitions/{comp.id}/result")
    assert public.status_code == 200 and mall.micro.name in public.get_data(as_text=True)
    assert comp.number in client.get("/competitions/results").get_data(as_text=True)


def test_a_card_competition_holds_the_awarded_order_on_the_card_named_at_publishing(client, mall, localstripe):
    """The award may come from the scheduler, with no buyer present: the card token is given when
    the requirement is published, checked then, and the awarded order is held on that card."""
    from orders.models import Payment

    bad = client.post("/api/v1/competitions", headers=bearer(mall.buyer_token),
                      json=mall.requirement(payment_method="card", card_payment_method="6225880123456789"))
    assert bad.status_code == 422 and "invalid_card_payment_method" in {p["code"] for p in bad.get_json()["problems"]}
    comp = publish(client, mall, payment_method="card", card_payment_method="pm_card_visa")
    assert bid(client, mall, comp["id"], mall.large, "4500.00").status_code == 201
    close_bidding(comp["id"])
    resp = client.post(f"/api/v1/competitions/{comp['id']}/award", headers=bearer(mall.buyer_token))
    assert resp.status_code == 200, resp.get_json()
    payment = db.session.scalars(select(Payment).where(Payment.order_id == resp.get_json()["order_id"])).one()
    assert (payment.method, payment.status, payment.amount, payment.card_last4) == \
        ("card", "authorized", Decimal("225000.00"), "4242")
