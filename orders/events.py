"""Order events (blinker signals), sent inside the transaction of the change.

Receivers (payments, notifications) do their database work in the same transaction, so a
crash loses or duplicates nothing; a receiver may raise ServiceError to refuse the change
(e.g. a declined card at submission). Outside effects (e-mail, gateway calls that can be
retried) go through Celery after commit.

- ``order_authorizing.send(ref, payment_method_id=...)`` while an order is being placed, after its
  rules passed and before the products are locked (``ref``: id, number, placed_at, total,
  payment_method): a receiver may hold the money (the card) and return the hold; it may raise
  ServiceError to refuse. Slow outside calls belong here, not under the product locks.
- ``order_not_placed.send(ref, hold=...)`` when placing fails after a hold was taken (a rule
  refused on the locked rows, a savepoint rolled back): the receiver releases the hold at once.
- ``order_placed.send(order, new=True, hold=...)`` after an order and its
  lines are flushed (status submitted); ``new`` says the order was inserted in this transaction
  (a re-announcement omits it); ``hold`` is what ``order_authorizing`` returned.
- ``order_transitioned.send(order, change=OrderStatusChange)`` after each status change.
"""
from blinker import Namespace

_signals = Namespace()

order_authorizing = _signals.signal("order-authorizing")
order_not_placed = _signals.signal("order-not-placed")
order_placed = _signals.signal("order-placed")
order_transitioned = _signals.signal("order-transitioned")
