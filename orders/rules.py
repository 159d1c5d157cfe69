"""Checkout rules: pure functions over a :class:`CheckoutContext` of plain facts.

The context is built by ``orders.services.build_context`` from the database (inside the
transaction that places the order, after the locks are taken); the rules only read it, so
each can be tested with hand-made facts. Each rule returns a list of
:class:`~mall.problems.Problem` with a stable ``code``, a Chinese message naming the rule and
its figures, ``severity`` error (refuses) or warning (informs), and the ``figures``.

The rules, in order (``RULES``):

0. ``order``                 the order itself: lines, one supplier, quantities, payment method,
                             prices not raised since the buyer saw them; a policy version in force
1. ``centralized_catalog``   集中采购目录 items only in 集采区 from an entrant of an agreement
2. ``agreement``             agreement valid on the date, supplier admitted, price ≤ agreement price
3. ``direct_purchase_limit`` order total within the direct-purchase limit (else 二次竞价) and below
                             the decentralized / open-tender thresholds (else formal procurement)
4. ``cumulative_threshold``  yearly cumulative per 品目 below the decentralized threshold; warning
                             from ``cumulative_warning_ratio`` (80%)
5. ``split_purchase``        化整为零: orders of one 品目 within the split window crossing the threshold
6. ``budget``                the budget line belongs to the unit and year and has enough available
7. ``stock``                 stock is there; the product is still sellable and its zone listing holds
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Optional

from catalog.models import ZONE_LABELS
from mall.problems import Problem

ZERO = Decimal("0")
CENT = Decimal("0.01")
MAX_QUANTITY = 100000
MAX_LINES = 200
PAYMENT_METHODS = ("card", "treasury")
KIND_LABELS = {"goods": "货物", "services": "服务", "works": "工程"}
ZONE_NAMES = {"central": "集采区", "self": "自采区", "pavilion": "特色馆"}
AGREEMENT_STATUS_LABELS = {"draft": "草稿", "active": "有效", "suspended": "暂停", "expired": "已到期"}
ENTRANT_STATUS_LABELS = {"applied": "申请中", "admitted": "已入围", "rejected": "未通过",
                         "suspended": "暂停", "withdrawn": "已退出"}

RULE_TITLES = {
    "order": "订单基本规则",
    "centralized_catalog": "集中采购目录",
    "agreement": "框架协议",
    "direct_purchase_limit": "直接选定限额",
    "cumulative_threshold": "分散采购限额累计",
    "split_purchase": "化整为零",
    "budget": "预算指标",
    "stock": "库存与在售状态",
}


def yuan(value) -> str:
    """¥12,345.60 — figures in messages."""
    if value is None:
        return "—"
    return f"¥{Decimal(value).quantize(CENT):,.2f}"


# ------------------------------------------------------------------ facts

@dataclass(frozen=True)
class PolicyFacts:
    id: int
    name: str
    decentralized: dict           # kind (goods/services/works) → 分散采购限额标准
    open_tender: dict             # kind → 公开招标数额标准
    direct_purchase_limit: Decimal
    split_window_days: int = 90
    split_action: str = "refuse"  # refuse / flag
    cumulative_warning_ratio: Decimal = Decimal("0.80")
    snapshot: dict = field(default_factory=dict)

    def threshold(self, kind: str) -> Decimal:
        return self.decentralized.get(kind) or self.decentralized["goods"]

    def tender_threshold(self, kind: str) -> Decimal:
        return self.open_tender.get(kind) or self.open_tender["goods"]


@dataclass(frozen=True)
class AgreementFacts:
    id: int
    number: str
    status: str
    term_start: dt.date
    term_end: dt.date
    category_codes: tuple         # 品目 covered (the product's 品目 or an ancestor must be among them)
    entrant_status: Optional[str]  # the supplier's AgreementSupplier.status, None if not an entrant
    max_price: Decimal            # 协议价 / 最高限制单价 of the product model
    price_id: Optional[int] = None

    def valid_on(self, day: dt.date) -> bool:
        return self.status == "active" and self.term_start <= day <= self.term_end


@dataclass(frozen=True)
class LineFacts:
    product_id: int
    title: str
    category_code: str
    category_name: str
    category_kind: str            # goods / services / works
    category_path: tuple          # the 品目 and its ancestors
    zone_code: str
    supplier_id: int
    supplier_name: str
    supplier_status: Optional[str]  # SupplierProfile.status; None: no supplier profile
    product_status: str
    halted_reason: Optional[str]
    stock: int
    quantity: int
    unit_price: Decimal           # the price charged (current price, or a mini-competition price)
    unit: str = "件"
    expected_price: Optional[Decimal] = None  # the price the buyer saw (cart); None: not given
    market_price: Optional[Decimal] = None
    centralized: bool = False     # catalog.policy.is_centralized for this order's amount of the 品目
    central_item_code: Optional[str] = None
    central_min_amount: Optional[Decimal] = None
    agreement: Optional[AgreementFacts] = None
    solicitation_open: Optional[bool] = None   # 自采区: an open 公开征集 covers the 品目
    pavilion_qualified: Optional[bool] = None  # 特色馆: the supplier is qualified

    @property
    def line_total(self) -> Decimal:
        return (self.unit_price * self.quantity).quantize(CENT)

    @property
    def reference_price(self) -> Decimal:
        """Savings reference: the agreement ceiling in 集采区, else the market price, else the price."""
        if self.zone_code == "central" and self.agreement is not None:
            return self.agreement.max_price
        return self.market_price if self.market_price is not None else self.unit_price


@dataclass(frozen=True)
class BudgetFacts:
    id: int
    unit_id: int
    year: int
    project_code: str
    project_name: str
    amount: Decimal
    reserved: Decimal
    spent: Decimal

    @property
    def available(self) -> Decimal:
        return self.amount - self.reserved - self.spent


@dataclass(frozen=True)
class PriorOrder:
    """An earlier order of the same unit (not rejected/cancelled): its amount for one 品目."""
    order_id: int
    number: str
    placed_on: dt.date
    category_code: str
    amount: Decimal
    from_competition: bool = False  # placed from a 二次竞价 award


@dataclass(frozen=True)
class CheckoutContext:
    order_date: dt.date
    buyer_unit_id: int
    lines: tuple
    policy: Optional[PolicyFacts]
    budget: Optional[BudgetFacts]
    budget_line_id: Optional[int] = None
    payment_method: str = "treasury"
    year_totals: dict = field(default_factory=dict)   # 品目 → this unit's total in the budget year
    prior_orders: tuple = ()                          # PriorOrder of the same 品目 in the budget year
    competition_id: Optional[int] = None              # placed as the result of a 二次竞价

    @property
    def budget_year(self) -> int:
        return self.order_date.year

    @property
    def total(self) -> Decimal:
        return sum((ln.line_total for ln in self.lines), ZERO)

    def amount_of(self, category_code: str) -> Decimal:
        return sum((ln.line_total for ln in self.lines if ln.category_code == category_code), ZERO)

    def categories(self) -> list[LineFacts]:
        """One line per 品目 (the first of each), in order."""
        seen, out = set(), []
        for ln in self.lines:
            if ln.category_code not in seen:
                seen.add(ln.category_code)
                out.append(ln)
        return out


def _p(code, message, rule, severity="error", field=None, **figures) -> Problem:
    return Problem(code=code, message=message, rule=rule, severity=severity, field=field, figures=figures)


# ------------------------------------------------------------------ 0. the order itself

def rule_order(ctx: CheckoutContext) -> list[Problem]:
    r = "order"
    out: list[Problem] = []
    if not ctx.lines:
        return [_p("empty_order", "【订单基本规则】订单没有商品行", r, field="lines")]
    if len(ctx.lines) > MAX_LINES:
        out.append(_p("too_many_lines", f"【订单基本规则】一张订单最多{MAX_LINES}行，本单{len(ctx.lines)}行", r,
                      field="lines", lines=len(ctx.lines), max_lines=MAX_LINES))
    suppliers = {ln.supplier_id: ln.supplier_name for ln in ctx.lines}
    if len(suppliers) > 1:
        out.append(_p("mixed_suppliers",
                      "【订单基本规则】一张订单只能向一家供应商采购，本单涉及" + f"{len(suppliers)}家："
                      + "、".join(suppliers.values()) + "，请按供应商分别下单", r, field="lines",
                      supplier_ids=",".join(str(s) for s in suppliers)))
    zones = sorted({ln.zone_code for ln in ctx.lines})
    if len(zones) > 1:
        out.append(_p("mixed_zones",
                      "【订单基本规则】一张订单只能包含同一专区的商品，本单涉及" + "、".join(ZONE_LABELS.get(z, z) for z in zones)
                      + "，请按专区分别下单", r, field="lines", zones=",".join(zones)))
    agreements = {ln.agreement.id: ln.agreement.number for ln in ctx.lines if ln.agreement is not None}
    if len(agreements) > 1:
        out.append(_p("mixed_agreements",
                      "【订单基本规则】一张订单只能依据一个框架协议，本单涉及" + "、".join(sorted(agreements.values()))
                      + "，请按协议分别下单", r, field="lines", agreements=",".join(sorted(agreements.values()))))
    for ln in ctx.lines:
        if ln.quantity < 1 or ln.quantity > MAX_QUANTITY:
            out.append(_p("invalid_quantity",
                          f"【订单基本规则】{ln.title}的数量{ln.quantity}无效，须为1至{MAX_QUANTITY}的整数", r,
                          field="quantity", product_id=ln.product_id, quantity=ln.quantity))
        if ln.expected_price is not None and ln.unit_price > ln.expected_price:
            out.append(_p("price_increased",
                          f"【订单基本规则】{ln.title}的价格已由{yuan(ln.expected_price)}调整为{yuan(ln.unit_price)}，"
                          "请在购物车确认新价格后再提交", r, product_id=ln.product_id,
                          expected_price=ln.expected_price, price=ln.unit_price))
    if ctx.payment_method not in PAYMENT_METHODS:
        out.append(_p("invalid_payment_method",
                      f"【订单基本规则】支付方式“{str(ctx.payment_method)[:20]}”无效，须为公务卡（card）或国库集中支付（treasury）",
                      r, field="payment_method"))
    if ctx.policy is None:
        out.append(_p("no_policy_in_force",
                      f"【集中采购目录及限额标准】{ctx.order_date.isoformat()}没有生效的政策版本，无法判断采购方式和限额，"
                      "暂不能下单，请联系交易中心", r, order_date=ctx.order_date.isoformat()))
    return out


# ------------------------------------------------------------------ 1. centralized catalog

def rule_centralized_catalog(ctx: CheckoutContext) -> list[Problem]:
    r = "centralized_catalog"
    out = []
    if ctx.policy is None:
        return out
    for ln in ctx.lines:
        if not ln.centralized:
            continue
        if ln.zone_code != "central":
            condition = f"（单次采购{yuan(ln.central_min_amount)}以上）" if ln.central_min_amount else ""
            out.append(_p("centralized_item_outside_zone",
                          f"{ln.category_name}（{ln.category_code}）属于集中采购目录（{ctx.policy.name}）{condition}，"
                          "须在集采区向入围供应商采购", r, product_id=ln.product_id,
                          category_code=ln.category_code, catalog_item=ln.central_item_code or ln.category_code,
                          policy=ctx.policy.name, zone=ln.zone_code,
                          amount=ctx.amount_of(ln.category_code), min_amount=ln.central_min_amount))
    return out


# ------------------------------------------------------------------ 2. framework agreement

def rule_agreement(ctx: CheckoutContext) -> list[Problem]:
    r = "agreement"
    out = []
    day = ctx.order_date
    for ln in ctx.lines:
        a = ln.agreement
        if ln.zone_code != "central":
            continue
        if a is None:
            out.append(_p("agreement_missing",
                          f"【框架协议】{ln.title}未关联框架协议价格，集采区商品须按入围协议价销售", r,
                          product_id=ln.product_id))
            continue
        if not a.valid_on(day):
            out.append(_p("agreement_not_valid",
                          f"【框架协议】协议{a.number}在{day.isoformat()}不可用（状态：{AGREEMENT_STATUS_LABELS.get(a.status, a.status)}，"
                          f"有效期{a.term_start.isoformat()}至{a.term_end.isoformat()}）", r,
                          product_id=ln.product_id, agreement=a.number, status=a.status,
                          term_start=a.term_start.isoformat(), term_end=a.term_end.isoformat()))
        if not set(ln.category_path or (ln.category_code,)) & set(a.category_codes):
            out.append(_p("agreement_category_not_covered",
                          f"【框架协议】协议{a.number}不包含品目{ln.category_name}（{ln.category_code}）", r,
                          product_id=ln.product_id, agreement=a.number, category_code=ln.category_code))
        if a.entrant_status != "admitted":
            status = ENTRANT_STATUS_LABELS.get(a.entrant_status, "非入围供应商") if a.entrant_status else "非入围供应商"
            code = "supplier_suspended_in_agreement" if a.entrant_status == "suspended" else "supplier_not_admitted"
            out.append(_p(code, f"【框架协议】{ln.supplier_name}在协议{a.number}中的入围状态为“{status}”，不能按该协议供货", r,
                          product_id=ln.product_id, agreement=a.number, entrant_status=a.entrant_status))
        if ln.unit_price > a.max_price:
            out.append(_p("price_above_agreement",
                          f"【框架协议】{ln.title}单价{yuan(ln.unit_price)}高于协议价（最高限制单价）{yuan(a.max_price)}", r,
                          product_id=ln.product_id, price=ln.unit_price, agreement_price=a.max_price,
                          agreement=a.number))
    return out


# ------------------------------------------------------------------ 3. direct-purchase limit

def _order_kind(ctx: CheckoutContext) -> str:
    """The subject kind whose thresholds apply: the strictest among the lines."""
    kinds = {ln.category_kind for ln in ctx.lines} or {"goods"}
    return min(kinds, key=lambda k: (ctx.policy.threshold(k), k))


def rule_direct_purchase_limit(ctx: CheckoutContext) -> list[Problem]:
    r = "direct_purchase_limit"
    if ctx.policy is None or not ctx.lines:
        return []
    total = ctx.total
    kind = _order_kind(ctx)
    threshold = ctx.policy.threshold(kind)
    tender = ctx.policy.tender_threshold(kind)
    limit = ctx.policy.direct_purchase_limit
    kind_label = KIND_LABELS.get(kind, kind)
    if total >= tender:
        return [_p("open_tender_required",
                   f"【公开招标数额标准】订单金额{yuan(total)}达到{kind_label}公开招标数额标准{yuan(tender)}"
                   f"（{ctx.policy.name}），须依法公开招标，不能在网上商城采购", r,
                   total=total, threshold=tender, policy=ctx.policy.name, hint="formal_procurement")]
    if total >= threshold:
        return [_p("formal_procurement_required",
                   f"【分散采购限额标准】订单金额{yuan(total)}达到{kind_label}分散采购限额标准{yuan(threshold)}"
                   f"（{ctx.policy.name}），属于政府采购项目，须采用法定采购方式，不能在网上商城直接下单", r,
                   total=total, threshold=threshold, policy=ctx.policy.name, hint="formal_procurement")]
    if total > limit and ctx.competition_id is None:
        # a 二次竞价 is held among an agreement's entrants: only for lines all under one
        under_agreement = all(ln.zone_code == "central" and ln.agreement is not None for ln in ctx.lines)
        next_step = ("请发起二次竞价，由入围供应商在协议价以内报价" if under_agreement else
                     "本单商品不在框架协议内，无法发起二次竞价，请减少数量或委托交易中心采用询价、竞争性磋商等方式采购")
        return [_p("direct_limit_exceeded",
                   f"【直接选定限额】订单金额{yuan(total)}超过单笔直接选定限额{yuan(limit)}（{ctx.policy.name}），"
                   + next_step, r, total=total, limit=limit, excess=total - limit, policy=ctx.policy.name,
                   hint="mini_competition" if under_agreement else "formal_procurement")]
    return []


# ------------------------------------------------------------------ 4. yearly cumulative per 品目

def rule_cumulative_threshold(ctx: CheckoutContext) -> list[Problem]:
    r = "cumulative_threshold"
    out = []
    if ctx.policy is None:
        return out
    ratio = ctx.policy.cumulative_warning_ratio
    for ln in ctx.categories():
        if any(x.centralized for x in ctx.lines if x.category_code == ln.category_code):
            continue  # centralized items are bought under the agreement, not against this threshold
        this = ctx.amount_of(ln.category_code)
        before = ctx.year_totals.get(ln.category_code, ZERO)
        cumulative = before + this
        threshold = ctx.policy.threshold(ln.category_kind)
        figures = dict(category_code=ln.category_code, year=ctx.budget_year, previous=before, this_order=this,
                       cumulative=cumulative, threshold=threshold, ratio=ratio, policy=ctx.policy.name)
        if cumulative >= threshold:
            out.append(_p("cumulative_threshold_exceeded",
                          f"【分散采购限额累计】本单位{ctx.budget_year}年度{ln.category_name}（{ln.category_code}）"
                          f"累计采购{yuan(cumulative)}（已有{yuan(before)}，本单{yuan(this)}），达到分散采购限额标准"
                          f"{yuan(threshold)}（{ctx.policy.name}），须采用法定采购方式", r, **figures))
        elif threshold > 0 and cumulative >= threshold * ratio:
            pct = (cumulative / threshold * 100).quantize(Decimal("0.1"))
            out.append(_p("cumulative_threshold_warning",
                          f"【分散采购限额累计】本单位{ctx.budget_year}年度{ln.category_name}（{ln.category_code}）"
                          f"累计采购{yuan(cumulative)}，已达分散采购限额标准{yuan(threshold)}的{pct}%"
                          f"（预警线{(ratio * 100).quantize(Decimal('1'))}%），请合理安排采购计划", r,
                          severity="warning", percent=pct, **figures))
    return out


# ------------------------------------------------------------------ 5. splitting (化整为零)

def split_window_orders(ctx: CheckoutContext, category_code: str) -> list[PriorOrder]:
    """Earlier orders of the 品目 placed within the window: 0..split_window_days days before."""
    days = ctx.policy.split_window_days
    return [o for o in ctx.prior_orders
            if o.category_code == category_code and 0 <= (ctx.order_date - o.placed_on).days <= days]


def rule_split_purchase(ctx: CheckoutContext) -> list[Problem]:
    r = "split_purchase"
    out = []
    if ctx.policy is None:
        return out
    policy = ctx.policy
    for ln in ctx.categories():
        prior = split_window_orders(ctx, ln.category_code)
        if not prior:
            continue
        this = ctx.amount_of(ln.category_code)
        threshold = policy.threshold(ln.category_kind)
        if this >= threshold:
            continue  # a single order at the threshold is refused by rule 3, not a split
        combined = sum((o.amount for o in prior), ZERO) + this
        numbers = [o.number for o in sorted(prior, key=lambda o: (o.placed_on, o.order_id))]
        if combined < threshold:
            limit = policy.direct_purchase_limit
            # orders from a 二次竞价 did not avoid one: they do not count here
            direct = [o for o in prior if not o.from_competition]
            combined = sum((o.amount for o in direct), ZERO) + this
            if direct and combined > limit and ctx.total <= limit and ctx.competition_id is None:
                # each order under the direct limit, together above it: the 二次竞价 may have been
                # avoided; the finance bureau judges (whatever split_action says: that is for
                # crossing the decentralized threshold, which makes it 政府采购)
                direct_numbers = [o.number for o in sorted(direct, key=lambda o: (o.placed_on, o.order_id))]
                out.append(_p("split_below_competition_flagged",
                              f"【化整为零】本单位{policy.split_window_days}天内已{len(direct)}次采购{ln.category_name}"
                              f"（{ln.category_code}），连同本单合计{yuan(combined)}，超过单笔直接选定限额{yuan(limit)}"
                              f"（{policy.name}），疑似拆分订单规避二次竞价，已提示财政部门核查", r,
                              severity="warning", category_code=ln.category_code,
                              window_days=policy.split_window_days, prior_orders=len(direct),
                              prior_numbers=",".join(direct_numbers), prior_amount=combined - this, this_order=this,
                              combined=combined, limit=limit, policy=policy.name))
            continue
        refuse = policy.split_action != "flag"
        message = (f"【化整为零】本单位{policy.split_window_days}天内已{len(prior)}次采购{ln.category_name}"
                   f"（{ln.category_code}），连同本单合计{yuan(combined)}，达到分散采购限额标准{yuan(threshold)}"
                   f"（{policy.name}），涉嫌化整为零规避法定采购方式（《政府采购法实施条例》第二十八条）")
        message += "，不能下单" if refuse else "，已提示财政部门核查"
        out.append(_p("split_purchase_suspected" if refuse else "split_purchase_flagged", message, r,
                      severity="error" if refuse else "warning", category_code=ln.category_code,
                      window_days=policy.split_window_days, prior_orders=len(prior),
                      prior_numbers=",".join(numbers), prior_amount=combined - this, this_order=this,
                      combined=combined, threshold=threshold, action=policy.split_action, policy=policy.name))
    return out


# ------------------------------------------------------------------ 6. budget line

def rule_budget(ctx: CheckoutContext) -> list[Problem]:
    r = "budget"
    b = ctx.budget
    if b is None:
        return [_p("budget_line_not_found", "【预算指标】请选择本单位的预算指标", r, field="budget_line_id",
                   budget_line_id=ctx.budget_line_id)]
    out = []
    if b.unit_id != ctx.buyer_unit_id:
        # name no figure of another unit's line: ids must not reveal other units' budgets
        return [_p("budget_line_not_owned", f"【预算指标】所选预算指标（ID {ctx.budget_line_id}）不属于本单位，不能使用", r,
                   field="budget_line_id", budget_line_id=ctx.budget_line_id)]
    if b.year != ctx.budget_year:
        out.append(_p("budget_year_mismatch",
                      f"【预算指标】预算指标{b.project_code}（{b.project_name}）为{b.year}年度，"
                      f"不能用于{ctx.budget_year}年度的采购", r, field="budget_line_id",
                      budget_year=b.year, order_year=ctx.budget_year))
    total = ctx.total
    if total > b.available:
        out.append(_p("budget_insufficient",
                      f"【预算指标】预算指标{b.project_code}（{b.project_name}）可用余额{yuan(b.available)}不足以支付"
                      f"订单金额{yuan(total)}（指标{yuan(b.amount)}，已冻结{yuan(b.reserved)}，已支付{yuan(b.spent)}）", r,
                      field="budget_line_id", available=b.available, total=total, amount=b.amount,
                      reserved=b.reserved, spent=b.spent, shortfall=total - b.available))
    return out


# ------------------------------------------------------------------ 7. stock, sellable, zone listing

def rule_stock(ctx: CheckoutContext) -> list[Problem]:
    r = "stock"
    out = []
    for ln in ctx.lines:
        reasons = []
        if ln.product_status != "listed":
            reasons.append({"draft": "尚未上架", "delisted": "已下架", "taken_down": "已被监管部门下架"}
                           .get(ln.product_status, f"状态为{ln.product_status}"))
        if ln.halted_reason:
            reasons.append(f"暂停销售（{ln.halted_reason}）")
        if ln.supplier_status != "active":
            reasons.append("供应商已被暂停交易" if ln.supplier_status == "suspended" else "供应商资料不完整")
        if reasons:
            out.append(_p("product_not_sellable", f"【库存与在售状态】{ln.title}当前不可购买：" + "；".join(reasons), r,
                          product_id=ln.product_id, product_status=ln.product_status,
                          supplier_status=ln.supplier_status))
            continue
        if ln.zone_code == "self" and ln.solicitation_open is False:
            out.append(_p("zone_listing_invalid",
                          f"【库存与在售状态】{ln.category_name}（{ln.category_code}）目前没有有效的自采区公开征集，"
                          f"{ln.title}不能在自采区销售", r, product_id=ln.product_id, zone="self"))
        if ln.zone_code == "pavilion" and ln.pavilion_qualified is False:
            out.append(_p("zone_listing_invalid",
                          f"【库存与在售状态】{ln.supplier_name}未取得特色馆资格，{ln.title}不能在特色馆销售", r,
                          product_id=ln.product_id, zone="pavilion"))
        if ln.quantity > ln.stock:
            out.append(_p("stock_insufficient",
                          f"【库存与在售状态】{ln.title}库存不足：需要{ln.quantity}{ln.unit}，现有{max(ln.stock, 0)}{ln.unit}", r,
                          field="quantity", product_id=ln.product_id, quantity=ln.quantity, stock=ln.stock,
                          shortfall=ln.quantity - max(ln.stock, 0)))
    return out


RULES: list[tuple[str, Callable[[CheckoutContext], list[Problem]]]] = [
    ("order", rule_order),
    ("centralized_catalog", rule_centralized_catalog),
    ("agreement", rule_agreement),
    ("direct_purchase_limit", rule_direct_purchase_limit),
    ("cumulative_threshold", rule_cumulative_threshold),
    ("split_purchase", rule_split_purchase),
    ("budget", rule_budget),
    ("stock", rule_stock),
]


@dataclass
class Evaluation:
    problems: list
    results: list   # per rule: {"rule", "title", "ok", "problems": [...]} — snapshotted on the order
    total: Decimal = ZERO

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def evaluate(ctx: CheckoutContext) -> Evaluation:
    """Run every rule in order; all problems are reported (not only the first)."""
    problems: list[Problem] = []
    results = []
    for name, fn in RULES:
        found = fn(ctx)
        problems.extend(found)
        results.append({"rule": name, "title": RULE_TITLES[name],
                        "ok": not any(p.severity == "error" for p in found),
                        "problems": [p.to_dict() for p in found]})
    return Evaluation(problems, results, ctx.total)


def check(ctx: CheckoutContext) -> list[Problem]:
    return evaluate(ctx).problems
