"""A small, complete mall for the authorisation walk (``tests/test_authz_walk.py``).

Two budget units with a buyer each (U: ``buyer``, U2: ``other_buyer``; a second buyer of U,
``disabled``, whose account is disabled once signed in), supplier A (``supplier``,
a small firm admitted to an open agreement with an agreement price, a 集采区 and a 自采区 product
with an image) and supplier Z (``other_supplier``, applying to the same agreement), an auditor
and an operator; the 2025 policy in force; an accepted order O of U from A (treasury instruction
issued) with a risk flag, a supervision query to A, A's loan application at a partner bank, a
notification to A; an open mini-competition of U inviting A and a failed one with a public
result; a draft product of A and a draft agreement; a cart item of the buyer; and an API token
for every user.  ``SECRETS`` are texts of these objects that only some roles may ever be shown.

Every object is known by id only (the walk drops the session after each request).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from mall.extensions import db
from mall.timeutil import LOCAL_TZ, utcnow

ROLES = ("anonymous", "disabled", "buyer", "other_buyer", "supplier", "other_supplier", "auditor", "operator")

# Texts only some roles may ever be shown (the walk searches every answer for them); the roles
# allowed to see each are in tests/test_authz_walk.py (SECRET_READERS).
SECRETS = {
    "budget_project": "JYJ-2025-0815",                      # budget line of unit U (预算指标)
    "draft_product": "人体工学办公椅（未上架样品）",           # A's draft product
    "draft_agreement": "2026年度复印纸框架协议（草案）",       # not yet in force
    "flag": "单价高于市场参考价35%，疑似虚高定价",           # risk flag of order O
    "query": "请说明该订单单价高于市场参考价的原因",         # question to A
    "loan": "用于备货的流动资金",                            # A's loan application
    "notification": "请及时开具发票",                        # notification to A
    "competition": "i5处理器，16G内存，512G固态硬盘，三年上门保修",  # open competition of U
    "competition_title": "学校机房电脑更新（二次竞价）",        # the same, its title
    "application": "已取得联想授权，申请加入",                 # Z's pending application to the agreement
}

# the smallest valid PNG (1×1), so /media/products/<filename> has a real file to send
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a1d3a1b70000000049454e44ae426082")


@dataclass
class World:
    users: dict = field(default_factory=dict)        # role → user id
    usernames: dict = field(default_factory=dict)    # role → username
    tokens: dict = field(default_factory=dict)       # role → bearer token
    ids: dict = field(default_factory=dict)          # name → id / value used in URLs and bodies


def build(make) -> World:
    from catalog.models import AgreementPrice, AgreementSupplier, ProductImage
    from catalog.services import image_folder
    from mall.accounts.models import ApiToken
    from orders.models import CartItem, Competition, CompetitionInvite, Notification, RiskFlag
    from supervision.models import LoanApplication, PartnerBank, Query
    from tests import supervision_helpers

    w = World()
    policy = make.policy()
    unit = make.org("budget_unit", name="福州市教育局")
    unit2 = make.org("budget_unit", name="福州市卫生健康委员会")
    a = make.supplier_org(name="福建甲科技有限公司", sme_size="small")
    z = make.supplier_org(name="福建乙电脑有限公司", sme_size="medium")
    users = {
        "buyer": make.user("buyer", organisation=unit),
        "other_buyer": make.user("buyer", organisation=unit2),
        "supplier": make.user("supplier", organisation=a),
        "other_supplier": make.user("supplier", organisation=z),
        "auditor": make.user("auditor"),
        "operator": make.user("operator"),
        # a buyer of U whose account the operator disables after it signed in (tests/test_authz_walk.py)
        "disabled": make.user("buyer", organisation=unit),
    }
    budget = make.budget_line(unit, amount="500000.00", project_code=SECRETS["budget_project"])
    make.budget_line(unit2, amount="500000.00")
    make.solicitation()  # 自采区 办公桌 publicly solicited

    agreement = make.agreement(categories=("A02010105",), suppliers=(a,), kind="open", second_stage="competition",
                               prices=((a, "联想", "启天M450", "5000.00"),))
    application = AgreementSupplier(agreement_id=agreement.id, supplier_id=z.id, status="applied",
                                    applied_at=utcnow() - dt.timedelta(days=1),
                                    decision_note=SECRETS["application"])
    db.session.add(application)
    db.session.commit()
    ap = db.session.scalars(select(AgreementPrice).where(AgreementPrice.agreement_id == agreement.id)).one()
    central = make.product(a, zone="central", category_code="A02010105", price="4990.00", brand="联想",
                           model="启天M450", title="联想启天M450台式计算机", agreement_price=ap)
    own = make.product(a, zone="self", category_code="A05010201", price="1200.00", title="钢木办公桌 1.4米")
    draft = make.product(a, zone="self", category_code="A05010301", price="680.00", status="draft",
                         title=SECRETS["draft_product"])
    draft_agreement = make.agreement(categories=("A05040101",), status="draft")
    draft_agreement.title = SECRETS["draft_agreement"]
    image_name = f"authz-{uuid.uuid4().hex}.png"
    folder = image_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / image_name).write_bytes(PNG_1X1)
    db.session.add(ProductImage(product_id=own.id, filename=image_name, content_type="image/png",
                                size=len(PNG_1X1), width=1, height=1))
    db.session.add(CartItem(user_id=users["buyer"].id, product_id=own.id, quantity=1, price_seen=own.price))
    db.session.commit()

    order = _order(supervision_helpers, make, unit, users["buyer"], a, agreement)
    from orders.models import BudgetLine

    db.session.get(BudgetLine, order.budget_line_id).reserved = order.total  # reserved at submission
    flag = RiskFlag(order_id=order.id, kind="price_above_market", message=SECRETS["flag"],
                    figures={"ratio": "1.35"}, status="open", unit_id=unit.id, supplier_id=a.id,
                    source="scan", dedup_key=f"authz:{order.id}")
    query = Query(order_id=order.id, addressed_party="supplier", addressed_org_id=a.id,
                  question=SECRETS["query"], asked_by_id=users["auditor"].id, status="open")
    bank = PartnerBank(name="兴业银行福州分行", contact_name="王经理", phone="0591-87654321",
                       products="政采贷：年化3.85%起，最长12个月", active=True)
    db.session.add_all([flag, query, bank])
    db.session.flush()
    loan = LoanApplication(order_id=order.id, supplier_id=a.id, bank_id=bank.id, amount=Decimal("5000.00"),
                           status="applied", applied_by_id=users["supplier"].id, applicant_note=SECRETS["loan"])
    note = Notification(dedup_key=f"authz:{order.id}:{a.id}", recipient_org_id=a.id, order_id=order.id,
                        kind="order.status", title=f"订单{order.number}已验收，{SECRETS['notification']}",
                        email_status="none")
    now = utcnow()
    comp = Competition(number=f"JJ{now:%Y%m%d}{order.id:06d}", method="competition", buyer_unit_id=unit.id,
                       buyer_user_id=users["buyer"].id, category_code="A02010105",
                       title=SECRETS["competition_title"],
                       quantity=10, specs=SECRETS["competition"], budget_line_id=budget.id,
                       budget_amount=Decimal("50000.00"), deadline=now + dt.timedelta(days=5), status="open",
                       sme_price_deduction=Decimal("0.10"), policy_snapshot={"name": policy.name})
    comp.invites.append(CompetitionInvite(supplier_id=a.id, agreement_id=agreement.id))
    failed = Competition(number=f"JJ{now:%Y%m%d}{order.id + 1:06d}", method="competition", buyer_unit_id=unit.id,
                         buyer_user_id=users["buyer"].id, category_code="A02010105", title="会议室电脑采购",
                         quantity=2, specs="i3处理器，8G内存", budget_line_id=budget.id,
                         budget_amount=Decimal("9000.00"),
                         deadline=now - dt.timedelta(days=1), status="failed", evaluated_at=now,
                         sme_price_deduction=Decimal("0.10"), policy_snapshot={"name": policy.name},
                         result_note="截止时无有效报价，竞价流标")
    failed.invites.append(CompetitionInvite(supplier_id=a.id, agreement_id=agreement.id))
    db.session.add_all([loan, note, comp, failed])
    db.session.commit()

    for role, u in users.items():
        w.users[role] = u.id
        w.usernames[role] = u.username
        w.tokens[role] = make.token(u)
    buyer_token_id = db.session.scalars(select(ApiToken.id).where(ApiToken.user_id == users["buyer"].id)).one()
    w.ids.update(
        unit=unit.id, unit2=unit2.id, supplier=a.id, other_supplier=z.id, budget_line=budget.id,
        agreement=agreement.id, application=application.id, agreement_price=ap.id, policy=policy.id,
        central_product=central.id, product=own.id, draft_product=draft.id, draft_agreement=draft_agreement.id,
        image=image_name, order=order.id, order_number=order.number,
        flag=flag.id, query=query.id, bank=bank.id, loan=loan.id, notification=note.id, competition=comp.id,
        failed_competition=failed.id, cart_item=db.session.scalars(select(CartItem.id)).one(),
        buyer_user=users["buyer"].id, buyer_token=buyer_token_id,
        deadline=(now + dt.timedelta(days=7)).astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M"),
    )
    return w


def _order(helpers, make, unit, buyer_user, supplier, agreement):
    """Order O: accepted (验收) ¥10,000 of two desktops, paid by treasury transfer (instruction issued)."""
    return helpers.order(make, unit=unit, buyer_user=buyer_user, supplier=supplier, agreement=agreement,
                         lines=(("A02010105", "5000.00", 2),), status="accepted", payment="instructed")
