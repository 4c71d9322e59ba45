"""E-mail notifications without services: which events deserve an e-mail, what it says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest

from facturier.domain.languages import EMAIL_DEFAULT_LANGUAGE, PORTAL_DEFAULT_LANGUAGE
from facturier.domain.lifecycle import STATUS_AFTER_EVENT, STATUS_INFO, STATUS_WORDS
from facturier.domain.subscriptions import (
    DEFAULT_STATUSES,
    LANGUAGES,
    WORDS,
    InvalidSubscription,
    Subscription,
)
from facturier.events.lifecycle import LifecycleEvent, event_id
from facturier.projections.notifications.projection import (
    InvoiceFacts,
    Notification,
    NotificationRules,
)
from facturier.projections.notifications.sender import (
    NEXT_STEP,
    STATUS_TEXT,
    message_id,
    render,
    retry_delay,
    smtp_code,
)

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
INVOICE = str(uuid.UUID("6f1c2a9e-0000-4000-8000-000000000001"))
SUPPLIER = "73282932000074"
OTHER = "54205118000066"


def event(kind: str, version: int, invoice: str = INVOICE, **payload: Any) -> LifecycleEvent:
    status = STATUS_AFTER_EVENT[kind]
    info = STATUS_INFO[status]
    return LifecycleEvent(
        event_id=event_id(invoice, version),
        event_type=kind,
        invoice_id=invoice,
        version=version,
        occurred_at=NOW - timedelta(minutes=10 - version),
        actor="buyer:x",
        correlation_id="c",
        status=status,
        reform_code=info.reform_code,
        summary=info.summary.value,
        payload=payload,
    )


def submitted(invoice: str = INVOICE, supplier: str = SUPPLIER) -> LifecycleEvent:
    return event(
        "Submitted",
        1,
        invoice,
        supplier_id=supplier,
        number="F-2026-042",
        recipient_siret="11000201100044",
        recipient_name="Mairie de Test",
    )


def rules(*subscriptions: Subscription) -> NotificationRules:
    return NotificationRules({s.supplier_id: s for s in subscriptions}, timedelta(hours=48), NOW)


def test_the_vocabulary_follows_the_lifecycle() -> None:
    assert set(DEFAULT_STATUSES) <= set(WORDS)
    assert DEFAULT_STATUSES == ("received", "suspended", "rejected", "paid")
    assert set(STATUS_TEXT) == set(WORDS) and set(NEXT_STEP) <= set(WORDS)
    targets = set(STATUS_AFTER_EVENT.values())
    assert set(STATUS_WORDS) <= targets  # every word is a status some event leads to


def test_subscribed_statuses_of_the_suppliers_own_invoices_only() -> None:
    mine = Subscription(SUPPLIER, "compta@durand.example", ("received", "rejected"), "fr")
    other = Subscription(OTHER, "factures@autre.example")
    known: dict[str, InvoiceFacts] = {}
    second = str(uuid.uuid4())
    events = [
        submitted(),
        event("Routed", 2),
        event("MadeAvailable", 3),
        event("TakenInHand", 4),
        event("Rejected", 5, reason_code="NON_CONFORME", reason="pièce manquante"),
        submitted(second, OTHER),
        event("Routed", 2, second),
        event("MadeAvailable", 3, second),
        event("TakenInHand", 4, second),
        event("Suspended", 5, second, reason_code="JUSTIF_ABS", reason="bon de commande"),
    ]
    changed, due = rules(mine, other).fold(known, events)
    assert set(changed) == {INVOICE, second}
    assert [(n.recipient, n.status, n.version) for n in due] == [
        ("compta@durand.example", "received", 3),
        ("compta@durand.example", "rejected", 5),
        ("factures@autre.example", "received", 3),
        ("factures@autre.example", "suspended", 5),
    ]
    rejected = due[1]
    assert rejected.event_id == event_id(INVOICE, 5)
    assert (rejected.number, rejected.recipient_name, rejected.reform_code) == (
        "F-2026-042",
        "Mairie de Test",
        210,
    )
    assert (rejected.reason_code, rejected.reason, rejected.language) == (
        "NON_CONFORME",
        "pièce manquante",
        "fr",
    )
    # Redelivered: versions already applied add nothing.
    assert rules(mine, other).fold(known, events) == ({}, [])


def test_no_subscription_no_mail_and_old_events_are_not_mailed() -> None:
    known: dict[str, InvoiceFacts] = {}
    assert rules().fold(known, [submitted(), event("MadeAvailable", 3)])[1] == []
    late = NotificationRules(
        {SUPPLIER: Subscription(SUPPLIER, "a@b.fr")}, timedelta(hours=1), NOW + timedelta(days=3)
    )
    known = {}
    changed, due = late.fold(known, [submitted(), event("MadeAvailable", 3)])
    assert due == [] and late.stale == 1 and INVOICE in changed


def test_rerouting_changes_the_buyer_named() -> None:
    known: dict[str, InvoiceFacts] = {}
    everything = Subscription(SUPPLIER, "a@b.fr", WORDS, "en")
    events = [
        submitted(),
        event("MadeAvailable", 3),
        event("MarkedForRerouting", 4, reason_code="CODE_ROUTAGE_ERR", reason="wrong service"),
        event("Rerouted", 5, recipient_siret="21750001600019", service_code="", order_reference=""),
        event("MadeAvailable", 6),
    ]
    _, due = rules(everything).fold(known, events)
    assert [(n.status, n.recipient_siret, n.recipient_name) for n in due] == [
        ("received", "11000201100044", "Mairie de Test"),
        ("to-reroute", "11000201100044", "Mairie de Test"),
        ("received", "21750001600019", ""),
    ]


def test_subscriptions_are_checked() -> None:
    s = Subscription.checked(SUPPLIER, " compta@durand.example ", ["paid", "received"], "en")
    assert (s.email, s.statuses, s.language) == (
        "compta@durand.example",
        ("received", "paid"),
        "en",
    )
    assert Subscription.checked(SUPPLIER, "a@b.fr").statuses == DEFAULT_STATUSES
    for email in ("nope", "a@b", "a,b@c.fr", "A <a@b.fr>", "a@b.fr\nBcc: c@d.fr"):
        with pytest.raises(InvalidSubscription) as bad:
            Subscription.checked(SUPPLIER, email)
        assert bad.value.field == "email"
    with pytest.raises(InvalidSubscription) as bad:
        Subscription.checked(SUPPLIER, "a@b.fr", ["received", "archived"])
    assert bad.value.field == "statuses" and "archived" in bad.value.message
    with pytest.raises(InvalidSubscription) as bad:
        Subscription.checked(SUPPLIER, "a@b.fr", language="de")
    assert bad.value.field == "language"


def test_languages_and_their_defaults() -> None:
    assert LANGUAGES == ("fr", "en")
    assert Subscription.checked(SUPPLIER, "a@b.fr").language == EMAIL_DEFAULT_LANGUAGE == "fr"
    assert Subscription(SUPPLIER, "a@b.fr").language == "fr"
    assert PORTAL_DEFAULT_LANGUAGE == "en"  # an unknown visitor's pages


def notification(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "event_id": event_id(INVOICE, 5),
        "recipient": "compta@durand.example",
        "invoice_id": INVOICE,
        "version": 5,
        "supplier_id": SUPPLIER,
        "status": "suspended",
        "language": "fr",
        "number": "F-2026-042",
        "recipient_siret": "11000201100044",
        "recipient_name": "Mairie de Test",
        "reform_code": 208,
        "reason_code": "JUSTIF_ABS",
        "reason": "bon de commande manquant",
        "occurred_at": datetime(2026, 3, 10, 8, 5, tzinfo=UTC),
    }
    values.update(changes)
    return Notification(**values)


def parsed(n: Notification) -> Any:
    raw = render(n, "Facturier <noreply@facturier.example>", "https://factures.example/").as_bytes()
    assert b"\r\n" in raw and b"\n\n" not in raw.replace(b"\r\n", b"")  # SMTP line endings
    return message_from_bytes(raw, policy=default_policy)


def test_french_message() -> None:
    message = parsed(notification())
    assert message["Subject"] == "Facture F-2026-042 : suspendue"
    assert message["To"] == "compta@durand.example"
    assert message["From"] == "Facturier <noreply@facturier.example>"
    assert message["Message-ID"] == f"<{event_id(INVOICE, 5)}@facturier.example>"
    assert message["Content-Language"] == "fr" and message["Auto-Submitted"] == "auto-generated"
    assert message["X-Facturier-Event-Id"] == event_id(INVOICE, 5)
    body = message.get_content().replace("\r\n", "\n")
    assert "Votre facture F-2026-042 adressée à Mairie de Test (SIRET 11000201100044)" in body
    assert "Nouveau statut : suspendue" in body
    assert "Code du cycle de vie : 208 (Suspendue)" in body
    assert "Motif : JUSTIF_ABS - bon de commande manquant" in body
    assert "Date : 10/03/2026 à 09:05 (heure de Paris)" in body  # UTC+1 in March
    assert "Complétez la facture" in body
    assert f"https://factures.example/portal/invoices/{INVOICE}\n" in body
    assert SUPPLIER in body


def test_english_message_without_reason_and_after_rerouting() -> None:
    message = parsed(
        notification(
            status="paid",
            language="en",
            reform_code=211,
            reason_code=None,
            reason=None,
            recipient_name="",
            occurred_at=datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
        )
    )
    assert message["Subject"] == "Invoice F-2026-042: paid"
    assert message["Content-Language"] == "en"
    body = message.get_content().replace("\r\n", "\n")
    assert "The status of your invoice F-2026-042 to SIRET 11000201100044 has changed." in body
    assert "New status: paid" in body and "Lifecycle code: 211 (Paiement transmis)" in body
    assert "Reason" not in body and "Motif" not in body
    assert "Date: 2026-07-01 14:00 (Paris time)" in body  # UTC+2 in July
    assert f"See the invoice: https://factures.example/portal/invoices/{INVOICE}" in body


def test_message_id_retry_delay_and_smtp_codes() -> None:
    import smtplib

    assert message_id("e1", "noreply@a.example") == "<e1@a.example>"
    assert message_id("e1", "nobody") == "<e1@facturier.invalid>"
    assert [retry_delay(30, n) for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay(30, 40) == 3600
    assert smtp_code(smtplib.SMTPDataError(554, b"no")) == 554
    assert smtp_code(smtplib.SMTPRecipientsRefused({"a@b.fr": (550, b"unknown")})) == 550
    assert smtp_code(ConnectionRefusedError()) is None
