"""Queries on the tracking read model (plain SQL, separate from the write model)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]

_INVOICE_COLUMNS = (
    "invoice_id, version, supplier_scheme, supplier_id, supplier_name, recipient_siret,"
    " service_code, order_reference, number, kind, mode, issue_date, due_date, currency,"
    " net_amount, vat_amount, gross_amount, payable_amount, status, reform_code, summary,"
    " payment_order_number, paid_amount, paid_on, submitted_at, updated_at"
)


def invoice(conn: psycopg.Connection[Any], invoice_id: UUID) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_INVOICE_COLUMNS} FROM tracking_invoice WHERE invoice_id = %s",
            (invoice_id,),
        ).fetchone()


def timeline(conn: psycopg.Connection[Any], invoice_id: UUID) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT version, event_type, status, reform_code, summary, occurred_at, actor,"
            " reason_code, reason, details FROM tracking_timeline WHERE invoice_id = %s"
            " ORDER BY version",
            (invoice_id,),
        ).fetchall()


def invoices(
    conn: psycopg.Connection[Any],
    *,
    suppliers: Sequence[str] | None = None,
    recipient_siret: str | None = None,
    status: str | None = None,
    limit: int = 50,
    before: tuple[Any, UUID] | None = None,
) -> list[Row]:
    """Newest first; keyset pagination (`before` = last row's (submitted_at, invoice_id)), so
    a page costs the same at invoice 100,000 as at invoice 1. `suppliers` None: every
    supplier's; empty: none."""
    if suppliers is not None and not suppliers:
        return []
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if suppliers is not None:
        where.append("supplier_id = ANY(%s)")
        params.append(list(suppliers))
    for column, value in (("recipient_siret", recipient_siret), ("status", status)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if before is not None:
        where.append("(submitted_at, invoice_id) < (%s, %s)")
        params += [before[0], before[1]]
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_INVOICE_COLUMNS} FROM tracking_invoice WHERE {' AND '.join(where)}"
            " ORDER BY submitted_at DESC, invoice_id DESC LIMIT %s",
            [*params, limit],
        ).fetchall()


def portal_query(
    *,
    suppliers: Sequence[str] | None = None,
    recipient_siret: str | None = None,
    summary: str | None = None,
    number_prefix: str | None = None,
    issued_from: date | None = None,
    issued_to: date | None = None,
    limit: int = 25,
    after: tuple[datetime, UUID] | None = None,
) -> tuple[str, list[Any]]:
    """The SQL of one page of the portal's list, and its parameters. `suppliers` None: every
    supplier (auditors, admins). Newest first, ties by id; `after` = the last row's
    (submitted_at, invoice_id). The order (submitted_at DESC, invoice_id ASC) is that of the
    tracking indexes, so a page is read from an index at any depth, never sorted."""
    where: list[str] = []
    params: list[Any] = []
    if suppliers is not None:
        if len(suppliers) == 1:
            where.append("supplier_id = %s")
            params.append(suppliers[0])
        else:
            where.append("supplier_id = ANY(%s)")
            params.append(list(suppliers))
    for column, value in (("recipient_siret", recipient_siret), ("summary", summary)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if number_prefix:
        escaped = number_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("number LIKE %s")
        params.append(escaped + "%")
    if issued_from is not None:
        where.append("issue_date >= %s")
        params.append(issued_from)
    if issued_to is not None:
        where.append("issue_date <= %s")
        params.append(issued_to)
    if after is not None:
        # The first condition alone bounds the index scan; the second skips the ties seen.
        where.append("submitted_at <= %s AND (submitted_at < %s OR invoice_id > %s)")
        params += [after[0], after[0], after[1]]
    sql = (
        f"SELECT {_INVOICE_COLUMNS} FROM tracking_invoice"
        f" WHERE {' AND '.join(where) or 'TRUE'}"
        " ORDER BY submitted_at DESC, invoice_id LIMIT %s"
    )
    return sql, [*params, limit]


def portal_invoices(conn: psycopg.Connection[Any], **filters: Any) -> list[Row]:
    """One page of the portal's list (`portal_query`'s filters)."""
    sql, params = portal_query(**filters)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()
