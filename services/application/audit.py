"""Audit: recompute every invoice's (and flow's) hash chain from the event store and compare
it with the heads the relay stored and, optionally, with the links published on Kafka."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from kafka import KafkaConsumer, TopicPartition

from facturier.adapters.postgres import connect
from facturier.config.settings import Settings
from facturier.events.chain import GENESIS, link

if TYPE_CHECKING:
    from facturier.services.application.invoicing import InvoicingApp


@dataclass
class AuditReport:
    events: int = 0
    invoices: int = 0
    checked_on_topic: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def recompute(
    app: InvoicingApp, page: int = 5000
) -> tuple[dict[UUID, bytes], dict[tuple[UUID, int], bytes], list[str]]:
    """Walk the whole notification log: each invoice's head, every link, and any version
    gap (a deleted event)."""
    heads: dict[UUID, bytes] = {}
    versions: dict[UUID, int] = {}
    links: dict[tuple[UUID, int], bytes] = {}
    gaps: list[str] = []
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start, page)
        for n in notifications:
            invoice_id = UUID(str(n.originator_id))
            expected = versions.get(invoice_id, 0) + 1
            if n.originator_version != expected:
                gaps.append(
                    f"{invoice_id}: version {n.originator_version} follows "
                    f"{expected - 1} in the event store"
                )
            versions[invoice_id] = n.originator_version
            heads[invoice_id] = link(heads.get(invoice_id, GENESIS), n)
            links[(invoice_id, n.originator_version)] = heads[invoice_id]
        if len(notifications) < page:
            return heads, links, gaps
        start = notifications[-1].id + 1


def verify(app: InvoicingApp, settings: Settings, topic: bool = False) -> AuditReport:
    heads, links, gaps = recompute(app)
    report = AuditReport(events=len(links), invoices=len(heads), problems=list(gaps))
    with connect(settings.postgres) as conn:
        stored = {
            UUID(str(invoice_id)): (int(version), bytes(digest))
            for invoice_id, version, digest in conn.execute(
                "SELECT invoice_id, version, chain_hash FROM event_chain"
            )
        }
    for invoice_id, (version, digest) in stored.items():
        recomputed = links.get((invoice_id, version))
        if recomputed is None:
            report.problems.append(
                f"{invoice_id}: relayed version {version} is missing from the event store"
            )
        elif recomputed != digest:
            report.problems.append(
                f"{invoice_id}: events up to version {version} differ from what was relayed"
            )
    if topic:
        report.checked_on_topic = _compare_with_topic(settings, links, report.problems)
    return report


def _compare_with_topic(
    settings: Settings, links: dict[tuple[UUID, int], bytes], problems: list[str]
) -> int:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap, enable_auto_commit=False)
    checked = 0
    try:
        partitions = [  # invoices and flows: every aggregate's chain is published
            TopicPartition(topic, p)
            for topic in (settings.kafka.topic, settings.kafka.flow_topic)
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    headers = dict(record.headers)
                    key = (
                        UUID(headers["ce_subject"].decode()),
                        int(headers["ce_version"].decode()),
                    )
                    if "ce_chainhash" not in headers:  # relayed before chains existed
                        continue
                    published = bytes.fromhex(headers["ce_chainhash"].decode())
                    if links.get(key) != published:
                        problems.append(
                            f"{key[0]} v{key[1]}: the event store no longer "
                            "matches the message on the topic"
                        )
                    checked += 1
    finally:
        consumer.close()
    return checked
