"""Open data: an OCDS 1.1.5 release package of the mall's call-off orders.

Every order confirmed by its supplier is one contracting process:

- ``ocid`` = ``<OCDS_PREFIX>-<order number>``. The default prefix ``ocds-govmall`` is a
  placeholder: a publisher must register its own prefix with the Open Contracting Partnership
  (https://standard.open-contracting.org/latest/en/schema/identifiers/) and set
  ``GOVMALL_OCDS_PREFIX`` before publishing in production.
- ``parties``: the buyer unit (role ``buyer``, and ``payer`` once paid) and the supplier (role
  ``supplier``, ``payee`` once paid), identified by their 统一社会信用代码 in the org-id.guide scheme
  ``CN-SAIC`` (State Administration for Industry and Commerce, now SAMR — the register that
  issues the 18-character unified social credit code). The supplier's enterprise size is
  published as ``details.scale`` (``micro``; ``sme`` for small and medium; ``large``), the
  OCDS partyScale codes.
- ``tender``: the second stage of the framework agreement (``limited`` for direct selection,
  ``selective`` for a mini-competition among entrants), ``awards`` and ``contracts`` with the
  items: each item's ``classification`` uses the custom scheme ``CN-PINMU`` — the 政府采购品目
  分类目录 (2022) code and name — and values are in ``CNY``. Payments are contract
  ``implementation.transactions``.
- ``relatedProcesses``: ``[{"relationship": ["framework"], "scheme": "ocid", "identifier":
  "<prefix>-agreement-<agreement number>"}]`` points to the framework agreement (the first stage).

Orders are selected by placement date (local, Asia/Shanghai). ``tests/test_ocds.py`` validates
the output with the official validator (libcoveocds) against the 1.1.5 schema.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import selectinload

from catalog import pinmu
from catalog.models import Agreement, SECOND_STAGE
from mall.timeutil import LOCAL_TZ, as_utc, utcnow
from mall.extensions import db
from orders.models import Order, OrderStatusChange
from suppliers.models import SupplierProfile

from .filters import local_day_start
from .settings import setting

SCALES = {"micro": "micro", "small": "sme", "medium": "sme", "large": "large"}
IDENTIFIER_SCHEME = "CN-SAIC"
CLASSIFICATION_SCHEME = "CN-PINMU"
PAID_PAYMENT_STATUSES = ("captured", "paid")


def ocid_of(number: str) -> str:
    return f"{setting('OCDS_PREFIX')}-{number}"


def agreement_ocid(agreement: Agreement) -> str:
    return f"{setting('OCDS_PREFIX')}-agreement-{agreement.number}"


def _iso(value) -> str | None:
    if value is None:
        return None
    return as_utc(value).astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def _amount(value) -> float | int:
    d = Decimal(value or 0).quantize(Decimal("0.01"))
    return int(d) if d == d.to_integral_value() else float(d)


def _value(amount) -> dict:
    return {"amount": _amount(amount), "currency": "CNY"}


def _party_id(org) -> str:
    return f"{IDENTIFIER_SCHEME}-{org.uscc}"


def _party(org, roles: list[str], scale: str | None = None) -> dict:
    party = {"id": _party_id(org), "name": org.name,
             "identifier": {"scheme": IDENTIFIER_SCHEME, "id": org.uscc, "legalName": org.name},
             "roles": roles}
    address = {k: v for k, v in (("streetAddress", org.address), ("region", org.region_name),
                                 ("countryName", "中国")) if v}
    party["address"] = address
    contact = {k: v for k, v in (("name", org.contact_name), ("telephone", org.contact_phone)) if v}
    if contact:
        party["contactPoint"] = contact
    if scale:
        party["details"] = {"scale": scale}
    return party


def _category(codes: list[str]) -> str:
    kinds = {c[:1] for c in codes}
    return {"A": "goods", "B": "works", "C": "services"}.get(kinds.pop(), "goods") if len(kinds) == 1 else "goods"


def release(order: Order, agreement: Agreement | None, profile: SupplierProfile | None) -> dict:
    """One release: the current state of the order's contracting process."""
    confirmed = next((h.created_at for h in order.history if h.to_status == "confirmed"), None)
    last_change = max([as_utc(h.created_at) for h in order.history] + [as_utc(order.placed_at)])
    ocid = ocid_of(order.number)
    items = []
    for line in order.lines:
        description = " ".join(x for x in (line.title, line.brand, line.model) if x)
        items.append({"id": str(line.id), "description": description,
                      "classification": {"scheme": CLASSIFICATION_SCHEME, "id": line.category_code,
                                         "description": pinmu.name_of(line.category_code)},
                      "quantity": line.quantity,
                      "unit": {"name": line.unit, "value": _value(line.unit_price)}})
    payments = [p for p in (getattr(order, "payments", None) or []) if p.status in PAID_PAYMENT_STATUSES]
    cancelled = order.status in ("cancelled", "rejected")
    scale = SCALES.get(profile.sme_size) if profile and profile.sme_size else ("sme" if order.is_sme else None)
    buyer_roles = ["buyer"] + (["payer"] if payments else [])
    supplier_roles = ["supplier"] + (["payee"] if payments else [])
    parties = [_party(order.buyer_unit, buyer_roles), _party(order.supplier, supplier_roles, scale)]
    buyer_ref = {"id": _party_id(order.buyer_unit), "name": order.buyer_unit.name}
    supplier_ref = {"id": _party_id(order.supplier), "name": order.supplier.name}
    competition = bool(getattr(order, "competition_id", None))
    stage = (agreement.second_stage if agreement is not None else None) or ("competition" if competition else "direct")
    if competition:
        stage = "competition"
    first_line = order.lines[0].title if order.lines else "商品"
    title = f"{order.buyer_unit.name}网上商城采购：{first_line}" + (f"等{len(order.lines)}项" if len(order.lines) > 1 else "")
    if cancelled:
        contract_status = "cancelled"
    elif order.status in ("paid", "archived"):
        contract_status = "terminated"
    else:
        contract_status = "active"
    contract = {"id": f"{order.number}-contract", "awardID": f"{order.number}-award", "title": title,
                "status": contract_status, "value": _value(order.total), "items": items,
                "dateSigned": _iso(confirmed)}
    if payments:
        contract["implementation"] = {"transactions": [
            {"id": str(p.id), "date": _iso(getattr(p, "settled_at", None) or p.updated_at or p.created_at),
             "value": _value(p.amount), "payer": buyer_ref, "payee": supplier_ref} for p in payments]}
    data = {
        "ocid": ocid,
        "id": f"{order.number}-{order.status}-{last_change.strftime('%Y%m%d%H%M%S')}",
        "date": _iso(last_change),
        "tag": ["awardCancellation", "contractTermination"] if cancelled else (
            ["award", "contract"] + (["implementation"] if payments else [])),
        "initiationType": "tender",
        "language": "zh",
        "parties": parties,
        "buyer": buyer_ref,
        "tender": {
            "id": order.number, "title": title, "status": "complete",
            "procurementMethod": "selective" if stage == "competition" else "limited",
            "procurementMethodDetails": f"框架协议采购第二阶段：{SECOND_STAGE.get(stage, stage)}",
            "mainProcurementCategory": _category([line.category_code for line in order.lines] or ["A"]),
            "value": _value(order.reference_total),
            "items": items,
        },
        "awards": [{"id": f"{order.number}-award", "title": title,
                    "status": "cancelled" if cancelled else "active", "date": _iso(confirmed),
                    "value": _value(order.total), "suppliers": [supplier_ref], "items": items}],
        "contracts": [contract],
    }
    if agreement is not None:
        data["relatedProcesses"] = [{"id": "1", "relationship": ["framework"], "title": agreement.title,
                                     "scheme": "ocid", "identifier": agreement_ocid(agreement)}]
    return data


def orders_query(start: dt.date | None = None, end: dt.date | None = None):
    """Orders published as contracting processes: confirmed by the supplier at some point."""
    confirmed = exists(select(OrderStatusChange.id).where(OrderStatusChange.order_id == Order.id,
                                                          OrderStatusChange.to_status == "confirmed"))
    q = select(Order).where(or_(confirmed, Order.status.in_(("confirmed", "shipped", "delivered", "accepted",
                                                             "paid", "archived"))))
    if start is not None:
        q = q.where(Order.placed_at >= local_day_start(start))
    if end is not None:
        q = q.where(Order.placed_at < local_day_start(end + dt.timedelta(days=1)))
    return q


def count(start=None, end=None) -> int:
    return db.session.scalar(select(func.count()).select_from(orders_query(start, end).subquery())) or 0


def releases(start=None, end=None, offset: int = 0, limit: int | None = None) -> list[dict]:
    q = (orders_query(start, end).order_by(Order.placed_at, Order.id)
         .options(selectinload(Order.lines), selectinload(Order.history), selectinload(Order.buyer_unit),
                  selectinload(Order.supplier), selectinload(Order.payments)))
    if offset:
        q = q.offset(offset)
    if limit:
        q = q.limit(limit)
    orders = db.session.scalars(q).all()
    agreement_ids = {o.agreement_id for o in orders if o.agreement_id}
    agreements = {a.id: a for a in db.session.scalars(select(Agreement).where(Agreement.id.in_(agreement_ids)))} \
        if agreement_ids else {}
    supplier_ids = {o.supplier_id for o in orders}
    profiles = {p.organisation_id: p for p in db.session.scalars(
        select(SupplierProfile).where(SupplierProfile.organisation_id.in_(supplier_ids)))} if supplier_ids else {}
    return [release(o, agreements.get(o.agreement_id), profiles.get(o.supplier_id)) for o in orders]


def all_releases(start=None, end=None, batch: int = 1000) -> list[dict]:
    """Every release of the period, built in batches that are dropped from the session (CLI export)."""
    out: list[dict] = []
    offset = 0
    while True:
        chunk = releases(start, end, offset=offset, limit=batch)
        out.extend(chunk)
        db.session.expunge_all()
        if len(chunk) < batch:
            return out
        offset += batch


def package(release_list: list[dict], uri: str, policy_uri: str | None = None) -> dict:
    base = setting("PUBLIC_BASE_URL").rstrip("/")
    return {
        "uri": uri,
        "version": "1.1",
        "publishedDate": utcnow().astimezone(LOCAL_TZ).isoformat(timespec="seconds"),
        "publisher": {"name": setting("OCDS_PUBLISHER_NAME"), "uri": base + "/public/"},
        "license": setting("OCDS_LICENSE"),
        "publicationPolicy": policy_uri or base + "/public/open-data",
        "releases": release_list,
    }
