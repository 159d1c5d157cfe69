"""Order events (blinker signals), sent inside the transaction of the change.

Receivers (payments, notifications) do their database work in the same transaction, so a
crash loses or duplicates nothing; a receiver may raise ServiceError to refuse the change
(e.g. a declined card at submission). Outside effects (e-mail, gateway calls that can be
retried) go through Celery after commit.

- ``order_placed.send(order, new=True)`` after an order and its lines are flushed (status submitted);
  ``new`` says the order was inserted in this transaction (a re-announcement omits it).
- ``order_transitioned.send(order, change=OrderStatusChange)`` after each status change.
"""
from blinker import Namespace

_signals = Namespace()

order_placed = _signals.signal("order-placed")
order_transitioned = _signals.signal("order-transitioned")
