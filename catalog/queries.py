"""Read-side queries of the catalog: what may be sold now, vendor-scoped listings."""
from __future__ import annotations

from sqlalchemy import Select, and_, select

from .models import Product


def sellable_condition():
    """A product may be sold now: listed, not halted by its agreement, supplier active."""
    from suppliers.models import SupplierProfile

    return and_(Product.status == "listed", Product.halted_reason.is_(None),
                Product.supplier_id.in_(select(SupplierProfile.organisation_id)
                                        .where(SupplierProfile.status == "active")))


def sellable_products() -> Select:
    return select(Product).where(sellable_condition())
