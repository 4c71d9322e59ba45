"""Audit: recompute every invoice's (and flow's) hash chain from the event store and compare
it with the heads the relay stored and, optionally, with the links published on Kafka."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

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


def verify(
    app: InvoicingApp,
    relayed: Mapping[UUID, tuple[int, bytes]],
    published: Iterable[tuple[UUID, int, bytes]] | None = None,
) -> AuditReport:
    """Recompute the chains from the event store and compare them with the heads the relay
    stored (`relayed`: adapters.chain.relayed_heads) and, if given, with every link published
    on the topics (`published`: adapters.chain.published_links)."""
    heads, links, gaps = recompute(app)
    report = AuditReport(events=len(links), invoices=len(heads), problems=list(gaps))
    for invoice_id, (version, digest) in relayed.items():
        recomputed = links.get((invoice_id, version))
        if recomputed is None:
            report.problems.append(
                f"{invoice_id}: relayed version {version} is missing from the event store"
            )
        elif recomputed != digest:
            report.problems.append(
                f"{invoice_id}: events up to version {version} differ from what was relayed"
            )
    for invoice_id, version, digest in published or ():
        if links.get((invoice_id, version)) != digest:
            report.problems.append(
                f"{invoice_id} v{version}: the event store no longer "
                "matches the message on the topic"
            )
        report.checked_on_topic += 1
    return report
