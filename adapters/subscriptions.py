"""Where the suppliers' e-mail subscriptions are kept (`notification_subscription`, beside
the notifications read model; configuration, never rebuilt from events), and the same in
memory for the application's tests.

The tables are created on first use, so that the API's own start-up list stays untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool

from facturier.adapters.postgres import apply_schema, connect
from facturier.config.settings import PostgresSettings
from facturier.domain.subscriptions import Subscription


class SubscriptionStore(Protocol):
    def get(self, supplier_id: str) -> Subscription | None: ...
    def save(self, subscription: Subscription, by: str) -> None: ...
    def delete(self, supplier_id: str) -> bool: ...


def subscriptions_of(
    conn: psycopg.Connection[Any], supplier_ids: Iterable[str]
) -> dict[str, Subscription]:
    """The subscription of each supplier among `supplier_ids` that has one."""
    rows = conn.execute(
        "SELECT supplier_id, email, statuses, language FROM notification_subscription"
        " WHERE supplier_id = ANY(%s)",
        (sorted(set(supplier_ids)),),
    ).fetchall()
    return {row[0]: Subscription(row[0], row[1], tuple(row[2]), row[3]) for row in rows}


class PostgresSubscriptions:
    """`pool`: the caller's connection pool (a process serving requests); without one, each
    call opens its own connection (the command line)."""

    def __init__(
        self, postgres: PostgresSettings, pool: Callable[[], ConnectionPool] | None = None
    ) -> None:
        self.postgres = postgres
        self.pool = pool
        self._ready = threading.Event()
        self._creating = threading.Lock()

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        if not self._ready.is_set():
            with self._creating:
                if not self._ready.is_set():
                    apply_schema(self.postgres, "notifications")
                    self._ready.set()
        return self.pool().connection() if self.pool else connect(self.postgres)

    def get(self, supplier_id: str) -> Subscription | None:
        with self._connection() as conn:
            return subscriptions_of(conn, [supplier_id]).get(supplier_id)

    def save(self, subscription: Subscription, by: str) -> None:
        s = subscription
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO notification_subscription (supplier_id, email, statuses, language,"
                " updated_by) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (supplier_id) DO UPDATE"
                " SET email = EXCLUDED.email, statuses = EXCLUDED.statuses,"
                " language = EXCLUDED.language, updated_at = now(),"
                " updated_by = EXCLUDED.updated_by",
                (s.supplier_id, s.email, list(s.statuses), s.language, by),
            )

    def delete(self, supplier_id: str) -> bool:
        with self._connection() as conn:
            deleted = conn.execute(
                "DELETE FROM notification_subscription WHERE supplier_id = %s", (supplier_id,)
            )
            return deleted.rowcount > 0


class MemorySubscriptions:
    def __init__(self) -> None:
        self.kept: dict[str, tuple[Subscription, str]] = {}

    def get(self, supplier_id: str) -> Subscription | None:
        found = self.kept.get(supplier_id)
        return found[0] if found else None

    def save(self, subscription: Subscription, by: str) -> None:
        self.kept[subscription.supplier_id] = (subscription, by)

    def delete(self, supplier_id: str) -> bool:
        return self.kept.pop(supplier_id, None) is not None
