"""The tracking projection on a real PostgreSQL: redeliveries in any order change nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg

from facturier.adapters.postgres import apply_schema
from facturier.config.settings import Settings
from facturier.domain.invoice import Invoice
from facturier.domain.model import SubmissionMode
from facturier.events.lifecycle import LifecycleEvent, from_value, to_message
from facturier.projections.runner import batch_transaction
from facturier.projections.tracking.projection import TrackingProjection
from tests.support.data import BUYER, OTHER_BUYER, invoice_data


def twice_rerouted_then_paid() -> list[LifecycleEvent]:
    invoice = Invoice(data=invoice_data("TP-1"), mode=SubmissionMode.PORTAL, actor="s")
    invoice.route()
    invoice.make_available()
    invoice.mark_for_rerouting(reason="not us", actor="b")  # v4
    invoice.reroute(
        recipient_siret=OTHER_BUYER, service_code="X", order_reference="EJ-X", actor="s"
    )  # v5
    invoice.make_available()  # v6
    invoice.mark_for_rerouting(reason="not us either", actor="b")  # v7
    invoice.reroute(
        recipient_siret=BUYER, service_code="Y", order_reference="EJ-Y", actor="s"
    )  # v8
    invoice.make_available()  # v9
    invoice.take_in_hand(actor="b")  # v10
    invoice.certify_service_done(actor="b")
    invoice.order_payment(payment_order_number="MP-1", actor="b")
    invoice.pay(
        amount=Decimal("120.00"), payment_date=date(2026, 5, 1), payment_reference="VIR", actor="b"
    )  # v13
    return [from_value(to_message(e).value) for e in invoice.collect_events()]


def apply(settings: Settings, *batches: list[LifecycleEvent]) -> dict[str, object]:
    projection = TrackingProjection()
    with psycopg.connect(settings.postgres.dsn) as conn:
        for batch in batches:
            with batch_transaction(conn, projection) as cur:  # as the runner does
                projection.apply(cur, batch)
        row = conn.execute(
            "SELECT version, status, recipient_siret, service_code, order_reference,"
            " payment_order_number, paid_amount, (SELECT count(*) FROM tracking_timeline)"
            " FROM tracking_invoice"
        ).fetchall()
    assert len(row) == 1
    keys = (
        "version",
        "status",
        "recipient_siret",
        "service_code",
        "order_reference",
        "payment_order_number",
        "paid_amount",
        "timeline",
    )
    return dict(zip(keys, row[0], strict=True))


EXPECTED = {
    "version": 13,
    "status": "MISE_EN_PAIEMENT",
    "recipient_siret": BUYER,
    "service_code": "Y",
    "order_reference": "EJ-Y",
    "payment_order_number": "MP-1",
    "paid_amount": Decimal("120.00"),
    "timeline": 13,
}


def test_one_batch(settings: Settings) -> None:
    apply_schema(settings.postgres, "tracking")
    assert apply(settings, twice_rerouted_then_paid()) == EXPECTED


def test_event_by_event(settings: Settings) -> None:
    apply_schema(settings.postgres, "tracking")
    assert apply(settings, *[[e] for e in twice_rerouted_then_paid()]) == EXPECTED


def test_redelivered_old_events_after_newer_ones(settings: Settings) -> None:
    """The relay re-sends from its saved position: the topic then holds v1..v13, v4..v13.
    A batch may mix the tail of the first copy with the head of the second; the first
    re-route (to OTHER_BUYER) must never come back."""
    apply_schema(settings.postgres, "tracking")
    events = twice_rerouted_then_paid()
    assert apply(settings, events[:10], events[10:] + events[3:6], events[6:]) == EXPECTED


def test_large_mixed_batch(settings: Settings) -> None:
    """Hundreds of new invoices and their next events in one transaction, applied partition
    by partition on one cursor."""
    apply_schema(settings.postgres, "tracking")
    batch: list[LifecycleEvent] = []
    for i in range(300):
        invoice = Invoice(data=invoice_data(f"BIG-{i}"), mode=SubmissionMode.EDI, actor="s")
        invoice.route()
        invoice.make_available()
        invoice.take_in_hand(actor="b")
        batch += [from_value(to_message(e).value) for e in invoice.collect_events()]
    with psycopg.connect(settings.postgres.dsn) as conn:
        projection = TrackingProjection()
        with batch_transaction(conn, projection) as cur:
            for partition in range(6):
                projection.apply(cur, batch[partition * 200 : (partition + 1) * 200])
        counts = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE version = 4 AND status ="
            " 'PRISE_EN_COMPTE_DESTINATAIRE') FROM tracking_invoice"
        ).fetchone()
        timeline = conn.execute("SELECT count(*) FROM tracking_timeline").fetchone()
    assert counts == (300, 300)
    assert timeline == (1200,)
