"""What a Smile connection does beyond Smile's documents, found out by asking it (read-only probes),
recorded on the connection (``SmileConnection.capabilities``) and shown on its page.

* ``id_range_cursors``: Smile documents cursors as opaque. Its documented example decodes to
  ``id:2,direction:next``, and a cursor made that way lets a full walk run as equal id ranges in
  parallel (faster than per state, whose largest state bounds the walk). ``id_range_probe`` asks for
  Smile's own first page, then for a made-up cursor in the middle of it: the capability is *verified*
  when the made-up page gives the same customers, in Smile's order, below the bound; any failure (an
  error of any kind, other ids, ids out of order) means *unsupported*, and walks use Smile's own
  cursors, per state. A walk that meets a failing made-up cursor later marks it unsupported too.
* ``vip_tiers``: VIP is a paid-plan feature; ``GET /vip_tiers`` answering 403/404 means the program has
  no VIP tiers for us: member lists work, tier lists are unavailable (said on the pages).
"""

from dataclasses import dataclass

from .errors import SmileAuthError, SmileError
from .types import CustomerPage

ID_RANGE = "id_range_cursors"
VIP_TIERS = "vip_tiers"
VERIFIED, UNSUPPORTED, UNKNOWN = "verified", "unsupported", "unknown"
AVAILABLE, UNAVAILABLE = "available", "unavailable"
PROBE_PAGE = 250
AGREEMENT = 0.9  # share of Smile's own ids the made-up page must show (customers may be deleted meanwhile)


@dataclass(frozen=True)
class Probe:
    verdict: str  # VERIFIED | UNSUPPORTED | UNKNOWN (could not tell: too few customers, Smile failing)
    reason: str
    page: CustomerPage | None  # Smile's own first page (unfiltered), when it was fetched: real data


def id_range_probe(client) -> Probe:
    """Two requests: Smile's own first page, and a made-up cursor in its middle. ``SmileAuthError``
    propagates (the connection's problem); every other failure is an answer."""
    try:
        page = next(client.iter_customer_pages(limit=PROBE_PAGE))
    except SmileAuthError:
        raise
    except SmileError as exc:
        return Probe(UNKNOWN, f"Smile's own first page failed ({exc})", None)
    ids = [c.id for c in page.customers]
    if len(ids) < 3:
        return Probe(UNKNOWN, "too few customers to tell", page)
    middle = len(ids) // 2
    pivot, expected = ids[middle], ids[middle + 1 :]
    try:
        made_up = next(
            client.iter_customer_pages(start_cursor=client.cursor_before(pivot), limit=len(expected))
        )
    except SmileAuthError:
        raise
    except SmileError as exc:
        return Probe(UNSUPPORTED, f"Smile did not take a made-up cursor ({exc})", page)
    got = [c.id for c in made_up.customers]
    if any(i >= pivot for i in got) or got != sorted(got, reverse=True):
        return Probe(
            UNSUPPORTED, "Smile read a made-up cursor differently (ids above it or out of order)", page
        )
    if len(set(expected) & set(got)) < AGREEMENT * len(expected):
        return Probe(UNSUPPORTED, "a made-up cursor did not agree with Smile's own cursor", page)
    return Probe(VERIFIED, "a made-up cursor gave the same customers as Smile's own cursor", page)
