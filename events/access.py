"""Account and organisation events on the wire: Avro (`schemas/avro/access.v*.avsc`),
CloudEvents headers, keyed by the aggregate so that its events stay in order.

Only identifiers and rights travel: each field of the record is taken from the event's
attributes by name, from a list, so that a secret (a password's or a link's hash, a TOTP
seed, a client secret's hash) or a person's name or address never reaches the topic, even
when a new event type carries one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from facturier.domain.accounts import Account
from facturier.events import cloudevents
from facturier.events.lifecycle import Message, event_id, registry

SCHEMA_NAME = "access"
CE_SOURCE = "/facturier/access"
CE_TYPE_PREFIX = "fr.facturier.access."

# record field <- the event attributes it may come from, in order
_ACCOUNT_ATTRIBUTES = ("account", "principal", "to", "target")
_COPIED = {
    "by": "by",
    "kind": "kind",
    "public": "public",
    "space": "space",
    "spaces": "spaces",
    "operator_id": "operator",
    "modes": "modes",
    "starts_on": "starts",
    "client_id": "client_id",
}
_SIGNED = frozenset({"MandateSigned", "TermsAccepted"})  # their sha256 names a public text
_IDENTIFIED = frozenset({"Created", "OperatorMandated"})
_EXPIRING = frozenset({"TechnicalAccountCreated", "TechnicalAccountRenewed"})


@dataclass(frozen=True)
class AccessEvent:
    """An access event as consumers see it."""

    event_id: str
    event_type: str
    aggregate: str  # account | organisation
    aggregate_id: str
    version: int
    occurred_at: datetime
    record: dict[str, Any]


def to_record(domain_event: Any) -> dict[str, Any]:
    event_type = type(domain_event).__name__
    attributes = vars(domain_event)
    account = isinstance(domain_event, Account.Event)
    aggregate_id = str(domain_event.originator_id)
    record: dict[str, Any] = {
        "event_id": event_id(domain_event.originator_id, domain_event.originator_version),
        "event_type": event_type,
        "aggregate": "account" if account else "organisation",
        "aggregate_id": aggregate_id,
        "version": domain_event.originator_version,
        "occurred_at": domain_event.timestamp,
    }
    found = next((attributes[a] for a in _ACCOUNT_ATTRIBUTES if a in attributes), None)
    record["account_id"] = aggregate_id if account else str(found or "")
    for name, attribute in _COPIED.items():
        if attribute in attributes:
            value = attributes[attribute]
            record[name] = list(value) if isinstance(value, (list, tuple)) else value
    if event_type in _IDENTIFIED and not account:
        record["identifier"] = attributes.get("identifier", "")
    if event_type in _SIGNED:
        record["text_sha256"] = attributes.get("sha256", "")
    if event_type in _EXPIRING:
        record["expires_at"] = attributes.get("expires_at")
    return record


def to_message(domain_event: Any, chain_hash: bytes | None = None) -> Message:
    record = to_record(domain_event)
    value = registry().encode(SCHEMA_NAME, record)
    headers = cloudevents.headers(
        record["event_id"],
        CE_SOURCE,
        CE_TYPE_PREFIX + record["aggregate"] + "." + record["event_type"],
        record["occurred_at"],
        record["aggregate_id"],
        registry().latest(SCHEMA_NAME),
        record["version"],
        chain_hash,
    )
    return Message(record["aggregate_id"].encode(), value, headers)


def from_value(value: bytes) -> AccessEvent:
    record = registry().decode(value)
    return AccessEvent(
        event_id=record["event_id"],
        event_type=record["event_type"],
        aggregate=record["aggregate"],
        aggregate_id=record["aggregate_id"],
        version=record["version"],
        occurred_at=record["occurred_at"],
        record=record,
    )
