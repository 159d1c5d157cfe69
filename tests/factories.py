"""Object factories for tests: realistic, valid objects with as few arguments as possible.

Every function adds to ``db.session`` and commits, so the objects are visible to requests
made afterwards with the test client.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from mall.accounts.models import ApiToken, Organisation, User
from mall.accounts import uscc
from mall.extensions import db
from mall.timeutil import today

PASSWORD = "Passw0rd!"
_seq = itertools.count(1)


def next_uscc(kind_digit: str = "9") -> str:
    n = next(_seq)
    # registration authority + type + region 350100 + 9-char org code
    return uscc.make(f"{kind_digit}1350100" + f"{n:09d}")


def org(kind="budget_unit", name=None, **kw) -> Organisation:
    n = next(_seq)
    o = Organisation(kind=kind, name=name or f"测试单位{n}", uscc=kw.pop("uscc", None) or next_uscc(), **kw)
    db.session.add(o)
    db.session.commit()
    return o


def user(role="buyer", organisation=None, username=None, password=PASSWORD, **kw) -> User:
    kind = {"buyer": "budget_unit", "supplier": "supplier", "auditor": "finance_bureau",
            "operator": "trading_center"}[role]
    if organisation is None:
        organisation = supplier_org() if role == "supplier" else org(kind)
    u = User(username=username or f"{role}{next(_seq)}", display_name=kw.pop("display_name", "测试用户"),
             role=role, organisation_id=organisation.id, **kw)
    u.set_password(password)
    db.session.add(u)
    db.session.commit()
    return u


def supplier_org(name=None, sme_size="small", status="active", pavilion_status="none", **kw) -> Organisation:
    from suppliers.models import SupplierProfile

    o = org("supplier", name=name or f"测试供应商{next(_seq)}有限公司", **kw)
    db.session.add(SupplierProfile(organisation_id=o.id, status=status, sme_size=sme_size,
                                   pavilion_status=pavilion_status,
                                   pavilion_county="甘肃省临夏州东乡族自治县" if pavilion_status == "qualified" else None))
    db.session.commit()
    return o


def token(u: User, name="test") -> str:
    _, t = ApiToken.issue(u, name)
    db.session.commit()
    return t


def policy(name="2025年版", effective_from=dt.date(2025, 1, 1), effective_to=None, central=(
        ("A02010105", None), ("A02010108", None), ("A02021000", None), ("A02010104", None),
        ("A02020400", Decimal("50000"))), **kw):
    from catalog.models import CentralizedItem, PolicyVersion

    p = PolicyVersion(name=name, effective_from=effective_from, effective_to=effective_to, status="published",
                      decentralized_threshold_goods=kw.pop("decentralized_threshold_goods", Decimal("1000000")),
                      decentralized_threshold_services=Decimal("1000000"),
                      decentralized_threshold_works=Decimal("1200000"),
                      open_tender_threshold_goods=Decimal("2000000"),
                      open_tender_threshold_services=Decimal("2000000"),
                      open_tender_threshold_works=Decimal("4000000"),
                      direct_purchase_limit=kw.pop("direct_purchase_limit", Decimal("200000")),
                      sme_price_deduction=Decimal("0.10"), **kw)
    for code, amount in central:
        p.items.append(CentralizedItem(category_code=code, min_amount=amount))
    db.session.add(p)
    db.session.commit()
    return p


def agreement(categories=("A02010105",), suppliers=(), status="active", kind="closed", subject="goods",
              second_stage="direct", term_start=None, term_end=None, number=None, prices=()):
    """prices: iterable of (supplier_org, brand, model, max_price, category_code?)."""
    from catalog.models import Agreement, AgreementCategory, AgreementPrice, AgreementSupplier

    start = term_start or (today() - dt.timedelta(days=30))
    a = Agreement(number=number or f"FA-2025-{next(_seq):04d}", title="测试框架协议", kind=kind,
                  subject=subject, zone_code="central", second_stage=second_stage, status=status,
                  term_start=start, term_end=term_end or (start + dt.timedelta(days=360)))
    for c in categories:
        a.categories.append(AgreementCategory(category_code=c))
    for s in suppliers:
        a.entrants.append(AgreementSupplier(supplier_id=s.id, status="admitted"))
    for row in prices:
        s, brand, model, max_price = row[:4]
        code = row[4] if len(row) > 4 else categories[0]
        a.prices.append(AgreementPrice(supplier_id=s.id, brand=brand, model=model, max_price=Decimal(max_price),
                                       category_code=code))
    db.session.add(a)
    db.session.commit()
    return a


def solicitation(category_code="A05010201", title=None):
    from catalog.models import Solicitation

    s = Solicitation(category_code=category_code, title=title or "办公桌公开征集", valid_from=dt.date(2025, 1, 1),
                     status="open")
    db.session.add(s)
    db.session.commit()
    return s


def product(supplier, zone="self", category_code="A05010201", price="1200.00", stock=50, status="listed",
            title=None, brand="震旦", model=None, agreement_price=None, **kw):
    from catalog.models import Product
    from suppliers.models import SupplierProfile

    prof = db.session.get(SupplierProfile, supplier.id)
    p = Product(supplier_id=supplier.id, zone_code=zone, category_code=category_code,
                title=title or f"{brand} 办公桌 {next(_seq)}", brand=brand, model=model or f"M{next(_seq)}",
                price=Decimal(price), market_price=kw.pop("market_price", Decimal(price) * Decimal("1.1")),
                stock=stock, status=status, agreement_price_id=agreement_price.id if agreement_price else None,
                is_sme=bool(prof and prof.is_sme), specs=kw.pop("specs", {"材质": "钢木"}), **kw)
    db.session.add(p)
    db.session.commit()
    return p


def budget_line(unit, amount="500000.00", year=None, project_code=None):
    from orders.models import BudgetLine

    b = BudgetLine(unit_id=unit.id, year=year or today().year, project_code=project_code or f"P{next(_seq):05d}",
                   project_name="日常办公设备购置", economic_class="31002", economic_class_name="办公设备购置",
                   amount=Decimal(amount))
    db.session.add(b)
    db.session.commit()
    return b
