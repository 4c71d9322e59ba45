"""What every router of the HTTP API answers alike: errors and a command's result."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import STATUS_INFO, allowed_actions


def error(status: int, code: str, message: str, field: str | None = None) -> HTTPException:
    """`{"detail": {"code", "message", "field"?}}`: `code` is a reform reason code when one
    fits, else a short English word (NOT_FOUND, FORBIDDEN...)."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if field:
        detail["field"] = field
    return HTTPException(status_code=status, detail=detail)


def command_result(invoice: Invoice, correlation_id: str) -> dict[str, Any]:
    """The invoice's state after a command, and what may be done next."""
    info = STATUS_INFO[invoice.status]
    return {
        "invoice_id": str(invoice.id),
        "version": invoice.version,
        "status": invoice.status.value,
        "reform_code": info.reform_code,
        "summary": info.summary.value,
        "correlation_id": correlation_id,
        "allowed_actions": [a.value for a in allowed_actions(invoice.status)],
    }
