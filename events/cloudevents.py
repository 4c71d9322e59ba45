"""The CloudEvents Kafka binding (binary mode) that every topic's messages share: the
attributes travel as `ce_*` headers, the Avro record as the value."""

from __future__ import annotations

from datetime import datetime

from facturier.events.avro import Schema

CONTENT_TYPE = "application/avro"


def headers(
    event_id: str,
    source: str,
    event_type: str,
    time: datetime,
    subject: str,
    schema: Schema,
    version: int,
    chain_hash: bytes | None = None,
    **extensions: str,
) -> list[tuple[str, bytes]]:
    """The headers of one message; `extensions` become `ce_<name>` headers."""
    found = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", time.isoformat().encode()),
        ("ce_subject", subject.encode()),
        ("ce_dataschema", f"urn:avro:crc64:{schema.fingerprint.hex()}".encode()),
        ("ce_version", str(version).encode()),
    ]
    found += [(f"ce_{name}", value.encode()) for name, value in extensions.items()]
    found.append(("content-type", CONTENT_TYPE.encode()))
    if chain_hash is not None:  # see events/chain.py
        found.append(("ce_chainhash", chain_hash.hex().encode()))
    return found
