"""Supplier-side operations: SME declarations (中小企业声明函), 特色馆 applications, joining
open framework agreements, and the read side of a supplier's storefront.

Each write checks ``mall.authz.require`` against the supplier organisation and refuses with
``ServiceError`` naming the rule; the caller commits.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_login import current_user
from sqlalchemy import select

from mall.accounts.models import ORG_SUPPLIER, Organisation
from mall.authz import require
from mall.extensions import db
from mall.problems import NotFound, Problem, ServiceError
from mall.timeutil import today, utcnow

from . import sme
from .models import INDUSTRIES, SIZE_LABELS, SME_SIZES, SmeDeclaration, SupplierProfile

MAX_FIGURE = Decimal("99999999999999.99")  # Numeric(16, 2)
MAX_STAFF = 10_000_000


def supplier_org(supplier_id: int) -> Organisation:
    org = db.session.get(Organisation, supplier_id)
    if org is None or org.kind != ORG_SUPPLIER:
        raise NotFound("供应商")
    return org


def profile_of(supplier_id: int, *, create: bool = False) -> SupplierProfile | None:
    profile = db.session.get(SupplierProfile, supplier_id)
    if profile is None and create:
        profile = SupplierProfile(organisation_id=supplier_id, status="active", pavilion_status="none")
        db.session.add(profile)
        db.session.flush()
    return profile


def acting_org(user=None) -> Organisation:
    """The supplier organisation of the signed-in supplier user (after ``store.manage``)."""
    user = user or current_user
    org = db.session.get(Organisation, user.organisation_id) if getattr(user, "is_authenticated", False) else None
    require("store.manage", org, user=user)
    return org


# --------------------------------------------------------------------------- SME declaration

def current_declaration(supplier_id: int) -> SmeDeclaration | None:
    return db.session.scalars(select(SmeDeclaration).where(SmeDeclaration.supplier_id == supplier_id,
                                                           SmeDeclaration.is_current.is_(True))
                              .order_by(SmeDeclaration.id.desc())).first()


def declaration_history(supplier_id: int) -> list[SmeDeclaration]:
    return db.session.scalars(select(SmeDeclaration).where(SmeDeclaration.supplier_id == supplier_id)
                              .order_by(SmeDeclaration.id.desc())).all()


def _parse_int(raw: Any, field: str, label: str, lo: int, hi: int) -> tuple[int | None, list[Problem]]:
    rule = "sme.declaration"
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, [Problem(f"{field}_required", f"{label}不能为空", field=field, rule=rule)]
    try:
        d = Decimal(str(raw).strip().replace(",", ""))
        if isinstance(raw, bool) or not d.is_finite() or d != d.to_integral_value():
            raise InvalidOperation
    except InvalidOperation:
        return None, [Problem(f"{field}_invalid", f"{label}须为整数", field=field, rule=rule)]
    value = int(d)
    if value < lo or value > hi:
        return None, [Problem(f"{field}_out_of_range", f"{label}须在{lo}至{hi}之间（填写的是{value}）",
                              field=field, rule=rule, figures={"value": value, "min": lo, "max": hi})]
    return value, []


def _parse_yuan(raw: Any, field: str, label: str) -> tuple[Decimal | None, list[Problem]]:
    rule = "sme.declaration"
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, [Problem(f"{field}_required", f"{label}不能为空", field=field, rule=rule)]
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
        if isinstance(raw, bool) or not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        return None, [Problem(f"{field}_invalid", f"{label}须为金额数字", field=field, rule=rule)]
    if value < 0:
        return None, [Problem(f"{field}_negative", f"{label}不能为负数", field=field, rule=rule)]
    if value != value.quantize(Decimal("0.01")) or value > MAX_FIGURE:
        return None, [Problem(f"{field}_invalid", f"{label}须为不超过两位小数的金额（元）", field=field, rule=rule)]
    return value, []


def submit_declaration(*, industry: str, year: Any, staff: Any, revenue: Any, total_assets: Any,
                       manufacturer_name: str | None = None, manufacturer_size: str | None = None,
                       supplier_id: int | None = None, user=None) -> SmeDeclaration:
    """Declare the previous year's figures; the size is computed (工信部联企业〔2011〕300号).

    The new declaration replaces the current one, sets ``SupplierProfile.sme_size`` and
    bulk-updates the SME label of the supplier's products.  Revenue and assets in yuan.
    """
    from catalog.services import refresh_sme_flags

    user = user or current_user
    org = db.session.get(Organisation, supplier_id if supplier_id is not None
                         else getattr(user, "organisation_id", None))
    require("declaration.submit", org, user=user)
    if org is None or org.kind != ORG_SUPPLIER:
        raise NotFound("供应商")
    problems: list[Problem] = []
    rule = "sme.declaration"
    if industry not in INDUSTRIES:
        problems.append(Problem("industry_invalid", "请选择所属行业（工信部联企业〔2011〕300号划型标准所列行业）",
                                field="industry", rule=rule))
    this_year = today().year
    year_v, p = _parse_int(year, "year", "数据所属年度", 2000, this_year)
    problems += p
    staff_v, p = _parse_int(staff, "staff", "从业人员", 0, MAX_STAFF)
    problems += p
    revenue_v, p = _parse_yuan(revenue, "revenue", "营业收入")
    problems += p
    assets_v, p = _parse_yuan(total_assets, "total_assets", "资产总额")
    problems += p
    manufacturer_name = " ".join((manufacturer_name or "").split()) or None
    manufacturer_size = manufacturer_size or None
    if manufacturer_name and len(manufacturer_name) > 200:
        problems.append(Problem("manufacturer_name_too_long", "制造商名称最多200字", field="manufacturer_name",
                                rule=rule))
    if manufacturer_size and manufacturer_size not in SIZE_LABELS:
        problems.append(Problem("manufacturer_size_invalid", "制造商企业规模无效", field="manufacturer_size",
                                rule=rule))
    if manufacturer_size and not manufacturer_name:
        problems.append(Problem("manufacturer_name_required", "填写制造商规模时须同时填写制造商名称",
                                field="manufacturer_name", rule=rule))
    if manufacturer_name and not manufacturer_size:
        problems.append(Problem("manufacturer_size_required",
                                "货物类声明须说明制造商的企业规模（货物须由中小企业制造方可享受扶持政策）",
                                field="manufacturer_size", rule=rule))
    if problems:
        raise ServiceError(problems)
    result = sme.classify(industry, staff_v, revenue_v)
    profile = profile_of(org.id, create=True)
    for previous in db.session.scalars(select(SmeDeclaration).where(SmeDeclaration.supplier_id == org.id,
                                                                    SmeDeclaration.is_current.is_(True))):
        previous.is_current = False  # replaced (kept for the record, audited)
    decl = SmeDeclaration(supplier_id=org.id, industry=industry, year=year_v, staff=staff_v, revenue=revenue_v,
                          total_assets=assets_v, size=result.size, manufacturer_name=manufacturer_name,
                          manufacturer_size=manufacturer_size, is_current=True, declared_at=utcnow(),
                          declared_by_id=user.id, explanation=result.explanation[:500])
    db.session.add(decl)
    profile.sme_size = result.size
    db.session.flush()
    refresh_sme_flags(org.id)
    db.session.flush()
    return decl


def size_label(size: str | None) -> str:
    return SIZE_LABELS.get(size or "", "未声明")


def is_sme_size(size: str | None) -> bool:
    return size in SME_SIZES


# --------------------------------------------------------------------------- 特色馆

def apply_pavilion(*, county: str, note: str | None = None, user=None) -> SupplierProfile:
    """Apply for 特色馆 qualification: status becomes 'applied' for the operator to review."""
    user = user or current_user
    org = db.session.get(Organisation, getattr(user, "organisation_id", None)) if getattr(
        user, "is_authenticated", False) else None
    require("pavilion.apply", org, user=user)
    profile = profile_of(org.id, create=True)
    rule = "pavilion.apply"
    county = " ".join((county or "").split())
    note = (note or "").strip() or None
    problems = []
    if not county:
        problems.append(Problem("county_required", "请填写企业注册所在县（区）", field="county", rule=rule))
    elif len(county) > 100:
        problems.append(Problem("county_too_long", "县（区）名称最多100字", field="county", rule=rule))
    if note and len(note) > 500:
        problems.append(Problem("note_too_long", f"申请说明最多500字（填写了{len(note)}字）", field="note", rule=rule))
    if profile.status != "active":
        problems.append(Problem("supplier_suspended", "供应商暂停交易期间不能申请特色馆资格", rule=rule))
    if profile.pavilion_status == "qualified":
        problems.append(Problem("pavilion_already_qualified", "贵公司已具备特色馆资格，无需再次申请", rule=rule))
    elif profile.pavilion_status == "applied":
        problems.append(Problem("pavilion_already_applied", "贵公司的特色馆资格申请正在审核中，请等待交易中心审核结果",
                                rule=rule))
    if problems:
        raise ServiceError(problems)
    profile.pavilion_status = "applied"
    profile.pavilion_county = county
    profile.pavilion_note = note
    db.session.flush()
    return profile


# --------------------------------------------------------------------------- open agreements

def apply_to_agreement(agreement_id: Any, *, note: str | None = None, user=None):
    """Apply to join an open (开放式) framework agreement from the storefront.

    The state change itself is ``catalog.agreements.apply_to_join`` (shared with the API and
    the operator's review): closed or out-of-term agreements and duplicate applications are
    refused there.  A supplier suspended from trading may not apply."""
    from catalog import agreements as agreement_services
    from catalog.models import Agreement

    user = user or current_user
    org = db.session.get(Organisation, getattr(user, "organisation_id", None)) if getattr(
        user, "is_authenticated", False) else None
    require("agreement.apply", org, user=user)
    try:
        agreement = db.session.get(Agreement, int(agreement_id))
    except (TypeError, ValueError):
        agreement = None
    if agreement is None or agreement.status == "draft":
        raise NotFound("框架协议")
    profile = profile_of(org.id)
    if profile is not None and profile.status != "active":
        reason = f"（原因：{profile.status_reason}）" if profile.status_reason else ""
        raise ServiceError(Problem("supplier_suspended", f"供应商已被暂停交易{reason}，暂停期间不能申请加入框架协议",
                                   rule="agreement.open_join"))
    return agreement_services.apply_to_join(agreement, org.id, note)


def my_agreements(supplier_id: int) -> list:
    """The supplier's entrant rows and applications, newest agreements first."""
    from catalog.models import Agreement, AgreementSupplier

    return db.session.scalars(select(AgreementSupplier).join(Agreement)
                              .where(AgreementSupplier.supplier_id == supplier_id)
                              .order_by(Agreement.term_end.desc(), Agreement.id.desc())).all()


def my_agreement_prices(supplier_id: int) -> list:
    from catalog.models import Agreement, AgreementPrice

    return db.session.scalars(select(AgreementPrice).join(Agreement)
                              .where(AgreementPrice.supplier_id == supplier_id)
                              .order_by(Agreement.id.desc(), AgreementPrice.brand, AgreementPrice.model)).all()


def open_agreements_to_join(supplier_id: int) -> list:
    """Open agreements in force today that the supplier is not in (or may re-apply to)."""
    from catalog.models import Agreement, AgreementSupplier

    day = today()
    taken = select(AgreementSupplier.agreement_id).where(
        AgreementSupplier.supplier_id == supplier_id,
        AgreementSupplier.status.in_(("applied", "admitted", "suspended")))
    return db.session.scalars(select(Agreement).where(Agreement.kind == "open", Agreement.status == "active",
                                                      Agreement.term_start <= day, Agreement.term_end >= day,
                                                      Agreement.id.not_in(taken))
                              .order_by(Agreement.term_end)).all()


def admitted_agreements(supplier_id: int) -> list:
    """Agreements in force today to which the supplier is admitted (public on its storefront)."""
    from catalog.models import Agreement, AgreementSupplier

    day = today()
    return db.session.scalars(select(Agreement).join(AgreementSupplier)
                              .where(AgreementSupplier.supplier_id == supplier_id,
                                     AgreementSupplier.status == "admitted", Agreement.status == "active",
                                     Agreement.term_start <= day, Agreement.term_end >= day)
                              .order_by(Agreement.number)).all()
