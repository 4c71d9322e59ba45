"""The Invoice aggregate against the one transition table (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import (
    STATUS_AFTER_EVENT,
    STATUS_INFO,
    STATUS_WORDS,
    TERMINAL_STATUSES,
    TRANSITION_BY_ACTION,
    TRANSITIONS,
    Action,
    ActionNotAllowed,
    Status,
    StatusWord,
    Summary,
    allowed_actions,
    transition_table_markdown,
)
from facturier.domain.model import (
    InvalidCommand,
    InvalidInvoice,
    InvoiceLine,
    PaymentMeans,
    SubmissionMode,
    line,
    vat_breakdown_of,
)
from facturier.domain.rules import MINIMUM_PROFILE
from tests.support.data import BUYER, OTHER_BUYER, arabic_indic, fullwidth, invoice_data

# Valid arguments for every action, so that only the lifecycle can refuse them.
PARAMS: dict[Action, dict[str, Any]] = {
    Action.ROUTE: {},
    Action.MAKE_AVAILABLE: {},
    Action.TAKE_IN_HAND: {"actor": "buyer"},
    Action.SUSPEND: {"reason": "delivery note missing", "actor": "buyer"},
    Action.COMPLETE: {"comment": "attached", "actor": "supplier"},
    Action.MARK_FOR_REROUTING: {"reason": "wrong service", "actor": "buyer"},
    Action.REROUTE: {
        "recipient_siret": OTHER_BUYER,
        "service_code": "S2",
        "order_reference": "EJ2",
        "actor": "supplier",
    },
    Action.REJECT: {"reason_code": "NON_CONFORME", "reason": "no order", "actor": "buyer"},
    Action.CERTIFY_SERVICE_DONE: {"actor": "buyer"},
    Action.ORDER_PAYMENT: {"payment_order_number": "MP-1", "actor": "buyer"},
    Action.HAND_TO_ACCOUNTING: {"actor": "accounting"},
    Action.RECORD_IN_ACCOUNTS: {"actor": "accounting"},
    Action.PAY: {
        "amount": Decimal("120.00"),
        "payment_date": date(2026, 4, 1),
        "payment_reference": "VIR-1",
        "actor": "accounting",
    },
}


def submit() -> Invoice:
    return Invoice(data=invoice_data(), mode=SubmissionMode.PORTAL, actor="supplier")


def perform(invoice: Invoice, action: Action) -> None:
    getattr(invoice, action.value.replace("-", "_"))(**PARAMS[action])


def replay(invoice: Invoice) -> Invoice:
    rebuilt = None
    for event in invoice.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, Invoice)
    return rebuilt


def test_every_action_has_arguments_and_every_status_a_code() -> None:
    assert set(PARAMS) == set(Action)
    assert set(STATUS_INFO) == set(Status)
    assert {Status.REJETEE, Status.MISE_EN_PAIEMENT} == TERMINAL_STATUSES
    assert STATUS_INFO[Status.REJETEE].reform_code == 210  # buyer refusal, not 213
    assert STATUS_INFO[Status.MISE_EN_PAIEMENT].summary is Summary.PAID


def test_happy_path_to_paid() -> None:
    invoice = submit()
    for action in (
        Action.ROUTE,
        Action.MAKE_AVAILABLE,
        Action.TAKE_IN_HAND,
        Action.CERTIFY_SERVICE_DONE,
        Action.ORDER_PAYMENT,
        Action.PAY,
    ):
        perform(invoice, action)
    assert invoice.status is Status.MISE_EN_PAIEMENT
    assert invoice.paid_amount == Decimal("120.00")
    assert invoice.version == 7


def test_paying_a_rejected_invoice_names_status_and_action() -> None:
    invoice = submit()
    for action in (Action.ROUTE, Action.MAKE_AVAILABLE, Action.REJECT):
        perform(invoice, action)
    with pytest.raises(ActionNotAllowed) as refused:
        perform(invoice, Action.PAY)
    assert "cannot pay" in str(refused.value)
    assert "REJETEE" in str(refused.value)
    assert "final" in str(refused.value)
    assert invoice.version == 4  # nothing recorded


def test_reroute_keeps_number_and_changes_address() -> None:
    invoice = submit()
    for action in (Action.ROUTE, Action.MAKE_AVAILABLE, Action.MARK_FOR_REROUTING, Action.REROUTE):
        perform(invoice, action)
    assert invoice.status is Status.EN_COURS_ACHEMINEMENT
    assert invoice.data.recipient_siret == OTHER_BUYER
    assert invoice.data.number == "F-0001"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"recipient_siret": "11000201100045"}, "recipient_siret", "SIRET_ERR"),
        ({"supplier_id": "73282932000075"}, "supplier_id", "SIRET_ERR"),
        ({"gross_amount": Decimal("121.00")}, "gross_amount", "MONTANTTOTAL_ERR"),
        (
            {"net_amount": Decimal("100.001"), "gross_amount": Decimal("120.001")},
            "net_amount",
            "CALCUL_ERR",
        ),
        ({"currency": "euro"}, "currency", "REJ_SEMAN"),
        ({"issue_date": date(1, 1, 1)}, "issue_date", "REJ_SEMAN"),
        ({"issue_date": date(1899, 12, 31)}, "issue_date", "REJ_SEMAN"),
        ({"due_date": date(9999, 12, 31)}, "due_date", "REJ_SEMAN"),
        ({"currency": "XXX"}, "currency", "REJ_SEMAN"),
        ({"currency": "eur"}, "currency", "REJ_SEMAN"),
        ({"currency": fullwidth("EUR")}, "currency", "REJ_SEMAN"),
        ({"recipient_siret": fullwidth(BUYER)}, "recipient_siret", "SIRET_ERR"),
        ({"recipient_siret": arabic_indic(BUYER)}, "recipient_siret", "SIRET_ERR"),
        ({"supplier_id": fullwidth("73282932000074")}, "supplier_id", "SIRET_ERR"),
        ({"number": "F-\u202e1000"}, "number", "IRR_SYNTAX"),
        ({"number": "F-\u200b1"}, "number", "IRR_SYNTAX"),
        ({"order_reference": "EJ\u2066001"}, "order_reference", "IRR_SYNTAX"),
        ({"supplier_name": "ACME\x00"}, "supplier_name", "IRR_SYNTAX"),
        ({"supplier_name": "ACME\ud800"}, "supplier_name", "IRR_SYNTAX"),
        ({"recipient_name": "A\uffffB"}, "recipient_name", "IRR_SYNTAX"),
        ({"payment_terms": "30 jours\x1b[31m"}, "payment_terms", "IRR_SYNTAX"),
        (
            {
                "gross_amount": Decimal("-120.00"),
                "net_amount": Decimal("-100.00"),
                "vat_amount": Decimal("-20.00"),
                "payable_amount": Decimal("-120.00"),
                "line_total": None,
                "lines": (),
                "vat_breakdown": (),
            },
            "gross_amount",
            "MONTANTTOTAL_ERR",
        ),
        (
            {
                "gross_amount": Decimal("0.00"),
                "net_amount": Decimal("0.00"),
                "vat_amount": Decimal("0.00"),
                "payable_amount": Decimal("0.00"),
                "line_total": None,
                "lines": (),
                "vat_breakdown": (),
            },
            "gross_amount",
            "MONTANTTOTAL_ERR",
        ),
        (
            {"prepaid_amount": Decimal("200.00"), "payable_amount": Decimal("-80.00")},
            "payable_amount",
            "MONTANTTOTAL_ERR",
        ),
        ({"net_amount": Decimal("1e16")}, "net_amount", "MONTANTTOTAL_ERR"),
        ({"payable_amount": Decimal("NaN")}, "payable_amount", "MONTANTTOTAL_ERR"),
    ],
)
def test_invalid_submission_names_field_and_reason_code(
    changes: dict[str, Any], field: str, code: str
) -> None:
    with pytest.raises(InvalidInvoice) as refused:
        Invoice.submit(replace(invoice_data(), **changes), SubmissionMode.EDI, "s")
    assert refused.value.field == field
    assert refused.value.reason_code == code


@pytest.mark.parametrize(
    ("means", "flagged"),
    [
        (PaymentMeans("58", "FR7630006000011234567890189"), False),
        (PaymentMeans("58", "FR7630006000011234567890188"), True),  # wrong check digits
        (PaymentMeans("58", "1234567891234"), True),  # SEPA transfer: must be an IBAN
        (PaymentMeans("30", "DE12 1234 4321 9876 00"), True),  # IBAN-shaped, too short
        (PaymentMeans("30", "5017-2344"), False),  # a national account (bankgiro)
        (PaymentMeans("42", "1234 5678 9012 3456 789022"), False),
    ],
)
def test_an_account_is_checked_as_an_iban_when_it_is_or_must_be_one(
    means: PaymentMeans, flagged: bool
) -> None:
    problems = replace(invoice_data(), payment_means=(means,)).problems()
    assert [p.rule for p in problems] == (["FR-IBAN"] if flagged else [])


def test_a_due_date_before_the_issue_date_is_accepted() -> None:
    """Paid in advance: EN 16931 and the official Schematron accept it, and so do we."""
    data = replace(invoice_data(), due_date=date(2026, 1, 1))
    assert data.due_date is not None and data.due_date < data.issue_date
    assert data.problems() == []


def test_a_line_too_large_for_the_event_contract_is_refused_not_overflowing() -> None:
    """200 x 50,000,000,000,000 at 20 % passes each factor's bound but not the totals'."""
    big = line("1", "Gros lot", Decimal(200), Decimal("50000000000000"), Decimal(20))
    breakdown = vat_breakdown_of((big,))
    net = big.net_amount
    vat = breakdown[0].tax_amount
    data = replace(
        invoice_data(),
        lines=(big,),
        vat_breakdown=breakdown,
        line_total=net,
        net_amount=net,
        vat_amount=vat,
        gross_amount=net + vat,
        payable_amount=net + vat,
    )
    with pytest.raises(InvalidInvoice) as refused:
        Invoice.submit(data, SubmissionMode.PORTAL, "s")
    assert refused.value.reason_code == "MONTANTTOTAL_ERR"
    assert {p.rule for p in refused.value.problems} == {"FR-AMOUNT-RANGE"}


def test_factors_of_any_size_are_refused_without_a_decimal_error() -> None:
    """Quantities and prices read from a file may hold any number of digits: the line's
    computation must never raise (decimal.InvalidOperation was a 500)."""
    for quantity, price in ((Decimal("1e30"), Decimal("1e30")), (Decimal("1e-30"), Decimal(1))):
        item = InvoiceLine("1", "x", quantity, "C62", price, Decimal("1.00"), "S", Decimal(20))
        problems = replace(invoice_data(), lines=(item,)).problems()
        assert problems, (quantity, price)


def test_rules_are_checked_at_submission_not_when_history_is_replayed() -> None:
    """An invoice recorded under older, looser rules still loads: the checks run when the
    command is given, not in the event's body."""
    loose = replace(invoice_data(), currency="XXX")  # refused by today's rules
    with pytest.raises(InvalidInvoice):
        Invoice.submit(loose, SubmissionMode.EDI, "s")
    recorded = Invoice(data=loose, mode=SubmissionMode.EDI, actor="s")
    events = recorded.collect_events()
    replayed = None
    for stored in events:
        replayed = stored.mutate(replayed)
    assert replayed is not None and replayed.data.currency == "XXX"


@pytest.mark.parametrize(
    ("action", "params", "field"),
    [
        (Action.SUSPEND, {"reason": "x\x00y", "reason_code": "AUTRE"}, "reason"),
        (Action.SUSPEND, {"reason": "\ud83d", "reason_code": "AUTRE"}, "reason"),
        (Action.REJECT, {"reason": "bad\x07", "reason_code": "AUTRE"}, "reason"),
        (Action.ORDER_PAYMENT, {"payment_order_number": "M\u202e1"}, "payment_order_number"),
    ],
)
def test_action_texts_are_checked_before_anything_is_recorded(
    action: Action, params: dict[str, Any], field: str
) -> None:
    invoice = submit()
    for step in (Action.ROUTE, Action.MAKE_AVAILABLE, Action.TAKE_IN_HAND):
        perform(invoice, step)
    if action is Action.ORDER_PAYMENT:
        perform(invoice, Action.CERTIFY_SERVICE_DONE)
    version = invoice.version
    with pytest.raises(InvalidCommand) as refused:
        getattr(invoice, action.value.replace("-", "_"))(actor="buyer:x", **params)
    assert refused.value.field == field
    assert invoice.version == version


def test_a_multi_line_reason_is_kept() -> None:
    invoice = submit()
    for step in (Action.ROUTE, Action.MAKE_AVAILABLE):
        perform(invoice, step)
    invoice.suspend(reason="Ligne 1\r\n\tLigne 2", reason_code="JUSTIF_ABS", actor="buyer:x")
    assert invoice.status is Status.SUSPENDUE


def test_a_minimum_profile_payable_amount_is_not_checked_against_its_total() -> None:
    """Factur-X MINIMUM cannot carry the prepaid amount that explains a smaller payable."""
    short = replace(invoice_data(), payable_amount=Decimal("20.00"))
    assert [p.rule for p in short.problems()] == ["FR-CALC-PAYABLE"]
    minimum = replace(short, guideline_id=MINIMUM_PROFILE)
    assert minimum.problems() == []


def test_reasons_are_required_and_coded() -> None:
    invoice = submit()
    perform(invoice, Action.ROUTE)
    perform(invoice, Action.MAKE_AVAILABLE)
    with pytest.raises(InvalidCommand, match="reason"):
        invoice.reject(reason_code="NON_CONFORME", reason=" ", actor="buyer")
    with pytest.raises(InvalidCommand, match="reason_code"):
        invoice.reject(reason_code="BECAUSE", reason="no", actor="buyer")
    assert invoice.status is Status.MISE_A_DISPOSITION


def test_same_invoice_same_id_different_year_different_id() -> None:
    from dataclasses import replace

    data = invoice_data()
    assert Invoice.create_id(data) == Invoice.create_id(replace(data, net_amount=Decimal(1)))
    assert Invoice.create_id(data) != Invoice.create_id(replace(data, issue_date=date(2027, 3, 2)))
    # Another establishment of the same company (same SIREN) is the same seller.
    assert Invoice.create_id(data) == Invoice.create_id(
        replace(data, supplier_id=data.supplier_id[:9] + "00082")
    )


def test_table_is_printed_from_code() -> None:
    table = transition_table_markdown()
    for transition in TRANSITIONS:
        assert f"| {transition.action} | {transition.event} |" in table
    assert set(STATUS_AFTER_EVENT) == {"Submitted"} | {t.event for t in TRANSITIONS}


def test_status_words_and_summaries_are_two_vocabularies_that_agree() -> None:
    # Both spellings are contracts (published summaries, stored subscriptions).
    assert (Summary.IN_PROCESSING, StatusWord.IN_PROCESSING) == ("in processing", "in-processing")
    assert set(STATUS_WORDS.values()) == set(StatusWord)
    summaries = {summary.value for summary in Summary}
    for status, word in STATUS_WORDS.items():
        if word.replace("-", " ") in summaries:  # a word that is also a summary means it
            assert STATUS_INFO[status].summary == word.replace("-", " ")
    order = list(Status)
    assert list(STATUS_WORDS) == sorted(STATUS_WORDS, key=order.index)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(Action)), max_size=40))
def test_random_actions_follow_the_table_and_replay_identically(actions: list[Action]) -> None:
    invoice = submit()
    expected = Status.DEPOSEE
    for action in actions:
        before = invoice.version
        if expected in TRANSITION_BY_ACTION[action].sources:
            perform(invoice, action)
            expected = TRANSITION_BY_ACTION[action].target
            assert invoice.version == before + 1
        else:
            with pytest.raises(ActionNotAllowed):
                perform(invoice, action)
            assert invoice.version == before
        assert invoice.status is expected
        assert (invoice.status in TERMINAL_STATUSES) == (not allowed_actions(invoice.status))
    assert replay(invoice) == invoice


def test_buyer_fixture_is_a_valid_siret() -> None:
    from stdnum.fr import siret

    assert siret.is_valid(BUYER) and siret.is_valid(OTHER_BUYER)
