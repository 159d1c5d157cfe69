from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Optional

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.extensions import db
from mall.timeutil import utcnow

Money = Numeric(14, 2)


class BudgetLine(db.Model):
    """预算指标: a budget line of a unit. Available = amount − reserved − spent."""

    __tablename__ = "budget_line"
    __audited__ = True
    __table_args__ = (UniqueConstraint("unit_id", "year", "project_code", "economic_class"),)

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

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"), index=True)
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


class Payment(db.Model):
    __tablename__ = "payment"
    __audited__ = True

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

    order = relationship("Order", backref="payments")
