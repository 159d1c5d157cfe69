"""The audit trail (数字见证): every state change, who made it, before and after.

Models that set ``__audited__ = True`` are watched by an ``after_flush`` hook: each insert,
update and delete becomes an :class:`AuditRecord` in the same transaction as the change,
with the changed columns before and after, the acting user and role, and the request id.
Services add semantic records (``record(...)``), e.g. an order transition with its note.

The log is append-only and hash chained: each record stores the SHA-256 of its own content
and of its predecessor; the chain head row is locked while appending, so the chain follows
commit order on PostgreSQL.  ``flask --app mall audit verify`` recomputes the chain and
reports the first record that was edited or removed.
"""
from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import json
from typing import Any, Optional

from flask import g, has_request_context, request
from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, event, inspect, insert, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .extensions import db
from .timeutil import as_utc, utcnow

GENESIS = "0" * 64


class AuditRecord(db.Model):
    __tablename__ = "audit_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor_id: Mapped[Optional[int]] = mapped_column(Integer, index=True)
    actor_name: Mapped[Optional[str]] = mapped_column(String(100))
    actor_role: Mapped[Optional[str]] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[Optional[str]] = mapped_column(String(40))
    before: Mapped[Optional[dict]] = mapped_column(JSON)
    after: Mapped[Optional[dict]] = mapped_column(JSON)
    note: Mapped[Optional[str]] = mapped_column(String(1000))
    request_id: Mapped[Optional[str]] = mapped_column(String(64))
    ip: Mapped[Optional[str]] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (db.Index("ix_audit_object", "object_type", "object_id"),)


class AuditChainHead(db.Model):
    """Single row holding the last sequence number and hash (locked while appending)."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)


# --------------------------------------------------------------------------- helpers

def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return str(value)


def canonical(fields: dict) -> str:
    return json.dumps(jsonable(fields), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()


HASHED_FIELDS = ("seq", "occurred_at", "actor_id", "actor_name", "actor_role", "action", "object_type",
                 "object_id", "before", "after", "note", "request_id")


def _hashable(row: dict) -> dict:
    out = {k: row.get(k) for k in HASHED_FIELDS}
    occurred = out["occurred_at"]
    if isinstance(occurred, dt.datetime):
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=dt.timezone.utc)
        out["occurred_at"] = occurred.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return out


def current_actor() -> dict:
    """Who is acting: the signed-in user in a request, else the system (CLI, Celery)."""
    actor = getattr(g, "audit_actor", None) if _has_g() else None
    if actor is not None:
        return actor
    if has_request_context():
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            return {"actor_id": current_user.id, "actor_name": current_user.username,
                    "actor_role": current_user.role}
        return {"actor_id": None, "actor_name": "anonymous", "actor_role": "anonymous"}
    return {"actor_id": None, "actor_name": "system", "actor_role": "system"}


def _has_g() -> bool:
    from flask import has_app_context

    return has_app_context()


def _request_info() -> dict:
    if has_request_context():
        return {"request_id": g.get("request_id"), "ip": request.remote_addr}
    return {"request_id": getattr(g, "request_id", None) if _has_g() else None, "ip": None}


def _object_type(obj) -> str:
    return getattr(obj, "__audit_name__", None) or obj.__tablename__


def _pk(obj) -> Optional[str]:
    state = inspect(obj)
    ident = state.identity
    if not ident:
        # a row inserted in this flush has no identity key yet (after_flush), but its primary
        # key values are already set: creates must name their object too
        ident = state.mapper.primary_key_from_instance(obj)
        if not ident or all(i is None for i in ident):
            return None
    return ",".join(str(i) for i in ident)


def snapshot(obj) -> dict:
    exclude = getattr(obj, "__audit_exclude__", set())
    state = inspect(obj)
    return {attr.key: jsonable(getattr(obj, attr.key)) for attr in state.mapper.column_attrs
            if attr.key not in exclude}


def _diff(obj) -> tuple[dict, dict]:
    exclude = getattr(obj, "__audit_exclude__", set())
    state = inspect(obj)
    before, after = {}, {}
    for attr in state.mapper.column_attrs:
        if attr.key in exclude:
            continue
        hist = state.attrs[attr.key].history
        if hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if jsonable(old) == jsonable(new):
                continue
            before[attr.key] = jsonable(old)
            after[attr.key] = jsonable(new)
    return before, after


# --------------------------------------------------------------------------- appending

def _pending(session: Session) -> list:
    return session.info.setdefault("audit_pending", [])


def record(action: str, object_type: str, object_id: Any = None, *, before: dict | None = None,
           after: dict | None = None, note: str | None = None, session: Session | None = None) -> None:
    """Queue a semantic audit record; it joins the hash chain when the transaction commits."""
    session = session or db.session
    if hasattr(session, "registry"):  # a scoped_session: the current thread's Session
        session = session()
    if not session.in_transaction():
        session.connection()  # bind the record to a transaction, so a rollback drops it
    _pending(session).append(_stamp({
        "action": action, "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "before": jsonable(before) if before else None, "after": jsonable(after) if after else None,
        "note": note[:1000] if note else None,
    }))


def _collect(session: Session) -> list[dict]:
    rows = []
    if session.info.get("audit_disabled"):
        return rows
    for obj in session.new:
        if getattr(obj, "__audited__", False):
            rows.append({"action": f"{_object_type(obj)}.create", "object_type": _object_type(obj),
                         "object_id": _pk(obj), "before": None, "after": snapshot(obj), "note": None})
    for obj in session.dirty:
        if getattr(obj, "__audited__", False) and session.is_modified(obj, include_collections=False):
            before, after = _diff(obj)
            if after:
                rows.append({"action": f"{_object_type(obj)}.update", "object_type": _object_type(obj),
                             "object_id": _pk(obj), "before": before, "after": after, "note": None})
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            rows.append({"action": f"{_object_type(obj)}.delete", "object_type": _object_type(obj),
                         "object_id": _pk(obj), "before": snapshot(obj), "after": None, "note": None})
    return rows


def append(connection, rows: list[dict]) -> None:
    """Append rows to the hash chain on ``connection`` (inside the caller's transaction)."""
    if not rows:
        return
    head_t = AuditChainHead.__table__
    rec_t = AuditRecord.__table__
    stmt = select(head_t.c.seq, head_t.c.hash).where(head_t.c.id == 1)
    if connection.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    head = connection.execute(stmt).first()
    if head is None:
        connection.execute(insert(head_t).values(id=1, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = head.seq, head.hash
    values = []
    for row in rows:
        seq += 1
        full = {**_stamp({}), **row, "seq": seq}
        full["hash"] = content_hash(prev, _hashable(full))
        full["prev_hash"] = prev
        prev = full["hash"]
        values.append(full)
    if connection.dialect.name == "postgresql":
        # one round trip, one statement text whatever the number of records: they travel as one
        # JSON array and are inserted by a data-modifying WITH of the head's update
        connection.execute(_PG_APPEND, {"rows": json.dumps(values, default=_json_default), "seq": seq,
                                        "hash": prev})
    else:
        connection.execute(insert(rec_t), values)
        connection.execute(update(head_t).where(head_t.c.id == 1).values(seq=seq, hash=prev))


_RECORD_COLUMNS = ", ".join(c.name for c in AuditRecord.__table__.columns if c.name != "id")
_PG_APPEND = text(
    f"WITH appended AS (INSERT INTO audit_record ({_RECORD_COLUMNS}) SELECT {_RECORD_COLUMNS} "
    f"FROM json_populate_recordset(NULL::audit_record, CAST(:rows AS json))) "
    f"UPDATE audit_chain_head SET seq = :seq, hash = :hash WHERE id = 1")


def _json_default(value):
    if isinstance(value, dt.datetime):
        # with its offset (naive means UTC, as in _hashable): timestamptz keeps the instant
        return as_utc(value).isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _stamp(row: dict) -> dict:
    """Who, from which request and when: taken when the change is recorded, not at commit."""
    return {**current_actor(), **_request_info(), "occurred_at": utcnow(), **row}


def _current_tx(session: Session):
    return session.get_nested_transaction() or session.get_transaction()


def _after_flush(session: Session, flush_context) -> None:
    """Collect the records of this flush (ids are known, history still holds the changes);
    they are appended to the chain once, just before the commit."""
    if session.info.get("audit_disabled"):
        session.info.pop("audit_pending", None)
        return
    rows = [_stamp(r) for r in _collect(session)] + session.info.pop("audit_pending", [])
    if rows:
        tx = _current_tx(session)
        session.info.setdefault("audit_rows", []).extend((tx, row) for row in rows)


def _before_commit(session: Session) -> None:
    """Append everything the transaction recorded to the hash chain in one go. The chain head
    is locked only from here to the commit, so concurrent transactions wait for each other as
    briefly as possible, and the chain follows commit order."""
    session.flush()
    pending = session.info.pop("audit_pending", [])
    rows = [row for _, row in session.info.pop("audit_rows", [])] + pending
    if rows and not session.info.get("audit_disabled"):
        append(session.connection(), rows)


def _after_rollback(session: Session, previous_transaction=None) -> None:
    """Records of a rolled-back transaction (or savepoint) never reach a later one."""
    session.info.pop("audit_pending", None)
    if previous_transaction is None:
        session.info.pop("audit_rows", None)
        return

    def inside(tx) -> bool:
        while tx is not None:
            if tx is previous_transaction:
                return True
            tx = tx.parent
        return False

    kept = [(tx, row) for tx, row in session.info.get("audit_rows", []) if not inside(tx)]
    session.info["audit_rows"] = kept


def _noop_set(target, value, oldvalue, initiator):
    return value


def _load_old_values() -> None:
    """Make audited columns load their old value before a set, so an update of an attribute
    expired by an earlier commit still records what it was ("before" is never empty)."""
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        if not getattr(cls, "__audited__", False):
            continue
        for attr in mapper.column_attrs:
            instrumented = getattr(cls, attr.key)
            if not event.contains(instrumented, "set", _noop_set):
                event.listen(instrumented, "set", _noop_set, active_history=True, retval=True)


def init_app(app) -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
    _load_old_values()


# --------------------------------------------------------------------------- verification

def verify(session: Session, batch: int = 5000) -> dict:
    """Recompute the chain. Returns {"ok": bool, "checked": n, "first_bad": {...} | None}."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    while True:
        rows = session.execute(select(AuditRecord).where(AuditRecord.seq >= expected_seq)
                               .order_by(AuditRecord.seq).limit(batch)).scalars().all()
        if not rows:
            break
        for r in rows:
            if r.seq != expected_seq:
                return {"ok": False, "checked": checked,
                        "first_bad": {"seq": expected_seq, "problem": "missing",
                                      "message": f"第{expected_seq}条记录缺失（已被删除）"}}
            fields = {k: getattr(r, k) for k in HASHED_FIELDS}
            if r.prev_hash != prev:
                return {"ok": False, "checked": checked,
                        "first_bad": {"seq": r.seq, "id": r.id, "problem": "broken_link",
                                      "message": f"第{r.seq}条记录的前序哈希不符（前一条被篡改或删除）"}}
            if content_hash(prev, _hashable(fields)) != r.hash:
                return {"ok": False, "checked": checked,
                        "first_bad": {"seq": r.seq, "id": r.id, "problem": "edited",
                                      "message": f"第{r.seq}条记录内容被修改（{r.action} {r.object_type}#{r.object_id}）"}}
            prev = r.hash
            expected_seq += 1
            checked += 1
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.seq != checked or head.hash != prev):
        return {"ok": False, "checked": checked,
                "first_bad": {"seq": checked + 1, "problem": "truncated",
                              "message": f"链尾记录缺失：链头登记{head.seq}条，实际{checked}条"}}
    return {"ok": True, "checked": checked, "first_bad": None}
