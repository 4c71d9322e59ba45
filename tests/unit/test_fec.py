"""FEC formatting (projections/accounting/fec.py) and the posting rules it exports
(projections/accounting/projection.py), without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from facturier.domain.invoice import Invoice
from facturier.domain.model import InvoiceKind, SubmissionMode
from facturier.events.lifecycle import LifecycleEvent, from_value, to_message
from facturier.projections.accounting.fec import (
    FEC_COLUMNS,
    FecLine,
    fec_amount,
    fec_date,
    fec_filename,
    format_fec,
    letter_code,
)
from facturier.projections.accounting.projection import (
    ChartOfAccounts,
    Entry,
    InvoiceState,
    Posting,
)
from tests.support.data import OTHER_BUYER, invoice_data


def fec_line(**changes: object) -> FecLine:
    line = FecLine(
        journal_code="HA",
        journal_label="Journal des achats",
        entry_number=7,
        entry_date=date(2026, 3, 5),
        account="401000",
        account_label="Fournisseurs",
        aux_account="73282932000074",
        aux_label="ACME",
        piece_ref="F-0001",
        piece_date=date(2026, 3, 2),
        label="Facture F-0001 ACME",
        debit=Decimal("0.00"),
        credit=Decimal("1234.56"),
        lettering=None,
        lettering_date=None,
        valid_date=date(2026, 3, 5),
        currency_amount=None,
        currency=None,
    )
    return replace(line, **changes)  # type: ignore[arg-type]


def test_columns_are_the_norms_18_in_order() -> None:
    assert FEC_COLUMNS == (
        "JournalCode",
        "JournalLib",
        "EcritureNum",
        "EcritureDate",
        "CompteNum",
        "CompteLib",
        "CompAuxNum",
        "CompAuxLib",
        "PieceRef",
        "PieceDate",
        "EcritureLib",
        "Debit",
        "Credit",
        "EcritureLet",
        "DateLet",
        "ValidDate",
        "Montantdevise",
        "Idevise",
    )


def test_pipe_separated_record() -> None:
    header, row, end = format_fec([fec_line()]).split("\n")
    assert header == "|".join(FEC_COLUMNS)
    assert end == ""
    assert row.split("|") == [
        "HA",
        "Journal des achats",
        "7",
        "20260305",
        "401000",
        "Fournisseurs",
        "73282932000074",
        "ACME",
        "F-0001",
        "20260302",
        "Facture F-0001 ACME",
        "0,00",
        "1234,56",
        "",
        "",
        "20260305",
        "",
        "",
    ]


def test_tab_separated_and_foreign_currency() -> None:
    line = fec_line(currency_amount=Decimal("1234.56"), currency="USD")
    text = format_fec([line, line], "tab")
    rows = [r.split("\t") for r in text.splitlines()]
    assert len(rows) == 3
    assert all(len(r) == 18 for r in rows)
    assert rows[1][16:] == ["1234,56", "USD"]


def test_a_separator_inside_a_text_never_shifts_columns() -> None:
    line = fec_line(aux_label="A|B\tC\nD", label="x|y")
    for separator in ("|", "tab"):
        rows = format_fec([line], separator).splitlines()
        assert len(rows) == 2
        assert len(rows[1].split("|" if separator == "|" else "\t")) == 18


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0", "0,00"),
        ("0.5", "0,50"),
        ("1234.56", "1234,56"),
        ("1000000.00", "1000000,00"),
        ("99999999999999.99", "99999999999999,99"),
    ],
)
def test_amounts_use_a_decimal_comma_and_no_thousands_separator(amount: str, text: str) -> None:
    assert fec_amount(Decimal(amount)) == text


def test_dates_and_file_name() -> None:
    assert fec_date(date(2026, 1, 9)) == "20260109"
    assert fec_filename("11000201100044", 2026) == "110002011FEC20261231.txt"


# --- posting rules ---------------------------------------------------------------------------


def events_of(invoice: Invoice) -> list[LifecycleEvent]:
    return [from_value(to_message(e).value) for e in invoice.collect_events()]


def post_all(events: list[LifecycleEvent], chart: ChartOfAccounts | None = None) -> list[Entry]:
    posting = Posting(chart or ChartOfAccounts())
    state = InvoiceState.submitted(events[0])
    entries = [posting.apply(state, e) for e in events[1:]]
    return [e for e in entries if e is not None]


def lines_of(entry: Entry) -> list[tuple[str, Decimal, Decimal, str | None]]:
    return [(x.account, x.debit, x.credit, x.aux_account) for x in entry.lines]


def test_invoice_then_payment() -> None:
    invoice = Invoice(
        data=invoice_data("P-1", net="1000.00", vat="200.00"), mode=SubmissionMode.EDI, actor="s"
    )
    invoice.route()
    invoice.make_available()
    invoice.take_in_hand(actor="b")
    invoice.certify_service_done(actor="b")
    invoice.order_payment(payment_order_number="M-1", actor="b")
    invoice.pay(
        amount=Decimal("1200.00"),
        payment_date=date(2026, 4, 1),
        payment_reference="VIR-1",
        actor="a",
    )
    posted, paid = post_all(events_of(invoice))
    zero = Decimal("0.00")
    supplier = invoice.data.supplier_id
    assert lines_of(posted) == [
        ("604000", Decimal("1000.00"), zero, None),
        ("445660", Decimal("200.00"), zero, None),
        ("401000", zero, Decimal("1200.00"), supplier),
    ]
    assert posted.journal.code == "HA"
    assert lines_of(paid) == [
        ("401000", Decimal("1200.00"), zero, supplier),
        ("512000", zero, Decimal("1200.00"), None),
    ]
    assert paid.journal.code == "BQ"
    assert paid.entry_date == date(2026, 4, 1)
    assert paid.piece_ref == "VIR-1"


def test_credit_note_posts_opposite_sides_and_chart_is_configurable() -> None:
    data = replace(invoice_data("AV-1", net="40.00", vat="8.00"), kind=InvoiceKind.CREDIT_NOTE)
    invoice = Invoice(data=data, mode=SubmissionMode.EDI, actor="s")
    invoice.route()
    invoice.make_available()
    chart = ChartOfAccounts(expense="611000", vat="445620", supplier="404000", bank="515000")
    (posted,) = post_all(events_of(invoice), chart)
    zero = Decimal("0.00")
    assert lines_of(posted) == [
        ("611000", zero, Decimal("40.00"), None),
        ("445620", zero, Decimal("8.00"), None),
        ("404000", Decimal("48.00"), zero, data.supplier_id),
    ]
    assert posted.label.startswith("Avoir AV-1")


@pytest.mark.parametrize("kind", ["261", "396"])  # self-billed, factored credit notes
def test_every_credit_note_kind_posts_opposite_sides_and_reverses(kind: str) -> None:
    data = replace(invoice_data("AV-2", net="40.00", vat="8.00"), kind=kind)
    invoice = Invoice(data=data, mode=SubmissionMode.EDI, actor="s")
    invoice.route()
    invoice.make_available()
    invoice.reject(reason_code="NON_CONFORME", reason="no", actor="b")
    posted, reversal = post_all(events_of(invoice))
    zero = Decimal("0.00")
    assert lines_of(posted) == [
        ("604000", zero, Decimal("40.00"), None),
        ("445660", zero, Decimal("8.00"), None),
        ("401000", Decimal("48.00"), zero, data.supplier_id),
    ]
    assert posted.label.startswith("Avoir AV-2")
    assert [(a, c, d, x) for a, d, c, x in lines_of(posted)] == lines_of(reversal)
    assert reversal.label.startswith("Extourne avoir AV-2")


def test_rerouting_reverses_then_posts_to_the_new_structure() -> None:
    invoice = Invoice(data=invoice_data("R-1"), mode=SubmissionMode.EDI, actor="s")
    invoice.route()
    invoice.make_available()
    invoice.mark_for_rerouting(reason="not ours", actor="b")
    invoice.reroute(recipient_siret=OTHER_BUYER, service_code="X", order_reference="EJ", actor="s")
    invoice.make_available()
    first, reversal, second = post_all(events_of(invoice))
    assert first.structure_siret == reversal.structure_siret == invoice_data().recipient_siret
    assert second.structure_siret == OTHER_BUYER
    assert [(a, c, d, x) for a, d, c, x in lines_of(first)] == lines_of(reversal)
    assert lines_of(first) == lines_of(second)
    for entry in (first, reversal, second):
        assert entry.balanced


def test_entry_date_is_the_paris_date_of_the_event() -> None:
    invoice = Invoice(data=invoice_data("D-1"), mode=SubmissionMode.EDI, actor="s")
    invoice.route()
    invoice.make_available()
    events = events_of(invoice)
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # already 1 January in Paris
    events[2] = replace(events[2], occurred_at=late)
    (posted,) = post_all(events)
    assert posted.entry_date == date(2027, 1, 1)


def test_lettering_codes_run_a_to_z_then_aa() -> None:
    assert [letter_code(n) for n in (1, 2, 26, 27, 52, 53, 702, 703)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]
