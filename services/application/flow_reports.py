"""What the JSON API and the portal show of flows and documents: a flow's processing report
(compte-rendu) as plain data, who sees a flow, and an invoice's stored documents."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from facturier.adapters.documents import DocumentMissing, DocumentStorage
from facturier.domain.flow import Flow
from facturier.domain.invoice import Invoice
from facturier.domain.model import Document, Problem
from facturier.services.application.principals import ApiRole, Principal


def problem_json(problem: Problem) -> dict[str, str]:
    return {
        "rule": problem.rule,
        "location": problem.field,
        "message": problem.message,
        "reason_code": problem.reason_code.value,
    }


def flow_report(flow: Flow) -> dict[str, Any]:
    """The processing report (compte-rendu) of a flow, entry by entry."""
    invoices = []
    for entry in flow.entries:
        if entry in flow.integrated:
            outcome, invoice_id = "integrated", str(flow.integrated[entry])
            errors: tuple[Problem, ...] = ()
        elif entry in flow.rejected:
            outcome, invoice_id, errors = "rejected", None, flow.rejected[entry]
        else:
            outcome, invoice_id, errors = "pending", None, ()
        invoices.append(
            {
                "entry": entry,
                "outcome": outcome,
                "invoice_id": invoice_id,
                "errors": [problem_json(p) for p in errors],
                "warnings": [problem_json(p) for p in flow.warnings.get(entry, ())],
            }
        )
    return {
        "flow_id": str(flow.id),
        "status": flow.status.value,
        "final": flow.status.is_final,
        "mode": flow.mode.value,
        "submitter": flow.submitter,
        "received_at": flow.created_on,
        "updated_at": flow.modified_on,
        "upload": {
            "filename": flow.upload.filename,
            "sha256": flow.upload.sha256,
            "size": flow.upload.size,
        },
        "counts": {
            "entries": len(flow.entries),
            "integrated": len(flow.integrated),
            "rejected": len(flow.rejected),
            "pending": len(flow.pending),
        },
        "errors": [problem_json(p) for p in flow.problems],
        "invoices": invoices,
    }


def flow_visible(flow: Flow, caller: Principal) -> bool:
    """A flow is seen by who submitted it, auditors and admins (the API and the portal)."""
    return caller.role in (ApiRole.ADMIN, ApiRole.AUDITOR) or flow.submitter == caller.actor


class NoSuchDocument(LookupError):
    """The invoice has no document with this hash."""

    def __init__(self, invoice_id: UUID, sha256: str) -> None:
        super().__init__(f"no document {sha256} on invoice {invoice_id}")
        self.invoice_id = invoice_id
        self.sha256 = sha256


class DocumentNotStored(DocumentMissing):
    """The invoice references the document but the store does not hold it."""

    def __init__(self, sha256: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256


def invoice_document(
    invoice: Invoice, sha256: str, store: DocumentStorage
) -> tuple[Document, bytes]:
    """One of the invoice's documents and its bytes. NoSuchDocument: not one of this
    invoice's documents; DocumentMissing: referenced but not stored."""
    found = next((d for d in invoice.documents if d.sha256 == sha256), None)
    if found is None:
        raise NoSuchDocument(invoice.id, sha256)
    try:
        return found, store.get(sha256)
    except DocumentMissing:
        raise DocumentNotStored(sha256) from None
