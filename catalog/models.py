from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Optional

from sqlalchemy import (JSON, Boolean, Date, DateTime, ForeignKey, Integer, Numeric, String, Text,
                        UniqueConstraint, Index)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.extensions import db
from mall.timeutil import utcnow

Money = Numeric(14, 2)

# ---------------------------------------------------------------- zones
ZONE_CENTRAL = "central"    # 集采区
ZONE_SELF = "self"          # 自采区
ZONE_PAVILION = "pavilion"  # 特色馆
ZONE_LABELS = {ZONE_CENTRAL: "集采区", ZONE_SELF: "自采区", ZONE_PAVILION: "特色馆"}


class Zone(db.Model):
    __tablename__ = "zone"
    __audited__ = True

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    description: Mapped[Optional[str]] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


# ---------------------------------------------------------------- 品目 classification
class Category(db.Model):
    """政府采购品目分类目录 (2022): A goods, B works, C services."""

    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[Optional[str]] = mapped_column(ForeignKey("category.code"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # goods / works / services
    description: Mapped[Optional[str]] = mapped_column(Text)
    path: Mapped[str] = mapped_column(String(120), index=True)  # "A/A02000000/A02010000/..."


# ---------------------------------------------------------------- policy versions (集中采购目录及标准)
class PolicyVersion(db.Model):
    """A version of the centralized catalog and thresholds, in force over a date range."""

    __tablename__ = "policy_version"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))  # e.g. "2025年版"
    effective_from: Mapped[dt.date] = mapped_column(Date, index=True)
    effective_to: Mapped[Optional[dt.date]] = mapped_column(Date)  # inclusive; None = open-ended
    status: Mapped[str] = mapped_column(String(20), default="published")  # draft / published
    decentralized_threshold_goods: Mapped[Decimal] = mapped_column(Money)
    decentralized_threshold_services: Mapped[Decimal] = mapped_column(Money)
    decentralized_threshold_works: Mapped[Decimal] = mapped_column(Money)
    open_tender_threshold_goods: Mapped[Decimal] = mapped_column(Money)
    open_tender_threshold_services: Mapped[Decimal] = mapped_column(Money)
    open_tender_threshold_works: Mapped[Decimal] = mapped_column(Money)
    direct_purchase_limit: Mapped[Decimal] = mapped_column(Money)  # per order, above it: 二次竞价
    sme_price_deduction: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.10"))
    split_window_days: Mapped[int] = mapped_column(Integer, default=90)
    split_action: Mapped[str] = mapped_column(String(10), default="refuse")  # refuse / flag
    cumulative_warning_ratio: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.80"))
    note: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    items: Mapped[list["CentralizedItem"]] = relationship(back_populates="policy",
                                                          cascade="all, delete-orphan")

    def threshold(self, kind: str, which: str = "decentralized") -> Decimal:
        kind = {"goods": "goods", "services": "services", "works": "works"}.get(kind, "goods")
        return getattr(self, f"{which}_threshold_{kind}")

    def in_force_on(self, day: dt.date) -> bool:
        return self.status == "published" and self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to)


class CentralizedItem(db.Model):
    """A 品目 of the centralized catalog, optionally only from an amount (e.g. ≥ ¥10,000)."""

    __tablename__ = "centralized_item"
    __audited__ = True
    __table_args__ = (UniqueConstraint("policy_id", "category_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"), index=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    min_amount: Mapped[Optional[Decimal]] = mapped_column(Money)  # amount condition (单项或批量)
    note: Mapped[Optional[str]] = mapped_column(String(300))

    policy: Mapped[PolicyVersion] = relationship(back_populates="items")
    category: Mapped[Category] = relationship()


# ---------------------------------------------------------------- 自采区 solicitations (公开征集)
class Solicitation(db.Model):
    """A 品目 publicly solicited for the 自采区; registered suppliers meeting it may list."""

    __tablename__ = "solicitation"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    conditions: Mapped[Optional[str]] = mapped_column(Text)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[Optional[dt.date]] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open / closed
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    category: Mapped[Category] = relationship()

    def open_on(self, day: dt.date) -> bool:
        return self.status == "open" and self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


# ---------------------------------------------------------------- framework agreements (框架协议)
AGREEMENT_STATUSES = {"draft": "草稿", "active": "有效", "suspended": "暂停", "expired": "已到期"}
SECOND_STAGE = {"direct": "直接选定", "competition": "二次竞价", "rotation": "顺序轮候"}
AGREEMENT_KINDS = {"closed": "封闭式", "open": "开放式"}


class Agreement(db.Model):
    __tablename__ = "agreement"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default="closed")      # closed / open
    subject: Mapped[str] = mapped_column(String(10), default="goods")    # goods / services
    zone_code: Mapped[str] = mapped_column(ForeignKey("zone.code"), default=ZONE_CENTRAL)
    second_stage: Mapped[str] = mapped_column(String(20), default="direct")
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    term_start: Mapped[dt.date] = mapped_column(Date)
    term_end: Mapped[dt.date] = mapped_column(Date)
    procuring_body: Mapped[Optional[str]] = mapped_column(String(200))
    description: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    categories: Mapped[list["AgreementCategory"]] = relationship(cascade="all, delete-orphan",
                                                                 back_populates="agreement")
    entrants: Mapped[list["AgreementSupplier"]] = relationship(cascade="all, delete-orphan",
                                                               back_populates="agreement")
    prices: Mapped[list["AgreementPrice"]] = relationship(cascade="all, delete-orphan",
                                                          back_populates="agreement")

    @property
    def category_codes(self) -> list[str]:
        return [c.category_code for c in self.categories]

    def valid_on(self, day: dt.date) -> bool:
        return self.status == "active" and self.term_start <= day <= self.term_end


class AgreementCategory(db.Model):
    __tablename__ = "agreement_category"
    __audited__ = True

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"), primary_key=True, index=True)

    agreement: Mapped[Agreement] = relationship(back_populates="categories")
    category: Mapped[Category] = relationship()


ENTRANT_STATUSES = {"applied": "申请中", "admitted": "已入围", "rejected": "未通过",
                    "suspended": "暂停", "withdrawn": "已退出"}


class AgreementSupplier(db.Model):
    """An entrant (入围供应商) of an agreement, or an application to join an open one."""

    __tablename__ = "agreement_supplier"
    __audited__ = True
    __table_args__ = (UniqueConstraint("agreement_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="admitted")
    applied_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[Optional[str]] = mapped_column(String(500))
    rotation_position: Mapped[Optional[int]] = mapped_column(Integer)

    agreement: Mapped[Agreement] = relationship(back_populates="entrants")
    supplier = relationship("Organisation")


class AgreementPrice(db.Model):
    """Agreement price (协议价 / 最高限制单价) of one entrant for one product model."""

    __tablename__ = "agreement_price"
    __audited__ = True
    __table_args__ = (UniqueConstraint("agreement_id", "supplier_id", "brand", "model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    brand: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    max_price: Mapped[Decimal] = mapped_column(Money)
    discount_note: Mapped[Optional[str]] = mapped_column(String(300))

    agreement: Mapped[Agreement] = relationship(back_populates="prices")
    supplier = relationship("Organisation")


# ---------------------------------------------------------------- products
PRODUCT_STATUSES = {"draft": "草稿", "listed": "在售", "delisted": "已下架", "taken_down": "被监管下架"}


class Product(db.Model):
    __tablename__ = "product"
    __audited__ = True
    __audit_exclude__ = {"updated_at", "sales_count", "search_dirty"}
    __table_args__ = (
        Index("ix_product_listing", "status", "zone_code", "category_code"),
        Index("ix_product_supplier", "supplier_id", "status"),
        Index("ix_product_sales", "status", "zone_code", "sales_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    zone_code: Mapped[str] = mapped_column(ForeignKey("zone.code"))
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    agreement_price_id: Mapped[Optional[int]] = mapped_column(ForeignKey("agreement_price.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    brand: Mapped[Optional[str]] = mapped_column(String(100), index=True)
    model: Mapped[Optional[str]] = mapped_column(String(100))
    manufacturer: Mapped[Optional[str]] = mapped_column(String(200))
    specs: Mapped[dict] = mapped_column(JSON, default=dict)   # attribute → value
    description: Mapped[Optional[str]] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(10), default="件")
    price: Mapped[Decimal] = mapped_column(Money)
    market_price: Mapped[Optional[Decimal]] = mapped_column(Money)  # reference market price
    stock: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    # set by the agreement sweep when the agreement is not valid today (stops selling, returns later)
    halted_reason: Mapped[Optional[str]] = mapped_column(String(200))
    status_reason: Mapped[Optional[str]] = mapped_column(String(500))
    is_sme: Mapped[bool] = mapped_column(Boolean, default=False)  # manufacturer/supplier SME badge
    image_path: Mapped[Optional[str]] = mapped_column(String(300))
    sales_count: Mapped[int] = mapped_column(Integer, default=0)
    search_dirty: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    listed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))

    supplier = relationship("Organisation")
    zone: Mapped[Zone] = relationship()
    category: Mapped[Category] = relationship()
    agreement_price: Mapped[Optional[AgreementPrice]] = relationship()
    price_history: Mapped[list["PriceHistory"]] = relationship(
        back_populates="product", order_by="PriceHistory.changed_at", cascade="all, delete-orphan")

    @property
    def agreement(self) -> Optional[Agreement]:
        return self.agreement_price.agreement if self.agreement_price else None

    @property
    def status_label(self) -> str:
        return PRODUCT_STATUSES.get(self.status, self.status)


class PriceHistory(db.Model):
    __tablename__ = "price_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    price: Mapped[Decimal] = mapped_column(Money)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id"))

    product: Mapped[Product] = relationship(back_populates="price_history")


class ProductImage(db.Model):
    __tablename__ = "product_image"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))  # stored name under UPLOAD_FOLDER
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    product: Mapped[Product] = relationship(backref="images")
