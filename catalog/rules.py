"""Listing rules of the three zones (三区), as pure functions.

Nothing here touches the database: callers pass plain facts (the dataclasses below, or any
object with the same attributes, e.g. ORM rows already loaded) and get back a list of
:class:`mall.problems.Problem` with stable codes and Chinese messages that name the rule and
its figures.  ``catalog.services`` gathers the facts and applies these rules on every
create, edit and listing; ``tests/test_listing_rules.py`` tests every rule on its own.

Rules:
- generic fields (:func:`clean_fields`): title required ≤200, price > 0 with at most two
  decimals, stock an integer ≥ 0, market price optional ≥ 0, lengths of the text fields;
- the 品目 must be a real code of the 2022 classification (:func:`check_category`);
- a suspended supplier cannot list (:func:`check_supplier_can_list`);
- 集采区: an active agreement valid today, the supplier admitted to it, the 品目 covered by
  it, a matching agreement price (brand + model) and a price at or below it
  (:func:`check_central_zone`, :func:`match_agreement_price`);
- 自采区: the 品目 (or an ancestor of it) is publicly solicited and the solicitation is open
  today (:func:`check_self_zone`);
- 特色馆: the supplier is pavilion-qualified (:func:`check_pavilion_zone`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping, Sequence

from mall.problems import Problem

from . import pinmu

ZONES = {"central": "集采区", "self": "自采区", "pavilion": "特色馆"}
ENTRANT_LABELS = {"applied": "申请中", "admitted": "已入围", "rejected": "未通过",
                  "suspended": "暂停", "withdrawn": "已退出"}
AGREEMENT_STATUS_LABELS = {"draft": "草稿", "active": "有效", "suspended": "暂停", "expired": "已到期"}
PAVILION_LABELS = {"none": "未申请", "applied": "审核中", "qualified": "已认定", "rejected": "未通过"}

MAX_MONEY = Decimal("999999999999.99")  # Numeric(14, 2)
MAX_STOCK = 2_000_000_000
TITLE_MAX = 200
TEXT_LIMITS = {"brand": ("品牌", 100), "model": ("型号", 100), "manufacturer": ("制造商", 200),
               "unit": ("计量单位", 10), "description": ("商品描述", 20000)}
SPECS_MAX_ITEMS = 50
SPEC_KEY_MAX = 50
SPEC_VALUE_MAX = 200


# --------------------------------------------------------------------------- facts

@dataclass(frozen=True)
class SupplierFacts:
    id: int
    name: str = ""
    status: str = "active"               # active / suspended
    status_reason: str | None = None
    pavilion_status: str = "none"        # none / applied / qualified / rejected
    sme_size: str | None = None


@dataclass(frozen=True)
class PriceFacts:
    """An agreement price (协议价 / 最高限制单价) of this supplier for one brand + model."""
    id: int | None
    brand: str
    model: str
    max_price: Decimal
    category_code: str


@dataclass(frozen=True)
class AgreementFacts:
    """A framework agreement as seen by one supplier: its entrant status and its prices."""
    id: int | None
    number: str
    title: str = ""
    kind: str = "closed"                 # closed / open
    status: str = "active"               # draft / active / suspended / expired
    term_start: dt.date = dt.date.min
    term_end: dt.date = dt.date.max
    category_codes: tuple[str, ...] = ()
    entrant_status: str | None = None    # this supplier's AgreementSupplier.status, if any
    prices: tuple[PriceFacts, ...] = ()  # this supplier's agreement prices

    @cached_property
    def price_index(self) -> dict[tuple[str, str], list[PriceFacts]]:
        """Prices by normalised (brand, model), so a bulk import stays linear."""
        index: dict[tuple[str, str], list[PriceFacts]] = {}
        for p in self.prices:
            index.setdefault((_norm(p.brand), _norm(p.model)), []).append(p)
        return index


@dataclass(frozen=True)
class SolicitationFacts:
    category_code: str
    status: str = "open"                 # open / closed
    valid_from: dt.date = dt.date.min
    valid_to: dt.date | None = None
    title: str = ""


@dataclass(frozen=True)
class ListingFacts:
    """What the zone rules need of a product."""
    zone: str
    category_code: str
    price: Decimal
    brand: str | None = None
    model: str | None = None


# --------------------------------------------------------------------------- helpers

def yuan(value: Decimal | int | None) -> str:
    if value is None:
        return "—"
    return f"¥{Decimal(value).quantize(Decimal('0.01')):,.2f}"


def category_label(code: str, tree: Mapping[str, Any] | None = None) -> str:
    tree = pinmu.tree() if tree is None else tree
    node = tree.get(code)
    return f"{code}（{node.name}）" if node is not None else code


def agreement_valid_on(agreement, day: dt.date) -> bool:
    return agreement.status == "active" and agreement.term_start <= day <= agreement.term_end


def solicitation_open_on(s, day: dt.date) -> bool:
    return s.status == "open" and s.valid_from <= day and (s.valid_to is None or day <= s.valid_to)


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _prices_for(agreement, key: tuple[str, str]) -> list:
    index = getattr(agreement, "price_index", None)
    if isinstance(index, dict):
        return index.get(key, [])
    return [p for p in agreement.prices if (_norm(p.brand), _norm(p.model)) == key]


def _path(code: str, tree: Mapping[str, Any] | None) -> list[str]:
    if tree is None:
        return pinmu.path_of(code)
    out = []
    while code:
        out.append(code)
        node = tree.get(code)
        code = node.parent_code if node is not None else None
    return out


def _covers(parent_code: str, code: str, tree=None) -> bool:
    """``parent_code`` is ``code`` itself or one of its ancestors."""
    return parent_code in _path(code, tree)


# --------------------------------------------------------------------------- generic fields

def parse_money(raw: Any, field_name: str, label: str, *, required: bool, positive: bool
                ) -> tuple[Decimal | None, list[Problem]]:
    """Money from user input (string or number): at most two decimals, never a float."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            return None, [Problem(f"{field_name}_required", f"{label}不能为空", field=field_name,
                                  rule="product.fields")]
        return None, []
    if isinstance(raw, bool):
        return None, [Problem(f"{field_name}_invalid", f"{label}须为金额数字", field=field_name,
                              rule="product.fields")]
    text = str(raw).strip().replace(",", "").replace("，", "").lstrip("¥￥").removesuffix("元").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, [Problem(f"{field_name}_invalid", f"{label}“{str(raw)[:30]}”不是有效的金额",
                              field=field_name, rule="product.fields", figures={"value": str(raw)[:30]})]
    if not value.is_finite():
        return None, [Problem(f"{field_name}_invalid", f"{label}“{str(raw)[:30]}”不是有效的金额",
                              field=field_name, rule="product.fields", figures={"value": str(raw)[:30]})]
    if positive and value <= 0:
        return None, [Problem(f"{field_name}_not_positive", f"{label}须大于0（填写的是{value}）",
                              field=field_name, rule="product.fields", figures={"value": value})]
    if value < 0:
        return None, [Problem(f"{field_name}_negative", f"{label}不能为负数（填写的是{value}）",
                              field=field_name, rule="product.fields", figures={"value": value})]
    if value != value.quantize(Decimal("0.01")):
        return None, [Problem(f"{field_name}_too_many_decimals", f"{label}最多保留两位小数（填写的是{value}）",
                              field=field_name, rule="product.fields", figures={"value": value})]
    if value > MAX_MONEY:
        return None, [Problem(f"{field_name}_too_large", f"{label}{yuan(value)}超过上限{yuan(MAX_MONEY)}",
                              field=field_name, rule="product.fields", figures={"value": value})]
    return value.quantize(Decimal("0.01")), []


def parse_stock(raw: Any) -> tuple[int | None, list[Problem]]:
    def bad(code, message, **figures):
        return None, [Problem(code, message, field="stock", rule="product.fields", figures=figures)]

    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return bad("stock_required", "库存不能为空")
    if isinstance(raw, bool):
        return bad("stock_invalid", "库存须为整数")
    if isinstance(raw, int):
        value = raw
    else:
        try:
            d = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            return bad("stock_invalid", f"库存“{str(raw)[:30]}”须为整数", value=str(raw)[:30])
        if not d.is_finite() or d != d.to_integral_value():
            return bad("stock_invalid", f"库存“{str(raw)[:30]}”须为整数", value=str(raw)[:30])
        value = int(d)
    if value < 0:
        return bad("stock_negative", f"库存不能为负数（填写的是{value}）", value=value)
    if value > MAX_STOCK:
        return bad("stock_too_large", f"库存{value}超过上限{MAX_STOCK}", value=value)
    return value, []


def parse_specs(raw: Any) -> tuple[dict[str, str] | None, list[Problem]]:
    """Specs as attributes: a dict, or text with one “属性: 值” per line (or ；-separated)."""
    def bad(code, message, **figures):
        return None, [Problem(code, message, field="specs", rule="product.fields", figures=figures)]

    if raw is None or raw == "":
        return {}, []
    items: list[tuple[str, str]] = []
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            if isinstance(v, (dict, list)):
                return bad("specs_invalid", f"规格参数“{k}”的值须为文字或数字")
            items.append((str(k).strip(), "" if v is None else str(v).strip()))
    elif isinstance(raw, str):
        for part in raw.replace("；", "\n").replace(";", "\n").splitlines():
            part = part.strip()
            if not part:
                continue
            for sep in (":", "：", "="):
                if sep in part:
                    k, v = part.split(sep, 1)
                    items.append((k.strip(), v.strip()))
                    break
            else:
                return bad("specs_invalid", f"规格参数“{part[:30]}”格式不正确，应为“属性: 值”", line=part[:30])
    else:
        return bad("specs_invalid", "规格参数须为“属性: 值”的列表")
    out: dict[str, str] = {}
    for k, v in items:
        if not k:
            return bad("specs_invalid", "规格参数的属性名不能为空")
        if len(k) > SPEC_KEY_MAX or len(v) > SPEC_VALUE_MAX:
            return bad("specs_too_long", f"规格参数“{k[:20]}”过长（属性名最多{SPEC_KEY_MAX}字，值最多{SPEC_VALUE_MAX}字）")
        out[k] = v
    if len(out) > SPECS_MAX_ITEMS:
        return bad("specs_too_many", f"规格参数最多{SPECS_MAX_ITEMS}项（填写了{len(out)}项）", count=len(out))
    return out, []


def clean_fields(raw: Mapping[str, Any], *, partial: bool = False) -> tuple[dict, list[Problem]]:
    """Validate and normalise the product fields present in ``raw``.

    With ``partial`` only the keys given are checked (an edit); otherwise title, price, stock,
    zone and category_code are required.  Returns (clean values, problems).
    """
    clean: dict[str, Any] = {}
    problems: list[Problem] = []

    def present(key: str) -> bool:
        return key in raw or not partial

    if present("title"):
        title = " ".join(str(raw.get("title") or "").split())
        if not title:
            problems.append(Problem("title_required", "商品名称不能为空", field="title", rule="product.fields"))
        elif len(title) > TITLE_MAX:
            problems.append(Problem("title_too_long", f"商品名称最多{TITLE_MAX}字（填写了{len(title)}字）",
                                    field="title", rule="product.fields",
                                    figures={"length": len(title), "max": TITLE_MAX}))
        else:
            clean["title"] = title
    if present("price"):
        value, p = parse_money(raw.get("price"), "price", "单价", required=True, positive=True)
        problems += p
        if not p:
            clean["price"] = value
    if "market_price" in raw:
        value, p = parse_money(raw.get("market_price"), "market_price", "市场参考价", required=False,
                               positive=False)
        problems += p
        if not p:
            clean["market_price"] = value
    if present("stock"):
        value, p = parse_stock(raw.get("stock"))
        problems += p
        if not p:
            clean["stock"] = value
    if present("zone"):
        zone = str(raw.get("zone") or "").strip()
        if zone not in ZONES:
            problems.append(Problem("zone_invalid", f"专区“{zone[:20]}”无效，应为集采区、自采区或特色馆",
                                    field="zone", rule="product.fields", figures={"zone": zone[:20]}))
        else:
            clean["zone"] = zone
    if present("category_code"):
        code = str(raw.get("category_code") or "").strip().upper()
        if not code:
            problems.append(Problem("category_required", "品目编码不能为空", field="category_code",
                                    rule="product.category"))
        else:
            clean["category_code"] = code
    for key, (label, limit) in TEXT_LIMITS.items():
        if key in raw:
            text = str(raw.get(key) or "").strip()
            if key != "description":
                text = " ".join(text.split())
            if len(text) > limit:
                problems.append(Problem(f"{key}_too_long", f"{label}最多{limit}字（填写了{len(text)}字）",
                                        field=key, rule="product.fields", figures={"length": len(text), "max": limit}))
            else:
                clean[key] = text or None
    if "unit" in clean and not clean["unit"]:
        clean["unit"] = "件"
    if "specs" in raw:
        value, p = parse_specs(raw.get("specs"))
        problems += p
        if not p:
            clean["specs"] = value
    return clean, problems


def price_warnings(price: Decimal | None, market_price: Decimal | None) -> list[Problem]:
    """Price integrity: a price above the reference market price is a risk (warning, not refused)."""
    if price is None or market_price is None or market_price <= 0 or price <= market_price:
        return []
    return [Problem("price_above_market",
                    f"价格诚信提示：单价{yuan(price)}高于填写的市场参考价{yuan(market_price)}，监管部门将重点关注",
                    field="price", rule="product.price_integrity", severity="warning",
                    figures={"price": price, "market_price": market_price})]


# --------------------------------------------------------------------------- listing rules

def check_category(code: str, tree: Mapping[str, Any] | None = None) -> list[Problem]:
    tree = pinmu.tree() if tree is None else tree
    if code not in tree:
        return [Problem("category_unknown",
                        f"品目编码“{code}”不是《政府采购品目分类目录》（2022年版）中的编码",
                        field="category_code", rule="product.category", figures={"category_code": code})]
    return []


def check_supplier_can_list(supplier) -> list[Problem]:
    if supplier is None:
        return [Problem("supplier_profile_missing", "供应商资料不存在，不能上架商品", rule="supplier.active")]
    if supplier.status != "active":
        reason = f"（原因：{supplier.status_reason}）" if getattr(supplier, "status_reason", None) else ""
        return [Problem("supplier_suspended", f"供应商已被暂停交易{reason}，暂停期间不能上架或编辑商品",
                        rule="supplier.active", figures={"status": supplier.status})]
    return []


def _central(product: ListingFacts, agreements: Sequence, day: dt.date, tree=None
             ) -> tuple[list[Problem], PriceFacts | None, Any]:
    code = product.category_code
    label = category_label(code, tree)
    rule = "zone.central"
    covering = [a for a in agreements if any(_covers(c, code, tree) for c in a.category_codes)]
    if not covering:
        return [Problem("central_category_not_covered",
                        f"集采区规则：品目{label}不在任何框架协议的范围内，不能在集采区上架",
                        field="category_code", rule=rule, figures={"category_code": code})], None, None
    admitted = [a for a in covering if a.entrant_status == "admitted"]
    if not admitted:
        numbers = "、".join(a.number for a in covering[:5])
        states = {a.entrant_status for a in covering if a.entrant_status}
        state = "；贵公司状态：" + "、".join(ENTRANT_LABELS.get(s, s) for s in sorted(states)) if states else ""
        return [Problem("central_not_admitted",
                        f"集采区规则：只有框架协议入围供应商可在集采区销售品目{label}，"
                        f"贵公司不是协议{numbers}的入围供应商{state}",
                        field="zone", rule=rule, figures={"category_code": code, "agreements": numbers})], None, None
    valid = [a for a in admitted if agreement_valid_on(a, day)]
    if not valid:
        a = admitted[0]
        return [Problem("central_agreement_not_valid",
                        f"集采区规则：框架协议{a.number}（状态：{AGREEMENT_STATUS_LABELS.get(a.status, a.status)}，"
                        f"协议期{a.term_start.isoformat()}至{a.term_end.isoformat()}）在今天（{day.isoformat()}）"
                        f"不在有效期内，不能按该协议上架",
                        field="zone", rule=rule,
                        figures={"agreement": a.number, "status": a.status, "term_start": a.term_start.isoformat(),
                                 "term_end": a.term_end.isoformat(), "today": day.isoformat()})], None, None
    if not (product.brand or "").strip() or not (product.model or "").strip():
        return [Problem("central_brand_model_required",
                        "集采区规则：集采区商品须填写品牌和型号，以对应框架协议中的协议价",
                        field="model" if (product.brand or "").strip() else "brand", rule=rule)], None, None
    key = (_norm(product.brand), _norm(product.model))
    same_model = [(a, p) for a in valid for p in _prices_for(a, key)]
    numbers = "、".join(a.number for a in valid[:5])
    if not same_model:
        return [Problem("central_no_agreement_price",
                        f"集采区规则：框架协议{numbers}中没有贵公司“{product.brand} {product.model}”的协议价，"
                        f"该型号不能在集采区销售",
                        field="model", rule=rule,
                        figures={"brand": product.brand, "model": product.model, "agreements": numbers})], None, None
    matches = [(a, p) for a, p in same_model if _covers(p.category_code, code, tree)]
    if not matches:
        a, p = same_model[0]
        return [Problem("central_price_category_mismatch",
                        f"集采区规则：“{product.brand} {product.model}”的协议价属于品目"
                        f"{category_label(p.category_code, tree)}，与填写的品目{label}不符",
                        field="category_code", rule=rule,
                        figures={"agreement_category": p.category_code, "category_code": code})], None, None
    within = [(a, p) for a, p in matches if product.price is not None and product.price <= p.max_price]
    if not within:
        a, p = max(matches, key=lambda ap: ap[1].max_price)
        return [Problem("central_price_above_agreement",
                        f"集采区规则：单价{yuan(product.price)}高于框架协议{a.number}中"
                        f"“{p.brand} {p.model}”的协议价（最高限制单价）{yuan(p.max_price)}",
                        field="price", rule=rule,
                        figures={"price": product.price, "agreement_price": p.max_price,
                                 "agreement": a.number})], None, None
    a, p = min(within, key=lambda ap: ap[1].max_price)  # the tightest ceiling that the price meets
    return [], p, a


def check_central_zone(product: ListingFacts, agreements: Sequence, day: dt.date, tree=None) -> list[Problem]:
    """集采区: admitted to an active agreement valid on ``day`` covering the 品目, with an
    agreement price for the brand + model, and a price at or below it.  ``agreements``
    are as seen by the supplier (its entrant status and its own prices)."""
    return _central(product, agreements, day, tree)[0]


def match_agreement_price(product: ListingFacts, agreements: Sequence, day: dt.date, tree=None):
    """The agreement price the product sells under (None if the 集采区 rules refuse it)."""
    return _central(product, agreements, day, tree)[1]


def check_self_zone(category_code: str, solicitations: Iterable, day: dt.date, tree=None) -> list[Problem]:
    """自采区: the 品目 or one of its ancestors is publicly solicited and open on ``day``."""
    label = category_label(category_code, tree)
    matching = [s for s in solicitations if _covers(s.category_code, category_code, tree)]
    if any(solicitation_open_on(s, day) for s in matching):
        return []
    if matching:
        return [Problem("self_solicitation_closed",
                        f"自采区规则：品目{label}的公开征集已结束或尚未开始（今天{day.isoformat()}），暂不能在自采区上架",
                        field="category_code", rule="zone.self",
                        figures={"category_code": category_code, "today": day.isoformat()})]
    return [Problem("self_category_not_solicited",
                    f"自采区规则：自采区只能上架交易中心公开征集的品目，品目{label}不在征集范围内",
                    field="category_code", rule="zone.self", figures={"category_code": category_code})]


def check_pavilion_zone(supplier) -> list[Problem]:
    status = getattr(supplier, "pavilion_status", None) or "none"
    if status == "qualified":
        return []
    return [Problem("pavilion_not_qualified",
                    f"特色馆规则：只有经资格审核认定的供应商可在特色馆上架商品，"
                    f"贵公司特色馆资格状态为“{PAVILION_LABELS.get(status, status)}”",
                    field="zone", rule="zone.pavilion", figures={"pavilion_status": status})]


def check_zone(product: ListingFacts, supplier, agreements: Sequence, solicitations: Iterable, day: dt.date,
               tree=None) -> list[Problem]:
    if product.zone == "central":
        return check_central_zone(product, agreements, day, tree)
    if product.zone == "self":
        return check_self_zone(product.category_code, solicitations, day, tree)
    if product.zone == "pavilion":
        return check_pavilion_zone(supplier)
    return [Problem("zone_invalid", f"专区“{product.zone}”无效，应为集采区、自采区或特色馆", field="zone",
                    rule="product.fields")]


def check_listing(product: ListingFacts, supplier, agreements: Sequence, solicitations: Iterable,
                  day: dt.date, tree=None) -> list[Problem]:
    """Every rule a product must meet to be saved in (or listed in) its zone."""
    problems = check_category(product.category_code, tree)
    problems += check_supplier_can_list(supplier)
    if problems:
        return problems
    return check_zone(product, supplier, agreements, solicitations, day, tree)
