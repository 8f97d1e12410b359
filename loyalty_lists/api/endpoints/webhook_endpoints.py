"""/api/v1/webhook-endpoints: the merchant's outbound webhook endpoints, their delivery log and replays.

A secret (``whsec_…``) is in the answer of a create and of a rotation only; every other answer shows
its ``secret_hint``."""

from typing import Annotated

from django.core.exceptions import ValidationError
from ninja import Path, Query, Router
from ninja.responses import Status

from loyalty_lists.outbound import endpoints as services
from loyalty_lists.outbound.selectors import deliveries_for_endpoint, endpoint_get, endpoints_for_merchant

from .. import cursors
from ..errors import ApiError
from ..feed_schemas import (
    DeliveryOut,
    DeliveryPage,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointSecretOut,
    FeedCursor,
)
from ..schemas import INT64_MAX
from .common import merchant_id_of, responses

router = Router()
EndpointId = Path(..., ge=1, le=INT64_MAX, description="The endpoint's id.", example=3)
Sequence = Path(..., ge=1, le=INT64_MAX, description="The delivery's sequence number.", example=12)


def _out(endpoint) -> dict:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "list_ids": list(endpoint.list_ids),
        "enabled": endpoint.enabled,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason or None,
        "failing_since": endpoint.failing_since,
        "secret_hint": endpoint.secret_hint + "…",
        "previous_secret_expires_at": endpoint.previous_secret_expires_at
        if endpoint.previous_secret_encrypted
        else None,
        "pending_deliveries": getattr(endpoint, "pending_deliveries", 0),
        "created_at": endpoint.created_at,
    }


def _delivery_out(delivery) -> dict:
    return {
        "sequence": delivery.sequence,
        "message_id": delivery.message_id,
        "status": delivery.status,
        "event_count": delivery.event_count,
        "first_cursor": str(delivery.first_change_id),
        "last_cursor": str(delivery.last_change_id),
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
        "created_at": delivery.created_at,
        "attempt_log": [
            {
                "attempted_at": a.attempted_at,
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "error": a.error or None,
                "response_excerpt": a.response_excerpt,
                "replay": a.replay,
            }
            for a in getattr(delivery, "attempt_list", [])[:10]
        ],
    }


def _endpoint_or_404(request, endpoint_id: int):
    endpoint = endpoint_get(merchant=merchant_id_of(request), endpoint_id=endpoint_id)
    if endpoint is None:
        raise ApiError(404, f"No webhook endpoint with id {endpoint_id}.")
    return endpoint


def _lists_or_404(exc: ValidationError) -> None:
    """An unknown list id is a 404 naming it (as in a lookup); the rest stays a 422."""
    if hasattr(exc, "error_dict") and "list_ids" in exc.message_dict:
        raise ApiError(404, f"list_ids: {' '.join(exc.message_dict['list_ids'])}") from None


@router.get("", response=responses({200: list[EndpointOut]}), summary="Webhook endpoints")
def webhook_endpoints(request):
    return [_out(e) for e in endpoints_for_merchant(merchant=merchant_id_of(request))]


@router.post(
    "", response=responses({201: EndpointSecretOut}, 404, 415, 422), summary="Create a webhook endpoint"
)
def webhook_endpoint_create(request, payload: EndpointIn):
    """Deliveries start with the changes committed after this call (the change feed has the earlier
    ones). The answer holds the signing secret, once."""
    try:
        endpoint, secret = services.endpoint_create(
            merchant=request.auth.merchant,
            url=payload.url,
            event_types=payload.event_types,
            list_ids=payload.list_ids,
            description=payload.description or "",
        )
    except ValidationError as exc:
        _lists_or_404(exc)
        raise
    endpoint = endpoint_get(merchant=endpoint.merchant_id, endpoint_id=endpoint.pk)
    return Status(201, {**_out(endpoint), "secret": secret})


@router.get(
    "/{endpoint_id}", response=responses({200: EndpointOut}, 404, 422), summary="One webhook endpoint"
)
def webhook_endpoint_detail(request, endpoint_id: int = EndpointId):
    return _out(_endpoint_or_404(request, endpoint_id))


@router.patch(
    "/{endpoint_id}",
    response=responses({200: EndpointOut}, 404, 415, 422),
    summary="Change a webhook endpoint",
)
def webhook_endpoint_update(request, payload: EndpointPatch, endpoint_id: int = EndpointId):
    endpoint = _endpoint_or_404(request, endpoint_id)
    changes = payload.model_dump(exclude_unset=True)
    try:
        services.endpoint_update(
            endpoint=endpoint,
            url=changes.get("url"),
            event_types=changes.get("event_types"),
            list_ids=changes.get("list_ids"),
            description=changes.get("description") if "description" in changes else None,
            enabled=changes.get("enabled"),
        )
    except ValidationError as exc:
        _lists_or_404(exc)
        raise
    return _out(_endpoint_or_404(request, endpoint_id))


@router.delete(
    "/{endpoint_id}", response=responses({204: None}, 404, 422), summary="Delete a webhook endpoint"
)
def webhook_endpoint_delete(request, endpoint_id: int = EndpointId):
    services.endpoint_delete(endpoint=_endpoint_or_404(request, endpoint_id))
    return Status(204, None)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response=responses({200: EndpointSecretOut}, 404, 422),
    summary="Rotate the signing secret",
)
def webhook_endpoint_rotate(request, endpoint_id: int = EndpointId):
    """A new secret, in this answer only. The old one keeps signing (a second signature in
    ``webhook-signature``) until ``previous_secret_expires_at``."""
    secret = services.endpoint_secret_rotate(endpoint=_endpoint_or_404(request, endpoint_id))
    return {**_out(_endpoint_or_404(request, endpoint_id)), "secret": secret}


@router.get(
    "/{endpoint_id}/deliveries",
    response=responses({200: DeliveryPage}, 404, 422),
    summary="An endpoint's delivery log, newest first",
)
def webhook_deliveries(
    request,
    endpoint_id: int = EndpointId,
    limit: Annotated[int, Query(ge=1, le=200, description="Deliveries per page (1–200).", example=50)] = 50,
    cursor: Annotated[
        FeedCursor | None, Query(description="The previous page's next_cursor (anything else is a 400).")
    ] = None,
):
    endpoint = _endpoint_or_404(request, endpoint_id)
    deliveries = deliveries_for_endpoint(endpoint=endpoint)
    if cursor is not None:
        deliveries = deliveries.filter(sequence__lt=cursors.number_position(cursor))
    rows = list(deliveries[: limit + 1])
    next_cursor = str(rows[limit - 1].sequence) if len(rows) > limit else None
    return {"items": [_delivery_out(d) for d in rows[:limit]], "next_cursor": next_cursor}


@router.post(
    "/{endpoint_id}/deliveries/{sequence}/replay",
    response=responses({202: DeliveryOut}, 404, 422),
    summary="Send a delivery again",
)
def webhook_delivery_replay(request, endpoint_id: int = EndpointId, sequence: int = Sequence):
    """Queue the delivery again, with the same ``webhook-id`` and body; it goes before the endpoint's
    later pending deliveries. (A disabled endpoint sends it once enabled.)"""
    endpoint = _endpoint_or_404(request, endpoint_id)
    delivery = deliveries_for_endpoint(endpoint=endpoint).filter(sequence=sequence).first()
    if delivery is None:
        raise ApiError(404, f"No delivery {sequence} for webhook endpoint {endpoint_id}.")
    services.delivery_replay(delivery=delivery)
    delivery = deliveries_for_endpoint(endpoint=endpoint).get(pk=delivery.pk)
    return Status(202, _delivery_out(delivery))
