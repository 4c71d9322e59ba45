"""The reception acknowledgment (accusé de réception) of an invoice, read from the event store:
there as soon as the submission returns, the same on every call, a new one after a
re-routing (a new reception). The JSON API and the portal both serve it."""

from __future__ import annotations

import uuid
from typing import Any

from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import EventType, Status
from facturier.services.application.invoicing import InvoicingApp

# Namespace of reception acknowledgment identifiers (uuid5 of invoice id and reception).
RECEIPT_NAMESPACE = uuid.UUID("5b0c7a2e-3f1d-5e8a-9c4b-6d2f8e1a7c30")


class NotReceived(LookupError):
    """The invoice is not made available to a buyer (yet, or awaiting re-routing)."""


def receipt(app: InvoicingApp, invoice: Invoice) -> dict[str, Any]:
    data = invoice.data
    invoice_id = invoice.id
    events = app.history(invoice_id)
    received = [e for e in events if type(e).__name__ == EventType.MADE_AVAILABLE]
    if not received or invoice.status == Status.A_RECYCLER:
        raise NotReceived("the invoice is not made available to a buyer")
    reception = received[-1]
    version = reception.originator_version
    return {
        "receipt_id": str(uuid.uuid5(RECEIPT_NAMESPACE, f"{invoice_id}:receipt:{version}")),
        "invoice_id": str(invoice_id),
        "received_at": reception.timestamp,
        "reception_version": version,
        "submitted_at": events[0].timestamp,
        "number": data.number,
        "kind": data.kind,
        "issue_date": data.issue_date,
        "supplier": {
            "scheme": data.supplier_scheme.value,
            "id": data.supplier_id,
            "name": data.supplier_name,
        },
        "recipient": {
            "siret": data.recipient_siret,
            "service_code": data.service_code,
            "order_reference": data.order_reference,
        },
        "currency": data.currency,
        "net_amount": data.net_amount,
        "vat_amount": data.vat_amount,
        "gross_amount": data.gross_amount,
        "payable_amount": data.payable_amount,
    }
