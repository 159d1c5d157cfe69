"""Notifications: in-app notices, and their e-mail sent exactly once through Celery.

Each order transition notifies the other party: one :class:`Notification` row per recipient
organisation, written in the transaction of the transition (``dedup_key`` =
``order-status:<change id>:<org id>``, unique — a repeated signal adds nothing). A new order
notifies its supplier (``order-placed:<order id>:<org id>``); competitions notify the invited
suppliers and the result (``orders.competition``).

The row is also the outbox of its e-mail. ``email_status``: ``pending`` → ``sending`` (claimed)
→ ``sent``; ``none`` when no mail server is configured or the organisation has no e-mail
address; ``failed`` after ``NOTIFY_MAX_ATTEMPTS`` (default 5) attempts. The Celery task
``orders.send_notification_emails`` (run after each commit that created pending rows, and
every minute by beat) sweeps the outbox: it claims a row with a conditional UPDATE committed
before sending, so two workers never send the same row; a worker that crashes after the
claim leaves the row in ``sending`` and it is retried once ``NOTIFY_SENDING_TIMEOUT`` seconds
(default 600) have passed — nothing is lost. The Message-ID is derived from the dedup key, so
even the rare re-send after a crash between the SMTP handover and the ``sent`` mark is the
same message to the receiving mail system.
"""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
import socket
from email.message import EmailMessage
from email.utils import formatdate
from functools import lru_cache

from flask import current_app
from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.orm import Session

from mall.accounts.models import User
from mall.extensions import db
from mall.timeutil import utcnow

from .events import order_placed, order_transitioned
from .models import ORDER_STATUSES, Notification, Order, OrderStatusChange

log = logging.getLogger(__name__)

KIND_ORDER_PLACED = "order.placed"
KIND_ORDER_STATUS = "order.status"
KIND_COMPETITION_INVITE = "competition.invite"
KIND_COMPETITION_RESULT = "competition.result"
KIND_LABELS = {KIND_ORDER_PLACED: "新订单", KIND_ORDER_STATUS: "订单状态", KIND_COMPETITION_INVITE: "竞价邀请",
               KIND_COMPETITION_RESULT: "竞价结果", "order.confirm_reminder": "确认提醒",
               "order.accept_reminder": "验收提醒"}
EMAIL_STATUSES = {"pending": "待发送", "sending": "发送中", "sent": "已发送", "failed": "发送失败", "none": "不发送"}

_NOTIFY_FLAG = "govmall_notify_pending"


def _status_label(status: str | None) -> str:
    return ORDER_STATUSES.get(status or "", status or "—")


def _email_initial_status() -> str:
    return "pending" if current_app.config.get("MAIL_SERVER") else "none"


def add(*, dedup_key: str, recipient_org_id: int, kind: str, title: str, body: str | None = None,
        order_id: int | None = None, competition_id: int | None = None,
        fresh_key: bool = False) -> Notification | None:
    """Add a notice unless one with the same dedup key exists (in the current transaction).

    ``fresh_key``: the key names a row created in this transaction (a new order, a new status
    change), so no committed notice can have it: the lookup is skipped; the unique key still holds."""
    session = db.session()
    with session.no_autoflush:
        pending = next((o for o in session.new if isinstance(o, Notification) and o.dedup_key == dedup_key), None)
    if pending is not None:
        return None
    if not fresh_key and session.scalar(select(Notification.id)
                                        .where(Notification.dedup_key == dedup_key)) is not None:
        return None
    row = Notification(dedup_key=dedup_key[:120], recipient_org_id=recipient_org_id, order_id=order_id,
                       competition_id=competition_id, kind=kind, title=title[:200],
                       body=(body or "")[:2000] or None, email_status=_email_initial_status(), email_attempts=0)
    session.add(row)
    if row.email_status == "pending":
        session.info[_NOTIFY_FLAG] = True
    return row


# --------------------------------------------------------------------------- order events

def recipients_of_change(order: Order, change: OrderStatusChange) -> list[int]:
    """The other party of the actor; both parties when the actor is neither (system, supervisors)."""
    role = change.actor_role
    if role == "buyer":
        return [order.supplier_id]
    if role == "supplier":
        return [order.buyer_unit_id]
    return [order.buyer_unit_id, order.supplier_id]


def notify_order_change(order: Order, change: OrderStatusChange) -> list[Notification]:
    if change.id is None:
        db.session.flush()
    title = f"订单{order.number}：{_status_label(change.from_status)} → {_status_label(change.to_status)}"
    lines = [f"订单编号：{order.number}", f"订单金额：¥{order.total:,.2f}",
             f"状态变更：{_status_label(change.from_status)} → {_status_label(change.to_status)}"]
    if change.note:
        lines.append(f"说明：{change.note}")
    rows = []
    for org_id in recipients_of_change(order, change):
        row = add(dedup_key=f"order-status:{change.id}:{org_id}", recipient_org_id=org_id, kind=KIND_ORDER_STATUS,
                  title=title, body="\n".join(lines), order_id=order.id)
        if row is not None:
            rows.append(row)
    return rows


def notify_order_placed(order: Order, fresh: bool = False) -> Notification | None:
    """``fresh``: the order was inserted in this transaction (no notice can have its key yet)."""
    buyer = order.buyer_unit.name if order.buyer_unit is not None else ""
    lines = [f"订单编号：{order.number}", f"采购单位：{buyer}", f"订单金额：¥{order.total:,.2f}",
             "请在规定时限内确认或拒绝订单。"]
    if order.competition_id:
        lines.insert(1, "来源：二次竞价 / 顺序轮候成交")
    return add(dedup_key=f"order-placed:{order.id}:{order.supplier_id}", recipient_org_id=order.supplier_id,
               kind=KIND_ORDER_PLACED, title=f"新订单{order.number}（¥{order.total:,.2f}）", body="\n".join(lines),
               order_id=order.id, fresh_key=fresh)


def _on_order_placed(order: Order, new: bool = False, **kwargs) -> None:
    # place_order sends new=True: the order was inserted in this very transaction
    notify_order_placed(order, fresh=new)


def _on_order_transitioned(order: Order, change=None, **kwargs) -> None:
    if change is None or change.from_status is None:  # the placing itself is announced by order_placed
        return
    notify_order_change(order, change)


order_placed.connect(_on_order_placed)
order_transitioned.connect(_on_order_transitioned)


# --------------------------------------------------------------------------- in-app reading

def unread_count(org_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.recipient_org_id == org_id, Notification.read_at.is_(None))) or 0


def mark_read(row: Notification, user) -> None:
    from mall.authz import require

    require("notification.read", row, user=user)
    if row.read_at is None:
        row.read_at = utcnow()


def mark_all_read(user) -> int:
    from mall.authz import require

    require("notification.read", None, user=user)
    result = db.session.execute(update(Notification)
                                .where(Notification.recipient_org_id == user.organisation_id,
                                       Notification.read_at.is_(None))
                                .values(read_at=utcnow()))
    return result.rowcount or 0


# --------------------------------------------------------------------------- after-commit dispatch

@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session):
    if not session.info.pop(_NOTIFY_FLAG, False):
        return
    if not current_app.config.get("NOTIFY_EMAIL_ON_COMMIT", True):
        return
    try:
        from .notify_tasks import send_notification_emails

        send_notification_emails.delay()
    except Exception:  # noqa: BLE001 - the beat sweep sends it later; the commit stands
        log.exception("could not queue notification e-mails; the periodic sweep will send them")


@event.listens_for(Session, "before_flush")
def _notice_new_outbox_rows(session, flush_context, instances):
    """Any pending notice (also those written by other modules, e.g. reminders) queues the sweep."""
    if not session.info.get(_NOTIFY_FLAG) and any(
            isinstance(o, Notification) and (o.email_status or "pending") == "pending" for o in session.new):
        session.info[_NOTIFY_FLAG] = True


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session):
    session.info.pop(_NOTIFY_FLAG, None)


# --------------------------------------------------------------------------- e-mail sweep

def _stale_before(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(seconds=int(current_app.config.get("NOTIFY_SENDING_TIMEOUT", 600)))


def _due_condition(t, stale: dt.datetime):
    return or_(t.c.email_status == "pending", and_(t.c.email_status == "sending", t.c.email_claimed_at < stale))


def claim(notification_id: int, now: dt.datetime | None = None) -> dt.datetime | None:
    """Claim one row for sending (its own committed transaction). Returns the claim time, or
    None if another worker holds it or it is already done."""
    now = now or utcnow()
    t = Notification.__table__
    with db.engine.begin() as conn:
        result = conn.execute(update(t).where(t.c.id == notification_id, _due_condition(t, _stale_before(now)))
                              .values(email_status="sending", email_claimed_at=now,
                                      email_attempts=t.c.email_attempts + 1))
    return now if result.rowcount == 1 else None


def _finish(notification_id: int, claimed_at: dt.datetime, **values) -> bool:
    t = Notification.__table__
    with db.engine.begin() as conn:
        result = conn.execute(update(t).where(t.c.id == notification_id, t.c.email_status == "sending",
                                              t.c.email_claimed_at == claimed_at).values(**values))
    return result.rowcount == 1


def recipient_addresses(org_id: int) -> list[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(User.__table__.c.email)
                            .where(User.__table__.c.organisation_id == org_id, User.__table__.c.active.is_(True),
                                   User.__table__.c.email.is_not(None), User.__table__.c.email != "")
                            .order_by(User.__table__.c.id)).scalars().all()
    seen, out = set(), []
    for address in rows:
        a = address.strip()
        if a and "@" in a and a.lower() not in seen:
            seen.add(a.lower())
            out.append(a)
    return out


def build_message(row, addresses: list[str]) -> EmailMessage:
    cfg = current_app.config
    msg = EmailMessage()
    msg["From"] = cfg.get("MAIL_SENDER") or "noreply@govmall.local"
    msg["To"] = ", ".join(addresses)
    msg["Subject"] = f"【政府采购网上商城】{row.title}"
    msg["Date"] = formatdate(localtime=False)
    safe = "".join(ch if ch.isalnum() or ch in "-." else "." for ch in row.dedup_key)
    msg["Message-ID"] = f"<{safe}@govmall>"
    base = (cfg.get("PUBLIC_BASE_URL") or "").rstrip("/")
    link = ""
    if row.order_id:
        link = f"\n\n查看订单：{base}/orders/{row.order_id}"
    elif row.competition_id:
        link = f"\n\n查看竞价：{base}/competitions/{row.competition_id}"
    msg.set_content(f"{row.title}\n\n{row.body or ''}{link}\n\n—— 政府采购网上商城（系统邮件，请勿直接回复）")
    return msg


@lru_cache(maxsize=1)
def _local_hostname() -> str:
    return socket.getfqdn()  # looked up once: a reverse lookup per connection costs ~10 ms


class Mailer:
    """One SMTP connection for a whole sweep, opened on first use, reopened after a failure."""

    def __init__(self):
        self.smtp: smtplib.SMTP | None = None

    def send(self, msg: EmailMessage) -> None:
        cfg = current_app.config
        if self.smtp is None:
            smtp = smtplib.SMTP(cfg["MAIL_SERVER"], int(cfg.get("MAIL_PORT") or 25),
                                local_hostname=cfg.get("MAIL_LOCAL_HOSTNAME") or _local_hostname(),
                                timeout=float(cfg.get("MAIL_TIMEOUT", 30)))
            try:
                if cfg.get("MAIL_USE_TLS"):
                    smtp.starttls()
                if cfg.get("MAIL_USERNAME"):
                    smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
            except Exception:
                smtp.close()
                raise
            self.smtp = smtp
        try:
            self.smtp.send_message(msg)
        except Exception:
            self.close()  # a broken session is not reused
            raise

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def send_one(notification_id: int, claimed_at: dt.datetime, mailer: Mailer | None = None) -> str:
    """Send a claimed row; returns its new e-mail status."""
    cfg = current_app.config
    t = Notification.__table__
    with db.engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.id == notification_id)).first()
    if row is None:
        return "missing"
    if not cfg.get("MAIL_SERVER"):
        _finish(notification_id, claimed_at, email_status="none", email_error="未配置邮件服务器（MAIL_SERVER）")
        return "none"
    addresses = recipient_addresses(row.recipient_org_id)
    if not addresses:
        _finish(notification_id, claimed_at, email_status="none", email_error="接收单位没有登记电子邮箱")
        return "none"
    own = mailer is None
    mailer = mailer or Mailer()
    try:
        mailer.send(build_message(row, addresses))
    except (smtplib.SMTPException, OSError) as exc:
        max_attempts = int(cfg.get("NOTIFY_MAX_ATTEMPTS", 5))
        status = "failed" if row.email_attempts >= max_attempts else "pending"
        _finish(notification_id, claimed_at, email_status=status, email_error=f"{type(exc).__name__}: {exc}"[:500])
        log.warning("notification %s e-mail attempt %s failed: %s", notification_id, row.email_attempts, exc)
        return status
    finally:
        if own:
            mailer.close()
    _finish(notification_id, claimed_at, email_status="sent", email_sent_at=utcnow(), email_error=None)
    return "sent"


def sweep_emails(limit: int = 200) -> dict:
    """Send due e-mails: pending rows, and rows stuck in 'sending' past the timeout."""
    now = utcnow()
    t = Notification.__table__
    with db.engine.connect() as conn:
        ids = conn.execute(select(t.c.id).where(_due_condition(t, _stale_before(now)))
                           .order_by(t.c.id).limit(limit)).scalars().all()
    counts = {"claimed": 0, "sent": 0, "none": 0, "pending": 0, "failed": 0, "skipped": 0}
    mailer = Mailer()
    try:
        for notification_id in ids:
            claimed_at = claim(notification_id, now)
            if claimed_at is None:
                counts["skipped"] += 1
                continue
            counts["claimed"] += 1
            status = send_one(notification_id, claimed_at, mailer)
            counts[status] = counts.get(status, 0) + 1
    finally:
        mailer.close()
    return counts
