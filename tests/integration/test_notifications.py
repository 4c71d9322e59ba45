"""E-mail notifications end to end: real `facturier serve` processes, real PostgreSQL and
Kafka, and a real SMTP server (aiosmtpd, in this process) collecting what is sent.

- subscriptions over HTTP; the statuses subscribed mail the address subscribed, in its
  language, with the right content; the others, and other suppliers' invoices, do not;
- the notifier SIGKILLed while the SMTP server holds a message: the standby notifier takes
  over, no e-mail is sent twice, the one claimed but unconfirmed is recorded `unknown` (and
  counted), and every other one is delivered;
- the SMTP server down: failures counted, e-mails retried, delivered once it is back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from facturier.adapters.postgres import apply_schema, connect
from facturier.adapters.subscriptions import PostgresSubscriptions
from facturier.config.settings import Settings
from facturier.domain.lifecycle import STATUS_WORDS
from facturier.domain.model import SubmissionMode
from facturier.domain.subscriptions import DEFAULT_STATUSES, Subscription
from facturier.events.lifecycle import event_id
from facturier.projections.notifications.projection import purge_outbox, retention
from facturier.services.application.invoicing import InvoicingApp
from tests.integration.test_api_end_to_end import PAID_PATH
from tests.support.data import OTHER_SUPPLIER, SUPPLIER, invoice_body, invoice_data
from tests.support.pipeline import build_invoices, query, read_topic, stored_offsets
from tests.support.smtp import GONE, Inbox
from tests.support.stack import Api, Service, free_port, running_api, wait_until

pytestmark = [
    pytest.mark.stack,
    # The test servers take AUTH over plain TCP (or implicit TLS, which aiosmtpd ignores).
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

FROM = "Facturier <noreply@facturier.example>"
PORTAL = "https://factures.example"
DURAND = "compta@durand.example"
AUTRE = "factures@autre.example"
LOGIN = ("facturier", "s3cret")


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.stop()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(settings: Settings, *flags: str) -> Service:
        service = Service(settings, *flags, log=tmp_path / f"service-{len(started)}.log")
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
        print(service.output()[-3000:])


def notifier_settings(settings: Settings, inbox: Inbox) -> Settings:
    return settings.replaced(
        notifications_group=f"notifications-test-{uuid.uuid4().hex[:10]}",
        notifications_metrics_port=free_port(),
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_from=FROM,
        smtp_timeout_s=5,
        smtp_retry_s=1,
        portal_url=PORTAL,
    )


def metric(settings: Settings, name: str, labels: str = "") -> float:
    """A sample of the notifier's /metrics (its own port: it runs without the API)."""
    text = httpx.get(f"http://127.0.0.1:{settings.notifications.metrics_port}/metrics").text
    pattern = rf"^{re.escape(name)}{re.escape(labels)} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def metrics_up(settings: Settings) -> Callable[[], bool]:
    def up() -> bool:
        try:
            return (
                "facturier_emails_sent_total"
                in httpx.get(f"http://127.0.0.1:{settings.notifications.metrics_port}/metrics").text
            )
        except httpx.HTTPError:
            return False

    return up


def outbox(settings: Settings) -> dict[str, tuple[str, int]]:
    """event id -> (state, attempts)."""
    rows = query(settings, "SELECT event_id::text, state, attempts FROM notification_outbox")
    return {str(e): (str(s), int(a)) for e, s, a in rows}


def settled(settings: Settings, events: int) -> Callable[[], bool]:
    """The notifier has applied `events` messages and has nothing left to send."""

    def done() -> bool:
        if sum(stored_offsets(settings, settings.notifications.group).values()) < events:
            return False
        states = {s for s, _ in outbox(settings).values()}
        return not states & {"pending", "sending"}

    return done


def subscribe(settings: Settings, supplier: str, email: str, language: str = "fr") -> None:
    store = PostgresSubscriptions(settings.postgres)
    store.save(Subscription.checked(supplier, email, None, language), "test")


def expected_mails(settings: Settings) -> set[str]:
    """Event ids of the topic whose status the default subscription names."""
    records, _ = read_topic(settings)
    return {
        r.event.event_id for r in records if STATUS_WORDS.get(r.event.status) in DEFAULT_STATUSES
    }


# ---------------------------------------------------------------- over HTTP


def act(api: Api, invoice_id: str, action: str, who: str, payload: Any = None) -> None:
    response = api.call("POST", f"/invoices/{invoice_id}/{action}", who, payload)
    assert response.status_code == 200, response.text


def submit(api: Api, number: str, who: str, supplier: str) -> str:
    created = api.call("POST", "/invoices", who, invoice_body(number, supplier=supplier))
    assert created.status_code == 201, created.text
    return str(created.json()["invoice_id"])


def test_subscribed_statuses_are_mailed_in_the_subscribers_language(
    make_settings: Callable[[], Settings],
    services: Callable[..., Service],
    tmp_path: Path,
) -> None:
    inbox = Inbox(credentials=LOGIN)
    inbox.start()
    try:
        mailed_in_each_language(make_settings, inbox, services, tmp_path)
    finally:
        inbox.stop()


def mailed_in_each_language(
    make_settings: Callable[[], Settings],
    inbox: Inbox,
    services: Callable[..., Service],
    tmp_path: Path,
) -> None:
    settings = notifier_settings(make_settings(), inbox).replaced(
        smtp_user=LOGIN[0], smtp_password=LOGIN[1]
    )
    with running_api(settings, tmp_path / "api.log", "--api", "--relay") as api:
        path = f"/suppliers/{SUPPLIER}/notifications"
        # Nothing yet: the defaults.
        empty = api.call("GET", path, "supplier")
        assert empty.status_code == 200, empty.text
        assert empty.json()["subscribed"] is False and empty.json()["email"] is None
        assert empty.json()["statuses"] == list(DEFAULT_STATUSES)
        # Only the supplier itself, or an admin.
        mine = {"email": DURAND, "statuses": ["rejected", "received", "suspended"]}
        for who in ("other_supplier", "buyer", "auditor"):
            assert api.call("PUT", path, who, mine).status_code == 403, who
            assert api.call("GET", path, who).status_code == 403, who
        assert api.call("PUT", path, None, mine).status_code == 401
        bad = api.call("PUT", path, "supplier", {**mine, "statuses": ["received", "archived"]})
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "statuses"
        bad = api.call("PUT", path, "supplier", {**mine, "email": "compta@durand"})
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "email"
        bad = api.call("PUT", path, "supplier", {**mine, "language": "de"})
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "language"
        assert api.call("PUT", path, "supplier", {**mine, "cc": DURAND}).status_code == 422
        put = api.call("PUT", path, "supplier", mine)
        assert put.status_code == 200, put.text
        assert put.json()["statuses"] == ["received", "suspended", "rejected"]  # lifecycle order
        assert put.json()["language"] == "fr"
        other_path = f"/suppliers/{OTHER_SUPPLIER}/notifications"
        theirs = api.call("PUT", other_path, "admin", {"email": AUTRE, "language": "en"})
        assert theirs.status_code == 200, theirs.text
        assert api.call("GET", other_path, "other_supplier").json()["statuses"] == list(
            DEFAULT_STATUSES
        )
        assert api.call("GET", path, "supplier").json()["email"] == DURAND

        notifier = services(settings, "--notifications")
        # A: received, suspended (mailed), completed, ..., paid (not subscribed).
        a = submit(api, "NOTIF-A", "supplier", SUPPLIER)
        act(api, a, "suspend", "buyer", {"reason_code": "JUSTIF_ABS", "reason": "bon manquant"})
        act(api, a, "complete", "supplier", {"comment": "bon joint"})
        for action, payload in PAID_PATH:
            act(api, a, action, "buyer", payload)
        # B: received, rejected; C: received, ..., paid (all mailed, in English).
        b = submit(api, "NOTIF-B", "other_supplier", OTHER_SUPPLIER)
        act(api, b, "reject", "buyer", {"reason_code": "NON_CONFORME", "reason": "TVA erronée"})
        c = submit(api, "NOTIF-C", "other_supplier", OTHER_SUPPLIER)
        for action, payload in PAID_PATH:
            act(api, c, action, "buyer", payload)
        events = 9 + 4 + 7
        wait_until(settled(settings, events), 90, "the notifier to apply every event and send")

        durand = {m.event_id: m for m in inbox.to(DURAND)}
        assert set(durand) == {event_id(a, 3), event_id(a, 4)}  # received, suspended
        autre = {m.event_id: m for m in inbox.to(AUTRE)}
        assert set(autre) == {event_id(b, 3), event_id(b, 4), event_id(c, 3), event_id(c, 7)}
        assert inbox.count() == 6  # nobody else got anything
        assert inbox.logins and set(inbox.logins) == {LOGIN[0]}  # authenticated
        suspended = durand[event_id(a, 4)]
        assert suspended.message["Subject"] == "Facture NOTIF-A : suspendue"
        assert suspended.message["From"] == FROM
        assert suspended.message["Message-ID"] == f"<{event_id(a, 4)}@facturier.example>"
        assert suspended.message["Content-Language"] == "fr"
        assert "Nouveau statut : suspendue" in suspended.text
        assert "Code du cycle de vie : 208 (Suspendue)" in suspended.text
        assert "Motif : JUSTIF_ABS - bon manquant" in suspended.text
        assert f"Voir la facture : {PORTAL}/portal/invoices/{a}\n" in suspended.text
        received = durand[event_id(a, 3)]
        assert received.message["Subject"] == "Facture NOTIF-A : mise à disposition du destinataire"
        assert "(SIRET 11000201100044)" in received.text and "Motif" not in received.text

        rejected = autre[event_id(b, 4)]
        assert rejected.message["Subject"] == "Invoice NOTIF-B: rejected"
        assert rejected.message["Content-Language"] == "en"
        assert "New status: rejected" in rejected.text
        assert "Lifecycle code: 210 (Refusée)" in rejected.text
        assert "Reason: NON_CONFORME - TVA erronée" in rejected.text
        assert f"See the invoice: {PORTAL}/portal/invoices/{b}\n" in rejected.text
        assert autre[event_id(c, 7)].message["Subject"] == "Invoice NOTIF-C: paid"

        wait_until(metrics_up(settings), 30, "the notifier's metrics")
        assert metric(settings, "facturier_emails_sent_total") == 6
        assert metric(settings, "facturier_emails_unknown_total") == 0

        # Unsubscribed: no more e-mails.
        assert api.call("DELETE", path, "supplier").status_code == 204
        assert api.call("DELETE", path, "supplier").status_code == 404
        assert api.call("GET", path, "supplier").json()["subscribed"] is False
        submit(api, "NOTIF-D", "supplier", SUPPLIER)
        wait_until(settled(settings, events + 3), 60, "the notifier to apply NOTIF-D")
        assert inbox.count() == 6
        assert notifier.process.poll() is None


# ---------------------------------------------------------------- crash and outage


def test_killed_notifier_sends_nothing_twice_and_loses_nothing_unclaimed(
    make_settings: Callable[[], Settings],
    inbox: Inbox,
    services: Callable[..., Service],
) -> None:
    inbox.start()
    settings = notifier_settings(make_settings(), inbox)
    subscribe(settings, SUPPLIER, DURAND)
    app = InvoicingApp(settings.postgres)
    try:
        built = build_invoices(app, 40)
    finally:
        app.close()
    services(settings, "--relay")
    inbox.hold_at = 20  # the 20th message reaches the server, its reply is held
    first = services(settings, "--notifications")
    assert inbox.holding.wait(120), "the notifier never reached the 20th e-mail"
    # A second notifier: it shares the partitions, but its sender stands by (advisory lock).
    settings_2 = settings.replaced(notifications_metrics_port=free_port())
    second = services(settings_2, "--notifications")
    wait_until(lambda: "consuming" in second.output(), 60, "the second notifier to start")
    time.sleep(1.5)  # the standby tries the lock every second
    assert inbox.count() == 20 and "e-mail sender active" not in second.output()
    first.kill()
    inbox.release.set()
    held = inbox.mails[19].event_id
    assert outbox(settings)[held][0] == "sending"  # claimed, committed, never confirmed

    wait_until(settled(settings, built.events), 120, "the standby notifier to finish")
    assert "e-mail sender active" in second.output()
    expected = expected_mails(settings)
    assert len(expected) == 64  # 16 per 10 invoices of the MIX

    rows = outbox(settings)
    assert set(rows) == expected  # the projection lost nothing, added nothing
    assert {e for e, (state, _) in rows.items() if state == "unknown"} == {held}
    assert {e for e, (state, _) in rows.items() if state == "sent"} == expected - {held}
    received = Counter(m.event_id for m in inbox.mails)
    assert max(received.values()) == 1, received.most_common(3)  # nothing twice
    assert set(received) == expected  # the held one reached the server once, before the kill
    assert all(m.recipients == (DURAND,) for m in inbox.mails)

    wait_until(metrics_up(settings_2), 30, "the second notifier's metrics")
    assert metric(settings_2, "facturier_emails_unknown_total") == 1
    assert metric(settings_2, "facturier_emails_sent_total") == len(expected) - 20
    assert second.process.poll() is None
    assert "delivery unknown, not re-sent" in second.output()


def test_smtp_down_failures_are_counted_and_retried_until_delivered(
    make_settings: Callable[[], Settings],
    inbox: Inbox,
    services: Callable[..., Service],
) -> None:
    settings = notifier_settings(make_settings(), inbox)  # nothing listens on its port yet
    subscribe(settings, SUPPLIER, DURAND, "en")
    subscribe(settings, OTHER_SUPPLIER, GONE)
    app = InvoicingApp(settings.postgres)
    try:
        built = build_invoices(app, 5)
        (refused,) = app.submit_many(
            [(invoice_data("GONE-1", supplier=OTHER_SUPPLIER), SubmissionMode.EDI, "s", "c")]
        )
    finally:
        app.close()
    gone = event_id(refused.id, 3)  # its MadeAvailable
    services(settings, "--relay")
    notifier = services(settings, "--notifications")

    def all_attempted() -> bool:
        rows = outbox(settings)
        return len(rows) == 9 and all(
            state == "pending" and attempts >= 1 for state, attempts in rows.values()
        )

    wait_until(all_attempted, 90, "every e-mail to fail once")
    wait_until(metrics_up(settings), 30, "the notifier's metrics")
    assert metric(settings, "facturier_email_failures_total", '{kind="transient"}') >= 9
    assert metric(settings, "facturier_emails_sent_total") == 0
    errors = query(settings, "SELECT DISTINCT last_error FROM notification_outbox")
    assert all("Connection" in str(e) or "refused" in str(e) for (e,) in errors), errors
    assert inbox.count() == 0

    inbox.start()  # the server is back
    wait_until(settled(settings, built.events + 3), 90, "the e-mails to be delivered")
    rows = outbox(settings)
    # Refused for good (5xx): not retried.
    state, attempts = rows.pop(gone)
    assert state == "undeliverable" and attempts >= 2
    assert metric(settings, "facturier_email_failures_total", '{kind="permanent"}') == 1
    assert {state for state, _ in rows.values()} == {"sent"}
    assert all(attempts >= 2 for _, attempts in rows.values())
    received = Counter(m.event_id for m in inbox.mails)
    assert set(received) == set(rows) and max(received.values()) == 1
    assert all(m.message["Content-Language"] == "en" for m in inbox.mails)
    assert metric(settings, "facturier_emails_sent_total") == 8
    assert notifier.process.poll() is None


# ---------------------------------------------------------------- TLS


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (the certificate is its own CA)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_modes_verify_the_server_and_log_in(mode: str, tmp_path: Path) -> None:
    import ssl

    from facturier.adapters.mail import SmtpConfig, deliver

    cert_file, key_file = self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    inbox = Inbox(credentials=LOGIN)
    options: dict[str, Any] = {
        "authenticator": inbox.authenticate,
        "auth_required": True,  # and, by default, only over TLS
    }
    if mode == "starttls":
        options.update(tls_context=server_context, require_starttls=True)
    else:
        # aiosmtpd does not count implicit TLS as TLS for AUTH: the whole session is TLS.
        options.update(ssl_context=server_context, auth_require_tls=False)
    inbox.controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **options)
    inbox.controller.start()
    try:
        config = SmtpConfig("127.0.0.1", inbox.port, mode, *LOGIN, FROM, 5, str(cert_file))
        smtp = config.connect()
        try:
            deliver(smtp, FROM, DURAND, b"Subject: hi\r\nX-Facturier-Event-Id: e1\r\n\r\nhi\r\n")
        finally:
            smtp.quit()
        assert [m.event_id for m in inbox.to(DURAND)] == ["e1"] and inbox.logins == [LOGIN[0]]
        # The system's CAs do not know this certificate: refused, nothing sent.
        with pytest.raises(ssl.SSLCertVerificationError):
            SmtpConfig("127.0.0.1", inbox.port, mode, *LOGIN, FROM, 5).connect()
    finally:
        inbox.stop()
    assert inbox.count() == 1


def test_the_outbox_keeps_done_rows_for_the_retention_then_purges_them(
    settings: Settings,
) -> None:
    """Done rows (sent, unknown, undeliverable) older than the retention go; recent ones,
    pending and claimed ones stay whatever their age. The retention never falls below a day
    past the projection's max age, and the CLI purges with the same rule."""
    apply_schema(settings.postgres, "notifications")
    rows = {  # number: (state, days since created, days since done)
        "old-sent": ("sent", 500, 500),
        "old-unknown": ("unknown", 500, 450),
        "recent-undeliverable": ("undeliverable", 10, 10),
        "recent-sent": ("sent", 10, 9),
        "old-pending": ("pending", 500, None),
        "old-sending": ("sending", 500, None),
    }
    with connect(settings.postgres, autocommit=True) as conn:
        for name, (state, created, done) in rows.items():
            ids = (uuid.uuid4(), "compta@x.example", uuid.uuid4(), SUPPLIER, name, "1" * 14)
            conn.execute(
                "INSERT INTO notification_outbox (event_id, recipient, invoice_id, version,"
                " supplier_id, status, language, number, recipient_siret, recipient_name,"
                " reform_code, occurred_at, state, created_at, done_at) VALUES (%s, %s, %s,"
                " 1, %s, 'paid', 'fr', %s, %s, '', 211, now(), %s,"
                " now() - make_interval(days => %s),"
                " now() - make_interval(days => %s::int))",
                (*ids, state, created, done),
            )

        def left() -> set[str]:
            return {r[0] for r in conn.execute("SELECT number FROM notification_outbox")}

        assert retention(400, 48) == timedelta(days=400)
        assert retention(0, 48) == timedelta(hours=72)  # never below max age + a day
        assert purge_outbox(conn, retention(400, 48), chunk=1) == 2  # chunks add up
        assert left() == {"recent-undeliverable", "recent-sent", "old-pending", "old-sending"}

    purged = subprocess.run(
        [
            sys.executable,
            "-m",
            "facturier.services.cli.main",
            "notifications",
            "purge",
            "--days",
            "0",
        ],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "outbox: 2 rows done more than 3 days ago purged" in purged.stdout
    with connect(settings.postgres) as conn:
        remaining = {r[0] for r in conn.execute("SELECT number FROM notification_outbox")}
    assert remaining == {"old-pending", "old-sending"}
