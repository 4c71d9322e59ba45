"""A buyer structure's legal payment period: 30 days unless an admin set another (50 for
public hospitals); it applies to the invoices the structure receives from then on."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from facturier.adapters.payment_terms import fetch_payment_days, save_payment_days
from facturier.domain.payment_terms import DEFAULT_PAYMENT_DAYS


def payment_days(pool: ConnectionPool, siret: str) -> int:
    with pool.connection() as conn:
        found = fetch_payment_days(conn, siret)
    return DEFAULT_PAYMENT_DAYS if found is None else found


def set_payment_days(pool: ConnectionPool, siret: str, days: int, by: str) -> None:
    with pool.connection() as conn:
        save_payment_days(conn, siret, days, by)
