"""Where the hash chains are kept outside the event store: the heads the relay stored with
each publication (`event_chain`) and the links carried by every message on the topics."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from kafka import KafkaConsumer, TopicPartition

from facturier.adapters.postgres import connect
from facturier.config.settings import KafkaSettings, PostgresSettings


def relayed_heads(postgres: PostgresSettings) -> dict[UUID, tuple[int, bytes]]:
    """Each aggregate's last relayed version and the chain hash the relay stored for it."""
    with connect(postgres) as conn:
        return {
            UUID(str(invoice_id)): (int(version), bytes(digest))
            for invoice_id, version, digest in conn.execute(
                "SELECT invoice_id, version, chain_hash FROM event_chain"
            )
        }


def published_links(kafka: KafkaSettings) -> Iterator[tuple[UUID, int, bytes]]:
    """(aggregate, version, chain hash) of every message on the invoice and flow topics, from
    their beginning to their end as they are now; messages relayed before chains existed
    carry none and are left out."""
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    try:
        partitions = [  # invoices and flows: every aggregate's chain is published
            TopicPartition(topic, p)
            for topic in (kafka.topic, kafka.flow_topic)
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    headers = dict(record.headers)
                    if "ce_chainhash" not in headers:
                        continue
                    yield (
                        UUID(headers["ce_subject"].decode()),
                        int(headers["ce_version"].decode()),
                        bytes.fromhex(headers["ce_chainhash"].decode()),
                    )
    finally:
        consumer.close()
