"""The audit's comparison, in memory: chains recomputed from the event store against the heads
a relay would have stored and the links it would have published. The relay itself, the
stored heads and the topic are real in tests/integration/test_audit_chain.py."""

from __future__ import annotations

import dataclasses
from uuid import UUID

from facturier.domain.lifecycle import Action
from facturier.domain.model import SubmissionMode
from facturier.events.chain import GENESIS, link
from facturier.services.application.audit import verify
from facturier.services.application.invoicing import InvoicingApp
from tests.support.data import invoice_data


def relayed(
    app: InvoicingApp,
) -> tuple[dict[UUID, tuple[int, bytes]], list[tuple[UUID, int, bytes]]]:
    """What a relay that published everything would have kept: each chain's head, each link."""
    heads: dict[UUID, tuple[int, bytes]] = {}
    links: list[tuple[UUID, int, bytes]] = []
    for n in app.recorder.select_notifications(1, 10_000):
        invoice_id = UUID(str(n.originator_id))
        digest = link(heads.get(invoice_id, (0, GENESIS))[1], n)
        heads[invoice_id] = (n.originator_version, digest)
        links.append((invoice_id, n.originator_version, digest))
    return heads, links


def test_intact_chains_pass_and_each_kind_of_tampering_is_named() -> None:
    app = InvoicingApp()
    invoices = [app.submit(invoice_data(f"A-{n}"), SubmissionMode.PORTAL, "s") for n in range(3)]
    app.act(invoices[0].id, Action.TAKE_IN_HAND, actor="buyer")
    heads, links = relayed(app)

    report = verify(app, heads, links)
    assert report.intact, report.problems
    assert (report.events, report.invoices, report.checked_on_topic) == (10, 3, 10)

    # A recorded event edited after it was relayed: its chain and every later link differ.
    records = app.recorder._stored_events  # the in-memory store's own list
    index = next(
        i
        for i, e in enumerate(records)
        if e.originator_id == invoices[1].id and e.originator_version == 1
    )
    records[index] = dataclasses.replace(
        records[index], state=records[index].state.replace(b"ACME", b"ACME Holding")
    )
    report = verify(app, heads, links)
    assert not report.intact
    assert all(str(invoices[1].id) in p for p in report.problems)
    assert any("differ from what was relayed" in p for p in report.problems)
    assert sum("no longer matches the message on the topic" in p for p in report.problems) == 3

    # A relayed head the store no longer holds (its last event deleted).
    missing = dict(heads)
    missing[invoices[2].id] = (4, bytes(32))
    report = verify(app, missing)
    assert any(str(invoices[2].id) in p and "missing" in p for p in report.problems)
