"""How domain values are stored in the event store's JSON state (eventsourcing transcodings).

Every value object of the invoice is a frozen dataclass: one generic transcoding stores each
as a dict of its fields (the JSON encoder recurses into nested ones) and rebuilds it, turning
JSON lists back into the tuples the dataclasses hold.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from facturier.domain.model import (
    Address,
    AllowanceCharge,
    Document,
    InvoiceData,
    InvoiceLine,
    PaymentMeans,
    Problem,
    ReasonCode,
    SignatureCheck,
    SupplierScheme,
    VatBreakdown,
)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class DataclassAsDict(Transcoding):
    """A frozen dataclass as the dict of its fields; lists come back as tuples."""

    def __init__(self, cls: type[Any], name: str) -> None:
        self.type = cls
        self.name = name

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        if self.type is InvoiceData:
            values["supplier_scheme"] = SupplierScheme(values["supplier_scheme"])
        if self.type is Problem:
            values["reason_code"] = ReasonCode(values["reason_code"])
        return self.type(**values)


# Value object -> its stored type name (never rename one: stored events name it).
VALUE_OBJECTS: dict[type[Any], str] = {
    Document: "document",
    Address: "address",
    InvoiceLine: "invoice_line",
    VatBreakdown: "vat_breakdown",
    AllowanceCharge: "allowance_charge",
    PaymentMeans: "payment_means",
    InvoiceData: "invoice_data",
    SignatureCheck: "signature_check",
    Problem: "problem",
}


def register(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
    for cls, name in VALUE_OBJECTS.items():
        transcoder.register(DataclassAsDict(cls, name))
