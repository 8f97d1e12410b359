"""What the lists domain announces (the outbound side listens: ``loyalty_lists/outbound/apps.py``; this
package never imports it).

``changes_recorded(merchant_id, list_events)``: a transaction that wrote rows of the merchant's change
feed (``ListChange``) committed. ``list_events`` is True when some were list events (stale, recovered,
held, approved, discarded, deleted), which alerts care about. Sent after commit, at most once per
transaction and merchant.
"""

from django.dispatch import Signal

changes_recorded = Signal()
