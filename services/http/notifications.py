"""HTTP routes of the e-mail notification subscriptions (projections/notifications/projection.py).

(No `from __future__ import annotations`: FastAPI reads the local `Caller` annotation.)

- `GET /suppliers/{supplier_id}/notifications`: the subscription, or the defaults with
  `"subscribed": false`;
- `PUT` the same path: subscribe or change (address, statuses, language);
- `DELETE` it: unsubscribe.

A supplier's token manages its own; an admin's any supplier's. The portal's page
(`/portal/notifications`, services/portal/pages.py) uses the same `Subscriptions`.
"""

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from psycopg_pool import ConnectionPool
from pydantic import Field

from facturier.adapters.postgres import apply_schema
from facturier.config.settings import Settings
from facturier.projections.notifications.projection import (
    DEFAULT_STATUSES,
    LANGUAGES,
    WORDS,
    InvalidSubscription,
    Subscription,
    delete_subscription,
    fetch_subscription,
    save_subscription,
)
from facturier.services.application.fields import Body, Line
from facturier.services.http.auth import ApiRole, Principal
from facturier.services.http.responses import error

SupplierPath = Annotated[str, Path(min_length=1, max_length=40, examples=["73282932000074"])]


class SubscriptionIn(Body):
    email: Line = Field(max_length=254, examples=["compta@durand.example"])
    statuses: list[str] = Field(
        default=list(DEFAULT_STATUSES),
        max_length=len(WORDS),
        description=f"status changes to be told about, among: {', '.join(WORDS)}",
    )
    language: str = Field(default="fr", description=f"one of {', '.join(LANGUAGES)}")


def _view(supplier_id: str, found: Subscription | None) -> dict[str, Any]:
    return {
        "supplier_id": supplier_id,
        "subscribed": found is not None,
        "email": found.email if found else None,
        "statuses": list(found.statuses if found else DEFAULT_STATUSES),
        "language": found.language if found else "fr",
        "available_statuses": list(WORDS),
    }


class Subscriptions:
    """The subscriptions as the API and the portal read and change them. The tables are
    created on first use, so that the API's own start-up list stays untouched."""

    def __init__(self, settings: Settings, pool: Callable[[], ConnectionPool]) -> None:
        self.settings = settings
        self.pool = pool
        self._ready = threading.Event()
        self._creating = threading.Lock()

    def _tables(self) -> None:
        if not self._ready.is_set():
            with self._creating:
                if not self._ready.is_set():
                    apply_schema(self.settings.postgres, "notifications")
                    self._ready.set()

    def get(self, supplier_id: str) -> Subscription | None:
        self._tables()
        with self.pool().connection() as conn:
            return fetch_subscription(conn, supplier_id)

    def save(self, subscription: Subscription, by: str) -> None:
        self._tables()
        with self.pool().connection() as conn:
            save_subscription(conn, subscription, by)

    def delete(self, supplier_id: str) -> bool:
        self._tables()
        with self.pool().connection() as conn:
            return delete_subscription(conn, supplier_id)


def notification_routes(
    principal: Callable[..., Principal], subscriptions: Subscriptions
) -> APIRouter:
    """The routes; `principal` is the API's dependency authenticating the caller."""
    router = APIRouter(tags=["notifications"])
    Caller = Annotated[Principal, Depends(principal)]

    def allowed(caller: Principal, supplier_id: str) -> None:
        if caller.role is ApiRole.ADMIN:
            return
        if caller.role is not ApiRole.SUPPLIER or caller.scope != supplier_id:
            raise error(
                403, "FORBIDDEN", f"only supplier {supplier_id} and admins manage its e-mails"
            )

    @router.get("/suppliers/{supplier_id}/notifications")
    def get_notifications(supplier_id: SupplierPath, caller: Caller) -> dict[str, Any]:
        """The supplier's e-mail subscription (defaults when it has none)."""
        allowed(caller, supplier_id)
        return _view(supplier_id, subscriptions.get(supplier_id))

    @router.put("/suppliers/{supplier_id}/notifications")
    def put_notifications(
        supplier_id: SupplierPath, body: SubscriptionIn, caller: Caller
    ) -> dict[str, Any]:
        """Subscribe (or change): one address, the statuses, the language. Applies to the
        status changes projected from now on."""
        allowed(caller, supplier_id)
        try:
            subscription = Subscription.checked(
                supplier_id, body.email, body.statuses, body.language
            )
        except InvalidSubscription as invalid:
            raise error(422, "INVALID", invalid.message, invalid.field) from None
        subscriptions.save(subscription, caller.actor)
        return _view(supplier_id, subscription)

    @router.delete("/suppliers/{supplier_id}/notifications", status_code=204)
    def delete_notifications(supplier_id: SupplierPath, caller: Caller) -> Response:
        """Unsubscribe: no more e-mails (those already due are still sent)."""
        allowed(caller, supplier_id)
        if not subscriptions.delete(supplier_id):
            raise error(404, "NOT_FOUND", f"supplier {supplier_id} has no subscription")
        return Response(status_code=204)

    return router
