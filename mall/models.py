"""Import every model module so the metadata (and Alembic) sees all tables."""
from .accounts.models import ApiToken, Organisation, User  # noqa: F401
from .audit import AuditChainHead, AuditRecord  # noqa: F401
from catalog.models import (Agreement, AgreementCategory, AgreementPrice, AgreementSupplier,  # noqa: F401
                            Category, CentralizedItem, PolicyVersion, PriceHistory, Product,
                            ProductImage, Solicitation, Zone)
from suppliers.models import SmeDeclaration, SupplierProfile  # noqa: F401
from orders.models import (BudgetLine, CartItem, IdempotencyRecord, Notification, Order,  # noqa: F401
                           OrderLine, OrderStatusChange, Payment)

