"""The accounting journal on the real stack: invoices driven through their lifecycle, relay
and accounting projection as child processes, the journal checked per structure and
account, the FEC export parsed back; redeliveries post nothing twice; SIGKILLed in the
middle of a batch and restarted, the projection posts every entry exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from facturier.adapters.postgres import apply_schema
from facturier.config.settings import Settings
from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import Action, Status
from facturier.domain.model import InvoiceData, InvoiceKind, SubmissionMode
from facturier.events.lifecycle import LifecycleEvent, from_value, to_message
from facturier.projections.accounting.fec import FEC_COLUMNS
from facturier.projections.accounting.projection import AccountingProjection
from facturier.projections.runner import batch_transaction
from facturier.services.application.invoicing import InvoicingApp
from tests.support.data import BUYER, OTHER_BUYER, OTHER_SUPPLIER, ROOT, SUPPLIER, invoice_data
from tests.support.pipeline import (
    build_invoices,
    freeze_when,
    open_write_transactions,
    poll_until,
    query,
    read_topic,
    relay_position,
    store_events,
    stored_offsets,
    wait_while_running,
)
from tests.support.stack import Service, free_port

pytestmark = pytest.mark.stack

Balances = dict[tuple[str, str], Decimal]  # (account, supplier or "") -> debit - credit
BUYER_ACTOR = "buyer:accounting-test"
PAYER = "accounting:accounting-test"
ZERO = Decimal("0.00")


def accounting_settings(settings: Settings) -> Settings:
    return settings.replaced(
        accounting_metrics_port=free_port(),
        relay_metrics_port=free_port(),
    )


def journal_balances(settings: Settings, structure: str) -> Balances:
    rows = query(
        settings,
        "SELECT l.account, coalesce(l.aux_account, ''), sum(l.debit) - sum(l.credit)"
        " FROM accounting_line l JOIN accounting_entry e USING (invoice_id, version)"
        " WHERE e.structure_siret = %s GROUP BY 1, 2",
        [structure],
    )
    return {(a, x): b for a, x, b in rows if b != 0}


def unbalanced_entries(settings: Settings) -> list[tuple[Any, ...]]:
    return query(
        settings,
        "SELECT invoice_id, version, sum(debit), sum(credit) FROM accounting_line"
        " GROUP BY 1, 2 HAVING sum(debit) <> sum(credit)",
    )


def entry_keys(settings: Settings) -> list[tuple[str, int]]:
    rows = query(settings, "SELECT invoice_id::text, version FROM accounting_entry")
    return [(i, int(v)) for i, v in rows]


# --- (a) + (c): a lifecycle, its journal and its FEC -------------------------------------


def _pay(amount: str, reference: str) -> dict[str, Any]:
    return {
        "amount": Decimal(amount),
        "payment_date": date.today(),
        "payment_reference": reference,
        "actor": PAYER,
    }


def _to_payment(order: str) -> list[tuple[Action, dict[str, Any]]]:
    return [
        (Action.TAKE_IN_HAND, {"actor": BUYER_ACTOR}),
        (Action.CERTIFY_SERVICE_DONE, {"actor": BUYER_ACTOR}),
        (Action.ORDER_PAYMENT, {"payment_order_number": order, "actor": BUYER_ACTOR}),
    ]


def _credit_note(number: str, net: str, vat: str) -> InvoiceData:
    data = invoice_data(number, supplier=OTHER_SUPPLIER, net=net, vat=vat)
    return replace(data, kind=InvoiceKind.CREDIT_NOTE)


_REROUTE = [
    (Action.MARK_FOR_REROUTING, {"reason": "not our order", "actor": BUYER_ACTOR}),
    (
        Action.REROUTE,  # InvoicingApp.act makes it available to the new structure at once
        {
            "recipient_siret": OTHER_BUYER,
            "service_code": "MAIRIE",
            "order_reference": "EJ-M-1",
            "actor": "supplier:x",
        },
    ),
]
# number -> (invoice, actions after submission); every submission is made available.
SCENARIO: dict[str, tuple[InvoiceData, list[tuple[Action, dict[str, Any]]]]] = {
    "A": (  # paid in full
        invoice_data("ACC-A", net="1000.00", vat="200.00"),
        [*_to_payment("M-A"), (Action.PAY, _pay("1200.00", "VIR-A"))],
    ),
    "B": (invoice_data("ACC-B", net="250.00", vat="50.00"), []),  # unpaid
    "C": (  # rejected: reversed
        invoice_data("ACC-C", net="80.00", vat="16.00"),
        [(Action.REJECT, {"reason_code": "NON_CONFORME", "reason": "no", "actor": BUYER_ACTOR})],
    ),
    "D": (  # re-routed to OTHER_BUYER, paid there
        invoice_data("ACC-D", net="500.00", vat="100.00"),
        [*_REROUTE, *_to_payment("M-D"), (Action.PAY, _pay("600.00", "VIR-D"))],
    ),
    "E": (_credit_note("ACC-E", net="40.00", vat="8.00"), []),  # credit note, open
    "F": (  # another supplier, another buyer, unpaid
        invoice_data("ACC-F", supplier=OTHER_SUPPLIER, buyer=OTHER_BUYER, net="70.00", vat="14.00"),
        [],
    ),
    "G": (  # partly paid
        invoice_data("ACC-G", net="10.00", vat="2.00"),
        [*_to_payment("M-G"), (Action.PAY, _pay("5.00", "VIR-G"))],
    ),
}
# Worked out by hand from SCENARIO (debit - credit; 401 per supplier sub-ledger).
EXPECTED: dict[str, Balances] = {
    BUYER: {
        ("604000", ""): Decimal("1220.00"),  # A 1000 + B 250 + G 10 - E 40 (C, D reversed)
        ("445660", ""): Decimal("244.00"),  # 200 + 50 + 2 - 8
        ("401000", SUPPLIER): Decimal("-307.00"),  # unpaid: B 300 + G 12 - 5
        ("401000", OTHER_SUPPLIER): Decimal("48.00"),  # the credit note E: owed to the buyer
        ("512000", ""): Decimal("-1205.00"),  # paid: A 1200 + G 5
    },
    OTHER_BUYER: {
        ("604000", ""): Decimal("570.00"),  # D 500 + F 70
        ("445660", ""): Decimal("114.00"),
        ("401000", OTHER_SUPPLIER): Decimal("-84.00"),  # F unpaid; D paid
        ("512000", ""): Decimal("-600.00"),
    },
}
LETTERED = {  # settled: paid in full, or posted and reversed (rejected, re-routed)
    BUYER: ["ACC-A", "ACC-C", "ACC-D"],
    OTHER_BUYER: ["ACC-D"],
}
EXPECTED_ENTRIES = {
    BUYER: 10,  # A 2, B 1, C 2 (posted, reversed), D 2 (posted, reversed), E 1, G 2
    OTHER_BUYER: 3,  # D posted and paid, F
}


def run_scenario(app: InvoicingApp) -> dict[str, UUID]:
    batch = [(data, SubmissionMode.EDI, "supplier:x", name) for name, (data, _) in SCENARIO.items()]
    invoices = app.submit_many(batch)
    ids = {name: invoice.id for name, invoice in zip(SCENARIO, invoices, strict=True)}
    for name, (_, actions) in SCENARIO.items():
        for action, params in actions:
            app.act(ids[name], action, **params)
    return ids


def export_fec(settings: Settings, structure: str, year: int, path: Path, separator: str) -> str:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "facturier.services.cli.main",
            "accounting",
            "fec",
            "--structure",
            structure,
            "--year",
            str(year),
            "--output",
            str(path),
            "--separator",
            separator,
        ],
        env={**os.environ, **settings.to_env()},
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path.read_text("utf-8")


def parse_fec(text: str, separator: str) -> list[dict[str, str]]:
    sep = "\t" if separator == "tab" else separator
    rows = [line.split(sep) for line in text.split("\n")]
    assert rows[-1] == [""], "the file ends with a line break"
    header, *records = rows[:-1]
    assert tuple(header) == FEC_COLUMNS
    assert all(len(r) == 18 for r in records), [r for r in records if len(r) != 18]
    return [dict(zip(FEC_COLUMNS, r, strict=True)) for r in records]


def fec_amount(text: str) -> Decimal:
    assert text.count(",") == 1 and "." not in text, text
    whole, cents = text.split(",")
    assert whole.isdigit() and len(cents) == 2 and cents.isdigit(), text
    return Decimal(f"{whole}.{cents}")


def check_fec(records: list[dict[str, str]], year: int) -> Balances:
    """The norm's rules on parsed records; return their balances per account."""
    balances: Balances = defaultdict(lambda: ZERO)
    entries: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in records:
        for column in ("EcritureDate", "PieceDate", "ValidDate"):
            assert len(r[column]) == 8 and r[column].isdigit(), r
        assert r["EcritureDate"][:4] == str(year)
        debit, credit = fec_amount(r["Debit"]), fec_amount(r["Credit"])
        assert (debit == 0) != (credit == 0), r
        balances[(r["CompteNum"], r["CompAuxNum"])] += debit - credit
        assert bool(r["CompAuxNum"]) == r["CompteNum"].startswith("401"), r
        assert r["Idevise"] == r["Montantdevise"] == ""  # all in EUR
        entries[(r["JournalCode"], r["EcritureNum"])].append(r)
    numbers: dict[str, list[int]] = defaultdict(list)
    for (journal, number), lines in entries.items():
        assert sum(fec_amount(x["Debit"]) for x in lines) == sum(
            fec_amount(x["Credit"]) for x in lines
        ), lines
        assert len({x["EcritureDate"] for x in lines}) == 1
        numbers[journal].append(int(number))
    for journal, seen in numbers.items():  # sequential per journal and year, from 1
        assert sorted(seen) == list(range(1, len(seen) + 1)), (journal, seen)
    return {k: v for k, v in balances.items() if v != 0}


def test_journal_of_a_lifecycle_and_its_fec(
    make_settings: Callable[[], Settings],
    start_service: Callable[..., Service],
    tmp_path: Path,
) -> None:
    settings = accounting_settings(make_settings())
    app = InvoicingApp(settings.postgres)
    try:
        ids = run_scenario(app)
        events = len(store_events(app))
    finally:
        app.close()
    relay = start_service(settings, "--relay")
    accounting = start_service(settings, "--accounting")
    wait_while_running(
        accounting,
        lambda: sum(stored_offsets(settings, settings.accounting.group).values()) == events,
        60,
        "the accounting projection to consume every event",
    )
    relay.stop()
    accounting.stop()

    assert unbalanced_entries(settings) == []
    for structure, expected in EXPECTED.items():
        assert journal_balances(settings, structure) == expected, structure
        count = query(
            settings,
            "SELECT count(*) FROM accounting_entry WHERE structure_siret = %s",
            [structure],
        )
        assert count == [(EXPECTED_ENTRIES[structure],)]
    # The supplier payable is the unpaid gross, signed (a credit note counts against it).
    unpaid = Decimal("300.00") + Decimal("7.00") - Decimal("48.00")
    assert -sum(v for (a, _), v in EXPECTED[BUYER].items() if a == "401000") == unpaid
    # The credit note's entry mirrors an invoice's: 401 debited, expense and VAT credited.
    credit_note = query(
        settings,
        "SELECT account, debit, credit FROM accounting_line WHERE invoice_id = %s ORDER BY line_no",
        [ids["E"]],
    )
    assert credit_note == [
        ("604000", ZERO, Decimal("40.00")),
        ("445660", ZERO, Decimal("8.00")),
        ("401000", Decimal("48.00"), ZERO),
    ]
    # The re-routed invoice: posted to BUYER, reversed there, posted to OTHER_BUYER, paid.
    rerouted = query(
        settings,
        "SELECT structure_siret, journal_code, event_type FROM accounting_entry"
        " WHERE invoice_id = %s ORDER BY version",
        [ids["D"]],
    )
    assert rerouted == [
        (BUYER, "HA", "MadeAvailable"),
        (BUYER, "HA", "MarkedForRerouting"),
        (OTHER_BUYER, "HA", "MadeAvailable"),
        (OTHER_BUYER, "BQ", "PaymentSent"),
    ]

    for structure, separator in ((BUYER, "|"), (OTHER_BUYER, "tab")):
        years = [
            int(y)
            for (y,) in query(
                settings,
                "SELECT DISTINCT extract(year FROM entry_date)::int FROM accounting_entry"
                " WHERE structure_siret = %s",
                [structure],
            )
        ]
        balances: Balances = defaultdict(lambda: ZERO)
        lines = 0
        lettered: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
        for year in years:
            text = export_fec(
                settings, structure, year, tmp_path / f"{structure}-{year}.txt", separator
            )
            records = parse_fec(text, separator)
            lines += len(records)
            for key, value in check_fec(records, year).items():
                balances[key] += value
            for r in records:
                assert bool(r["EcritureLet"]) == bool(r["DateLet"]), r
                if r["EcritureLet"]:
                    lettered[(r["CompAuxNum"], r["EcritureLet"])].append(r)
        assert {k: v for k, v in balances.items() if v} == journal_balances(settings, structure)
        # Lettering: each settled invoice's supplier lines, one code each, balanced; the open
        # ones (unpaid, part paid, the credit note not yet refunded) stay unlettered.
        invoices = []
        for group in lettered.values():
            assert {r["CompteNum"] for r in group} == {"401000"}, group
            assert sum(fec_amount(r["Debit"]) - fec_amount(r["Credit"]) for r in group) == 0
            assert {r["DateLet"] for r in group} == {max(r["EcritureDate"] for r in group)}
            (invoice,) = {r["PieceRef"] for r in group if r["JournalCode"] == "HA"}
            invoices.append(invoice)
        assert sorted(invoices) == LETTERED[structure]
        (total,) = query(
            settings,
            "SELECT count(*) FROM accounting_line JOIN accounting_entry e"
            " USING (invoice_id, version) WHERE e.structure_siret = %s",
            [structure],
        )
        assert lines == total[0]


# --- redeliveries --------------------------------------------------------------------------


def _events(invoice: Invoice) -> list[LifecycleEvent]:
    return [from_value(to_message(e).value) for e in invoice.collect_events()]


def rerouted_paid_and_credit_note() -> list[LifecycleEvent]:
    invoice = Invoice(data=invoice_data("RD-1"), mode=SubmissionMode.EDI, actor="s")
    invoice.route()
    invoice.make_available()
    invoice.mark_for_rerouting(reason="not us", actor="b")  # v4: reversal
    invoice.reroute(recipient_siret=OTHER_BUYER, service_code="X", order_reference="E", actor="s")
    invoice.make_available()  # v6: posted to OTHER_BUYER
    invoice.take_in_hand(actor="b")
    invoice.certify_service_done(actor="b")
    invoice.order_payment(payment_order_number="MP-1", actor="b")
    invoice.pay(
        amount=Decimal("120.00"), payment_date=date(2026, 5, 1), payment_reference="V", actor="b"
    )  # v10
    note = Invoice(data=_credit_note("RD-2", "10.00", "2.00"), mode=SubmissionMode.EDI, actor="s")
    note.route()
    note.make_available()
    return _events(invoice) + _events(note)


def journal(settings: Settings, *batches: list[LifecycleEvent]) -> set[tuple[Any, ...]]:
    projection = AccountingProjection()
    with psycopg.connect(settings.postgres.dsn) as conn:
        conn.execute("TRUNCATE accounting_line, accounting_entry, accounting_invoice")
        conn.commit()
        for batch in batches:
            with batch_transaction(conn, projection) as cur:  # as the runner does
                projection.apply(cur, batch)
        rows = conn.execute(
            "SELECT e.invoice_id, e.version, e.structure_siret, e.journal_code, l.line_no,"
            " l.account, l.aux_account, l.debit, l.credit"
            " FROM accounting_entry e JOIN accounting_line l USING (invoice_id, version)"
        ).fetchall()
    assert len(rows) == len(set(rows))
    return set(rows)


def test_redelivered_events_post_nothing_twice(settings: Settings) -> None:
    apply_schema(settings.postgres, "accounting")
    events = rerouted_paid_and_credit_note()
    once = journal(settings, events)
    assert len({(r[0], r[1]) for r in once}) == 5  # posted, reversed, posted, paid; the note
    assert journal(settings, *[[e] for e in events]) == once
    # The relay re-sends from its saved position: old versions come back after newer ones.
    assert journal(settings, events[:7], events[7:] + events[2:6], events[:3], events) == once
    assert journal(settings, events, events) == once


# --- (b) SIGKILL in the middle of a batch ------------------------------------------------

INVOICES = 1200  # x 5.1 events: 6,120 events, about 4 polls of up to 2,000 records
POSTING_EVENTS = {"MadeAvailable": 3, "Rejected": 3, "PaymentSent": 2}  # -> lines posted


def expected_entries(records: list[Any], offsets: dict[int, int]) -> dict[tuple[str, int], int]:
    """(invoice id, version) -> lines, of the entries the events consumed up to `offsets`
    must have posted (the crash mix has no re-routing nor credit note)."""
    return {
        (r.event.invoice_id, r.event.version): POSTING_EVENTS[r.event.event_type]
        for r in records
        if r.offset < offsets.get(r.partition, 0) and r.event.event_type in POSTING_EVENTS
    }


def posted_entries(settings: Settings) -> dict[tuple[str, int], int]:
    rows = query(
        settings,
        "SELECT invoice_id::text, version, count(*) FROM accounting_line GROUP BY 1, 2",
    )
    assert len(entry_keys(settings)) == len(rows)  # no entry without lines
    return {(i, int(v)): int(n) for i, v, n in rows}


def test_accounting_killed_mid_batch_posts_each_entry_once(
    make_settings: Callable[[], Settings], start_service: Callable[..., Service]
) -> None:
    started = time.monotonic()
    settings = accounting_settings(make_settings())
    group = settings.accounting.group
    app = InvoicingApp(settings.postgres)
    try:
        expected = build_invoices(app, INVOICES)
        last = max(store_events(app).values())
    finally:
        app.close()
    relay = start_service(settings, "--relay")
    wait_while_running(
        relay, lambda: relay_position(settings) == last, 60, "the relay to publish all"
    )
    relay.stop()
    records, ends = read_topic(settings)
    total = sum(ends.values())
    assert total == len(records) == expected.events
    built = time.monotonic()

    accounting = start_service(settings, "--accounting")
    poll_until(
        lambda: sum(stored_offsets(settings, group).values()),
        lambda n: n > 0 or accounting.process.poll() is not None,
        timeout_s=60,
        what="the accounting projection to apply a first batch",
    )
    frozen: dict[int, int] = {}

    def in_a_batch() -> bool:
        if not open_write_transactions(settings):
            return False
        frozen.update(stored_offsets(settings, group))
        return True

    attempts = freeze_when(accounting, in_a_batch, 60, "the projection to be inside a batch")
    accounting.kill()
    assert accounting.process.returncode == -9, accounting.output()
    offsets = stored_offsets(settings, group)
    assert offsets == frozen  # the batch it was writing never committed
    consumed = sum(offsets.values())
    assert 0 < consumed < total
    # The journal is exactly what the stored offsets say was consumed: no entry missing,
    # none half-written, none doubled.
    assert posted_entries(settings) == expected_entries(records, offsets)
    assert unbalanced_entries(settings) == []
    print(
        f"\nkilled after {consumed} of {total} messages (frozen {attempts} time(s) before"
        f" catching a batch); {len(posted_entries(settings))} entries posted"
    )

    accounting = start_service(settings, "--accounting")
    final = {p: o for p, o in ends.items() if o}
    wait_while_running(
        accounting,
        lambda: stored_offsets(settings, group) == final,
        60,
        "the restarted projection to consume the whole topic",
    )
    accounting.stop()

    posted = posted_entries(settings)
    assert posted == expected_entries(records, ends)
    assert unbalanced_entries(settings) == []
    unpaid = Counter(expected.status.values())
    open_invoices = sum(
        unpaid[s]
        for s in (Status.MISE_A_DISPOSITION, Status.PRISE_EN_COMPTE_DESTINATAIRE, Status.COMPLETEE)
    )
    balances = journal_balances(settings, BUYER)
    assert balances[("401000", SUPPLIER)] == -Decimal("120.00") * open_invoices
    paid = unpaid[Status.MISE_EN_PAIEMENT]
    assert balances[("512000", "")] == -Decimal("120.00") * paid
    assert balances[("604000", "")] == Decimal("100.00") * (open_invoices + paid)
    assert query(settings, "SELECT count(*) FROM dead_letters") == [(0,)]
    print(
        f"accounting crash test: {time.monotonic() - started:.1f} s"
        f" (build and relay {built - started:.1f} s); {len(posted)} entries"
    )
