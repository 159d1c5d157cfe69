"""Supervision models: queries (问询), enforcement actions, partner banks and loan applications.

Risk flags are ``orders.models.RiskFlag`` (raised at checkout and by the nightly scan).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Optional

from sqlalchemy import Boolean, DateTime, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.extensions import db
from mall.timeutil import utcnow

Money = Numeric(14, 2)

QUERY_STATUSES = {"open": "待答复", "answered": "已答复", "closed": "已办结"}
QUERY_PARTIES = {"buyer": "采购人", "supplier": "供应商"}


class Query(db.Model):
    """问询: a question of the finance bureau about an order, to its buyer unit or supplier."""

    __tablename__ = "supervision_query"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    addressed_party: Mapped[str] = mapped_column(String(10))  # buyer / supplier
    addressed_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    flag_id: Mapped[Optional[int]] = mapped_column(ForeignKey("risk_flag.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    asked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answer: Mapped[Optional[str]] = mapped_column(Text)
    answered_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id"))
    answered_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    closed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    close_note: Mapped[Optional[str]] = mapped_column(String(1000))

    order = relationship("Order", backref=db.backref("queries", order_by="Query.id"))
    addressed_org = relationship("Organisation")
    asked_by = relationship("User", foreign_keys=[asked_by_id])
    answered_by = relationship("User", foreign_keys=[answered_by_id])
    closed_by = relationship("User", foreign_keys=[closed_by_id])
    flag = relationship("RiskFlag")

    @property
    def status_label(self) -> str:
        return QUERY_STATUSES.get(self.status, self.status)

    @property
    def party_label(self) -> str:
        return QUERY_PARTIES.get(self.addressed_party, self.addressed_party)


ENFORCEMENT_KINDS = {
    "supplier_suspend": "暂停供应商交易",
    "supplier_reinstate": "恢复供应商交易",
    "product_takedown": "商品监管下架",
    "product_restore": "撤销商品下架",
}


class EnforcementAction(db.Model):
    """A published enforcement action (处理决定): suspension, take-down or their reversal."""

    __tablename__ = "enforcement_action"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    product_id: Mapped[Optional[int]] = mapped_column(ForeignKey("product.id"), index=True)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("purchase_order.id"))
    reason: Mapped[str] = mapped_column(String(500))
    previous_status: Mapped[Optional[str]] = mapped_column(String(20))
    acted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    acted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    supplier = relationship("Organisation")
    product = relationship("Product")
    acted_by = relationship("User")

    @property
    def kind_label(self) -> str:
        return ENFORCEMENT_KINDS.get(self.kind, self.kind)


class PartnerBank(db.Model):
    """A partner bank of 政采贷: its contacts are shown on every order of a supplier."""

    __tablename__ = "partner_bank"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    contact_name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(30))
    products: Mapped[Optional[str]] = mapped_column(Text)  # loan products, rates, terms (text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


LOAN_STATUSES = {"applied": "待银行审批", "approved": "已批准", "rejected": "未批准"}
# an order a loan may be asked against: confirmed by the supplier and not closed
LOANABLE_ORDER_STATUSES = ("confirmed", "shipped", "delivered", "accepted", "paid", "archived")


class LoanApplication(db.Model):
    """政采贷 application of a supplier against one of its confirmed orders."""

    __tablename__ = "loan_application"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("partner_bank.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    applicant_note: Mapped[Optional[str]] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="applied", index=True)
    decided_amount: Mapped[Optional[Decimal]] = mapped_column(Money)
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[Optional[str]] = mapped_column(String(500))  # the bank's decision note
    applied_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    order = relationship("Order", backref=db.backref("loan_applications", order_by="LoanApplication.id"))
    supplier = relationship("Organisation")
    bank = relationship("PartnerBank")
    applied_by = relationship("User", foreign_keys=[applied_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])

    @property
    def status_label(self) -> str:
        return LOAN_STATUSES.get(self.status, self.status)
