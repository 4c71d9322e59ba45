"""Tamper evidence: edit or delete a recorded event and the hash chains say so."""

from __future__ import annotations

import psycopg
from kafka import KafkaConsumer, TopicPartition

from facturier.adapters.chain import published_links, relayed_heads
from facturier.adapters.postgres import connect
from facturier.config.settings import Settings
from facturier.domain.lifecycle import Action
from facturier.domain.model import SubmissionMode
from facturier.events.chain import GENESIS, link
from facturier.services.application.audit import verify
from facturier.services.application.invoicing import InvoicingApp
from facturier.services.relay import Relay
from tests.support.data import invoice_data


def relay_everything(app: InvoicingApp, settings: Settings) -> None:
    relay = Relay(app, settings.postgres, settings.kafka, settings.relay)
    relay.prepare()
    with connect(settings.postgres) as conn:
        while relay.publish_next(conn):
            pass
    relay.producer.close()


def test_chains_are_published_and_tampering_is_detected(settings: Settings) -> None:
    app = InvoicingApp(settings.postgres)
    try:
        invoices = app.submit_many(
            [(invoice_data(f"AUD-{i}"), SubmissionMode.EDI, "s", "") for i in range(20)]
        )
        for invoice in invoices[:10]:
            app.act(invoice.id, Action.TAKE_IN_HAND, actor="buyer")
        target = invoices[0].id
        relay_everything(app, settings)

        # Each message carries its link; the links chain per invoice.
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap)
        partitions = [
            TopicPartition(settings.kafka.topic, p)
            for p in consumer.partitions_for_topic(settings.kafka.topic)
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        published = {}
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    headers = dict(r.headers)
                    published[(headers["ce_subject"].decode(), int(headers["ce_version"]))] = (
                        bytes.fromhex(headers["ce_chainhash"].decode())
                    )
        consumer.close()
        assert len(published) == 20 * 3 + 10
        head = GENESIS
        for event in app.recorder.select_events(target):
            head = link(head, event)
            assert published[(str(target), event.originator_version)] == head

        report = verify(app, relayed_heads(settings.postgres), published_links(settings.kafka))
        assert report.intact, report.problems
        assert (report.events, report.invoices, report.checked_on_topic) == (70, 20, 70)

        # Someone edits the seller's name inside a recorded event...
        with psycopg.connect(settings.postgres.dsn) as conn:
            edited = conn.execute(
                "UPDATE invoicing_events SET state = convert_to(replace(convert_from(state, "
                "'UTF8'), '\"ACME\"', '\"ACME Holding\"'), 'UTF8') "
                "WHERE originator_id = %s AND originator_version = 1",
                (target,),
            )
            assert edited.rowcount == 1
        assert app.get(target).data.supplier_name == "ACME Holding"
        report = verify(app, relayed_heads(settings.postgres), published_links(settings.kafka))
        assert not report.intact
        assert any(str(target) in p for p in report.problems)
        assert all(str(target) in p for p in report.problems)

        # ...and someone deletes another invoice's last event.
        other = invoices[1].id
        with psycopg.connect(settings.postgres.dsn) as conn:
            conn.execute(
                "DELETE FROM invoicing_events WHERE originator_id = %s AND originator_version = 4",
                (other,),
            )
        report = verify(app, relayed_heads(settings.postgres))
        assert any(str(other) in p and "missing" in p for p in report.problems)
    finally:
        app.close()


def test_relay_continues_chains_across_restarts(settings: Settings) -> None:
    """A relay that stops and restarts continues each chain where it left off."""
    app = InvoicingApp(settings.postgres)
    try:
        first = app.submit(invoice_data("CHAIN-1"), SubmissionMode.PORTAL, "s")
        relay_everything(app, settings)
        app.act(first.id, Action.TAKE_IN_HAND, actor="buyer")
        app.act(
            first.id, Action.REJECT, actor="buyer", reason_code="NON_CONFORME", reason="no order"
        )
        relay_everything(app, settings)  # a new Relay instance: reads the stored head
        report = verify(app, relayed_heads(settings.postgres), published_links(settings.kafka))
        assert report.intact, report.problems
        assert report.checked_on_topic == 5
    finally:
        app.close()
