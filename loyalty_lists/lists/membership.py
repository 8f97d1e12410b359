"""The membership rules — written down once (DESIGN.md, "Membership rules").

| audience               | who is in                                                   |
|------------------------|-------------------------------------------------------------|
| all_members            | ``state == "member"``                                       |
| members_and_candidates | ``state in ("member", "candidate")``                         |
| vip_tier               | ``vip_tier_id == list's tier`` and state is not ``disabled`` |

and for every audience: a shopper without an email (None, "", blanks) is never in a list; disabled
shoppers are in no list. Emails are compared with ``email_normalize`` (trimmed, case-folded).

Two forms of the same rules, tested to agree (``tests/lists/test_membership.py``):
* ``evaluate`` / ``is_member``: a pure function on anything with ``email``, ``state`` and
  ``vip_tier_id`` (a ``CustomerData`` from the client or a ``SmileCustomer`` snapshot row); ``evaluate``
  also says *why* (``explain`` and the pages use it).
* ``membership_q``: the same rule as a ``Q`` on ``SmileCustomer`` (whose email is stored normalised),
  used by the set-based publish.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db.models import Q

from .models import Audience, CustomerState

MEMBER = CustomerState.MEMBER.value
CANDIDATE = CustomerState.CANDIDATE.value
DISABLED = CustomerState.DISABLED.value

_STATES_BY_AUDIENCE = {
    Audience.ALL_MEMBERS: (MEMBER,),
    Audience.MEMBERS_AND_CANDIDATES: (MEMBER, CANDIDATE),
}


_email_validator = EmailValidator()


def email_normalize(email: str | None) -> str:
    """The one rule for comparing emails everywhere (sync, API, pages): trimmed, case-folded.

    Returns "" for a missing email; callers treat "" as "no email" (never in any list).
    """
    if not email:
        return ""
    return email.strip().lower()


def email_valid(email: str | None) -> bool:
    """The one rule for an email a person or a workflow asks about (pages and API): after
    ``email_normalize``, an address Django's ``EmailValidator`` accepts."""
    normalized = email_normalize(email)
    if not normalized:
        return False
    try:
        _email_validator(normalized)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Verdict:
    member: bool
    code: str  # "member" | "no_email" | "disabled" | "candidate" | "other_tier" | "state"
    text: str


def evaluate(audience: str, tier_id: int | None, customer) -> Verdict:
    """Is ``customer`` in a list with this audience (and tier)? And why (not)?"""
    if not email_normalize(customer.email):
        return Verdict(False, "no_email", "Smile has no email for this shopper; lists match on email.")
    state = customer.state
    if state == DISABLED:
        return Verdict(
            False,
            "disabled",
            "The shopper is disabled (excluded) in Smile; disabled shoppers are in no list.",
        )
    if audience == Audience.VIP_TIER:
        if tier_id is not None and customer.vip_tier_id == tier_id:
            return Verdict(True, "member", "The shopper is in the list's VIP tier.")
        if customer.vip_tier_id is None:
            return Verdict(False, "other_tier", "The shopper is in no VIP tier.")
        return Verdict(False, "other_tier", f"The shopper is in another VIP tier (#{customer.vip_tier_id}).")
    states = _STATES_BY_AUDIENCE.get(audience)
    if states is None:
        raise ValueError(f"Unknown audience {audience!r}")
    if state in states:
        return Verdict(True, "member", f"The shopper's Smile state is {state!r}.")
    if state == CANDIDATE:
        return Verdict(False, "candidate", "The shopper is a candidate; this list holds members only.")
    return Verdict(False, "state", f"The shopper's Smile state {state!r} is not in this list's audience.")


def is_member(audience: str, tier_id: int | None, customer) -> bool:
    return evaluate(audience, tier_id, customer).member


def membership_q(audience: str, tier_id: int | None) -> Q:
    """``is_member`` as a filter on ``SmileCustomer`` rows (email already normalised, never NULL)."""
    has_email = ~Q(email="")
    if audience == Audience.VIP_TIER:
        if tier_id is None:
            return Q(pk__in=[])
        return has_email & Q(vip_tier_id=tier_id) & ~Q(state=DISABLED)
    states = _STATES_BY_AUDIENCE.get(audience)
    if states is None:
        raise ValueError(f"Unknown audience {audience!r}")
    return has_email & Q(state__in=list(states))


def describe(audience: str, tier_name: str | None = None) -> str:
    """The rule in words, for pages and the API."""
    if audience == Audience.ALL_MEMBERS:
        return "Shoppers whose Smile state is member, with an email."
    if audience == Audience.MEMBERS_AND_CANDIDATES:
        return "Shoppers whose Smile state is member or candidate, with an email."
    tier = f"the VIP tier {tier_name}" if tier_name else "the list's VIP tier"
    return f"Shoppers in {tier} who are not disabled, with an email."
