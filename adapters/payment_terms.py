"""Where each buyer structure's legal payment period is kept, as an admin set it
(`structure_settings`, configuration beside the payment-delays read model, never rebuilt
from events), and the same in memory for the application's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool


class PaymentTermsStore(Protocol):
    def get(self, siret: str) -> int | None: ...
    def set(self, siret: str, days: int, by: str) -> None: ...


def payment_days_of(conn: psycopg.Connection[Any], sirets: Iterable[str]) -> dict[str, int]:
    """The payment period of each structure among `sirets` that has one set."""
    rows = conn.execute(
        "SELECT siret, payment_days FROM structure_settings WHERE siret = ANY(%s)",
        (sorted(set(sirets)),),
    ).fetchall()
    return {str(siret): int(days) for siret, days in rows}


class PostgresPaymentTerms:
    def __init__(self, pool: Callable[[], ConnectionPool]) -> None:
        self.pool = pool

    def get(self, siret: str) -> int | None:
        with self.pool().connection() as conn:
            return payment_days_of(conn, [siret]).get(siret)

    def set(self, siret: str, days: int, by: str) -> None:
        with self.pool().connection() as conn:
            conn.execute(
                "INSERT INTO structure_settings (siret, payment_days, updated_by)"
                " VALUES (%s, %s, %s) ON CONFLICT (siret) DO UPDATE SET"
                " payment_days = EXCLUDED.payment_days, updated_at = now(),"
                " updated_by = EXCLUDED.updated_by",
                (siret, days, by),
            )


class MemoryPaymentTerms:
    def __init__(self) -> None:
        self.kept: dict[str, tuple[int, str]] = {}

    def get(self, siret: str) -> int | None:
        found = self.kept.get(siret)
        return found[0] if found else None

    def set(self, siret: str, days: int, by: str) -> None:
        self.kept[siret] = (days, by)
