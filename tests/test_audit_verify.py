"""The digital witness (数字见证): every state change is recorded automatically, and
``flask --app mall audit verify`` finds the first record edited or removed with raw SQL."""
from __future__ import annotations


from sqlalchemy import func, select, text

from mall.audit import AuditRecord
from mall.extensions import db
from tests.supervision_helpers import order


def test_state_changing_models_are_audited():
    from catalog.models import (Agreement, AgreementCategory, AgreementPrice, AgreementSupplier, CentralizedItem,
                                PolicyVersion, Product, Solicitation, Zone)
    from mall.accounts.models import ApiToken, Organisation, User
    from orders.models import BudgetLine, Order, OrderLine, Payment, RiskFlag
    from suppliers.models import SmeDeclaration, SupplierProfile
    from supervision.models import EnforcementAction, LoanApplication, PartnerBank, Query

    for model in (User, Organisation, ApiToken, PolicyVersion, CentralizedItem, Zone, Solicitation, Agreement,
                  AgreementCategory, AgreementSupplier, AgreementPrice, Product, SupplierProfile, SmeDeclaration,
                  BudgetLine, Order, OrderLine, Payment, RiskFlag, Query, EnforcementAction, PartnerBank,
                  LoanApplication):
        assert getattr(model, "__audited__", False) is True, model.__name__
    # secrets never enter the trail
    assert "password_hash" in User.__audit_exclude__ and "token_hash" in ApiToken.__audit_exclude__


def _chain(make):
    """A few orders and changes: a chain of some dozens of records."""
    a = order(make, number="GM-V1")
    b = order(make, number="GM-V2", status="paid")
    assert a.status == "confirmed"  # loaded, as a service loads what it changes
    a.status = "shipped"
    db.session.commit()
    return a, b


def test_changes_are_recorded_with_before_after_and_create_ids(make):
    a, _ = _chain(make)
    create = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "order.create",
                                                          AuditRecord.object_id == str(a.id))).one()
    assert create.after["number"] == "GM-V1" and create.after["id"] == a.id
    totals = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "order.update",
                                                          AuditRecord.object_id == str(a.id))
                                .order_by(AuditRecord.seq)).first()
    assert totals.after["total"] == "10000.00" and float(totals.before["total"]) == 0
    update = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "order.update",
                                                          AuditRecord.object_id == str(a.id))
                                .order_by(AuditRecord.seq.desc())).first()
    assert update.before == {"status": "confirmed"} and update.after == {"status": "shipped"}
    assert update.actor_name == "system"


def test_intact_chain_passes(make, runner):
    _chain(make)
    result = runner.invoke(args=["audit", "verify"])
    n = db.session.scalar(select(func.count()).select_from(AuditRecord))
    assert result.exit_code == 0, result.output
    assert f"OK: {n} records, chain intact" in result.output


def _json(value: str) -> str:
    return "CAST(:v AS JSON)" if db.engine.dialect.name == "postgresql" else ":v"


def test_an_edited_record_is_named(make, runner):
    a, _ = _chain(make)
    target = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "order.update",
                                                          AuditRecord.object_id == str(a.id))
                                .order_by(AuditRecord.seq.desc())).first()
    seq = target.seq
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_record SET after = {_json('v')} WHERE seq = :s"),
                     {"v": '{"status": "paid"}', "s": seq})
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert f"seq={seq}" in result.output and "problem=edited" in result.output
    assert f"第{seq}条记录内容被修改（order.update order#{a.id}）" in result.output
    assert f"{seq - 1} records verified before it" in result.output


def test_an_edited_note_or_actor_is_found_too(make, runner):
    _chain(make)
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_record SET actor_name = 'someone-else' WHERE seq = 3"))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0 and "seq=3" in result.output and "problem=edited" in result.output


def test_a_deleted_record_is_named(make, runner):
    _chain(make)
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_record WHERE seq = 5"))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert "seq=5" in result.output and "problem=missing" in result.output and "第5条记录缺失" in result.output


def test_a_rehashed_record_breaks_the_next_link(make, runner):
    """Editing a record and recomputing its own hash is caught by its successor's prev_hash."""
    from mall.audit import HASHED_FIELDS, _hashable, content_hash

    _chain(make)
    rec = db.session.scalars(select(AuditRecord).where(AuditRecord.seq == 4)).one()
    fields = {k: getattr(rec, k) for k in HASHED_FIELDS}
    fields["note"] = "篡改"
    forged = content_hash(rec.prev_hash, _hashable(fields))
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_record SET note = :n, hash = :h WHERE seq = 4"), {"n": "篡改", "h": forged})
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0 and "seq=5" in result.output and "problem=broken_link" in result.output


def test_removing_the_newest_records_is_caught(make, runner):
    _chain(make)
    last = db.session.scalar(select(func.max(AuditRecord.seq)))
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_record WHERE seq = :s"), {"s": last})
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0 and "problem=truncated" in result.output and f"链头登记{last}条" in result.output
