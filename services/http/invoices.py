"""Reading invoices: the tracking view (one invoice, the list), the raw history and the
invoice as of an instant from the event store, its reception acknowledgment and its payment
delays.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from facturier.domain.lifecycle import STATUS_INFO, Status, allowed_actions
from facturier.domain.payment_terms import paris_date
from facturier.projections.payment_delays.projection import fetch_state
from facturier.projections.tracking import queries as views
from facturier.services.application.invoicing import InvoiceNotFound
from facturier.services.application.receipts import receipt as receipt_of
from facturier.services.http.dependencies import Caller, Invoicing, Pool, visible_invoice
from facturier.services.http.errors import error

router = APIRouter()


@router.get("/invoices/{invoice_id}", tags=["tracking"])
def tracking(invoice_id: uuid.UUID, caller: Caller, pool: Pool) -> dict[str, Any]:
    """Current status and full timeline, from the tracking view."""
    with pool.connection() as conn:
        row = views.invoice(conn, invoice_id)
        if row is None or not caller.sees(row["supplier_id"], row["recipient_siret"]):
            raise InvoiceNotFound(invoice_id)
        row["timeline"] = views.timeline(conn, invoice_id)
    row["allowed_actions"] = [a.value for a in allowed_actions(row["status"])]
    return row


@router.get("/invoices", tags=["tracking"])
def list_invoices(
    caller: Caller,
    pool: Pool,
    supplier_id: str | None = None,
    recipient_siret: str | None = None,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_submitted_at: datetime | None = None,
    before_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The invoices the token sees (a supplier's, an operator's mandates', those addressed
    to a buyer, everyone's for auditors and admins), newest first, keyset pagination.
    `supplier_id` and `recipient_siret` narrow the list within that scope."""
    scope = caller.invoices
    suppliers = scope.suppliers
    if supplier_id is not None:
        suppliers = (supplier_id,) if suppliers is None or supplier_id in suppliers else ()
    recipient = scope.recipient
    if recipient_siret is not None:
        if recipient is not None and recipient != recipient_siret:
            suppliers = ()  # another structure's invoices: none of them
        recipient = recipient_siret
    before = (before_submitted_at, before_id) if before_submitted_at and before_id else None
    with pool.connection() as conn:
        rows = views.invoices(
            conn,
            suppliers=suppliers,
            recipient_siret=recipient,
            status=status.value if status else None,
            limit=limit,
            before=before,
        )
    page: dict[str, Any] = {"invoices": rows}
    if len(rows) == limit:
        last = rows[-1]
        page["next"] = {
            "before_submitted_at": last["submitted_at"],
            "before_id": last["invoice_id"],
        }
    return page


@router.get("/invoices/{invoice_id}/events", tags=["audit"])
def history(invoice_id: uuid.UUID, caller: Caller, invoicing: Invoicing) -> dict[str, Any]:
    """Every event recorded for the invoice, from the event store itself."""
    visible_invoice(invoicing, invoice_id, caller)
    events = invoicing.history(invoice_id)
    return {"invoice_id": invoice_id, "events": [_event_json(e) for e in events]}


@router.get("/invoices/{invoice_id}/as-of", tags=["audit"])
def as_of(
    invoice_id: uuid.UUID, at: datetime, caller: Caller, invoicing: Invoicing
) -> dict[str, Any]:
    """The invoice as it was at instant `at` (ISO 8601 with offset), rebuilt from the
    event store."""
    if at.tzinfo is None:
        raise error(422, "INVALID", "give `at` with its UTC offset", "at")
    visible_invoice(invoicing, invoice_id, caller)
    invoice = invoicing.as_of(invoice_id, at)
    info = STATUS_INFO[invoice.status]
    return {
        "invoice_id": str(invoice.id),
        "at": at,
        "version": invoice.version,
        "status": invoice.status.value,
        "reform_code": info.reform_code,
        "summary": info.summary.value,
        "modified_on": invoice.modified_on,
        "data": asdict(invoice.data),
    }


@router.get("/invoices/{invoice_id}/payment", tags=["payment"])
def payment(invoice_id: uuid.UUID, caller: Caller, pool: Pool) -> dict[str, Any]:
    """Legal payment deadline, days elapsed, late days and, once paid late, the interest
    and the €40 indemnity owed (from the payment-delays projection)."""
    with pool.connection() as conn:
        found = fetch_state(conn, invoice_id)
    if found is None or not caller.sees(found.supplier_id, found.recipient_siret):
        raise InvoiceNotFound(invoice_id)
    return found.view(paris_date(datetime.now(UTC)))


@router.get("/invoices/{invoice_id}/receipt", tags=["payment"])
def receipt(invoice_id: uuid.UUID, caller: Caller, invoicing: Invoicing) -> dict[str, Any]:
    """Reception acknowledgment (accusé de réception): when the invoice was made
    available to the structure it is addressed to, read from the event store."""
    return receipt_of(invoicing, visible_invoice(invoicing, invoice_id, caller))


def _event_json(event: Any) -> dict[str, Any]:
    attributes = {
        k: v
        for k, v in vars(event).items()
        if k not in ("originator_id", "originator_version", "timestamp", "originator_topic")
    }
    if "data" in attributes:
        attributes["data"] = asdict(attributes["data"])
    return {
        "version": event.originator_version,
        "type": type(event).__name__,
        "timestamp": event.timestamp,
        "attributes": attributes,
    }
