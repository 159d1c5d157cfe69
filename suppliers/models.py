from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Optional

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.extensions import db
from mall.timeutil import utcnow

SIZE_LABELS = {"micro": "微型企业", "small": "小型企业", "medium": "中型企业", "large": "大型企业"}
SME_SIZES = ("micro", "small", "medium")
SUPPLIER_STATUSES = {"active": "正常", "suspended": "暂停交易"}
PAVILION_STATUSES = {"none": "未申请", "applied": "审核中", "qualified": "已认定", "rejected": "未通过"}


class SupplierProfile(db.Model):
    """Supplier-side facts of an organisation of kind ``supplier``."""

    __tablename__ = "supplier_profile"
    __audited__ = True

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    status_reason: Mapped[Optional[str]] = mapped_column(String(500))
    sme_size: Mapped[Optional[str]] = mapped_column(String(10))  # from the current declaration
    description: Mapped[Optional[str]] = mapped_column(Text)
    service_phone: Mapped[Optional[str]] = mapped_column(String(30))
    rating: Mapped[Optional[Decimal]] = mapped_column(Numeric(3, 2))
    # 特色馆 (specialty pavilion) qualification
    pavilion_status: Mapped[str] = mapped_column(String(20), default="none")
    pavilion_county: Mapped[Optional[str]] = mapped_column(String(100))
    pavilion_note: Mapped[Optional[str]] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    organisation = relationship("Organisation", backref=db.backref("supplier_profile", uselist=False))

    @property
    def is_sme(self) -> bool:
        return self.sme_size in SME_SIZES

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def pavilion_qualified(self) -> bool:
        return self.pavilion_status == "qualified"


INDUSTRIES = {
    "industry": "工业",
    "wholesale": "批发业",
    "retail": "零售业",
    "software": "软件和信息技术服务业",
    "property": "物业管理",
    "agriculture": "农、林、牧、渔业",
}


class SmeDeclaration(db.Model):
    """中小企业声明函: self-declared figures of the previous year and the size they give."""

    __tablename__ = "sme_declaration"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    industry: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)  # the year the figures are of
    staff: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[Decimal] = mapped_column(Numeric(16, 2))      # 营业收入, yuan
    total_assets: Mapped[Decimal] = mapped_column(Numeric(16, 2))  # 资产总额, yuan
    size: Mapped[str] = mapped_column(String(10))                  # computed
    declared_size: Mapped[Optional[str]] = mapped_column(String(10))  # what the supplier claimed, if any
    # For goods the manufacturer must be an SME: whose goods this declaration covers.
    manufacturer_name: Mapped[Optional[str]] = mapped_column(String(200))
    manufacturer_size: Mapped[Optional[str]] = mapped_column(String(10))
    # how the size was computed (thresholds in force when declared), kept for the public record
    explanation: Mapped[Optional[str]] = mapped_column(String(500))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    declared_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    declared_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id"))

    supplier = relationship("Organisation")
