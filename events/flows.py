"""Flow events on the wire: Avro (`schemas/avro/flow_lifecycle.v*.avsc`), CloudEvents headers.

One flat record per event; the fields an event type does not use keep their defaults. The
key is the flow id, so a flow's events stay in order on one partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from facturier.domain.flow import Flow, FlowEventType, FlowStatus
from facturier.domain.model import Problem
from facturier.events import cloudevents
from facturier.events.lifecycle import Message, event_id, registry

SCHEMA_NAME = "flow_lifecycle"
CE_SOURCE = "/facturier/flows"
CE_TYPE_PREFIX = "fr.facturier.flow."

# The state a flow is in after each event type (Finished carries its own).
_STATUS_AFTER: dict[str, FlowStatus] = {
    FlowEventType.RECEIVED: FlowStatus.RECEIVED,
    FlowEventType.OPENED: FlowStatus.PROCESSING,
    FlowEventType.ENTRY_INTEGRATED: FlowStatus.PROCESSING,
    FlowEventType.ENTRY_REJECTED: FlowStatus.PROCESSING,
    FlowEventType.REFUSED: FlowStatus.REJECTED,
}


@dataclass(frozen=True)
class FlowEvent:
    """A flow event as consumers see it."""

    event_id: str
    event_type: str
    flow_id: str
    version: int
    occurred_at: datetime
    status: FlowStatus
    record: dict[str, Any]


def _problems(problems: tuple[Problem, ...]) -> list[dict[str, str]]:
    return [
        {"rule": p.rule, "location": p.field, "message": p.message, "reason_code": p.reason_code}
        for p in problems
    ]


def to_record(domain_event: Flow.Event) -> dict[str, Any]:
    event_type = type(domain_event).__name__
    attributes = vars(domain_event)
    status = attributes.get("status") or _STATUS_AFTER[event_type]
    record: dict[str, Any] = {
        "event_id": event_id(domain_event.originator_id, domain_event.originator_version),
        "event_type": event_type,
        "flow_id": str(domain_event.originator_id),
        "version": domain_event.originator_version,
        "occurred_at": domain_event.timestamp,
        "status": FlowStatus(status).value,
        "problems": _problems(attributes.get("problems", ()) or attributes.get("warnings", ())),
    }
    if event_type == FlowEventType.RECEIVED:
        upload = attributes["upload"]
        record.update(
            submitter=attributes["submitter"],
            mode=str(attributes["mode"]),
            upload_sha256=upload.sha256,
            upload_filename=upload.filename,
        )
    for name in ("entry", "number", "integrated", "rejected"):
        if name in attributes:
            record[name] = attributes[name]
    if "invoice_id" in attributes:
        record["invoice_id"] = str(attributes["invoice_id"])
    if "entries" in attributes:
        record["entries"] = list(attributes["entries"])
    return record


def to_message(domain_event: Flow.Event, chain_hash: bytes | None = None) -> Message:
    record = to_record(domain_event)
    value = registry().encode(SCHEMA_NAME, record)
    schema = registry().latest(SCHEMA_NAME)
    headers = cloudevents.headers(
        record["event_id"],
        CE_SOURCE,
        CE_TYPE_PREFIX + record["event_type"],
        record["occurred_at"],
        record["flow_id"],
        schema,
        record["version"],
        chain_hash,
    )
    return Message(record["flow_id"].encode(), value, headers)


def from_value(value: bytes) -> FlowEvent:
    record = registry().decode(value)
    return FlowEvent(
        event_id=record["event_id"],
        event_type=record["event_type"],
        flow_id=record["flow_id"],
        version=record["version"],
        occurred_at=record["occurred_at"],
        status=FlowStatus(record["status"]),
        record=record,
    )
