"""E-mail notification subscriptions as the JSON API and the portal read and change them
(the notifications projection sends the e-mails: projections/notifications/projection.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from psycopg_pool import ConnectionPool

from facturier.adapters.postgres import apply_schema
from facturier.config.settings import PostgresSettings
from facturier.domain.languages import EMAIL_DEFAULT_LANGUAGE
from facturier.projections.notifications.projection import (
    DEFAULT_STATUSES,
    WORDS,
    Subscription,
    delete_subscription,
    fetch_subscription,
    save_subscription,
)


def subscription_view(supplier_id: str, found: Subscription | None) -> dict[str, Any]:
    """A supplier's subscription, or the defaults with `"subscribed": false`."""
    return {
        "supplier_id": supplier_id,
        "subscribed": found is not None,
        "email": found.email if found else None,
        "statuses": list(found.statuses if found else DEFAULT_STATUSES),
        "language": found.language if found else EMAIL_DEFAULT_LANGUAGE.value,
        "available_statuses": list(WORDS),
    }


class Subscriptions:
    """The subscriptions' store. The tables are created on first use, so that the API's own
    start-up list stays untouched."""

    def __init__(self, postgres: PostgresSettings, pool: Callable[[], ConnectionPool]) -> None:
        self.postgres = postgres
        self.pool = pool
        self._ready = threading.Event()
        self._creating = threading.Lock()

    def _tables(self) -> None:
        if not self._ready.is_set():
            with self._creating:
                if not self._ready.is_set():
                    apply_schema(self.postgres, "notifications")
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
