"""POST /api/v1/lookups: one email against every list a workflow needs, in one call (the hot path)."""

from ninja import Router

from loyalty_lists.lists.selectors import lists_as_of, lists_for_merchant

from ..errors import ApiError
from ..schemas import LookupIn, LookupOut
from .common import LIST_FIELDS, list_answers, merchant_id_of, responses

router = Router()


@router.post("", response=responses({200: LookupOut}, 404, 415, 422), summary="Look an email up in lists")
def lookup(request, payload: LookupIn):
    """For each requested list (every list of the merchant when ``list_ids`` is omitted, in name order;
    otherwise in the order given): ``member``, the matching ``items`` (several when Smile customers share
    the email, ordered by Smile customer id), ``stale``, and for non-members ``reason_code`` / ``reason``.
    An unknown list id (or another merchant's) is a 404 naming it."""
    merchant_id = merchant_id_of(request)
    wanted = None if payload.list_ids is None else list(dict.fromkeys(payload.list_ids))
    lists = (
        []
        if wanted == []
        else list(lists_for_merchant(merchant=merchant_id, ids=wanted, with_as_of=True).only(*LIST_FIELDS))
    )
    if wanted:
        by_id = {lst.pk: lst for lst in lists}
        missing = [str(i) for i in wanted if i not in by_id]
        if missing:
            raise ApiError(404, f"No list with id {', '.join(missing)}.")
        lists = [by_id[i] for i in wanted]
    return {
        "email": payload.email,
        "as_of": lists[0].as_of if lists else lists_as_of(merchant_id=merchant_id),
        "results": list_answers(merchant_id=merchant_id, email=payload.email, lists=lists),
    }
