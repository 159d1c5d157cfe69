"""The realistic, reproducible demo mall (``flask --app mall seed-demo`` / ``setup``).

``seed(session, products=5000, rng_seed=2025)`` builds, for a given seed always the same:

- the trading center (交易中心), the finance bureau (财政局) and 50 budget units of 福州市 with
  their parent departments, districts, 2–4 budget lines each and canteen food budgets;
- 300+ suppliers across Chinese cities with valid 统一社会信用代码, three quarters SMEs whose
  SME declarations (中小企业声明函) give their size by ``suppliers.sme.classify``, and
  producers in poverty-alleviation counties qualified for the 特色馆;
- the 2025 and 2026 versions of the centralized catalog and thresholds;
- 14 framework agreements on the centralized 品目 (one expired, one suspended), their entrants
  and agreement prices; 24 solicited 品目 for the 自采区;
- ``products`` products with realistic titles, brands, models and specifications, obeying the
  rules of their zone, each with its first price history row;
- demo users of every role, all with the password :data:`DEMO_PASSWORD`.

The world (organisations, agreements…) is a pure function of the seed (:func:`build_world`), and
so is the product stream (:func:`iter_products`); :func:`seed` only writes them. Products go in
with SQLAlchemy core in batches of :data:`BATCH_SIZE` (one commit per batch) so that memory stays
flat up to a million products. Row-by-row auditing is off during the load; one ``demo.seed``
audit record summarises it.
"""
from __future__ import annotations

import datetime as dt
import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from typing import Callable, Iterator

from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, select, text
from werkzeug.security import generate_password_hash

from .accounts import uscc as uscc_mod
from .demo_data import central as C
from .demo_data import orgs as O
from .demo_data import pavilion as P
from .demo_data import self_zone as S
from .timeutil import today, utcnow

DEMO_PASSWORD = "govmall2025"
BATCH_SIZE = 5000
ZONE_SHARES = (("central", 0.40), ("self", 0.48), ("pavilion", 0.12))
LARGE_SHARE = 0.25  # a quarter of the suppliers are large firms, three quarters SMEs


# ====================================================================== small helpers

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_USCC_ORG = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def b36(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return out.rjust(width, "0")


def part_number(template: str, code: str, n: int) -> str:
    """A manufacturer part number, distinct for every ``n`` of the same template and code."""
    return template.format(code=code, n2=b36(n, 2), n3=b36(n, 3), n4=b36(n, 4), n5=b36(n, 5),
                           d4=f"{n:04d}", d5=f"{n:05d}")


def fill_pattern(pattern: str, rng: random.Random) -> str:
    """``#`` → a digit, ``@`` → a capital letter (model numbers of consumables)."""
    letters = "ABCDEFGHJKLMNPRSTWXYZ"
    return "".join(str(rng.randrange(10)) if ch == "#" else rng.choice(letters) if ch == "@" else ch
                   for ch in pattern)


def money(x: float) -> Decimal:
    """A shop price: whole tens above ¥10,000, whole yuan above ¥200, dimes above ¥20."""
    if x >= 10000:
        v = round(x / 10) * 10
    elif x >= 200:
        v = round(x)
    elif x >= 20:
        v = round(x * 10) / 10
    else:
        v = round(x, 2)
    return Decimal(f"{max(v, 0.01):.2f}")


def money_below(ceiling: Decimal, factor: float) -> Decimal:
    """A price at ``factor`` of ``ceiling``, rounded like :func:`money`, never above it."""
    return min(money(float(ceiling) * factor), ceiling)


def org_code(body8: str) -> str:
    """GB 11714 organisation code: 8 characters and their check character."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(ch) if ch.isdigit() else ord(ch) - 55) * w for ch, w in zip(body8, weights))
    c = 11 - total % 11
    return body8 + ("X" if c == 10 else "0" if c == 11 else str(c))


def isbn13(publisher: str, number: int) -> str:
    """A well-formed ISBN-13 (978-7-…, China) with its check digit."""
    title_digits = 9 - len(publisher) - 1  # 978 + 7 + publisher + title = 12 digits
    title = f"{number % 10 ** title_digits:0{title_digits}d}"
    digits = f"9787{publisher}{title}"
    check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits)) % 10) % 10
    return f"978-7-{publisher}-{title}-{check}"


def initials(text_: str) -> str:
    return "".join(lazy_pinyin(text_, style=Style.FIRST_LETTER)).upper()


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return dt.date(day.year + years, 3, 1)


def banded(rng: random.Random, low: float, high: float, position: int, options: int) -> float:
    """A price in [low, high] for the ``position``-th of ``options`` sizes (small to large)."""
    if options <= 1:
        return rng.uniform(low, high)
    frac = 0.6 * position / (options - 1) + rng.uniform(0, 0.4)
    return low + (high - low) * frac


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


# ====================================================================== the world (pure)

@dataclass
class UnitSpec:
    key: str
    name: str
    parent_key: str | None
    kind: str
    uscc: str
    region_code: str
    region_name: str
    address: str
    contact_name: str
    contact_phone: str
    canteen_food_budget: Decimal | None
    budget_lines: list[dict]


@dataclass
class SupplierSpec:
    idx: int
    line: str
    name: str
    brand: str            # own brand (makers) or trade name
    uscc: str
    region_code: str
    region_name: str
    address: str
    contact_name: str
    contact_phone: str
    service_phone: str
    maker: bool           # manufactures what it sells (its SME status is the manufacturer's)
    industry: str
    staff: int
    revenue: Decimal
    total_assets: Decimal
    size: str
    rating: Decimal
    weight: float
    pavilion_status: str = "none"
    county_key: str | None = None
    county: str | None = None
    pavilion_note: str | None = None
    description: str = ""

    @property
    def is_sme(self) -> bool:
        return self.size != "large"


@dataclass
class AgreementSpec:
    key: str
    number: str
    title: str
    label: str
    families: list[str]
    codes: list[str]
    subject: str
    kind: str
    second_stage: str
    status: str
    term_start: dt.date
    term_end: dt.date
    weight: float
    entrants: list[int] = field(default_factory=list)          # admitted, in rotation order
    others: list[tuple[int, str, str]] = field(default_factory=list)  # (supplier, status, note)
    brands: dict = field(default_factory=dict)                  # (family, supplier) → [brand]
    description: str = ""

    @property
    def halted_reason(self) -> str | None:
        if self.status == "suspended":
            return f"框架协议{self.number}已暂停"
        if self.status == "expired":
            return f"框架协议{self.number}已到期"
        return None


@dataclass
class World:
    seed: int
    day: dt.date
    trading_center: dict
    finance_bureau: dict
    units: list[UnitSpec]
    suppliers: list[SupplierSpec]
    agreements: list[AgreementSpec]
    policies: list[dict]
    solicitations: list[dict]
    users: list[dict]
    base_prices: list[dict]   # agreement prices set up with the agreements, each with its listing draft
    counters: dict            # part-number counters after the base prices
    demo_supplier: int
    pavilion_supplier: int
    used_skus: set = field(default_factory=set)  # (agreement, family, model index, supplier) priced already


# ---------------------------------------------------------------- agreements of the demo city
# key, label, families, 品目 codes, subject, kind, second stage, status, supplier lines, entrants, weight
AGREEMENT_DEFS = [
    ("desktop", "台式计算机", ["desktop"], ["A02010105"], "goods", "closed", "direct", "active", ["it"], 12, 22),
    ("laptop", "便携式计算机及平板式计算机", ["laptop", "tablet"], ["A02010108", "A02010109"], "goods", "closed",
     "direct", "active", ["it"], 12, 18),
    ("server", "服务器", ["server"], ["A02010104"], "goods", "closed", "competition", "active", ["it"], 8, 4),
    ("printer", "打印机", ["printer"], ["A02021001", "A02021002", "A02021003", "A02021004"], "goods", "closed",
     "direct", "active", ["it", "office"], 10, 9),
    ("copier", "复印机及多功能一体机", ["copier"], ["A02020100", "A02020400"], "goods", "closed", "direct", "active",
     ["it", "office"], 8, 5),
    ("network", "网络设备及信息安全设备", ["network"], ["A02010201", "A02010202", "A02010301"], "goods", "closed",
     "direct", "active", ["it"], 8, 6),
    ("ac", "空调机", ["ac"], ["A02061804"], "goods", "closed", "direct", "active", ["appliance"], 8, 6),
    ("furniture", "办公家具（办公桌、办公椅）", ["furniture"], ["A05010201", "A05010301"], "goods", "open", "direct",
     "active", ["furniture"], 12, 12),
    ("paper", "复印纸", ["paper"], ["A05040101"], "goods", "open", "direct", "active", ["office"], 10, 4),
    ("software", "基础软件", ["software"], ["A08060301"], "goods", "closed", "direct", "active", ["soft"], 6, 3),
    ("cloud", "云计算服务", ["cloud"], ["C16040000"], "services", "closed", "direct", "active", ["cloud"], 6, 0),
    ("vehicle", "公务车辆维修和保养服务", ["vehicle"], ["C23120301"], "services", "closed", "rotation", "active",
     ["auto"], 8, 0),
    ("paper_prev", "复印纸", ["paper"], ["A05040101"], "goods", "closed", "direct", "expired", ["office"], 8, 1),
    ("projector", "投影仪", ["projector"], ["A02020200"], "goods", "closed", "direct", "suspended", ["it"], 6,
     1.5),
]
STAGE_TEXT = {
    "direct": "第二阶段由采购人按照价格、质量、服务和评价直接选定成交供应商",
    "competition": "第二阶段采用二次竞价：邀请能满足需求的全部入围供应商以协议价为上限报价，最低报价者成交",
    "rotation": "第二阶段采用顺序轮候：按公布的入围供应商轮候顺序依次确定成交供应商，每轮每家成交一次",
}

# Centralized items of the catalog versions: (品目, amount condition, note)
CENTRAL_ITEMS = [
    ("A02010104", None, None), ("A02010105", None, None), ("A02010108", None, None),
    ("A02010109", None, None),
    ("A02010200", Decimal("10000"), "网络设备，单项或批量金额1万元以上"),
    ("A02010300", Decimal("10000"), "信息安全设备，单项或批量金额1万元以上"),
    ("A02010500", Decimal("10000"), "存储设备，单项或批量金额1万元以上"),
    ("A02021000", None, None), ("A02020100", None, None),
    ("A02020400", Decimal("50000"), "多功能一体机，单项或批量金额5万元以上"),
    ("A02020200", None, None), ("A02061804", None, None),
    ("A05010201", None, None), ("A05010301", None, None), ("A05040101", None, None),
    ("A08060301", None, "基础软件（操作系统、数据库、中间件、办公套件）"),
    ("C23120301", None, "公务车辆维修和保养服务"),
    ("C23120302", None, "公务车辆加油服务"),
]
CENTRAL_ITEMS_2026 = [
    ("C16040000", None, "云计算服务（政务云除外）"),
    ("A02080800", Decimal("200000"), "视频会议系统设备，单项或批量金额20万元以上"),
]

DISCOUNT_NOTES = ["单次采购10台（套）及以上，在协议价基础上再优惠2%", "含三年原厂上门保修，质保期内免费更换配件",
                  "批量采购可另行让利，以成交确认价为准", "福州市区免费送货安装，24小时响应"]


def _discount_note(rng: random.Random) -> str | None:
    return rng.choice(DISCOUNT_NOTES) if rng.random() < 0.15 else None


def _person(rng: random.Random) -> str:
    return rng.choice(O.SURNAMES) + rng.choice(O.GIVEN)


def _mobile(rng: random.Random) -> str:
    prefixes = ["138", "139", "135", "137", "150", "158", "159", "186", "187", "188", "133", "189", "177"]
    return rng.choice(prefixes) + f"{rng.randrange(10 ** 8):08d}"


def _landline(rng: random.Random, area: str) -> str:
    digits = 7 if area in ("0930", "0886", "0834", "0954", "0743", "0903", "0718", "0358", "0433", "0482",
                           "0915", "0855") else 8
    return f"{area}-{rng.choice('88887632')}{rng.randrange(10 ** (digits - 1)):0{digits - 1}d}"


class _Codes:
    """Unique 统一社会信用代码 (and organisation codes inside them)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.seen: set[str] = set()

    def make(self, kind2: str, region: str, company: bool = True) -> str:
        while True:
            if company:
                body = "MA" + "".join(self.rng.choice(_USCC_ORG) for _ in range(6))
            else:
                body = f"{self.rng.randrange(10 ** 8):08d}"
            code = uscc_mod.make(f"{kind2}{region}{org_code(body)}")
            if code not in self.seen:
                self.seen.add(code)
                return code


def _figures(rng: random.Random, industry: str, size: str) -> tuple[int, Decimal, Decimal]:
    """Staff and revenue of the previous year that make ``size`` under 工信部联企业〔2011〕300号."""
    from suppliers.sme import THRESHOLDS, WAN, classify

    t = THRESHOLDS[industry]
    sme_rev = float(t.sme_revenue / WAN)
    mr, sr = float(t.medium.revenue / WAN), float(t.small.revenue / WAN)
    for _ in range(200):
        if t.sme_staff is None:  # agriculture: revenue only
            bounds = {"large": (sme_rev, sme_rev * 3), "medium": (mr, sme_rev * 0.9),
                      "small": (sr, mr * 0.95), "micro": (max(sr * 0.1, 5), sr * 0.95)}[size]
            staff = rng.randint(*{"large": (300, 2500), "medium": (60, 600), "small": (12, 80),
                                  "micro": (3, 15)}[size])
        else:
            ms, ss = t.medium.staff, t.small.staff
            if size == "large":
                staff = rng.randint(t.sme_staff, t.sme_staff * 3)
                bounds = (sme_rev, sme_rev * 4)
            elif size == "medium":
                staff = rng.randint(ms, min(t.sme_staff - 1, ms * 3))
                bounds = (mr, min(sme_rev * 0.9, mr * 8))
            elif size == "small":
                staff = rng.randint(ss, ms - 1)
                bounds = (sr, max(sr * 1.5, mr * 0.9))
            else:
                staff = rng.randint(max(1, ss // 4), ss - 1) if ss > 1 else 1
                bounds = (sr * 0.1, sr * 0.9)
        revenue = Decimal(int(log_uniform(rng, *bounds) * 100)) * 100  # yuan, whole hundreds
        if classify(industry, staff, revenue).size == size:
            assets = Decimal(int(float(revenue) * rng.uniform(0.3, 1.4) / 100)) * 100
            return staff, revenue, assets
    raise RuntimeError(f"cannot make figures for {industry}/{size}")  # pragma: no cover


def _budget_lines(rng: random.Random, unit_no: int, region: str, kind: str, canteen: Decimal | None,
                  year: int) -> list[dict]:
    templates = list(O.BUDGET_LINES_ALWAYS)
    if canteen is not None:
        name, econ, econ_name = O.CANTEEN_LINE
        templates.append((name, econ, econ_name, None, None))
    pool = O.BUDGET_LINES_OPTIONAL["agency" if kind == "agency" else kind]
    templates += rng.sample(pool, rng.randint(0, min(len(pool), 4 - len(templates))))
    lines = []
    for n, (name, econ, econ_name, low, high) in enumerate(templates, 1):
        if low is None:
            amount = canteen * Decimal("1.05")
        else:
            amount = Decimal(int(log_uniform(rng, low, high) / 1000) * 1000)
        lines.append({"year": year, "project_code": f"{region}{year % 100:02d}{unit_no:03d}{n:02d}",
                      "project_name": f"{year}年{name}", "economic_class": econ,
                      "economic_class_name": econ_name, "amount": amount.quantize(Decimal("1000"))})
    return lines


def build_world(rng_seed: int = 2025, day: dt.date | None = None) -> World:
    """Everything but the products, as plain data: the same seed gives the same world."""
    day = day or today()
    rng = random.Random(f"govmall-demo-world-{rng_seed}")
    codes = _Codes(rng)
    year = day.year

    def office(spec):
        name, kind2, district, region, address = spec
        return {"name": name, "uscc": codes.make(kind2, region, company=False), "region_code": region,
                "region_name": f"{O.PROVINCE}{O.CITY}{district}", "address": f"{O.CITY}{address}",
                "contact_name": _person(rng), "contact_phone": _landline(rng, O.AREA_CODE)}

    trading_center, finance_bureau = office(O.TRADING_CENTER), office(O.FINANCE_BUREAU)

    # ---------------------------------------------------------- budget units
    units = []
    for no, (key, name, parent, district, kind, kind_digit, canteen) in enumerate(O.BUDGET_UNITS, 1):
        region, roads = O.DISTRICTS[district]
        budget = None
        if canteen:
            low, high = O.CANTEEN_BUDGET[kind]
            budget = Decimal(int(log_uniform(rng, low, high) / 10000) * 10000)
        units.append(UnitSpec(
            key=key, name=name, parent_key=parent, kind=kind,
            uscc=codes.make("1" + kind_digit, region, company=False),
            region_code=region, region_name=f"{O.PROVINCE}{O.CITY}{district}",
            address=f"{O.CITY}{district}{rng.choice(roads)}{rng.randint(1, 300)}号",
            contact_name=_person(rng), contact_phone=_landline(rng, O.AREA_CODE), canteen_food_budget=budget,
            budget_lines=_budget_lines(rng, no, region, kind, budget, year)))

    # ---------------------------------------------------------- suppliers
    suppliers: list[SupplierSpec] = []
    names: set[str] = set()
    counties = {c[0]: c for c in O.PAVILION_COUNTIES}
    county_cycle = [c[0] for c in O.PAVILION_COUNTIES]
    farm_no = 0
    for line, count in O.SUPPLIER_COUNTS.items():
        suffixes, industries, makers = O.SUPPLIER_LINES[line]
        for _ in range(count):
            idx = len(suppliers)
            county_key = None
            if line == "farm":
                if farm_no < len(county_cycle):  # every county has a producer
                    county_key = county_cycle[farm_no]
                else:
                    county_key = rng.choice(county_cycle)
                farm_no += 1
                _k, province, prefecture, county, region, area = counties[county_key]
                place, region_name = county, f"{province}{prefecture}{county}"
                park = rng.choice(["城关镇", "工业园区", "农业产业园", "乡村振兴产业园"])
                address = f"{region_name}{park}{rng.randint(1, 199)}号"
                trades = O.FARM_TRADE_NAMES
            elif rng.random() < O.LOCAL_SHARE or line in ("auto", "books"):
                district = rng.choice(list(O.DISTRICTS))
                region, roads = O.DISTRICTS[district]
                place, region_name, area = "福州", f"{O.PROVINCE}{O.CITY}{district}", O.AREA_CODE
                address = f"{O.CITY}{district}{rng.choice(roads)}{rng.randint(1, 399)}号"
                trades = O.TRADE_NAMES + O.FUZHOU_TRADE_NAMES
            else:
                province, city, district, region, roads, area = rng.choice(O.OTHER_CITIES)
                place, region_name = city.removesuffix("市"), f"{province}{city}{district}"
                address = f"{region_name}{rng.choice(roads)}{rng.randint(1, 999)}号"
                trades = O.TRADE_NAMES
            cooperative = line == "farm" and rng.random() < 0.3
            while True:
                trade = rng.choice(trades)
                suffix = "农民专业合作社" if cooperative else rng.choice(suffixes)
                name = f"{place}{trade}{suffix}"
                if name not in names:
                    names.add(name)
                    break
            if cooperative:
                industry = "agriculture"
            elif any(w in suffix for w in ("信息", "网络", "计算机", "软件", "数字", "云", "数据")):
                industry = "software"
            elif "食品" in suffix or "茶业" in suffix:
                industry = "industry"
            else:
                industry = rng.choice([i for i in industries if i != "software"] or industries)
            maker = makers and (industry in ("industry", "agriculture") or line == "farm")
            brand = trade + {"furniture": "家具", "kitchen": "厨具", "auto": "汽车服务"}.get(line, "")
            suppliers.append(SupplierSpec(
                idx=idx, line=line, name=name, brand=brand,
                uscc=codes.make("93" if cooperative else "91", region), region_code=region,
                region_name=region_name,
                address=address, contact_name=_person(rng), contact_phone=_mobile(rng),
                service_phone=_landline(rng, area), maker=maker,
                industry=industry, staff=0, revenue=Decimal(0), total_assets=Decimal(0), size="small",
                rating=Decimal(f"{rng.uniform(3.8, 5.0):.2f}"), weight=rng.paretovariate(1.3),
                county_key=county_key, county=region_name if county_key else None))

    demo = next(s for s in suppliers if s.line == "it" and s.region_code.startswith("3501"))
    demo.weight = max(demo.weight, 3.0)
    farm = [s for s in suppliers if s.line == "farm"]
    for n, s in enumerate(farm):
        if n < 20:
            s.pavilion_status = "qualified"
            s.pavilion_note = (f"经{s.county}乡村振兴部门推荐，产地证明及食品经营许可齐全，"
                               f"交易中心审核认定为特色馆供应商")
        else:
            s.pavilion_status, s.pavilion_note = [("applied", "已提交产地证明，等待审核"),
                                                  ("applied", "已提交脱贫地区农副产品认定材料，等待审核"),
                                                  ("rejected", "产地证明材料不全，审核未通过"),
                                                  ("none", None)][(n - 20) % 4]
    pavilion_supplier = farm[0].idx

    # sizes: exactly a quarter large; the demo supplier and pavilion producers are SMEs
    candidates = [s for s in suppliers if s is not demo and s.pavilion_status != "qualified"
                  and not s.name.endswith("合作社")]
    propensity = {"cloud": 6, "soft": 2, "it": 1.5, "appliance": 1.5, "grain": 1.5, "furniture": 1.2}
    n_large = round(LARGE_SHARE * len(suppliers))
    large: set[int] = set()
    pool = list(candidates)
    while len(large) < n_large:
        pick = rng.choices(pool, weights=[propensity.get(s.line, 0.8) for s in pool])[0]
        large.add(pick.idx)
        pool.remove(pick)
    for s in suppliers:
        if s.idx in large:
            s.size = "large"
        elif s is demo:
            s.size = "small"
        else:
            s.size = rng.choices(["micro", "small", "medium"], weights=[30, 45, 25])[0]
        s.staff, s.revenue, s.total_assets = _figures(rng, s.industry, s.size)
        s.description = _supplier_description(s)

    # ---------------------------------------------------------- catalog versions, solicitations
    policies = [
        {"name": "2025年版", "effective_from": dt.date(2025, 1, 1), "effective_to": dt.date(2025, 12, 31),
         "direct_purchase_limit": Decimal("200000"), "items": CENTRAL_ITEMS,
         "note": "福州市本级政府集中采购目录及限额标准（2025年版）"},
        {"name": "2026年版", "effective_from": dt.date(2026, 1, 1), "effective_to": None,
         "direct_purchase_limit": Decimal("300000"), "items": CENTRAL_ITEMS + CENTRAL_ITEMS_2026,
         "note": "福州市本级政府集中采购目录及限额标准（2026年版）：新增云计算服务、视频会议系统设备，"
                 "单笔直购限额调整为30万元"},
    ]
    from catalog import pinmu

    solicitations = [{"category_code": code,
                      "title": f"福州市政府采购网上商城{year}年度自采区“{pinmu.name_of(code)}”品目公开征集",
                      "conditions": O.SOLICITATION_CONDITIONS, "valid_from": dt.date(year, 1, 1),
                      "valid_to": dt.date(year, 12, 31), "status": "open"}
                     for code in S.SELF_CATEGORIES]

    # ---------------------------------------------------------- agreements
    agreements = _build_agreements(rng, suppliers, demo, day)

    # ---------------------------------------------------------- users
    users = _build_users(rng, units, suppliers, demo, suppliers[pavilion_supplier])

    world = World(seed=rng_seed, day=day, trading_center=trading_center, finance_bureau=finance_bureau,
                  units=units, suppliers=suppliers, agreements=agreements, policies=policies,
                  solicitations=solicitations, users=users, base_prices=[], counters={},
                  demo_supplier=demo.idx, pavilion_supplier=pavilion_supplier)
    world.base_prices = _base_prices(rng, world)
    return world


def _supplier_description(s: SupplierSpec) -> str:
    what = {"it": "计算机、打印机、网络设备及办公耗材的销售与技术服务", "office": "办公用品、文具、纸品及打印耗材批发零售",
            "furniture": "办公家具、学校家具的设计、生产与安装", "appliance": "空调、照明及家用电器的销售与安装维修",
            "kitchen": "商用厨房设备的生产、销售与安装", "sports": "体育器材、健身设备的销售与安装",
            "lab": "实验室玻璃仪器、化学试剂及教学仪器供应", "books": "图书、教材教辅及馆配服务",
            "safety": "劳动防护及医用防护用品供应", "clean": "清洁用品、卫生纸品及日用品批发",
            "grain": "米面粮油及食堂食材配送", "soft": "国产基础软件销售、实施与运维服务",
            "cloud": "政务云及云计算资源服务", "auto": "机动车维修、保养及年检代办服务",
            "farm": "脱贫地区特色农副产品的种植、加工与销售"}[s.line]
    return f"{s.name}主营{what}，服务福州市党政机关、学校、医院等预算单位。"


def _build_agreements(rng: random.Random, suppliers: list[SupplierSpec], demo: SupplierSpec,
                      day: dt.date) -> list[AgreementSpec]:
    by_line: dict[str, list[SupplierSpec]] = {}
    for s in suppliers:
        by_line.setdefault(s.line, []).append(s)
    out: list[AgreementSpec] = []
    for definition in AGREEMENT_DEFS:
        key, label, families, codes_, subject, kind, stage, status, lines, n_entrants, weight = definition
        if key == "paper_prev":  # the previous paper agreement, ended the day before the current one began
            successor = next(x for x in out if x.key == "paper")
            end = successor.term_start - dt.timedelta(days=1)
            start = add_years(end + dt.timedelta(days=1), -1)
        elif subject == "services":
            start = day - dt.timedelta(days=rng.randint(100, 600))
            end = add_years(start, 2) - dt.timedelta(days=1)
        else:
            start = day - dt.timedelta(days=rng.randint(40, 320))
            end = add_years(start, 1) - dt.timedelta(days=1)
        a = AgreementSpec(key=key, number="", title=f"福州市{start.year}年度{label}框架协议采购", label=label,
                          families=families, codes=codes_, subject=subject, kind=kind, second_stage=stage,
                          status=status, term_start=start, term_end=end, weight=weight)
        pool = [s for line in lines for s in by_line[line]]
        if key == "paper_prev":
            keep = [suppliers[i] for i in successor.entrants[:5]]
            rest = [s for s in pool if s.idx not in successor.entrants]
            chosen = keep + _weighted_sample(rng, rest, n_entrants - len(keep))
        else:
            forced = [demo] if key in ("desktop", "printer", "laptop") else []
            rest = [s for s in pool if s not in forced]
            chosen = forced + _weighted_sample(rng, rest, n_entrants - len(forced))
        if stage == "rotation":
            rng.shuffle(chosen)
        a.entrants = [s.idx for s in chosen]
        if kind == "open" and status == "active":
            outsiders = [s for s in pool if s.idx not in a.entrants]
            extra = _weighted_sample(rng, outsiders, 3)
            a.others = [(extra[0].idx, "applied", "申请加入开放式框架协议，已提交资格证明材料"),
                        (extra[1].idx, "applied", "申请加入开放式框架协议，已提交资格证明材料"),
                        (extra[2].idx, "rejected", "资格审查不通过：未提供近三个月依法缴纳社会保障资金的证明")]
        for fam in families:
            for s in chosen:
                a.brands[(fam, s.idx)] = _authorise(rng, fam, s)
            _cover_brands(rng, a, fam, chosen)
        a.description = (
            f"依据《政府采购框架协议采购方式管理暂行办法》（财政部令第110号），由福州市公共资源交易中心组织征集，"
            f"{'封闭式' if kind == 'closed' else '开放式'}框架协议，{'货物' if subject == 'goods' else '服务'}项目，"
            f"协议期限{start.isoformat()}至{end.isoformat()}。入围产品的协议价格为最高限制单价，采购人下单价格不得高于协议价格。"
            f"{STAGE_TEXT[stage]}。")
        if status == "suspended":
            a.description += "因供应商质疑投诉处理，协议暂停执行，暂停期间入围商品停止销售。"
        if status == "expired":
            a.description += "协议期限已届满，由新一期协议接续。"
        out.append(a)
    # numbered by the year their term began, in order of start
    per_year: dict[int, int] = {}
    for a in sorted(out, key=lambda x: (x.term_start, out.index(x))):
        per_year[a.term_start.year] = per_year.get(a.term_start.year, 0) + 1
        a.number = f"FA-{a.term_start.year}-{per_year[a.term_start.year]:03d}"
    return out


def _weighted_sample(rng: random.Random, pool: list[SupplierSpec], k: int) -> list[SupplierSpec]:
    pool = list(pool)
    out = []
    for _ in range(min(k, len(pool))):
        pick = rng.choices(pool, weights=[s.weight + 0.5 for s in pool])[0]
        out.append(pick)
        pool.remove(pick)
    return out


FAMILY_BRANDS = {
    "desktop": [(b[0], b[5]) for b in C.DESKTOP_BRANDS],
    "laptop": [(b[0], b[5]) for b in C.LAPTOP_BRANDS],
    "tablet": [(b[0], 1) for b in C.TABLETS],
    "server": [(b[0], b[5]) for b in C.SERVER_BRANDS],
    "printer": [(b[0], len(b[3])) for b in C.PRINTERS],
    "copier": [(b[0], len(b[3])) for b in C.COPIERS],
    "network": [(b[0], len(b[3])) for b in C.NETWORK],
    "ac": [(b[0], len(b[3])) for b in C.AIR_CONDITIONERS],
    "furniture": [(b[0], 1) for b in C.FURNITURE_BRANDS],
    "paper": [(b[3], 1) for b in C.PAPER_BRANDS],          # by series
    "software": [(b[0], 1) for b in C.SOFTWARE],
    "projector": [(b[0], len(b[3])) for b in C.PROJECTORS],
    "cloud": [(b[0], 1) for b in C.CLOUD_PLATFORMS],
    "vehicle": [],
}


def _authorise(rng: random.Random, family: str, s: SupplierSpec) -> list[str]:
    """Which brands an entrant offers in a family (makers offer their own furniture)."""
    if family == "vehicle":
        return [s.brand]
    if family == "furniture" and s.maker:
        return [s.brand]
    if family == "cloud":
        return [rng.choice([b for b, _ in FAMILY_BRANDS["cloud"]])]
    options = FAMILY_BRANDS[family]
    k = rng.choice([1, 2, 2, 3]) if family not in ("software", "paper") else rng.choice([1, 2, 3])
    picked: list[str] = []
    while len(picked) < min(k, len(options)):
        b = rng.choices([b for b, _ in options], weights=[w for _, w in options])[0]
        if b not in picked:
            picked.append(b)
    return picked


def _cover_brands(rng: random.Random, a: AgreementSpec, family: str, chosen: list[SupplierSpec]) -> None:
    """Every national brand of a family has at least one entrant offering it."""
    if family in ("vehicle", "cloud"):
        return
    offered = {b for s in chosen for b in a.brands[(family, s.idx)]}
    dealers = [s for s in chosen if not (family == "furniture" and s.maker)]
    for brand, _w in FAMILY_BRANDS[family]:
        if brand not in offered and dealers:
            a.brands[(family, rng.choice(dealers).idx)].append(brand)


def _build_users(rng, units, suppliers, demo, pavilion) -> list[dict]:
    users = []

    def add(username, role, org, name=None):
        users.append({"username": username, "role": role, "org": org, "display_name": name or _person(rng),
                      "email": f"{username}@demo.govmall.local", "phone": _mobile(rng)})

    unit_index = {u.key: i for i, u in enumerate(units)}
    add("operator", "operator", ("trading_center", 0))
    add("auditor", "auditor", ("finance_bureau", 0))
    add("buyer", "buyer", ("unit", unit_index["edu_1z"]))
    add("buyer2", "buyer", ("unit", unit_index["wjw_yy1"]))
    add("supplier", "supplier", ("supplier", demo.idx), demo.contact_name)
    add("supplier2", "supplier", ("supplier", pavilion.idx), pavilion.contact_name)
    for i, _u in enumerate(units):
        add(f"buyer_u{i + 1:02d}", "buyer", ("unit", i))
    for s in suppliers:
        add(f"supplier_s{s.idx + 1:03d}", "supplier", ("supplier", s.idx), s.contact_name)
    return users


# ====================================================================== models (drafts of listings)

def _next(counters: dict, key: tuple, rng: random.Random) -> int:
    if key not in counters:
        counters[key] = rng.randint(10, 400)
    counters[key] += 1
    return counters[key]


def _brand_row(rows, name):
    return next(b for b in rows if b[0] == name)


def _draft(category, brand, en, maker, model, title, specs, unit, base, description):
    return {"category_code": category, "brand": brand, "model": model, "manufacturer": maker,
            "title": title, "specs": specs, "unit": unit, "base": base, "description": description}


def _brand_label(brand: str, en: str | None) -> str:
    """How titles start: 联想（Lenovo）ThinkPad…, or a Chinese-only brand and a space."""
    return f"{brand}（{en}）" if en and en != brand else f"{brand} "


def make_desktop(rng, brand, counters, supplier=None):
    name, en, maker, tpl, series, _w = _brand_row(C.DESKTOP_BRANDS, brand)
    s_name, code, fam, adj, chassis = rng.choice(series)
    cpu_short, cpu_long, cpu_price, ddr = rng.choice(C.DESKTOP_CPUS[fam])
    mem, mem_add = rng.choice(C.DESKTOP_MEMORY[:3] if fam != "intel" else C.DESKTOP_MEMORY)
    ssd, ssd_add = rng.choice(C.DESKTOP_SSD)
    hdd = rng.random() < 0.2
    monitor, mon_add = rng.choice(C.MONITORS)
    domestic = fam != "intel" or rng.random() < 0.25
    os_name = rng.choice(C.DOMESTIC_OS if domestic else C.WINDOWS_OS)
    os_short = "统信UOS" if "统信" in os_name else "麒麟V10" if "麒麟" in os_name else "Win11"
    warranty, w_add = rng.choice(C.PC_WARRANTY)
    pn = part_number(tpl, code, _next(counters, (name, code), rng))
    disk = ssd + (" + 1TB HDD" if hdd else "")
    ssd_short = ssd.replace("GB", "G").replace("TB", "T")
    title = (f"{_brand_label(name, en)}{s_name} 台式计算机 {cpu_short}/{mem}G/{ssd_short}"
             f"{'+1T机械' if hdd else ''}/{monitor + '显示器' if monitor else '无显示器'}/{os_short}（{pn}）")
    specs = {"处理器": cpu_long, "内存": f"{mem}GB {ddr}", "硬盘": disk, "显卡": "集成显卡",
             "显示器": f"{monitor} 1920×1080 IPS" if monitor else "无（主机）", "操作系统": os_name,
             "机箱": chassis, "接口": "USB 3.2×4、USB 2.0×4、HDMI、DP、RJ45千兆网口", "保修": warranty}
    base = cpu_price + mem_add + ssd_add + (280 if hdd else 0) + mon_add + adj + w_add
    desc = (f"{name}{s_name}商用台式电脑，{cpu_long}，{mem}GB内存，{disk}，预装{os_name}。"
            f"原厂正品，{warranty}；含送货上门、安装调试及旧机数据迁移。")
    return _draft("A02010105", name, en, maker, f"{s_name} {pn}", title, specs, "台", base, desc)


def make_laptop(rng, brand, counters, supplier=None):
    name, en, maker, tpl, series, _w = _brand_row(C.LAPTOP_BRANDS, brand)
    s_name, code, fam, adj, size = rng.choice(series)
    cpu_short, cpu_long, cpu_price = rng.choice(C.LAPTOP_CPUS[fam])
    mem, mem_add = rng.choice([(16, 0), (16, 0), (32, 900)])
    ssd, ssd_add = rng.choice([("512GB SSD", 0), ("512GB SSD", 0), ("1TB SSD", 450)])
    screen, scr_add = rng.choice(C.LAPTOP_SCREENS[size])
    os_name = rng.choice(C.DOMESTIC_OS) if fam != "intel" or rng.random() < 0.15 else "Windows 11 家庭中文版"
    os_short = "统信UOS" if "统信" in os_name else "麒麟V10" if "麒麟" in os_name else "Win11"
    colour = rng.choice(["深空灰", "银色", "黑色"])
    pn = part_number(tpl, code, _next(counters, (name, code), rng))
    title = (f"{_brand_label(name, en)}{s_name} {size}英寸便携式计算机（笔记本电脑） {cpu_short}/{mem}G/"
             f"{ssd.replace('GB', 'G').replace('TB', 'T')}/{os_short} {colour}（{pn}）")
    specs = {"处理器": cpu_long, "内存": f"{mem}GB LPDDR5", "硬盘": ssd, "屏幕": screen, "显卡": "集成显卡",
             "操作系统": os_name, "重量": C.LAPTOP_WEIGHT[size], "颜色": colour,
             "接口": "雷电4/USB-C×2、USB-A×2、HDMI", "保修": "三年有限保修及上门服务"}
    base = cpu_price + mem_add + ssd_add + scr_add + adj + 500
    desc = f"{name}{s_name}商务笔记本，{cpu_long}，{mem}GB内存，{ssd}，{screen}屏幕，{C.LAPTOP_WEIGHT[size]}。原厂三年上门保修。"
    return _draft("A02010108", name, en, maker, f"{s_name} {pn}", title, specs, "台", base, desc)


def make_server(rng, brand, counters, supplier=None):
    name, en, maker, tpl, series, _w = _brand_row(C.SERVER_BRANDS, brand)
    s_name, code, fam, form, base = rng.choice(series)
    cpu_short, cpu_long, cpu_add = rng.choice(C.SERVER_CPUS[fam])
    mem, mem_add = rng.choice(C.SERVER_MEMORY)
    disk_short, disk, disk_add = rng.choice(C.SERVER_DISKS)
    nic, nic_add = rng.choice(C.SERVER_NICS)
    ddr = "DDR5" if fam == "xeon4" else "DDR4"
    psu = "2×1300W 铂金冗余电源" if form == "2U" else "2×800W 铂金冗余电源"
    pn = part_number(tpl, code, _next(counters, (name, code), rng))
    title = f"{_brand_label(name, en)}{s_name} {form}机架式服务器 {cpu_short}/{mem}/{disk_short}（{pn}）"
    specs = {"处理器": cpu_long, "内存": f"{mem} {ddr} RDIMM", "硬盘": disk,
             "RAID卡": "2GB缓存，支持RAID 0/1/5/6/10", "网卡": nic, "电源": psu, "规格": f"{form}机架式",
             "保修": "三年原厂7×24小时4小时上门"}
    desc = f"{name}{s_name}双路{form}机架式服务器，{cpu_long}，{mem}内存，{disk}，{psu}，三年原厂7×24小时4小时上门服务。"
    return _draft("A02010104", name, en, maker, f"{s_name} {pn}", title, specs, "台",
                  base + cpu_add + mem_add + disk_add + nic_add, desc)


def _furniture_brand(brand: str, supplier: SupplierSpec | None):
    for b in C.FURNITURE_BRANDS:
        if b[0] == brand:
            return b
    # an entrant's own brand (it manufactures its furniture)
    return (brand, None, supplier.name if supplier else brand, initials(brand[:2]), True, True, 0.9)


def make_furniture(rng, brand, counters, supplier=None):
    name, en, maker, code, desks, chairs, factor = _furniture_brand(brand, supplier)
    if chairs and (not desks or rng.random() < 0.45):
        item, kcode, variants, base = rng.choice(C.CHAIRS)
        material, m_factor = rng.choice(C.CHAIR_MATERIALS)
        colour, variant = rng.choice(C.CHAIR_COLOURS), rng.choice(variants)
        base_leg = rng.choice(C.CHAIR_BASES if item not in ("会议椅", "培训椅（带写字板）") else ["弓形钢架", "四脚钢架"])
        pn = f"{code}{kcode}-{_next(counters, (name, 'furniture'), rng):04d}"
        title = f"{_brand_label(name, en)}{item}（{variant}） {material} {base_leg} {colour}（{pn}）"
        specs = {"材质": material, "脚架": base_leg, "颜色": colour, "款式": variant, "扶手": "固定扶手",
                 "质保": "5年（气杆、五星脚）", "安装": "送货上门免费安装"}
        return _draft("A05010301", name, en, maker, pn, title, specs, "把", base * m_factor * factor,
                      f"{name}{item}，{material}，{base_leg}，符合GB/T 26182-2010《家具用气弹簧》等标准，送货上门免费安装。")
    item, kcode, sizes, base = rng.choice(C.DESKS)
    material, m_factor = rng.choice(C.DESK_MATERIALS)
    size, colour = rng.choice(sizes), rng.choice(C.DESK_COLOURS)
    pn = f"{code}{kcode}-{_next(counters, (name, 'furniture'), rng):04d}"
    big = 1.25 if size == sizes[-1] and len(sizes) > 1 else 1.0
    title = f"{_brand_label(name, en)}{item} {size} {material} {colour}（{pn}）"
    specs = {"材质": material, "尺寸": size, "颜色": colour, "环保等级": "E1级（甲醛释放量≤0.124mg/m³）",
             "封边": "PVC封边", "质保": "5年", "安装": "送货上门免费安装"}
    return _draft("A05010201", name, en, maker, pn, title, specs, "张", base * m_factor * factor * big,
                  f"{name}{item}，{material}，尺寸{size}，板材符合GB 18580-2017 E1级要求，送货上门免费安装，5年质保。")


CONFIG_MAKERS = {"desktop": make_desktop, "laptop": make_laptop, "server": make_server,
                 "furniture": make_furniture}


def _sku_drafts() -> dict[str, list[dict]]:
    """Every model of the sku families, as listing drafts (pure data)."""
    out: dict[str, list[dict]] = {}
    rows = []
    for brand, en, maker, models in C.TABLETS:
        for model, screen, chip, price in models:
            rows.append(_draft("A02010109", brand, en, maker, model,
                               f"{_brand_label(brand, en)}{model} 平板式计算机（平板电脑） {screen}", {
                                   "屏幕": screen, "处理器": chip, "网络": "5G" if "5G" in model else "WLAN",
                                   "保修": "一年官方保修"}, "台", price,
                               f"{brand}{model}平板电脑，{screen}屏幕，{chip}芯片，官方正品，一年保修。"))
    out["tablet"] = rows
    rows = []
    for brand, en, maker, models in C.PRINTERS:
        for model, cat, speed, duplex, conn, price in models:
            kind = C.PRINTER_KIND[cat]
            title = f"{_brand_label(brand, en)}{model} {kind} {speed}页/分钟 {duplex} {conn.split('/')[0]}"
            rows.append(_draft(cat, brand, en, maker, model, title, {
                                   "类型": kind, "打印速度": f"{speed}页/分钟", "双面打印": duplex, "接口": conn,
                                   "首页输出时间": "≤7秒", "月负荷": "50000页", "保修": "一年原厂上门"}, "台", price,
                               f"{brand}{model}{kind}，打印速度{speed}页/分钟，{duplex}，{conn}。含随机原装耗材，一年原厂上门保修。"))
    out["printer"] = rows
    rows = []
    for brand, en, maker, models in C.COPIERS:
        for model, cat, speed, colour, price in models:
            kind = "A3多功能一体机" if cat == "A02020400" else "A3数码复合机（复印机）"
            title = f"{_brand_label(brand, en)}{model} {colour}{kind} {speed}页/分钟 复印/打印/扫描 双面输稿器"
            rows.append(_draft(cat, brand, en, maker, model, title, {
                                   "类型": f"{colour}{kind}", "复印速度": f"{speed}页/分钟", "功能": "复印/打印/彩色扫描",
                                   "标准配置": "双面器+双面自动输稿器+双纸盒+工作台", "幅面": "A3",
                                   "保修": "一年原厂上门，含安装培训"}, "台", price,
                               f"{brand}{model}{colour}{kind}，{speed}页/分钟，标配双面器、自动输稿器和双纸盒，含安装培训及一年原厂上门保修。"))
    out["copier"] = rows
    rows = []
    for brand, en, maker, models in C.NETWORK:
        for model, cat, desc, price in models:
            kind = C.NETWORK_KIND[cat]
            title = f"{_brand_label(brand, en)}{model} {kind} {desc.split('，')[0]}"
            rows.append(_draft(cat, brand, en, maker, model, title, {
                "类型": kind, "端口与性能": desc, "电源": "交流供电（可选冗余）", "安装方式": "19英寸机架式",
                "保修": "三年原厂质保"}, "台", price, f"{brand}{model}：{desc}。三年原厂质保，含上门安装调试。"))
    out["network"] = rows
    rows = []
    for brand, en, maker, models in C.AIR_CONDITIONERS:
        for model, hp, kind, watts, area, price in models:
            rows.append(_draft("A02061804", brand, en, maker, model,
                               f"{_brand_label(brand, en)}{model} {hp}{kind}空调 一级能效 变频冷暖 含标准安装", {
                                   "匹数": hp, "类型": f"{kind}（分体式）", "能效等级": "新一级能效", "变频/定频": "直流变频",
                                   "制冷量": f"{watts}W", "制冷剂": "R32", "适用面积": area,
                                   "安装": "含标准安装（3米铜管）", "保修": "整机6年，压缩机10年"}, "台", price,
                               f"{brand}{model}{hp}{kind}空调，新一级能效，直流变频冷暖，适用面积{area}，含标准安装，整机6年保修。"))
    out["ac"] = rows
    rows = []
    for brand, en, maker, series, factor in C.PAPER_BRANDS:
        for size, gsm, packs, price in C.PAPER_SPECS:
            model = f"{series} {size} {gsm}g {packs}包/箱"
            rows.append({"series": series} | _draft("A05040101", brand, en, maker, model,
                               f"{_brand_label(brand, en)}{series} {size}复印纸 {gsm}g 500张/包 {packs}包/箱", {
                                   "幅面": size, "克重": f"{gsm}g/㎡", "规格": f"500张/包，{packs}包/箱", "白度": "≥100%",
                                   "材质": "100%原生木浆"}, "箱", price * factor,
                               f"{brand}{series}{size}复印纸，{gsm}g/㎡，100%原生木浆，500张/包，{packs}包/箱，福州市区送货上门。"))
    out["paper"] = rows
    rows = []
    for brand, en, maker, products in C.SOFTWARE:
        for product, edition, licence, price in products:
            rows.append(_draft("A08060301", brand, en, maker, f"{product} {edition}",
                               f"{brand} {product} {edition} {licence}", {
                                   "产品": product, "版本": edition, "授权方式": licence, "交付方式": "电子授权+安装介质",
                                   "适配": "兼容国产CPU平台（鲲鹏、飞腾、海光、兆芯、龙芯）"}, "套", price,
                               f"{maker}{product}{edition}，{licence}，已完成主流国产CPU平台适配认证。"))
    out["software"] = rows
    rows = []
    for brand, en, maker, models in C.PROJECTORS:
        for model, lumens, res, price in models:
            rows.append(_draft("A02020200", brand, en, maker, model,
                               f"{_brand_label(brand, en)}{model} 投影仪 {lumens} {res} 商务教育投影机", {
                                   "亮度": lumens, "分辨率": res, "光源": "灯泡", "对比度": "16000:1",
                                   "保修": "整机两年，灯泡一年"}, "台", price,
                               f"{brand}{model}投影仪，{lumens}，分辨率{res}，适用于会议室和教室。"))
    out["projector"] = rows
    return out


SKU_DRAFTS = _sku_drafts()


def _service_drafts(family: str, brand: str, supplier: SupplierSpec) -> list[dict]:
    if family == "cloud":
        name, en, maker, factor = next(p for p in C.CLOUD_PLATFORMS if p[0] == brand)
        return [_draft("C16040000", name, en, maker, f"{code}-1Y", f"{name} {service} {config}（1年）", {
            "服务": service, "配置": config, "服务期限": "1年", "部署": "华东/华南可用区，等保三级云平台",
            "服务商": supplier.name}, "年", price * factor,
            f"{name}{service}，{config}，服务期1年，由{supplier.name}提供开通、迁移及7×24小时运维支持。")
            for service, code, config, price in C.CLOUD_PACKAGES]
    return [_draft("C23120301", brand, None, supplier.name, code, f"{brand} {service}", {
        "服务内容": service, "适用车型": "公务用小型客车", "服务网点": supplier.address,
        "质保": "维修项目质保3个月或5000公里", "结算": "凭维修结算单及配件清单"}, "次", price,
        f"{supplier.name}为公务车辆提供{service}，配件明码标价，维修项目质保3个月或5000公里。")
        for code, service, price in C.VEHICLE_PACKAGES]


def _sku_brand(draft: dict, family: str) -> str:
    return draft.get("series") or draft["brand"]  # papers are offered by series


def _base_prices(rng: random.Random, world: World) -> list[dict]:
    """The agreement prices set up with each agreement: every admitted entrant prices some
    models of the brands it offers (services: its whole package list). The demo supplier first,
    then round robin over the agreements, so that a small catalogue still covers them all."""
    counters: dict = {}
    per_agreement: list[list[dict]] = []
    used: set = set()
    for a in world.agreements:
        rows: list[dict] = []
        for s_idx in a.entrants:
            s = world.suppliers[s_idx]
            for fam in a.families:
                brands = a.brands[(fam, s_idx)]
                if fam in ("cloud", "vehicle"):
                    drafts = _service_drafts(fam, brands[0], s)
                elif fam in CONFIG_MAKERS:
                    drafts = [CONFIG_MAKERS[fam](rng, rng.choice(brands), counters, s) for _ in range(2)]
                else:
                    options = [i for i, d in enumerate(SKU_DRAFTS[fam]) if _sku_brand(d, fam) in brands]
                    drafts = []
                    for i in rng.sample(options, min(2, len(options))):
                        used.add((a.key, fam, i, s_idx))
                        drafts.append(SKU_DRAFTS[fam][i])
                for d in drafts:
                    rows.append({"agreement": a.key, "supplier": s_idx, "family": fam, "draft": d,
                                 "max_price": money(d["base"] * rng.uniform(0.96, 1.02)),
                                 "discount_note": _discount_note(rng)})
        rng.shuffle(rows)
        per_agreement.append(rows)
    ordered = [r for i in range(max(map(len, per_agreement))) for rows in per_agreement if i < len(rows)
               for r in [rows[i]]]
    demo = [r for r in ordered if r["supplier"] == world.demo_supplier]
    ordered = demo + [r for r in ordered if r["supplier"] != world.demo_supplier]
    world.counters = counters
    world.used_skus = used
    return ordered


# ====================================================================== the product stream (pure)

class ProductStream:
    """Yields product rows one by one, deterministically for a world and a seed.

    Each row is a dict of Product columns (ids replaced by keys: ``supplier`` is a supplier
    index, ``agreement_price`` is either an index into ``world.base_prices`` or a dict of a new
    agreement price to insert with the product)."""

    def __init__(self, world: World, rng_seed: int):
        self.world = world
        self.rng = random.Random(f"govmall-demo-products-{rng_seed}")
        self.counters = dict(world.counters)
        self.base_queue = deque(range(len(world.base_prices)))
        self.pending: deque = deque()
        self.agreements = {a.key: a for a in world.agreements}
        self.now = dt.datetime.combine(world.day, dt.time(10, 0), tzinfo=dt.timezone.utc)
        self.forced_self = 6
        self.forced_pavilion = 4
        # sku families: remaining entrants per (agreement, family, model)
        used = world.used_skus
        self.sku_pool: dict[tuple, dict[int, list[int]]] = {}
        for a in world.agreements:
            for fam in a.families:
                if fam in SKU_DRAFTS:
                    pool = {}
                    for i, d in enumerate(SKU_DRAFTS[fam]):
                        brand = _sku_brand(d, fam)
                        who = [s for s in a.entrants
                               if brand in a.brands[(fam, s)] and (a.key, fam, i, s) not in used]
                        if who:
                            self.rng.shuffle(who)
                            pool[i] = who
                    self.sku_pool[(a.key, fam)] = pool
        # suppliers by 自采区 category, and pavilion suppliers, with cumulative weights
        sups = world.suppliers
        self.self_codes = list(S.SELF_CATEGORIES)
        self.self_cum = list(accumulate(S.SELF_CATEGORIES[c]["weight"] for c in self.self_codes))
        self.sellers: dict[str, tuple[list[int], list[float]]] = {}
        for code, cat in S.SELF_CATEGORIES.items():
            who = [s.idx for s in sups if s.line in cat["lines"]]
            self.sellers[code] = (who, list(accumulate(sups[i].weight for i in who)))
        pav = [s.idx for s in sups if s.pavilion_status == "qualified"]
        self.pavilion = (pav, list(accumulate(sups[i].weight + 1 for i in pav)))
        demo = sups[world.demo_supplier]
        self.demo_self_codes = [c for c, cat in S.SELF_CATEGORIES.items() if demo.line in cat["lines"]]

    # ------------------------------------------------------------------ zones
    def __iter__(self):
        return self

    def __next__(self) -> dict:
        r = self.rng.random()
        if r < ZONE_SHARES[0][1]:
            row = self._central()
        elif r < ZONE_SHARES[0][1] + ZONE_SHARES[1][1]:
            row = self._self()
        else:
            row = self._pavilion()
        return self._finish(row)

    def _central(self) -> dict:
        if self.pending:
            return self.pending.popleft()
        if self.base_queue:
            i = self.base_queue.popleft()
            bp = self.world.base_prices[i]
            return self._central_row(bp["agreement"], bp["supplier"], bp["draft"], bp["max_price"], i)
        rows = self._new_group()
        self.pending.extend(rows[1:])
        return rows[0]

    def _new_group(self) -> list[dict]:
        rng = self.rng
        while True:
            live = [a for a in self.world.agreements if a.weight > 0 and self._families(a)]
            a = rng.choices(live, weights=[x.weight for x in live])[0]
            fam = rng.choice(self._families(a))
            if fam in CONFIG_MAKERS:
                offered: dict[str, list[int]] = {}
                for s in a.entrants:
                    for b in a.brands[(fam, s)]:
                        offered.setdefault(b, []).append(s)
                brand = rng.choice(sorted(offered))
                who = offered[brand]
                k = min(len(who), rng.choices([1, 2, 3], weights=[50, 30, 20])[0])
                entrants = rng.sample(who, k)
                draft = CONFIG_MAKERS[fam](rng, brand, self.counters, self.world.suppliers[entrants[0]])
            else:
                pool = self.sku_pool[(a.key, fam)]
                i = rng.choice(sorted(pool))
                k = min(len(pool[i]), rng.choices([1, 2, 3], weights=[40, 35, 25])[0])
                entrants, pool[i] = pool[i][:k], pool[i][k:]
                if not pool[i]:
                    del pool[i]
                draft = SKU_DRAFTS[fam][i]
            if entrants:
                break
        ceiling = draft["base"] * rng.uniform(0.96, 1.02)
        rows = []
        for s in entrants:
            max_price = money(ceiling * rng.uniform(0.98, 1.02))
            ap = {"agreement": a.key, "supplier": s, "category_code": draft["category_code"],
                  "brand": draft["brand"], "model": draft["model"], "max_price": max_price,
                  "discount_note": _discount_note(rng)}
            rows.append(self._central_row(a.key, s, draft, max_price, ap))
        return rows

    def _families(self, a: AgreementSpec) -> list[str]:
        return [f for f in a.families if f in CONFIG_MAKERS or self.sku_pool.get((a.key, f))]

    def _central_row(self, agreement_key, supplier, draft, max_price, ap) -> dict:
        a = self.agreements[agreement_key]
        price = money_below(max_price, self.rng.uniform(0.9, 1.0))
        row = self._row("central", supplier, draft, price)
        row["agreement_price"] = ap
        row["halted_reason"] = a.halted_reason
        row["listed_days"] = self.rng.uniform(0, max(1, min(330, (self.world.day - a.term_start).days)))
        row["service"] = a.subject == "services"
        return row

    def _self(self) -> dict:
        rng = self.rng
        if self.forced_self > 0:
            self.forced_self -= 1
            code = self.demo_self_codes[self.forced_self % len(self.demo_self_codes)]
            supplier = self.world.demo_supplier
        else:
            code = rng.choices(self.self_codes, cum_weights=self.self_cum)[0]
            who, cum = self.sellers[code]
            supplier = rng.choices(who, cum_weights=cum)[0]
        cat = S.SELF_CATEGORIES[code]
        s = self.world.suppliers[supplier]
        kind = cat.get("kind")
        if kind == "cartridge":
            draft = self._cartridge(code)
        elif kind == "book":
            draft = self._book()
        else:
            item, unit, low, high, spec_options = rng.choice(cat["items"])
            if cat.get("own_brand") and s.maker and rng.random() < 0.6:
                brand, en, maker = s.brand, None, s.name
                model = f"{initials(s.brand[:2])}-{rng.randint(100, 9999)}"
            else:
                brand, en, maker, pattern = rng.choice(cat["brands"])
                model = fill_pattern(pattern, rng)
            chosen = {k: rng.choice(v) for k, v in spec_options.items()}
            first = next(iter(spec_options))
            base = banded(rng, low, high, spec_options[first].index(chosen[first]), len(spec_options[first]))
            title = f"{_brand_label(brand, en)}{model} {item} " + " ".join(chosen.values())
            specs = {"品名": item, **chosen, "品牌": brand}
            desc = f"{brand}{item}（{'，'.join(chosen.values())}），正品保障，福州市区72小时内送货上门，开具正规发票。"
            draft = _draft(code, brand, en, maker, model, title, specs, unit, base, desc)
        row = self._row("self", supplier, draft, money(draft["base"]))
        row["listed_days"] = rng.uniform(0, 330)
        return row

    def _cartridge(self, code: str) -> dict:
        rng = self.rng
        options = [c for c in S.CARTRIDGES if c[4] == code]
        brand, en, maker, oem_code, _cat, kind, colour, fits, pages, oem_price = rng.choice(options)
        specs = {"类型": kind, "颜色": colour, "适用机型": fits, "打印页数": f"约{pages}页（5%覆盖率）"}
        if rng.random() < 0.4:
            title = f"{_brand_label(brand, en)}{oem_code} 原装{colour}{kind} 适用机型：{fits} 约{pages}页"
            return _draft(code, brand, en, maker, oem_code, title, {**specs, "原装/兼容": "原装"}, "支",
                          oem_price * rng.uniform(0.92, 1.0),
                          f"{brand}原装{kind}{oem_code}，适用{fits}，约{pages}页。原装正品，假一赔十。")
        c_brand, c_en, c_maker, prefix, share = rng.choice(S.COMPATIBLE)
        model = f"{prefix}{oem_code.replace(' ', '')}"
        title = (f"{_brand_label(c_brand, c_en)}{model} {colour}{kind}（兼容{brand}{oem_code}） "
                 f"适用机型：{fits} 约{pages}页")
        return _draft(code, c_brand, c_en, c_maker, model, title,
                      {**specs, "原装/兼容": f"兼容{brand}{oem_code}"}, "支",
                      oem_price * share * rng.uniform(0.9, 1.15),
                      f"{c_brand}兼容{kind}，对应原装型号{brand}{oem_code}，适用{fits}，约{pages}页，打印不满意包退换。")

    def _book(self) -> dict:
        rng = self.rng
        n = rng.randrange(len(S.BOOKS))
        title, author, publisher, price, pages = S.BOOKS[n]
        isbn = isbn13(S.BOOK_PUBLISHERS[publisher], 40000 + n * 7919)
        specs = {"书名": title, "作者": author, "出版社": publisher, "ISBN": isbn, "页数": str(pages),
                 "定价": f"{price:.2f}元"}
        return _draft("A04010199", publisher, None, publisher, isbn, f"{title}（{publisher}） {author}", specs,
                      "本" if "册" not in title else "套", price * rng.uniform(0.72, 0.95),
                      f"《{title}》，{author}，{publisher}出版，ISBN {isbn}。正版图书，支持馆配加工（贴条码、盖馆藏章）。")

    def _pavilion(self) -> dict:
        rng = self.rng
        if self.forced_pavilion > 0:
            self.forced_pavilion -= 1
            supplier = self.world.pavilion_supplier
        else:
            who, cum = self.pavilion
            supplier = rng.choices(who, cum_weights=cum)[0]
        s = self.world.suppliers[supplier]
        specialty = rng.choice(P.SPECIALTIES[s.county_key])
        code, item, brand, packs, unit, low, high, shelf, storage, grade = specialty
        position = rng.randrange(len(packs))
        pack = packs[position]
        unit = pack.split("/", 1)[1][0] if "/" in pack else unit  # sold by the packing unit: 5kg/袋 → 袋
        named = brand[:2] in item  # 西吉马铃薯粉条 already says 西吉
        title = f"【{s.county}】{'' if named else brand + ' '}{item} {pack} {grade}"
        specs = {"产地": s.county, "规格": pack, "等级": grade, "保质期": shelf, "储存条件": storage,
                 "生产企业": s.name, "脱贫地区农副产品": "是"}
        desc = (f"{item}，产自{s.county}（脱贫地区），{pack}，{grade}，保质期{shelf}，{storage}。"
                f"由{s.name}直供，产地直采，冷链/快递配送至单位食堂。")
        base = banded(rng, low, high, position, len(packs))
        draft = _draft(code, brand, None, s.name, pack, title, specs, unit, base, desc)
        row = self._row("pavilion", supplier, draft, money(base))
        row["listed_days"] = rng.uniform(0, 330)
        return row

    # ------------------------------------------------------------------ common columns
    def _row(self, zone: str, supplier: int, draft: dict, price: Decimal) -> dict:
        return {"zone": zone, "supplier": supplier, "category_code": draft["category_code"],
                "title": draft["title"][:200], "brand": draft["brand"], "model": draft["model"],
                "manufacturer": draft["manufacturer"], "specs": draft["specs"],
                "description": draft["description"], "unit": draft["unit"], "price": price,
                "agreement_price": None, "halted_reason": None, "service": False}

    def _finish(self, row: dict) -> dict:
        rng = self.rng
        price = row["price"]
        row["market_price"] = max(money(float(price) * rng.uniform(1.04, 1.28)), price + Decimal("0.01"))
        r = rng.random()
        if r < 0.03:
            row["status"] = "delisted"
            row["status_reason"] = rng.choice(["型号停产，供应商主动下架", "库存不足，暂时下架", "价格调整中，暂时下架"])
        elif r < 0.05:
            row["status"], row["status_reason"] = "draft", None
        else:
            row["status"], row["status_reason"] = "listed", None
        if row.pop("service"):
            row["stock"] = 9999
        else:
            roll = rng.random()
            row["stock"] = 0 if roll < 0.03 else rng.randint(1, 20) if roll < 0.3 else \
                rng.randint(20, 300) if roll < 0.85 else rng.randint(300, 5000)
        scale = 30 if price < 100 else 10 if price < 1000 else 3 if price < 10000 else 1
        sales = min(int((rng.paretovariate(1.3) - 1) * scale), 20000)  # a long tail of best sellers
        row["sales_count"] = 0 if row["status"] == "draft" else sales
        row["is_sme"] = self.world.suppliers[row["supplier"]].is_sme
        days = row.pop("listed_days")
        listed = self.now - dt.timedelta(days=days, seconds=rng.randrange(36000))
        row["created_at"] = listed - dt.timedelta(hours=rng.randint(1, 72))
        row["listed_at"] = None if row["status"] == "draft" else listed
        return row


def iter_products(world: World, count: int, rng_seed: int | None = None) -> Iterator[dict]:
    stream = ProductStream(world, world.seed if rng_seed is None else rng_seed)
    for _ in range(count):
        yield next(stream)


# ====================================================================== writing it

def seed(session, products: int = 5000, rng_seed: int = 2025,
         progress: Callable[[str], None] | None = None) -> dict:
    """Build the demo mall into an empty database (after ``load_base_data``). Returns counts."""
    from . import audit

    if products < 0:
        raise ValueError("products must be ≥ 0")
    say = progress or (lambda message: None)
    started = time.perf_counter()
    day = today()
    previous = session.info.get("audit_disabled")
    session.info["audit_disabled"] = True
    try:
        world = build_world(rng_seed, day)
        ids = _write_world(session, world)
        session.commit()
        say(f"演示数据：{len(world.units)}个预算单位、{len(world.suppliers)}家供应商、{len(world.agreements)}个框架协议、"
            f"{len(world.users)}个用户已生成（{time.perf_counter() - started:.1f}秒）")
        counts = _write_products(session, world, ids, products, rng_seed, say)
        _after_bulk_load(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        if previous is None:
            session.info.pop("audit_disabled", None)
        else:
            session.info["audit_disabled"] = previous
    summary = {
        "budget_units": len(world.units),
        "budget_lines": sum(len(u.budget_lines) for u in world.units),
        "suppliers": len(world.suppliers),
        "sme_suppliers": sum(1 for s in world.suppliers if s.is_sme),
        "pavilion_suppliers": sum(1 for s in world.suppliers if s.pavilion_status == "qualified"),
        "users": len(world.users),
        "policy_versions": len(world.policies),
        "agreements": len(world.agreements),
        "agreement_entrants": sum(len(a.entrants) for a in world.agreements),
        "agreement_prices": len(world.base_prices) + counts["new_prices"],
        "solicitations": len(world.solicitations),
        "products": counts["products"],
        "products_central": counts["central"],
        "products_self": counts["self"],
        "products_pavilion": counts["pavilion"],
        "seed": rng_seed,
    }
    audit.record("demo.seed", "system", None, after=summary, session=session,
                 note=f"生成演示数据：随机种子{rng_seed}，商品{counts['products']}件，"
                      f"用时{time.perf_counter() - started:.1f}秒（批量写入期间未逐条审计）")
    session.commit()
    return summary


def _write_world(session, world: World) -> dict:
    from catalog.models import (Agreement, AgreementCategory, AgreementPrice, AgreementSupplier,
                                CentralizedItem, PolicyVersion, Solicitation)
    from orders.models import BudgetLine
    from suppliers.models import SmeDeclaration, SupplierProfile
    from .accounts.models import (ORG_BUDGET_UNIT, ORG_FINANCE_BUREAU, ORG_SUPPLIER, ORG_TRADING_CENTER,
                                  Organisation, User)

    now = utcnow()
    tc = Organisation(kind=ORG_TRADING_CENTER, **world.trading_center)
    fb = Organisation(kind=ORG_FINANCE_BUREAU, **world.finance_bureau)
    units: dict[str, Organisation] = {}
    for u in world.units:
        units[u.key] = Organisation(
            kind=ORG_BUDGET_UNIT, name=u.name, uscc=u.uscc, parent=units.get(u.parent_key),
            region_code=u.region_code, region_name=u.region_name, address=u.address,
            contact_name=u.contact_name, contact_phone=u.contact_phone,
            canteen_food_budget=u.canteen_food_budget)
    sups = [Organisation(kind=ORG_SUPPLIER, name=s.name, uscc=s.uscc, region_code=s.region_code,
                         region_name=s.region_name, address=s.address, contact_name=s.contact_name,
                         contact_phone=s.contact_phone) for s in world.suppliers]
    session.add_all([tc, fb, *units.values(), *sups])
    session.flush()
    unit_list = [units[u.key] for u in world.units]
    sup_ids = [o.id for o in sups]

    declared = now - dt.timedelta(days=200)
    rows = []
    for s, org_id in zip(world.suppliers, sup_ids):
        rows.append(SupplierProfile(
            organisation_id=org_id, status="active", sme_size=s.size, description=s.description,
            service_phone=s.service_phone, rating=s.rating, pavilion_status=s.pavilion_status,
            pavilion_county=s.county if s.pavilion_status != "none" else None, pavilion_note=s.pavilion_note))
        rows.append(SmeDeclaration(
            supplier_id=org_id, industry=s.industry, year=world.day.year - 1, staff=s.staff,
            revenue=s.revenue, total_assets=s.total_assets, size=s.size, declared_size=s.size,
            manufacturer_name=s.name if s.maker else None, manufacturer_size=s.size if s.maker else None,
            is_current=True, declared_at=declared))
    for u, org in zip(world.units, unit_list):
        for line in u.budget_lines:
            rows.append(BudgetLine(unit_id=org.id, reserved=Decimal(0), spent=Decimal(0), **line))
    password_hash = generate_password_hash(DEMO_PASSWORD)  # hashed once, shared by every demo user
    orgs = {"trading_center": [tc.id], "finance_bureau": [fb.id], "unit": [o.id for o in unit_list],
            "supplier": sup_ids}
    for user in world.users:
        kind, i = user["org"]
        rows.append(User(username=user["username"], display_name=user["display_name"], email=user["email"],
                         phone=user["phone"], password_hash=password_hash, role=user["role"],
                         organisation_id=orgs[kind][i], active=True))
    for p in world.policies:
        pv = PolicyVersion(
            name=p["name"], effective_from=p["effective_from"], effective_to=p["effective_to"],
            status="published", decentralized_threshold_goods=Decimal("1000000"),
            decentralized_threshold_services=Decimal("1000000"),
            decentralized_threshold_works=Decimal("1200000"), open_tender_threshold_goods=Decimal("2000000"),
            open_tender_threshold_services=Decimal("2000000"), open_tender_threshold_works=Decimal("4000000"),
            direct_purchase_limit=p["direct_purchase_limit"], sme_price_deduction=Decimal("0.10"),
            split_window_days=90, split_action="refuse", cumulative_warning_ratio=Decimal("0.80"),
            note=p["note"])
        for code, amount, note in p["items"]:
            pv.items.append(CentralizedItem(category_code=code, min_amount=amount, note=note))
        rows.append(pv)
    for sol in world.solicitations:
        rows.append(Solicitation(**sol))
    agreements: dict[str, Agreement] = {}
    for a in world.agreements:
        obj = Agreement(number=a.number, title=a.title, kind=a.kind, subject=a.subject, zone_code="central",
                        second_stage=a.second_stage, status=a.status, term_start=a.term_start,
                        term_end=a.term_end,
                        procuring_body="福州市公共资源交易中心", description=a.description)
        decided = dt.datetime.combine(a.term_start - dt.timedelta(days=7), dt.time(9, 0),
                                      tzinfo=dt.timezone.utc)
        for code in a.codes:
            obj.categories.append(AgreementCategory(category_code=code))
        for pos, s_idx in enumerate(a.entrants, 1):
            obj.entrants.append(AgreementSupplier(
                supplier_id=sup_ids[s_idx], status="admitted", applied_at=decided - dt.timedelta(days=30),
                decided_at=decided, decision_note="经资格审查和价格评审入围",
                rotation_position=pos if a.second_stage == "rotation" else None))
        for n, (s_idx, status, note) in enumerate(a.others):
            applied = now - dt.timedelta(days=3 + 4 * n)
            obj.entrants.append(AgreementSupplier(
                supplier_id=sup_ids[s_idx], status=status, applied_at=applied, decision_note=note,
                decided_at=applied + dt.timedelta(days=2) if status == "rejected" else None))
        agreements[a.key] = obj
        rows.append(obj)
    base = []
    for bp in world.base_prices:
        d = bp["draft"]
        price = AgreementPrice(supplier_id=sup_ids[bp["supplier"]], category_code=d["category_code"],
                               brand=d["brand"], model=d["model"], max_price=bp["max_price"],
                               discount_note=bp["discount_note"])
        agreements[bp["agreement"]].prices.append(price)
        base.append(price)
    session.add_all(rows)
    session.flush()
    return {"suppliers": sup_ids, "agreements": {k: v.id for k, v in agreements.items()},
            "base_prices": [p.id for p in base]}


def _write_products(session, world: World, ids: dict, total: int, rng_seed: int, say) -> dict:
    from catalog.models import AgreementPrice, PriceHistory, Product

    product_t, price_t, history_t = Product.__table__, AgreementPrice.__table__, PriceHistory.__table__
    next_product = (session.scalar(select(func.max(Product.id))) or 0) + 1
    next_price = (session.scalar(select(func.max(AgreementPrice.id))) or 0) + 1
    counts = {"products": 0, "central": 0, "self": 0, "pavilion": 0, "new_prices": 0}
    sup_ids, agreement_ids, base_ids = ids["suppliers"], ids["agreements"], ids["base_prices"]
    stream = iter_products(world, total, rng_seed)
    started = time.perf_counter()
    now = utcnow()
    while counts["products"] < total:
        products, prices, history = [], [], []
        for row in _take(stream, min(BATCH_SIZE, total - counts["products"])):
            ap = row.pop("agreement_price")
            if isinstance(ap, dict):
                prices.append({"id": next_price, "agreement_id": agreement_ids[ap["agreement"]],
                               "supplier_id": sup_ids[ap["supplier"]], "category_code": ap["category_code"],
                               "brand": ap["brand"], "model": ap["model"], "max_price": ap["max_price"],
                               "discount_note": ap["discount_note"]})
                ap_id = next_price
                next_price += 1
            else:
                ap_id = None if ap is None else base_ids[ap]
            counts[row["zone"]] += 1
            pid = next_product
            next_product += 1
            products.append({
                "id": pid, "supplier_id": sup_ids[row["supplier"]], "zone_code": row["zone"],
                "category_code": row["category_code"], "agreement_price_id": ap_id, "title": row["title"],
                "brand": row["brand"], "model": row["model"], "manufacturer": row["manufacturer"],
                "specs": row["specs"], "description": row["description"], "unit": row["unit"],
                "price": row["price"],
                "market_price": row["market_price"], "stock": row["stock"], "status": row["status"],
                "halted_reason": row["halted_reason"], "status_reason": row["status_reason"],
                "is_sme": row["is_sme"], "image_path": None, "sales_count": row["sales_count"],
                "search_dirty": True, "created_at": row["created_at"], "updated_at": now,
                "listed_at": row["listed_at"]})
            history.append({"product_id": pid, "price": row["price"], "changed_at": row["created_at"],
                            "changed_by_id": None})
        if prices:
            session.execute(price_t.insert(), prices)
            counts["new_prices"] += len(prices)
        session.execute(product_t.insert(), products)
        session.execute(history_t.insert(), history)
        session.commit()
        counts["products"] += len(products)
        elapsed = time.perf_counter() - started
        say(f"商品 {counts['products']:,}/{total:,}（{100 * counts['products'] / total:.0f}%），"
            f"{counts['products'] / max(elapsed, 1e-9):,.0f} 件/秒")
    return counts


def _take(iterator, n):
    for _ in range(n):
        yield next(iterator)


def _after_bulk_load(session) -> None:
    """Products and prices went in with explicit ids: move PostgreSQL's sequences past them;
    refresh the planner's statistics of the tables just filled."""
    dialect = session.get_bind().dialect.name
    tables = ("product", "agreement_price", "price_history")
    if dialect == "postgresql":
        for t in ("product", "agreement_price"):
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                                 f"COALESCE((SELECT MAX(id) FROM {t}), 0) + 1, false)"))
        for t in tables:
            session.execute(text(f"ANALYZE {t}"))
    elif dialect == "sqlite":
        session.execute(text("PRAGMA analysis_limit=1000"))
        for t in tables:
            session.execute(text(f"ANALYZE {t}"))
