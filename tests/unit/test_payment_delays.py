"""The payment-delays projection's rules folded over real (encoded, decoded) lifecycle events
(the arithmetic itself: `test_payment_terms.py`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from facturier.domain.invoice import Invoice
from facturier.domain.model import InvoiceKind, SubmissionMode
from facturier.domain.payment_terms import PARIS, RECOVERY_INDEMNITY, late_interest
from facturier.events.lifecycle import LifecycleEvent, from_value, to_message
from facturier.projections.payment_delays.projection import PaymentState, fold
from tests.support.data import BUYER, OTHER_BUYER, invoice_data

RECEIVED = date(2026, 3, 2)
RATE = Decimal("4.00")


# --- the rules over real events -----------------------------------------------------------


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), PARIS)


def events_of(invoice: Invoice, *days: date) -> list[LifecycleEvent]:
    """The invoice's pending events, decoded from the wire, dated `days` (one per event)."""
    decoded = [from_value(to_message(e).value) for e in invoice.collect_events()]
    assert len(decoded) == len(days)
    return [replace(e, occurred_at=at(d)) for e, d in zip(decoded, days, strict=True)]


def paid_invoice(
    number: str, paid_on: date, kind: str = InvoiceKind.INVOICE, amount: str = "1200.00"
) -> tuple[Invoice, list[date]]:
    data = replace(invoice_data(number, net="1000.00", vat="200.00"), kind=kind)
    invoice = Invoice(data=data, mode=SubmissionMode.EDI, actor="s")
    invoice.route()
    invoice.make_available()
    invoice.take_in_hand(actor="b")
    invoice.certify_service_done(actor="b")
    invoice.order_payment(payment_order_number="MP", actor="b")
    invoice.pay(amount=Decimal(amount), payment_date=paid_on, payment_reference="V", actor="b")
    return invoice, [RECEIVED] * 3 + [paid_on] * 4


def one(events: list[LifecycleEvent], **kwargs: Any) -> PaymentState:
    states = fold(events, RATE, **kwargs)
    assert len(states) == 1
    return next(iter(states.values()))


@pytest.mark.parametrize(
    ("days", "payment_days", "late", "interest", "indemnity"),
    [
        (30, 30, 0, "0.00", "0.00"),
        (31, 30, 1, "0.39", "40.00"),
        (45, 30, 15, "5.92", "40.00"),
        (50, 50, 0, "0.00", "0.00"),  # public hospital
        (51, 50, 1, "0.39", "40.00"),
    ],
)
def test_paid_invoice(
    days: int, payment_days: int, late: int, interest: str, indemnity: str
) -> None:
    invoice, dates = paid_invoice("P-1", RECEIVED + timedelta(days=days))
    terms = {BUYER: payment_days}
    state = one(events_of(invoice, *dates), terms=lambda siret: terms[siret])
    assert (state.received_on, state.payment_days) == (RECEIVED, payment_days)
    assert (state.days_to_payment, state.late_days) == (days, late)
    assert state.interest == Decimal(interest) and state.indemnity == Decimal(indemnity)
    view = state.view(date(2030, 1, 1))
    assert view["clock"] == "paid" and view["late"] == (late > 0)
    assert view["deadline"] == RECEIVED + timedelta(days=payment_days)
    assert view["interest_rate"] == Decimal("12.00")
    assert view["total_owed"] == Decimal(interest) + Decimal(indemnity)


def test_credit_note_owes_no_interest() -> None:
    note, dates = paid_invoice("AV-1", RECEIVED + timedelta(days=90), InvoiceKind.CREDIT_NOTE)
    state = one(events_of(note, *dates))
    assert state.late_days == 0 and state.interest == state.indemnity == Decimal("0.00")
    view = state.view(date(2030, 1, 1))
    assert view["clock"] == "not-applicable" and view["deadline"] is None
    assert view["late"] is False and view["interest"] is None


@pytest.mark.parametrize("kind", ["261", "396"])  # self-billed, factored credit notes
def test_every_credit_note_kind_gets_no_deadline(kind: str) -> None:
    note, dates = paid_invoice("AV-2", RECEIVED + timedelta(days=90), kind)
    state = one(events_of(note, *dates))
    assert state.late_days == 0 and state.interest == state.indemnity == Decimal("0.00")
    view = state.view(date(2030, 1, 1))
    assert view["clock"] == "not-applicable" and view["deadline"] is None
    assert view["late"] is False and view["interest"] is None


def test_suspension_pauses_the_clock_until_completion() -> None:
    invoice = Invoice(data=invoice_data("S-1"), mode=SubmissionMode.EDI, actor="s")
    invoice.route()
    invoice.make_available()
    invoice.suspend(reason="missing delivery note", actor="b")
    events = events_of(invoice, RECEIVED, RECEIVED, RECEIVED, date(2026, 3, 12))
    state = one(events)
    assert state.suspended_since == date(2026, 3, 12)
    view = state.view(date(2026, 6, 1))  # long after: the clock stopped at day 10
    assert (view["clock"], view["days_elapsed"], view["late_days"]) == ("suspended", 10, 0)

    invoice.complete(comment="sent", actor="s")  # 20 days later: deadline moves 20 days
    invoice.take_in_hand(actor="b")
    invoice.certify_service_done(actor="b")
    invoice.order_payment(payment_order_number="MP", actor="b")
    paid_on = RECEIVED + timedelta(days=51)  # 51 calendar days, 31 on the clock
    invoice.pay(amount=Decimal("120.00"), payment_date=paid_on, payment_reference="V", actor="b")
    later = events_of(invoice, date(2026, 4, 1), *[paid_on] * 4)
    state = one(events + later)
    assert (state.suspended_days, state.suspended_since) == (20, None)
    assert (state.days_to_payment, state.late_days) == (31, 1)
    assert state.view(paid_on)["deadline"] == date(2026, 4, 21)
    assert state.interest == late_interest(Decimal("120.00"), RATE, 1) == Decimal("0.04")
    assert state.indemnity == RECOVERY_INDEMNITY


def test_rerouting_restarts_the_clock_with_the_new_structure_terms() -> None:
    invoice = Invoice(data=invoice_data("R-1"), mode=SubmissionMode.EDI, actor="s")
    invoice.route()
    invoice.make_available()
    invoice.mark_for_rerouting(reason="not us", actor="b")
    first = events_of(invoice, RECEIVED, RECEIVED, RECEIVED, date(2026, 3, 20))
    terms = {BUYER: 30, OTHER_BUYER: 50}
    state = one(first, terms=terms.__getitem__)
    assert state.view(date(2026, 3, 25))["clock"] == "rerouting"
    invoice.reroute(recipient_siret=OTHER_BUYER, service_code="X", order_reference="E", actor="s")
    invoice.make_available()
    new_reception = date(2026, 4, 10)
    invoice.take_in_hand(actor="b")
    invoice.certify_service_done(actor="b")
    invoice.order_payment(payment_order_number="MP", actor="b")
    paid_on = new_reception + timedelta(days=50)  # 89 days after the first reception
    invoice.pay(amount=Decimal("120.00"), payment_date=paid_on, payment_reference="V", actor="b")
    later = events_of(invoice, new_reception, new_reception, *[paid_on] * 4)
    state = one(first + later, terms=terms.__getitem__)
    assert (state.recipient_siret, state.received_on) == (OTHER_BUYER, new_reception)
    assert (state.payment_days, state.days_to_payment, state.late_days) == (50, 50, 0)
    assert state.interest == Decimal("0.00")


def test_redeliveries_change_nothing() -> None:
    invoice, dates = paid_invoice("D-1", RECEIVED + timedelta(days=45))
    events = events_of(invoice, *dates)
    once = fold(events, RATE)
    assert fold(events + events[2:] + events, RATE) == once
    assert fold(events[:4] + events[:2] + events[4:], RATE) == once


def test_rejected_stops_the_clock_and_unpaid_late_days_run_until_today() -> None:
    invoice = Invoice(data=invoice_data("X-1"), mode=SubmissionMode.EDI, actor="s")
    invoice.route()
    invoice.make_available()
    received = events_of(invoice, RECEIVED, RECEIVED, RECEIVED)
    running = one(received)
    view = running.view(RECEIVED + timedelta(days=40))
    assert (view["clock"], view["days_elapsed"], view["late_days"], view["late"]) == (
        "running",
        40,
        10,
        True,
    )
    assert view["interest"] is None  # owed only once paid
    invoice.reject(reason_code="NON_CONFORME", reason="no", actor="b")
    rejected = one(received + events_of(invoice, RECEIVED))
    assert rejected.view(RECEIVED)["clock"] == "rejected"
