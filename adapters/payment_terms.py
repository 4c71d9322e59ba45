"""Each buyer structure's legal payment period, as an admin set it (`structure_settings`,
configuration beside the payment-delays read model, never rebuilt from events)."""

from __future__ import annotations

from typing import Any

import psycopg


def fetch_payment_days(conn: psycopg.Connection[Any], siret: str) -> int | None:
    """The structure's payment period in days; None when none was set."""
    row = conn.execute(
        "SELECT payment_days FROM structure_settings WHERE siret = %s", (siret,)
    ).fetchone()
    return None if row is None else int(row[0])


def save_payment_days(conn: psycopg.Connection[Any], siret: str, days: int, by: str) -> None:
    conn.execute(
        "INSERT INTO structure_settings (siret, payment_days, updated_by)"
        " VALUES (%s, %s, %s) ON CONFLICT (siret) DO UPDATE SET"
        " payment_days = EXCLUDED.payment_days, updated_at = now(),"
        " updated_by = EXCLUDED.updated_by",
        (siret, days, by),
    )
