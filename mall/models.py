"""Import every model module so the metadata (and Alembic) sees all tables."""
from .accounts.models import ApiToken, Organisation, User  # noqa: F401
from .audit import AuditChainHead, AuditRecord  # noqa: F401
from catalog.models import (Agreement, AgreementCategory, AgreementPrice, AgreementSupplier,  # noqa: F401
                            Category, CentralizedItem, PolicyVersion, PriceHistory, Product,
                            ProductImage, Solicitation, Zone)
from suppliers.models import SmeDeclaration, SupplierProfile  # noqa: F401
from orders.models import (BudgetLine, CartItem, IdempotencyRecord, Notification, Order,  # noqa: F401
                           OrderLine, OrderStatusChange, Payment)

from orders.models import RiskFlag  # noqa: F401,E402
from orders.models import (Competition, CompetitionBid, CompetitionInvite, PaymentRefund,  # noqa: F401,E402
                           RotationAward, StripeEvent)
from supervision.models import EnforcementAction, LoanApplication, PartnerBank, Query  # noqa: F401,E402
from search.models import SearchDoc, SearchOutbox  # noqa: F401,E402
