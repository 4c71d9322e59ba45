"""HTTP routes of the e-mail notification subscriptions (projections/notifications/projection.py).

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

- `GET /suppliers/{supplier_id}/notifications`: the subscription, or the defaults with
  `"subscribed": false`;
- `PUT` the same path: subscribe or change (address, statuses, language);
- `DELETE` it: unsubscribe.

A supplier's token manages its own; an admin's any supplier's. The portal's page uses the
same `Subscriptions` (services/application/subscriptions.py).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import Field

from facturier.domain.languages import EMAIL_DEFAULT_LANGUAGE
from facturier.domain.subscriptions import DEFAULT_STATUSES, LANGUAGES, WORDS
from facturier.services.application.fields import Body, Line
from facturier.services.application.subscriptions import subscription_view
from facturier.services.http.dependencies import Caller, SubscriptionsDep
from facturier.services.http.errors import error

SupplierPath = Annotated[str, Path(min_length=1, max_length=40, examples=["73282932000074"])]

router = APIRouter(tags=["notifications"])


class SubscriptionIn(Body):
    email: Line = Field(max_length=254, examples=["compta@durand.example"])
    statuses: list[str] = Field(
        default=list(DEFAULT_STATUSES),
        max_length=len(WORDS),
        description=f"status changes to be told about, among: {', '.join(WORDS)}",
    )
    language: str = Field(
        default=EMAIL_DEFAULT_LANGUAGE.value, description=f"one of {', '.join(LANGUAGES)}"
    )


@router.get("/suppliers/{supplier_id}/notifications")
def get_notifications(
    supplier_id: SupplierPath, caller: Caller, subscriptions: SubscriptionsDep
) -> dict[str, Any]:
    """The supplier's e-mail subscription (defaults when it has none)."""
    return subscription_view(supplier_id, subscriptions.get(caller, supplier_id))


@router.put("/suppliers/{supplier_id}/notifications")
def put_notifications(
    supplier_id: SupplierPath,
    body: SubscriptionIn,
    caller: Caller,
    subscriptions: SubscriptionsDep,
) -> dict[str, Any]:
    """Subscribe (or change): one address, the statuses, the language. Applies to the
    status changes projected from now on."""
    subscription = subscriptions.subscribe(
        caller, supplier_id, body.email, body.statuses, body.language
    )
    return subscription_view(supplier_id, subscription)


@router.delete("/suppliers/{supplier_id}/notifications", status_code=204)
def delete_notifications(
    supplier_id: SupplierPath, caller: Caller, subscriptions: SubscriptionsDep
) -> Response:
    """Unsubscribe: no more e-mails (those already due are still sent)."""
    if not subscriptions.unsubscribe(caller, supplier_id):
        raise error(404, "NOT_FOUND", f"supplier {supplier_id} has no subscription")
    return Response(status_code=204)
