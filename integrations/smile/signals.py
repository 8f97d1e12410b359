"""What the Smile integration announces. The lists domain listens (receivers in ``lists/apps.py``);
this package never imports it.

``connection_established(merchant)``: a merchant just connected (OAuth or API key), after commit.
``customer_updated(merchant_id, smile_customer_id, smile_updated_at)``: a verified webhook says this
customer changed (``smile_updated_at``: the webhook's ``updated_at``, or None). Receivers answer what
they did with it (``"queued"``, ``"coalesced"``, ``"known"``).
"""

from django.dispatch import Signal

connection_established = Signal()
customer_updated = Signal()
