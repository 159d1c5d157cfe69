def test_before_recorded_after_expiry(ctx, make):
    from mall.extensions import db
    from mall.audit import AuditRecord
    s = make.supplier_org(); p = make.product(s, price="100.00")
    db.session.commit()  # expire everything
    p.price = __import__("decimal").Decimal("90.00"); db.session.commit()
    rec = db.session.query(AuditRecord).filter_by(action="product.update").order_by(AuditRecord.id.desc()).first()
    assert rec.before["price"] == "100.00" and rec.after["price"] == "90.00"


def test_semantic_record_of_a_rolled_back_transaction_is_dropped(ctx, make):
    from mall import audit
    from mall.audit import AuditRecord
    from mall.extensions import db

    audit.record("order.transition", "order", 1, note="never happened")
    db.session.rollback()
    make.org("budget_unit")  # a later, committed transaction
    assert db.session.query(AuditRecord).filter_by(action="order.transition").count() == 0
