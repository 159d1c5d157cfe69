"""Archives (档案): an order's whole timeline and the archive package (zip).

The package holds ``index.html`` — readable, rendered from a template, self-contained (inline
CSS, no external assets) — and the JSON records: ``orders/<number>.json`` per order (order,
lines, status history, payments, flags, queries, loans and the audit records with their
hashes) and ``manifest.json`` (scope, who exported it, the audit chain head and the SHA-256 of
every file), so a recipient can check the records against the live chain
(``flask --app mall audit verify``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile

from flask import render_template
from flask_login import current_user
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from mall import audit
from mall.audit import AuditChainHead, AuditRecord, jsonable, snapshot
from mall.authz import require
from mall.extensions import db
from mall.problems import Problem, ServiceError
from mall.timeutil import LOCAL_TZ, as_utc, utcnow
from orders.models import PAYMENT_METHODS, Order, RiskFlag

from .filters import local_day_start
from .models import LoanApplication, Query

MAX_ORDERS_PER_PACKAGE = 2000
PAYMENT_STATUSES = {"authorized": "已授权", "captured": "已扣款", "canceled": "已撤销", "refunded": "已退款",
                    "failed": "失败", "instructed": "已发送支付指令", "paid": "已支付"}


def parts(order: Order) -> dict:
    """An order's flags, queries and loan applications (read once per order)."""
    return {"flags": _flags(order), "queries": _queries(order), "loans": _loans(order)}


def related_objects(order: Order, p: dict | None = None) -> dict[str, list[str]]:
    """The audited objects that make up an order's record, by audit object type."""
    p = p or parts(order)
    payments = getattr(order, "payments", []) or []
    return {
        "order": [str(order.id)],
        "order_line": [str(line.id) for line in order.lines],
        "payment": [str(x.id) for x in payments],
        "risk_flag": [str(f.id) for f in p["flags"]],
        "supervision_query": [str(q.id) for q in p["queries"]],
        "loan_application": [str(x.id) for x in p["loans"]],
    }


def _flags(order):
    return db.session.scalars(select(RiskFlag).where(RiskFlag.order_id == order.id).order_by(RiskFlag.id)).all()


def _queries(order):
    return db.session.scalars(select(Query).where(Query.order_id == order.id).order_by(Query.id)).all()


def _loans(order):
    return db.session.scalars(select(LoanApplication).where(LoanApplication.order_id == order.id)
                              .order_by(LoanApplication.id)).all()


def audit_records(order: Order, p: dict | None = None) -> list[AuditRecord]:
    conditions = [and_(AuditRecord.object_type == t, AuditRecord.object_id.in_(ids))
                  for t, ids in related_objects(order, p).items() if ids]
    return db.session.scalars(select(AuditRecord).where(or_(*conditions)).order_by(AuditRecord.seq)).all()


def timeline(order: Order, p: dict | None = None) -> list[dict]:
    """What happened to the order, oldest first: status changes, flags, queries, payments, loans."""
    p = p or parts(order)
    events = []
    for h in order.history:
        events.append({"at": as_utc(h.created_at), "kind": "status",
                       "title": f"状态：{_status(h.from_status)} → {_status(h.to_status)}",
                       "who": h.actor_role, "note": h.note})
    for pay in getattr(order, "payments", []) or []:
        events.append({"at": as_utc(pay.created_at), "kind": "payment",
                       "title": f"支付：{PAYMENT_METHODS.get(pay.method, pay.method)} "
                                f"{PAYMENT_STATUSES.get(pay.status, pay.status)} ¥{pay.amount:,.2f}",
                       "who": None, "note": pay.failure_message})
    for f in p["flags"]:
        events.append({"at": as_utc(f.created_at), "kind": "flag", "title": f"风险预警：{f.kind_label}",
                       "who": "系统" if f.source == "scan" else "下单校验", "note": f.message})
        if f.cleared_at:
            events.append({"at": as_utc(f.cleared_at), "kind": "flag", "title": f"核销预警：{f.kind_label}",
                           "who": "监管人员", "note": f.cleared_reason})
    for q in p["queries"]:
        events.append({"at": as_utc(q.asked_at), "kind": "query", "title": f"问询{q.party_label}",
                       "who": q.asked_by.display_name if q.asked_by else None, "note": q.question})
        if q.answered_at:
            events.append({"at": as_utc(q.answered_at), "kind": "query", "title": f"{q.party_label}答复问询",
                           "who": q.answered_by.display_name if q.answered_by else None, "note": q.answer})
        if q.closed_at:
            events.append({"at": as_utc(q.closed_at), "kind": "query", "title": "问询办结",
                           "who": q.closed_by.display_name if q.closed_by else None, "note": q.close_note})
    for x in p["loans"]:
        events.append({"at": as_utc(x.applied_at), "kind": "loan", "title": f"申请政采贷 ¥{x.amount}（{x.bank.name}）",
                       "who": None, "note": x.applicant_note})
        if x.decided_at:
            events.append({"at": as_utc(x.decided_at), "kind": "loan", "title": f"银行审批：{x.status_label}",
                           "who": x.bank.name, "note": x.note})
    events.sort(key=lambda e: e["at"] or utcnow())
    return events


def _status(s):
    from orders.models import ORDER_STATUSES

    return ORDER_STATUSES.get(s, s or "—")


def record_of(order: Order, p: dict | None = None) -> dict:
    """The JSON record of one order (every column, as the audit trail would show it)."""
    p = p or parts(order)
    records = audit_records(order, p)
    return jsonable({
        "order": snapshot(order),
        "buyer_unit": {"id": order.buyer_unit_id, "name": order.buyer_unit.name, "uscc": order.buyer_unit.uscc},
        "supplier": {"id": order.supplier_id, "name": order.supplier.name, "uscc": order.supplier.uscc},
        "lines": [snapshot(line) for line in order.lines],
        "history": [snapshot(h) for h in order.history],
        "payments": [snapshot(p) for p in getattr(order, "payments", []) or []],
        "risk_flags": [snapshot(f) for f in p["flags"]],
        "queries": [snapshot(q) for q in p["queries"]],
        "loan_applications": [snapshot(x) for x in p["loans"]],
        "audit_records": [{k: getattr(r, k) for k in ("seq", "occurred_at", "actor_id", "actor_name", "actor_role",
                                                      "action", "object_type", "object_id", "before", "after",
                                                      "note", "request_id", "prev_hash", "hash")}
                          for r in records],
    })


def orders_for_scope(order_ref: str | None = None, start: dt.date | None = None,
                     end: dt.date | None = None) -> tuple[list[Order], str]:
    """The orders of one package: one order (by id or number) or a period of placement dates."""
    q = select(Order).options(selectinload(Order.lines), selectinload(Order.history), selectinload(Order.payments),
                              selectinload(Order.buyer_unit), selectinload(Order.supplier))
    if order_ref:
        ref = str(order_ref).strip()
        cond = Order.number == ref
        if ref.isdigit() and len(ref) < 10:
            cond = or_(cond, Order.id == int(ref))
        orders = db.session.scalars(q.where(cond)).all()
        if not orders:
            raise ServiceError(Problem("order_not_found", f"订单“{ref}”不存在", field="order"), status=404)
        return orders[:1], f"订单{orders[0].number}"
    if start is None or end is None:
        raise ServiceError(Problem("archive_scope_required", "请指定订单（order）或时间范围（from 和 to）",
                                   field="order"))
    if end < start:
        raise ServiceError(Problem("period_end_before_start", f"截止日期{end}早于开始日期{start}", field="to"))
    q = q.where(Order.placed_at >= local_day_start(start), Order.placed_at < local_day_start(end + dt.timedelta(days=1)))
    orders = db.session.scalars(q.order_by(Order.placed_at, Order.id).limit(MAX_ORDERS_PER_PACKAGE + 1)).all()
    if len(orders) > MAX_ORDERS_PER_PACKAGE:
        raise ServiceError(Problem(
            "archive_too_large", f"{start}至{end}的订单超过{MAX_ORDERS_PER_PACKAGE}笔，请缩小时间范围后分批导出",
            field="from", figures={"limit": MAX_ORDERS_PER_PACKAGE}))
    return orders, f"{start}至{end}下单的订单"


def build_package(orders: list[Order], scope: str) -> bytes:
    """The zip archive package of the orders (caller checked ``audit.read``)."""
    require("audit.read")
    now = utcnow()
    head = db.session.get(AuditChainHead, 1)
    entries = []
    for o in orders:
        p = parts(o)
        entries.append({"order": o, "record": record_of(o, p), "timeline": timeline(o, p), **p})
    records = {e["order"].number: e["record"] for e in entries}
    html = render_template("supervision/archive_package.html", entries=entries, scope=scope,
                           generated_at=now.astimezone(LOCAL_TZ), generated_by=current_user,
                           head=head)
    files: dict[str, bytes] = {"index.html": html.encode("utf-8")}
    for number, rec in records.items():
        files[f"orders/{number}.json"] = json.dumps(rec, ensure_ascii=False, indent=2).encode("utf-8")
    manifest = {
        "scope": scope, "generated_at": now.isoformat(),
        "generated_by": {"id": current_user.id, "username": current_user.username, "role": current_user.role},
        "orders": [o.number for o in orders],
        "audit_chain_head": {"seq": head.seq, "hash": head.hash} if head else None,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        "verify": "flask --app mall audit verify",
    }
    files["manifest.json"] = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    audit.record("archive.export", "archive", None, after={"scope": scope, "orders": len(orders)},
                 note=f"导出档案包：{scope}")
    return buf.getvalue()


def package_name(scope_orders: list[Order], start=None, end=None) -> str:
    if start and end:
        return f"govmall-archive-{start}-{end}.zip"
    return f"govmall-archive-{scope_orders[0].number}.zip"
