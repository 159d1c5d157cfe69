from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Optional

from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String, UniqueConstraint
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
