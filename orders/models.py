from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Optional

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.extensions import db
from mall.timeutil import utcnow

Money = Numeric(14, 2)


class BudgetLine(db.Model):
    """预算指标: a budget line of a unit. Available = amount − reserved − spent."""

    __tablename__ = "budget_line"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("unit_id", "year", "project_code", "economic_class"),
        # never negative, whatever the code path: the database refuses an overspend too
        CheckConstraint("reserved >= 0", name="reserved_nonneg"),
        CheckConstraint("spent >= 0", name="spent_nonneg"),
        CheckConstraint("reserved + spent <= amount", name="within_amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    project_code: Mapped[str] = mapped_column(String(40))
    project_name: Mapped[str] = mapped_column(String(200))
    economic_class: Mapped[str] = mapped_column(String(20))       # 经济分类, e.g. 30201
    economic_class_name: Mapped[str] = mapped_column(String(100))  # e.g. 办公费
    amount: Mapped[Decimal] = mapped_column(Money)
    reserved: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    spent: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    unit = relationship("Organisation")

    @property
    def available(self) -> Decimal:
        return (self.amount or Decimal(0)) - (self.reserved or Decimal(0)) - (self.spent or Decimal(0))


# ---------------------------------------------------------------- orders
ORDER_STATUSES = {
    "submitted": "已提交",
    "confirmed": "供应商已确认",
    "rejected": "供应商已拒绝",
    "shipped": "已发货",
    "delivered": "已送达",
    "accepted": "已验收",
    "paid": "已支付",
    "archived": "已归档",
    "cancelled": "已取消",
}
PAYMENT_METHODS = {"card": "公务卡", "treasury": "国库集中支付"}


class Order(db.Model):
    """A call-off order: one buyer unit, one supplier, one budget line."""

    __tablename__ = "purchase_order"
    __audit_name__ = "order"
    __audited__ = True
    __table_args__ = (
        db.Index("ix_order_unit_status", "buyer_unit_id", "status"),
        db.Index("ix_order_supplier_status", "supplier_id", "status"),
        # checkout rules 4 and 5 read the unit's orders of the budget year (services.order_history)
        db.Index("ix_order_unit_year", "buyer_unit_id", "budget_year", "placed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    buyer_unit_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    budget_line_id: Mapped[int] = mapped_column(ForeignKey("budget_line.id"), index=True)
    zone_code: Mapped[str] = mapped_column(ForeignKey("zone.code"))
    agreement_id: Mapped[Optional[int]] = mapped_column(ForeignKey("agreement.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    payment_method: Mapped[str] = mapped_column(String(20), default="treasury")
    total: Mapped[Decimal] = mapped_column(Money)
    reference_total: Mapped[Decimal] = mapped_column(Money)   # agreement ceilings / market reference
    savings: Mapped[Decimal] = mapped_column(Money)           # 节约资金 = reference − paid
    budget_year: Mapped[int] = mapped_column(Integer, index=True)
    is_sme: Mapped[bool] = mapped_column(default=False)
    policy_snapshot: Mapped[dict] = mapped_column(JSON, default=dict)  # version and thresholds applied
    rule_results: Mapped[list] = mapped_column(JSON, default=list)     # problems/warnings at checkout
    note: Mapped[Optional[str]] = mapped_column(String(500))
    delivery_address: Mapped[Optional[str]] = mapped_column(String(300))
    placed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    confirm_deadline: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    acceptance_note: Mapped[Optional[str]] = mapped_column(String(1000))
    paid_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    closed_reason: Mapped[Optional[str]] = mapped_column(String(500))  # rejection / cancellation reason
    competition_id: Mapped[Optional[int]] = mapped_column(Integer, index=True)

    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", cascade="all, delete-orphan",
                                                    order_by="OrderLine.id")
    history: Mapped[list["OrderStatusChange"]] = relationship(back_populates="order", cascade="all, delete-orphan",
                                                              order_by="OrderStatusChange.id")
    buyer_unit = relationship("Organisation", foreign_keys=[buyer_unit_id])
    supplier = relationship("Organisation", foreign_keys=[supplier_id])
    buyer_user = relationship("User")
    budget_line: Mapped[BudgetLine] = relationship()

    @property
    def status_label(self) -> str:
        return ORDER_STATUSES.get(self.status, self.status)


class OrderLine(db.Model):
    __tablename__ = "order_line"
    __audited__ = True
    # an order's lines, and its lines of given 品目 (order_history joins the unit's orders to them).
    # No index on 品目 alone: without statistics PostgreSQL would drive that join from it (0003)
    __table_args__ = (db.Index("ix_order_line_order_category", "order_id", "category_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    title: Mapped[str] = mapped_column(String(200))
    brand: Mapped[Optional[str]] = mapped_column(String(100))
    model: Mapped[Optional[str]] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    reference_price: Mapped[Decimal] = mapped_column(Money)  # agreement ceiling or market reference
    line_total: Mapped[Decimal] = mapped_column(Money)
    savings: Mapped[Decimal] = mapped_column(Money)           # (reference − unit) × quantity
    agreement_price_id: Mapped[Optional[int]] = mapped_column(ForeignKey("agreement_price.id"))

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderStatusChange(db.Model):
    """Status history: one row per transition (the lifecycle is data, see orders/lifecycle.py)."""

    __tablename__ = "order_status_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    from_status: Mapped[Optional[str]] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id"))
    actor_role: Mapped[str] = mapped_column(String(20))
    note: Mapped[Optional[str]] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    order: Mapped[Order] = relationship(back_populates="history")


class CartItem(db.Model):
    __tablename__ = "cart_item"
    __table_args__ = (UniqueConstraint("user_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    price_seen: Mapped[Decimal] = mapped_column(Money)  # to notice price changes
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    product = relationship("Product")


class IdempotencyRecord(db.Model):
    """A repeated POST with the same Idempotency-Key returns the first answer."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[Optional[int]] = mapped_column(Integer)
    response: Mapped[Optional[dict]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Notification(db.Model):
    """In-app notice, also the outbox of its e-mail (sent by Celery, exactly once per row)."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("dedup_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(120))  # e.g. "order-status:<change id>:<org id>"
    recipient_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[Optional[str]] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    email_status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending/sent/failed/none
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_sent_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    # claim of the e-mail sweep (a row stuck in 'sending' past a timeout is retried) and last error
    email_claimed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    email_error: Mapped[Optional[str]] = mapped_column(String(500))
    competition_id: Mapped[Optional[int]] = mapped_column(Integer, index=True)


class Payment(db.Model):
    __tablename__ = "payment"
    __audited__ = True
    __table_args__ = (UniqueConstraint("order_id"),)  # one payment per order

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # card / treasury
    status: Mapped[str] = mapped_column(String(20))  # authorized/captured/canceled/refunded/failed; instructed/paid
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    stripe_payment_intent_id: Mapped[Optional[str]] = mapped_column(String(100), unique=True)
    treasury_instruction_no: Mapped[Optional[str]] = mapped_column(String(40), unique=True)
    refunded_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    failure_message: Mapped[Optional[str]] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    authorized_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))  # captured / treasury paid
    settlement_ref: Mapped[Optional[str]] = mapped_column(String(60))  # treasury payment voucher no. (支付凭证号)
    card_last4: Mapped[Optional[str]] = mapped_column(String(4))

    order = relationship("Order", backref="payments")
    refunds: Mapped[list["PaymentRefund"]] = relationship(back_populates="payment", order_by="PaymentRefund.id")

    @property
    def status_label(self) -> str:
        return PAYMENT_STATUSES.get(self.status, self.status)

    @property
    def method_label(self) -> str:
        return PAYMENT_METHODS.get(self.method, self.method)

    @property
    def refundable(self) -> Decimal:
        if self.status not in ("captured", "partially_refunded"):
            return Decimal("0")
        return (self.amount or Decimal(0)) - (self.refunded_amount or Decimal(0))


PAYMENT_STATUSES = {
    "authorized": "已授权（待验收后扣款）", "captured": "已扣款", "canceled": "授权已撤销",
    "partially_refunded": "部分退款", "refunded": "已全额退款", "failed": "支付失败",
    "instructed": "已下达支付指令", "paid": "国库已支付",
}


class PaymentRefund(db.Model):
    """A refund of a card payment (full or partial), with who asked and why."""

    __tablename__ = "payment_refund"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending / succeeded / failed
    stripe_refund_id: Mapped[Optional[str]] = mapped_column(String(100), unique=True)
    failure_message: Mapped[Optional[str]] = mapped_column(String(500))
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    payment: Mapped[Payment] = relationship(back_populates="refunds")
    actor = relationship("User")


class StripeEvent(db.Model):
    """A webhook event already processed (replays are answered without acting twice)."""

    __tablename__ = "stripe_event"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # evt_...
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[Optional[str]] = mapped_column(String(100), index=True)
    livemode: Mapped[bool] = mapped_column(default=False)
    result: Mapped[str] = mapped_column(String(40))  # what was done, e.g. "captured", "ignored"
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---------------------------------------------------------------- 二次竞价 / 顺序轮候
COMPETITION_METHODS = {"competition": "二次竞价", "rotation": "顺序轮候"}
COMPETITION_STATUSES = {"open": "竞价中", "awarded": "已成交", "failed": "流标", "cancelled": "已撤销"}


class Competition(db.Model):
    """A requirement published to every admitted entrant of a 品目 (or a rotation award)."""

    __tablename__ = "competition"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    method: Mapped[str] = mapped_column(String(20), default="competition")
    buyer_unit_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"), index=True)
    agreement_id: Mapped[Optional[int]] = mapped_column(ForeignKey("agreement.id"), index=True)  # rotation
    title: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    specs: Mapped[str] = mapped_column(String(4000))
    budget_line_id: Mapped[int] = mapped_column(ForeignKey("budget_line.id"))
    budget_amount: Mapped[Decimal] = mapped_column(Money)  # 采购预算 (the highest total accepted)
    payment_method: Mapped[str] = mapped_column(String(20), default="treasury")
    # the official card's token (issuing bank, Stripe pm_…) the awarded order is held on
    card_payment_method: Mapped[Optional[str]] = mapped_column(String(210))
    delivery_address: Mapped[Optional[str]] = mapped_column(String(300))
    deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    sme_price_deduction: Mapped[Decimal] = mapped_column(Numeric(5, 4))  # policy figure applied
    policy_snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    evaluated_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    awarded_bid_id: Mapped[Optional[int]] = mapped_column(Integer)
    awarded_supplier_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisation.id"))
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("purchase_order.id"))
    result_note: Mapped[Optional[str]] = mapped_column(String(1000))

    invites: Mapped[list["CompetitionInvite"]] = relationship(back_populates="competition",
                                                              order_by="CompetitionInvite.id")
    bids: Mapped[list["CompetitionBid"]] = relationship(back_populates="competition", order_by="CompetitionBid.id")
    buyer_unit = relationship("Organisation", foreign_keys=[buyer_unit_id])
    awarded_supplier = relationship("Organisation", foreign_keys=[awarded_supplier_id])
    budget_line: Mapped[BudgetLine] = relationship()
    category = relationship("Category")
    agreement = relationship("Agreement")
    order = relationship("Order", foreign_keys=[order_id])

    @property
    def method_label(self) -> str:
        return COMPETITION_METHODS.get(self.method, self.method)

    @property
    def status_label(self) -> str:
        return COMPETITION_STATUSES.get(self.status, self.status)

    @property
    def invited_supplier_ids(self) -> set[int]:
        return {i.supplier_id for i in self.invites}


class CompetitionInvite(db.Model):
    __tablename__ = "competition_invite"
    __audited__ = True
    __table_args__ = (UniqueConstraint("competition_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competition.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    competition: Mapped[Competition] = relationship(back_populates="invites")
    supplier = relationship("Organisation")
    agreement = relationship("Agreement")


class CompetitionBid(db.Model):
    """One supplier's bid (revisable until the deadline); evaluated price after SME deduction."""

    __tablename__ = "competition_bid"
    __audited__ = True
    __table_args__ = (UniqueConstraint("competition_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competition.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    agreement_price_id: Mapped[int] = mapped_column(ForeignKey("agreement_price.id"))
    unit_price: Mapped[Decimal] = mapped_column(Money)
    ceiling_price: Mapped[Decimal] = mapped_column(Money)          # the agreement price it may not exceed
    sme_size: Mapped[Optional[str]] = mapped_column(String(10))
    deduction_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0"))
    evaluated_price: Mapped[Decimal] = mapped_column(Numeric(16, 4))  # unit price × (1 − deduction)
    rank: Mapped[Optional[int]] = mapped_column(Integer)
    note: Mapped[Optional[str]] = mapped_column(String(500))
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    competition: Mapped[Competition] = relationship(back_populates="bids")
    supplier = relationship("Organisation")
    product = relationship("Product")
    agreement_price = relationship("AgreementPrice")


class RotationAward(db.Model):
    """顺序轮候: who got (or was passed over for) an award in which round of an agreement."""

    __tablename__ = "rotation_award"
    __audited__ = True
    __table_args__ = (UniqueConstraint("agreement_id", "round_no", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    round_no: Mapped[int] = mapped_column(Integer)
    rotation_position: Mapped[Optional[int]] = mapped_column(Integer)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competition.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(20), default="awarded")  # awarded / skipped
    note: Mapped[Optional[str]] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    supplier = relationship("Organisation")


# ---------------------------------------------------------------- risk flags (数字见证 warnings)
RISK_KINDS = {
    "split_suspected": "疑似化整为零",
    "price_above_market": "价格高于市场参考价",
    "supplier_concentration": "供应商集中度异常",
    "late_delivery": "延迟交付",
    # raised by the nightly supervision scan (supervision/flags.py)
    "price_above_agreement": "价格高于协议价",
    "near_threshold": "金额略低于限额标准",
    "late_confirmation": "确认超时",
    "late_acceptance": "验收超时",
    "sme_declaration_mismatch": "中小企业声明与其数据不符",
}
RISK_STATUSES = {"open": "待核查", "cleared": "已核销"}


class RiskFlag(db.Model):
    """A pattern flagged for the finance bureau (e.g. suspected splitting at checkout).

    Created by the checkout when policy.split_action is ``flag``; auditors review and clear it.
    """

    __tablename__ = "risk_flag"
    __audited__ = True
    __table_args__ = (db.Index("ix_risk_flag_status_kind", "status", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(1000))
    figures: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # supervision (supervision/services.py): a flag may concern a unit/supplier pair rather than
    # one order; the nightly scan finds its own flags again by dedup_key (kind + subject).
    unit_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisation.id"), index=True)
    supplier_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisation.id"), index=True)
    dedup_key: Mapped[Optional[str]] = mapped_column(String(160), unique=True)
    source: Mapped[str] = mapped_column(String(20), default="checkout")  # checkout / scan
    cleared_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id"))
    cleared_reason: Mapped[Optional[str]] = mapped_column(String(1000))
    cleared_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))

    order: Mapped[Optional[Order]] = relationship(backref="risk_flags")

    @property
    def kind_label(self) -> str:
        return RISK_KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return RISK_STATUSES.get(self.status, self.status)
