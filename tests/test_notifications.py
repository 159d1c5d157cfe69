"""Notifications: one per recipient organisation in the transition's transaction, read in-app,
e-mailed exactly once through the Celery sweep (a fake SMTP server records what arrives)."""
from __future__ import annotations

import datetime as dt
import email
import socketserver
import threading
from email.policy import default as default_policy

import pytest
from sqlalchemy import select, update

from mall.extensions import db
from mall.problems import Problem, ServiceError
from mall.timeutil import utcnow
from tests.conftest import bearer
from tests.payments_localstripe import OrderWorld, fast_passwords  # noqa: F401


# --------------------------------------------------------------------------- a fake SMTP server

class _SMTPHandler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        box = self.server.box
        self._say("220 fake.smtp ready")
        envelope = {"from": None, "to": []}
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 fake.smtp")
            elif verb == "MAIL":
                envelope = {"from": line.split(":", 1)[1].strip(), "to": []}
                self._say("250 OK")
            elif verb == "RCPT":
                envelope["to"].append(line.split(":", 1)[1].strip().strip("<>"))
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 end with .")
                data = []
                while True:
                    chunk = self.rfile.readline()
                    if chunk in (b".\r\n", b".\n", b""):
                        break
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                if box.fail_next > 0:
                    box.fail_next -= 1
                    self._say("451 temporary local problem")
                else:
                    box.messages.append({**envelope, "message": email.message_from_bytes(b"".join(data),
                                                                                         policy=default_policy)})
                    self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 OK")


class MailBox:
    def __init__(self):
        self.messages: list[dict] = []
        self.fail_next = 0


@pytest.fixture
def smtp(app, monkeypatch):
    box = MailBox()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.box = box
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", server.server_address[1])
    monkeypatch.setitem(app.config, "NOTIFY_EMAIL_ON_COMMIT", False)  # tests sweep explicitly unless stated
    yield box
    server.shutdown()
    server.server_close()


@pytest.fixture
def world(make):
    return OrderWorld(make)


def notes(**where):
    from orders.models import Notification

    db.session.expire_all()
    q = select(Notification).order_by(Notification.id)
    for k, v in where.items():
        q = q.where(getattr(Notification, k) == v)
    return db.session.scalars(q).all()


# --------------------------------------------------------------------------- who is notified

def test_new_order_notifies_the_supplier_and_each_transition_the_other_party(world):
    order = world.place()
    placed = notes(order_id=order.id)
    assert [(n.kind, n.recipient_org_id) for n in placed] == [("order.placed", world.supplier.id)]
    assert order.number in placed[0].title and "¥14,399.97" in placed[0].title

    world.move(order, ("confirmed", world.supplier_user, None))   # the supplier acts → the buyer hears
    change = [c for c in order.history if c.to_status == "confirmed"][0]
    rows = notes(kind="order.status")
    assert [(r.recipient_org_id, r.dedup_key) for r in rows] == [
        (world.unit.id, f"order-status:{change.id}:{world.unit.id}")]
    assert "已提交 → 供应商已确认" in rows[0].title

    world.move(order, ("cancelled", world.buyer, "预算调整，取消采购"))  # the buyer acts → the supplier hears
    last = notes(kind="order.status")[-1]
    assert last.recipient_org_id == world.supplier.id and "预算调整" in last.body


def test_system_transitions_notify_both_parties(world):
    from orders import services

    order = world.place()
    services.transition(order.id, "cancelled", system=True, note="供应商逾期未确认，系统自动取消")
    db.session.commit()
    rows = notes(kind="order.status")
    assert sorted(r.recipient_org_id for r in rows) == sorted([world.unit.id, world.supplier.id])


def test_notice_is_part_of_the_transition_transaction_and_never_doubled(world):
    from orders.events import order_transitioned
    from orders.models import Order, OrderStatusChange

    order = world.place()

    def refuse(order, change=None, **kw):
        raise ServiceError(Problem("refused", "模拟拒绝"))

    order_transitioned.connect(refuse)
    try:
        with pytest.raises(ServiceError):
            from orders import services

            services.transition(order.id, "confirmed", user=world.supplier_user)
        db.session.rollback()
    finally:
        order_transitioned.disconnect(refuse)
    assert notes(kind="order.status") == []   # the refused transition left no notice

    world.move(order, ("confirmed", world.supplier_user, None))
    order = db.session.get(Order, order.id)
    change = db.session.scalars(select(OrderStatusChange).where(OrderStatusChange.to_status == "confirmed")).one()
    order_transitioned.send(order, change=change)    # the same change announced twice
    db.session.commit()
    assert len(notes(kind="order.status")) == 1


# --------------------------------------------------------------------------- in-app

def test_notifications_page_unread_count_and_mark_read(client, auth, make, world):
    order = world.place()
    world.move(order, ("confirmed", world.supplier_user, None), ("shipped", world.supplier_user, None))
    auth.login(world.buyer.username)
    html = client.get("/notifications").get_data(as_text=True)
    assert 'id="unread-count">2<' in html and order.number in html
    home = client.get("/").get_data(as_text=True)
    assert 'id="nav-notifications"' in home and ">2</span>" in home

    first = notes(recipient_org_id=world.unit.id)[0]
    resp = client.post(f"/notifications/{first.id}/read", data={"open": "1"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/orders/{order.id}")
    assert notes(id=first.id)[0].read_at is not None
    assert 'id="unread-count">1<' in client.get("/notifications").get_data(as_text=True)

    # another organisation's user cannot touch it
    other = notes(recipient_org_id=world.supplier.id)[0]
    assert client.post(f"/notifications/{other.id}/read").status_code == 403
    assert notes(id=other.id)[0].read_at is None

    client.post("/notifications/read-all")
    assert all(n.read_at for n in notes(recipient_org_id=world.unit.id))
    api = client.get("/api/v1/notifications", headers=bearer(world.buyer_token)).get_json()
    assert api["unread"] == 0 and api["total"] == 2
    sup = client.get("/api/v1/notifications?unread=true", headers=bearer(world.supplier_token)).get_json()
    assert sup["unread"] == 1 and sup["items"][0]["kind"] == "order.placed"


# --------------------------------------------------------------------------- e-mail

def test_sweep_sends_each_pending_email_once(world, smtp):
    from orders.notify_tasks import send_notification_emails

    order = world.place()
    row = notes(order_id=order.id)[0]
    assert row.email_status == "pending"
    result = send_notification_emails.delay().get()
    assert result["sent"] == 1
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert msg["to"] == ["sales@lianxin.example"]
    assert order.number in msg["message"]["Subject"] and "【政府采购网上商城】" in msg["message"]["Subject"]
    assert f"/orders/{order.id}" in msg["message"].get_content()
    row = notes(id=row.id)[0]
    assert row.email_status == "sent" and row.email_attempts == 1 and row.email_sent_at is not None
    assert send_notification_emails.delay().get()["claimed"] == 0
    assert len(smtp.messages) == 1


def test_email_after_commit_through_celery(app, world, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFY_EMAIL_ON_COMMIT", True)
    order = world.place()                    # the commit queues the task (run eagerly here)
    assert [m["to"] for m in smtp.messages] == [["sales@lianxin.example"]]
    world.move(order, ("confirmed", world.supplier_user, None))
    assert smtp.messages[-1]["to"] == ["caigou@edu.fz.example"]
    assert {n.email_status for n in notes()} == {"sent"}


def test_a_crash_after_the_claim_is_retried_after_the_timeout_never_twice(app, world, smtp):
    from orders import notifications

    order = world.place()
    row = notes(order_id=order.id)[0]
    # worker A claims the row and dies before sending
    assert notifications.claim(row.id) is not None
    assert notifications.claim(row.id) is None            # nobody else may take it meanwhile
    assert notifications.sweep_emails()["claimed"] == 0
    assert smtp.messages == [] and notes(id=row.id)[0].email_status == "sending"
    # past the timeout the row is due again
    timeout = app.config.get("NOTIFY_SENDING_TIMEOUT", 600)
    with db.engine.begin() as conn:
        from orders.models import Notification

        conn.execute(update(Notification.__table__).where(Notification.__table__.c.id == row.id)
                     .values(email_claimed_at=utcnow() - dt.timedelta(seconds=timeout + 1)))
    assert notifications.sweep_emails()["sent"] == 1
    assert len(smtp.messages) == 1 and notes(id=row.id)[0].email_attempts == 2
    assert notifications.sweep_emails()["claimed"] == 0 and len(smtp.messages) == 1


def test_smtp_failure_keeps_the_row_pending_then_fails_after_max_attempts(app, world, smtp, monkeypatch):
    from orders import notifications

    order = world.place()
    row = notes(order_id=order.id)[0]
    smtp.fail_next = 1
    assert notifications.sweep_emails()["pending"] == 1
    row = notes(id=row.id)[0]
    assert row.email_status == "pending" and "451" in row.email_error and row.email_attempts == 1
    assert notifications.sweep_emails()["sent"] == 1 and len(smtp.messages) == 1

    monkeypatch.setitem(app.config, "NOTIFY_MAX_ATTEMPTS", 2)
    world.move(order, ("confirmed", world.supplier_user, None))
    smtp.fail_next = 5
    notifications.sweep_emails()
    assert notifications.sweep_emails()["failed"] == 1
    last = notes(kind="order.status")[0]
    assert last.email_status == "failed" and last.email_attempts == 2
    assert notifications.sweep_emails()["claimed"] == 0


def test_without_mail_server_nothing_is_sent_and_rows_say_so(app, world, monkeypatch):
    from orders import notifications
    from orders.models import Notification

    assert not app.config.get("MAIL_SERVER")
    order = world.place()
    assert notes(order_id=order.id)[0].email_status == "none"
    # a pending row written elsewhere (e.g. a reminder) is closed as 'none' by the sweep ...
    monkeypatch.setitem(app.config, "NOTIFY_EMAIL_ON_COMMIT", False)
    db.session.add(Notification(dedup_key="order-reminder:confirm:x", recipient_org_id=world.supplier.id,
                                kind="order.confirm_reminder", title="请及时确认订单"))
    db.session.commit()
    assert notes(dedup_key="order-reminder:confirm:x")[0].email_status == "pending"
    assert notifications.sweep_emails()["none"] == 1
    assert notes(dedup_key="order-reminder:confirm:x")[0].email_status == "none"
    # ... which the commit itself queues (Celery, eager here)
    monkeypatch.setitem(app.config, "NOTIFY_EMAIL_ON_COMMIT", True)
    db.session.add(Notification(dedup_key="order-reminder:accept:y", recipient_org_id=world.unit.id,
                                kind="order.accept_reminder", title="请及时验收订单"))
    db.session.commit()
    row = notes(dedup_key="order-reminder:accept:y")[0]
    assert row.email_status == "none" and "MAIL_SERVER" in row.email_error


def test_recipient_without_email_is_marked_none(world, smtp, make):
    from mall.accounts.models import User

    db.session.execute(update(User).where(User.organisation_id == world.supplier.id).values(email=None))
    db.session.commit()
    order = world.place()
    from orders import notifications

    assert notifications.sweep_emails()["none"] == 1
    row = notes(order_id=order.id)[0]
    assert row.email_status == "none" and "没有登记电子邮箱" in row.email_error
    assert smtp.messages == []
