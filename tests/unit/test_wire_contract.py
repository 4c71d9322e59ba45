"""Avro single-object encoding, schema evolution and CloudEvents headers (no I/O)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from importlib import resources

import pytest

from facturier.domain.flow import Flow, FlowEventType
from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import EventType, Status
from facturier.domain.model import Document, SubmissionMode
from facturier.events.avro import (
    MAGIC,
    NotSingleObjectEncoded,
    Schema,
    SchemaRegistry,
    UnknownSchema,
    encode,
)
from facturier.events.lifecycle import (
    SCHEMA_NAME,
    event_id,
    from_value,
    registry,
    to_message,
    to_record,
)
from tests.support.data import invoice_data


def lifecycle_events() -> list[object]:
    from dataclasses import replace

    data = replace(
        invoice_data(), documents=(Document("ab" * 32, "f.pdf", "application/pdf", 1234),)
    )
    invoice = Invoice(
        data=data, mode=SubmissionMode.PDF, actor="supplier:1", correlation_id="corr-1"
    )
    invoice.route()
    invoice.make_available()
    invoice.take_in_hand(actor="buyer:2")
    invoice.suspend(reason="missing delivery note", actor="buyer:2")
    invoice.complete(comment="attached", actor="supplier:1")
    invoice.certify_service_done(actor="buyer:2")
    invoice.order_payment(payment_order_number="MP-9", actor="buyer:2")
    invoice.pay(
        amount=Decimal("120.00"),
        payment_date=date(2026, 4, 1),
        payment_reference="VIR-9",
        actor="buyer:2",
    )
    return list(invoice.collect_events())


def test_crc64_avro_fingerprint_matches_the_spec() -> None:
    # Avro spec test vector: the fingerprint of "null" is 0x63dd24e7cc258f8a, written
    # little-endian after the C3 01 marker.
    schema = Schema.from_definition("null", 1, "null")  # type: ignore[arg-type]
    assert schema.fingerprint == (0x63DD24E7CC258F8A).to_bytes(8, "little")


def test_every_event_round_trips() -> None:
    for event in lifecycle_events():
        message = to_message(event)
        assert message.value[:2] == MAGIC
        assert message.value[2:10] == registry().latest(SCHEMA_NAME).fingerprint
        decoded = from_value(message.value)
        assert decoded.event_type == type(event).__name__
        assert decoded.invoice_id == str(event.originator_id)  # type: ignore[attr-defined]
        assert decoded.version == event.originator_version  # type: ignore[attr-defined]
        assert decoded.occurred_at == event.timestamp  # type: ignore[attr-defined]
    submitted = from_value(to_message(lifecycle_events()[0]).value)
    assert submitted.status is Status.DEPOSEE and submitted.reform_code == 200
    assert submitted.payload["gross_amount"] == Decimal("120.00")
    assert submitted.payload["documents"][0]["size"] == 1234
    assert submitted.correlation_id == "corr-1"
    paid = from_value(to_message(lifecycle_events()[-1]).value)
    assert paid.payload == {
        "amount": Decimal("120.00"),
        "payment_date": date(2026, 4, 1),
        "payment_reference": "VIR-9",
    }
    assert paid.summary == "paid"


def test_event_types_are_the_contracts_and_stay_plain_text() -> None:
    """The one enumeration names every invoice event: the Avro payload branches, and the
    aggregates' event classes, whose names are stored and published as plain text."""
    payload = next(
        f for f in registry().latest(SCHEMA_NAME).definition["fields"] if f["name"] == "payload"
    )
    assert {branch["name"] for branch in payload["type"]} == set(EventType)
    for aggregate, types in ((Invoice, EventType), (Flow, FlowEventType)):
        for event_type in types:
            name = getattr(aggregate, event_type.value).__name__
            assert type(name) is str and name == event_type.value
    assert {type(event).__name__ for event in lifecycle_events()} <= set(EventType)


def test_cloudevents_binary_mode_headers() -> None:
    event = lifecycle_events()[3]
    message = to_message(event)
    headers = dict(message.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"fr.facturier.invoice.TakenInHand"
    assert headers["ce_subject"] == str(event.originator_id).encode()  # type: ignore[attr-defined]
    assert headers["ce_id"] == event_id(event.originator_id, 4).encode()  # type: ignore[attr-defined]
    assert headers["ce_version"] == b"4"
    assert headers["ce_source"] == b"/facturier/invoices"
    assert headers["content-type"] == b"application/avro"
    assert headers["ce_time"].startswith(b"20")
    assert message.key == str(event.originator_id).encode()  # type: ignore[attr-defined]


def test_event_id_is_stable_across_redeliveries() -> None:
    event = lifecycle_events()[0]
    assert to_message(event).headers == to_message(event).headers


def test_v1_message_decodes_with_the_shipped_v2_reader() -> None:
    """Messages written before the canonical model (v1) stay readable: Avro resolution fills
    v2's new Submitted fields with their defaults."""
    shipped = SchemaRegistry.load()
    v1 = Schema.from_definition(
        SCHEMA_NAME,
        1,
        json.loads(
            resources.files("facturier.schemas")
            .joinpath("avro", "invoice_lifecycle.v1.avsc")
            .read_text("utf-8")
        ),
    )
    v2 = shipped.latest(SCHEMA_NAME)
    assert v2.version == 2 and v1.fingerprint != v2.fingerprint

    old_message = encode(v1, to_record(lifecycle_events()[0]))  # as a v1 producer wrote it
    payload = shipped.decode(old_message)["payload"][1]
    assert payload["net_amount"] == Decimal("100.00")
    assert payload["lines"] == [] and payload["payment_means"] == []
    assert payload["allowance_total"] is None and payload["supplier_address"]["city"] == ""
    assert all(d["role"] == "invoice" for d in payload["documents"])
    # And a v2 message is refused by a v1-only registry, loudly.
    with pytest.raises(UnknownSchema):
        SchemaRegistry([v1]).decode(to_message(lifecycle_events()[0]).value)


def test_garbage_is_refused_with_a_clear_error() -> None:
    with pytest.raises(NotSingleObjectEncoded):
        from_value(b'{"json": "not avro"}')
    with pytest.raises(UnknownSchema):
        from_value(MAGIC + b"\x00" * 8 + b"body")


def test_event_id_is_the_standard_uuid5() -> None:
    import uuid

    invoice_id = uuid.UUID("4f0d1c52-7f7e-4c1b-9d7e-2b8f1a6c0e11")
    for version in (1, 9, 10, 1234):
        expected = str(uuid.uuid5(invoice_id, str(version)))
        assert event_id(invoice_id, version) == event_id(str(invoice_id), version) == expected


def test_memoised_partitioner_agrees_with_kafkas_default() -> None:
    import uuid

    from kafka.partitioner.default import DefaultPartitioner

    from facturier.adapters.kafka import MemoisedKeyPartitioner

    class Cluster:
        def topics(self) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(6))

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(6))

    ours, kafkas = MemoisedKeyPartitioner(max_keys=50), DefaultPartitioner()
    for _ in range(2):
        for i in range(200):
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))).encode()
            assert ours.partition("t", key, key, None, None, Cluster()) == kafkas.partition(
                "t", key, key, None, None, Cluster()
            )
