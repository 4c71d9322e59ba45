"""The wire contract of invoice lifecycle events: domain event <-> Kafka message.

Value: Avro single-object encoding of `schemas/avro/invoice_lifecycle.v*.avsc`.
Key: the invoice id, so one invoice's events stay in one partition, in order.
Headers: CloudEvents Kafka protocol binding, binary content mode, so any CloudEvents-aware
tool can route and filter without decoding the body.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, is_dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from facturier.domain.lifecycle import STATUS_AFTER_EVENT, STATUS_INFO, Status
from facturier.events import cloudevents
from facturier.events.avro import Schema, SchemaRegistry

SCHEMA_NAME = "invoice_lifecycle"
CE_SOURCE = "/facturier/invoices"
CE_TYPE_PREFIX = "fr.facturier.invoice."

_NAMESPACE_DOT = "fr.facturier.invoice."


@cache
def registry() -> SchemaRegistry:
    return SchemaRegistry.load()


@dataclass(frozen=True)
class Message:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class LifecycleEvent:
    """A lifecycle event as consumers see it (decoded from the wire)."""

    event_id: str
    event_type: str
    invoice_id: str
    version: int
    occurred_at: datetime
    actor: str
    correlation_id: str
    status: Status
    reform_code: int
    summary: str
    payload: dict[str, Any]


def event_id(invoice_id: uuid.UUID | str, version: int) -> str:
    """uuid5(invoice id, version): stable across redeliveries, so CloudEvents
    de-duplication by id works. (Same value as `uuid.uuid5`, without its str round trips:
    the relay computes one per event.)"""
    namespace = invoice_id if isinstance(invoice_id, uuid.UUID) else uuid.UUID(invoice_id)
    digest = hashlib.sha1(namespace.bytes + str(version).encode(), usedforsecurity=False)
    return str(uuid.UUID(bytes=digest.digest()[:16], version=5))


def _plain(value: Any, nested: bool = False) -> Any:
    """A domain value as Avro wants it. Inside nested records numbers travel as exact decimal
    text (a quantity or a price has no fixed scale); top-level amounts are Avro decimals."""
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name), True) for f in dataclass_fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v, nested) for v in value]
    if nested and isinstance(value, Decimal):
        return str(value)
    return value


_PAYLOAD_FIELDS: dict[bytes, dict[str, list[str]]] = {}  # by schema fingerprint


def _payload_fields(schema: Schema) -> dict[str, list[str]]:
    """Event type -> the field names its payload record declares (worked out once a schema:
    the relay asks for every event)."""
    known = _PAYLOAD_FIELDS.get(schema.fingerprint)
    if known is None:
        payload = next(f for f in schema.definition["fields"] if f["name"] == "payload")
        known = {b["name"]: [f["name"] for f in b["fields"]] for b in payload["type"]}
        _PAYLOAD_FIELDS[schema.fingerprint] = known
    return known


def to_record(domain_event: Any) -> dict[str, Any]:
    """The Avro record of a domain event of the Invoice aggregate."""
    event_type = type(domain_event).__name__
    attributes = dict(vars(domain_event))
    data = attributes.get("data")
    if data is not None:  # Submitted carries the invoice's business terms
        # Shallow: `_plain` below converts the nested values (documents) the same way
        # `asdict` would, without deep-copying the whole invoice for every event.
        attributes.update({f.name: getattr(data, f.name) for f in dataclass_fields(data)})
    fields = _payload_fields(registry().latest(SCHEMA_NAME))[event_type]
    status = STATUS_AFTER_EVENT[event_type]
    info = STATUS_INFO[status]
    invoice_id = domain_event.originator_id
    invoice_id_text = str(invoice_id)
    version = domain_event.originator_version
    return {
        "event_id": event_id(invoice_id, version),
        "event_type": event_type,
        "invoice_id": invoice_id_text,
        "version": version,
        "occurred_at": domain_event.timestamp,
        "actor": attributes.get("actor", ""),
        "correlation_id": attributes.get("correlation_id", ""),
        "status": status.value,
        "reform_code": info.reform_code,
        "summary": info.summary.value,
        "payload": (_NAMESPACE_DOT + event_type, {f: _plain(attributes.get(f)) for f in fields}),
    }


def to_message(domain_event: Any, chain_hash: bytes | None = None) -> Message:
    record = to_record(domain_event)
    schema = registry().latest(SCHEMA_NAME)
    value = registry().encode(SCHEMA_NAME, record)
    headers = cloudevents.headers(
        record["event_id"],
        CE_SOURCE,
        CE_TYPE_PREFIX + record["event_type"],
        record["occurred_at"],
        record["invoice_id"],
        schema,
        record["version"],
        chain_hash,
        correlationid=record["correlation_id"],
    )
    return Message(record["invoice_id"].encode(), value, headers)


def from_value(value: bytes, reader: Schema | None = None) -> LifecycleEvent:
    record = registry().decode(value, reader)
    _, payload = record["payload"]
    return LifecycleEvent(
        event_id=record["event_id"],
        event_type=record["event_type"],
        invoice_id=record["invoice_id"],
        version=record["version"],
        occurred_at=record["occurred_at"],
        actor=record["actor"],
        correlation_id=record["correlation_id"],
        status=_STATUS_BY_VALUE[record["status"]],
        reform_code=record["reform_code"],
        summary=record["summary"],
        payload=payload,  # a dict of its own, fresh from the decoder
    )


_STATUS_BY_VALUE = {s.value: s for s in Status}  # a dict lookup: Status(value) is slower
