"""How domain values are stored in the event store's JSON state (eventsourcing transcodings)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from facturier.domain.invoice import (
    Document,
    InvoiceData,
    InvoiceKind,
    SupplierScheme,
)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class DocumentAsDict(Transcoding):
    type = Document
    name = "document"

    def encode(self, obj: Document) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> Document:
        return Document(**data)


class InvoiceDataAsDict(Transcoding):
    type = InvoiceData
    name = "invoice_data"

    def encode(self, obj: InvoiceData) -> dict[str, Any]:
        values = {k: getattr(obj, k) for k in obj.__dataclass_fields__}
        values["documents"] = list(obj.documents)
        return values

    def decode(self, data: dict[str, Any]) -> InvoiceData:
        values = dict(data)
        values["supplier_scheme"] = SupplierScheme(values["supplier_scheme"])
        values["kind"] = InvoiceKind(values["kind"])
        values["documents"] = tuple(values["documents"])
        return InvoiceData(**values)


def register(transcoder: JSONTranscoder) -> None:
    for transcoding in (DateAsISO(), DocumentAsDict(), InvoiceDataAsDict()):
        transcoder.register(transcoding)
