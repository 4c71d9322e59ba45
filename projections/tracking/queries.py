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

_TIMELINE_COLUMNS = (
    "version, event_type, status, reform_code, summary, occurred_at, actor, reason_code,"
    " reason, details"
)


def invoice(conn: psycopg.Connection[Any], invoice_id: UUID) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_INVOICE_COLUMNS} FROM tracking_invoice WHERE invoice_id = %s",
            (invoice_id,),
        ).fetchone()


# What an invoice's portal page shows besides the columns above.
_PAGE_COLUMNS = (
    f"{_INVOICE_COLUMNS}, submitted_to, correlation_id, documents, received_version, received_at"
)


def invoice_page(conn: psycopg.Connection[Any], invoice_id: UUID) -> tuple[Row, list[Row]] | None:
    """An invoice's row, with what its page shows besides (first recipient, the submission's
    correlation id, documents, last reception), and its timeline up to the row's version:
    one state, the row's, however far the projection went between the two reads."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_PAGE_COLUMNS} FROM tracking_invoice WHERE invoice_id = %s", (invoice_id,)
        ).fetchone()
        if row is None:
            return None
        steps = cur.execute(
            f"SELECT {_TIMELINE_COLUMNS} FROM tracking_timeline"
            " WHERE invoice_id = %s AND version <= %s ORDER BY version",
            (invoice_id, row["version"]),
        ).fetchall()
    return row, steps


def timeline(conn: psycopg.Connection[Any], invoice_id: UUID) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_TIMELINE_COLUMNS} FROM tracking_timeline WHERE invoice_id = %s"
            " ORDER BY version",
            (invoice_id,),
        ).fetchall()


# The one order of every list of invoices (the JSON API's `GET /invoices`, the portal's lists
# and the buyer's queue): newest first, and invoices submitted at the same instant by their
# id, ascending. It is the order of the tracking indexes (schemas/sql/tracking.sql), so any
# page, however deep, is read from an index and never sorted.
LIST_ORDER = "submitted_at DESC, invoice_id"


def list_query(
    *,
    suppliers: Sequence[str] | None = None,
    recipient_siret: str | None = None,
    status: str | None = None,
    summary: str | None = None,
    number_prefix: str | None = None,
    issued_from: date | None = None,
    issued_to: date | None = None,
    limit: int = 50,
    after: tuple[datetime, UUID] | None = None,
) -> tuple[str, list[Any]]:
    """The SQL of one page of a list (in `LIST_ORDER`), and its parameters. `suppliers` None:
    every supplier (auditors, admins); `after`: the position (submitted_at, invoice_id) of
    the previous page's last row, keyset pagination (a page costs the same at invoice
    100,000 as at invoice 1)."""
    where: list[str] = []
    params: list[Any] = []
    if suppliers is not None:
        if len(suppliers) == 1:
            where.append("supplier_id = %s")
            params.append(suppliers[0])
        else:
            where.append("supplier_id = ANY(%s)")
            params.append(list(suppliers))
    for column, value in (
        ("recipient_siret", recipient_siret),
        ("status", status),
        ("summary", summary),
    ):
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
        f" ORDER BY {LIST_ORDER} LIMIT %s"
    )
    return sql, [*params, limit]


def invoices(
    conn: psycopg.Connection[Any],
    *,
    suppliers: Sequence[str] | None = None,
    recipient_siret: str | None = None,
    status: str | None = None,
    summary: str | None = None,
    number_prefix: str | None = None,
    issued_from: date | None = None,
    issued_to: date | None = None,
    limit: int = 50,
    after: tuple[datetime, UUID] | None = None,
    before: tuple[datetime, UUID] | None = None,
) -> list[Row]:
    """One page of a list (`list_query`'s filters, order and position). `suppliers` empty:
    none. `before` is the JSON API's name for `after` (its `before_submitted_at` and
    `before_id`: the rows after that one in the list are older, or as old with a greater
    id)."""
    if suppliers is not None and not suppliers:
        return []
    sql, params = list_query(
        suppliers=suppliers,
        recipient_siret=recipient_siret,
        status=status,
        summary=summary,
        number_prefix=number_prefix,
        issued_from=issued_from,
        issued_to=issued_to,
        limit=limit,
        after=after if after is not None else before,
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()
