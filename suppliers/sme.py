"""Enterprise size from the 工信部联企业〔2011〕300号 industry thresholds (pure, no database).

``classify(industry, staff, revenue)`` returns a :class:`SizeResult` with the size
(micro / small / medium / large) and a Chinese explanation naming the thresholds used.
Revenue is in yuan (Decimal). Total assets matter only for industries not covered here.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

WAN = Decimal(10000)


@dataclass(frozen=True)
class Band:
    staff: int | None       # minimum staff for the band (None: staff not used)
    revenue: Decimal        # minimum revenue (yuan)


@dataclass(frozen=True)
class Thresholds:
    label: str
    sme_staff: int | None    # SME if staff below this ...
    sme_revenue: Decimal     # ... or revenue below this
    medium: Band
    small: Band


THRESHOLDS: dict[str, Thresholds] = {
    "industry": Thresholds("工业", 1000, 40000 * WAN, Band(300, 2000 * WAN), Band(20, 300 * WAN)),
    "wholesale": Thresholds("批发业", 200, 40000 * WAN, Band(20, 5000 * WAN), Band(5, 1000 * WAN)),
    "retail": Thresholds("零售业", 300, 20000 * WAN, Band(50, 500 * WAN), Band(10, 100 * WAN)),
    "software": Thresholds("软件和信息技术服务业", 300, 10000 * WAN, Band(100, 1000 * WAN), Band(10, 50 * WAN)),
    "property": Thresholds("物业管理", 1000, 5000 * WAN, Band(300, 1000 * WAN), Band(100, 500 * WAN)),
    "agriculture": Thresholds("农、林、牧、渔业", None, 20000 * WAN, Band(None, 500 * WAN), Band(None, 50 * WAN)),
}


@dataclass(frozen=True)
class SizeResult:
    size: str          # micro / small / medium / large
    explanation: str

    @property
    def is_sme(self) -> bool:
        return self.size != "large"


def _fmt_wan(v: Decimal) -> str:
    return f"{(v / WAN).normalize():f}万元"


def _meets(band: Band, staff: int, revenue: Decimal) -> bool:
    return (band.staff is None or staff >= band.staff) and revenue >= band.revenue


def _band_text(band: Band) -> str:
    return (f"从业人员{band.staff}人及以上且" if band.staff is not None else "") + f"营业收入{_fmt_wan(band.revenue)}及以上"


def classify(industry: str, staff: int, revenue: Decimal) -> SizeResult:
    if industry not in THRESHOLDS:
        raise ValueError(f"未知行业：{industry}")
    if staff is None or staff < 0 or revenue is None or Decimal(revenue) < 0:
        raise ValueError("从业人员和营业收入不能为负数")
    t = THRESHOLDS[industry]
    revenue = Decimal(revenue)
    figures = f"{t.label}：从业人员{staff}人，营业收入{_fmt_wan(revenue)}"
    sme_by_staff = t.sme_staff is not None and staff < t.sme_staff
    if not (sme_by_staff or revenue < t.sme_revenue):
        limit = (f"从业人员{t.sme_staff}人以下或" if t.sme_staff is not None else "") + f"营业收入{_fmt_wan(t.sme_revenue)}以下"
        return SizeResult("large", f"{figures}，不满足中小微企业标准（{limit}），为大型企业")
    if _meets(t.medium, staff, revenue):
        return SizeResult("medium", f"{figures}，符合中型企业标准（{_band_text(t.medium)}）")
    if _meets(t.small, staff, revenue):
        return SizeResult("small", f"{figures}，符合小型企业标准（{_band_text(t.small)}）")
    return SizeResult("micro", f"{figures}，低于小型企业标准（{_band_text(t.small)}），为微型企业")
