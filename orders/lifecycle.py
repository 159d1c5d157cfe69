"""The order lifecycle as data: every allowed edge, who may take it, and what it does.

    submitted ──confirm(supplier)──▶ confirmed ──ship(supplier)──▶ shipped ──deliver(supplier)──▶ delivered
        │  └─reject(supplier, reason)──▶ rejected                                                  │
        └─cancel(buyer, reason)──▶ cancelled ◀──cancel(buyer, reason)── confirmed     accept(buyer, 验收意见)
                                                                                                    ▼
                              archived ◀──archive(operator/system)── paid ◀──pay── accepted
    pay: card (公务卡) → the buyer's card capture or the gateway (system);
         treasury (国库集中支付) → an auditor or operator marking the transfer, or the system.

``orders.services.transition`` applies an edge: it checks the role against this table, writes an
``OrderStatusChange`` and an audit record, runs the edge's ``effects`` (budget release/spend, stock
restore, sales count) and sends ``orders.events.order_transitioned``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from mall.accounts.models import ROLES
from mall.problems import Problem, ServiceError

from .models import ORDER_STATUSES

SYSTEM = "system"
ROLE_LABELS = {**ROLES, SYSTEM: "系统"}

# effects (implemented in orders.services.EFFECTS)
RELEASE_BUDGET = "release_budget"    # reserved −= total
SPEND_BUDGET = "spend_budget"        # reserved −= total, spent += total
RESTORE_STOCK = "restore_stock"      # stock += quantity of each line
COUNT_SALES = "count_sales"          # Product.sales_count += quantity
STAMP_ACCEPTED = "stamp_accepted"    # accepted_at, acceptance_note
STAMP_PAID = "stamp_paid"            # paid_at
CLOSE_REASON = "close_reason"        # closed_reason = note

# guards (checked in orders.services.GUARDS before anything changes)
PAYMENT_SETTLED = "payment_settled"  # a captured card payment / paid treasury transfer covers the total


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    roles: tuple                      # roles allowed whatever the payment method
    action: str                       # button label, e.g. 确认订单
    note_required: bool = False
    note_label: Optional[str] = None  # e.g. 拒绝理由
    roles_by_payment: dict = field(default_factory=dict)  # payment method → extra roles allowed
    effects: tuple = ()
    guards: tuple = ()
    style: str = "primary"            # Bootstrap button style on the order page

    def allowed_roles(self, payment_method: str | None) -> tuple:
        return tuple(self.roles) + tuple(self.roles_by_payment.get(payment_method or "", ()))

    @property
    def key(self) -> str:
        return f"{self.source}->{self.target}"


TRANSITIONS: tuple[Edge, ...] = (
    Edge("submitted", "confirmed", ("supplier",), "确认订单", style="success"),
    Edge("submitted", "rejected", ("supplier",), "拒绝订单", note_required=True, note_label="拒绝理由",
         effects=(RELEASE_BUDGET, RESTORE_STOCK, CLOSE_REASON), style="outline-danger"),
    Edge("submitted", "cancelled", ("buyer", SYSTEM), "取消订单", note_required=True, note_label="取消原因",
         effects=(RELEASE_BUDGET, RESTORE_STOCK, CLOSE_REASON), style="outline-danger"),
    Edge("confirmed", "shipped", ("supplier",), "发货", style="primary"),
    Edge("confirmed", "cancelled", ("buyer",), "取消订单", note_required=True, note_label="取消原因",
         effects=(RELEASE_BUDGET, RESTORE_STOCK, CLOSE_REASON), style="outline-danger"),
    Edge("shipped", "delivered", ("supplier",), "确认送达", style="primary"),
    Edge("delivered", "accepted", ("buyer",), "验收通过", note_required=True, note_label="验收意见",
         effects=(STAMP_ACCEPTED, COUNT_SALES), style="success"),
    Edge("accepted", "paid", (SYSTEM,), "确认已支付",
         roles_by_payment={"card": ("buyer",), "treasury": ("auditor", "operator")},
         effects=(SPEND_BUDGET, STAMP_PAID), guards=(PAYMENT_SETTLED,), style="success"),
    Edge("paid", "archived", ("operator", SYSTEM), "归档", style="secondary"),
)

_BY_KEY = {(e.source, e.target): e for e in TRANSITIONS}
FINAL_STATUSES = frozenset({"rejected", "cancelled", "archived"})
OPEN_STATUSES = tuple(s for s in ORDER_STATUSES if s not in ("rejected", "cancelled"))  # count for budget/rules
CLOSED_WITHOUT_PURCHASE = ("rejected", "cancelled")


def edge(source: str, target: str) -> Edge | None:
    return _BY_KEY.get((source, target))


def edges_from(status: str) -> list[Edge]:
    return [e for e in TRANSITIONS if e.source == status]


def allowed_edges(status: str, role: str, payment_method: str | None) -> list[Edge]:
    """The edges a role may take from ``status`` (the buttons on the order page)."""
    return [e for e in edges_from(status) if role in e.allowed_roles(payment_method)]


def resolve(status: str, target: str, role: str, payment_method: str | None) -> Edge:
    """The edge ``status → target`` for ``role``, or a refusal: 409 ``invalid_transition`` when the
    edge does not exist, 403 ``transition_not_allowed_for_role`` when the role may not take it."""
    e = edge(status, target)
    if e is None:
        possible = "、".join(ORDER_STATUSES.get(x.target, x.target) for x in edges_from(status)) or "无"
        raise ServiceError(Problem(
            "invalid_transition",
            f"【订单状态流转】订单当前为“{ORDER_STATUSES.get(status, status)}”，不能变更为"
            f"“{ORDER_STATUSES.get(target, target)}”（可变更为：{possible}）",
            rule="lifecycle", figures={"from": status, "to": target}), status=409)
    allowed = e.allowed_roles(payment_method)
    if role not in allowed:
        who = "、".join(ROLE_LABELS.get(r, r) for r in allowed if r != SYSTEM) or "系统"
        raise ServiceError(Problem(
            "transition_not_allowed_for_role",
            f"【订单状态流转】“{e.action}”只能由{who}操作，您的角色（{ROLE_LABELS.get(role, role)}）无权执行",
            rule="lifecycle", figures={"from": status, "to": target, "role": role,
                                       "allowed_roles": ",".join(allowed)}), status=403)
    return e
