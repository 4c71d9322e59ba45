"""Delivers the notification outbox (projections/notifications/projection.py) by SMTP, at most
once per row, and writes the e-mails (French and English).

One row at a time: the row is claimed (`sending`, committed) before the SMTP transaction and
marked `sent` once the server accepted the message. A claim never confirmed is never sent
again: at start, rows left `sending` by a process that died become `unknown`, as does a row
whose connection broke during DATA (the server may have accepted it); both are counted
(`facturier_emails_unknown_total`) and logged with their event id. Failures before DATA, or
a temporary refusal (4xx), put the row back with a delay doubling at each attempt (up to an
hour); a permanent refusal (5xx) makes it `undeliverable`.

One sender at a time per database, elected with a PostgreSQL advisory lock (a second one
waits as a hot standby): so any `sending` row found on taking over belongs to a dead one.
The Message-ID is derived from the event id, so a mail server can de-duplicate too.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
import zlib
from dataclasses import fields
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from facturier.adapters import metrics
from facturier.adapters.mail import DeliveryUnknown, SmtpConfig, deliver
from facturier.adapters.postgres import apply_schema, connect
from facturier.config.settings import NotificationSettings, PostgresSettings, SmtpSettings
from facturier.domain.languages import Language
from facturier.domain.lifecycle import STATUS_INFO
from facturier.domain.subscriptions import STATUS_OF_WORD
from facturier.projections.notifications.projection import (
    Notification,
    purge_outbox,
    retention,
)

log = logging.getLogger("facturier.email")

PARIS = ZoneInfo("Europe/Paris")
SENDER_LOCK = zlib.crc32(b"facturier-email-sender")
MAX_RETRY_DELAY_S = 3600.0
IDLE_POLL_S = 0.5
NOOP_AFTER_IDLE_S = 30.0  # servers drop idle sessions: check before reusing one

# ---------------------------------------------------------------- the messages

# Status word -> (French, English) as the supplier reads it.
STATUS_TEXT: dict[str, tuple[str, str]] = {
    "received": ("mise à disposition du destinataire", "received by the buyer"),
    "in-processing": ("prise en charge par le destinataire", "taken in hand by the buyer"),
    "suspended": ("suspendue", "suspended"),
    "to-reroute": ("à réacheminer (erreur de routage)", "to be re-routed (routing error)"),
    "rejected": ("rejetée", "rejected"),
    "service-certified": ("service fait constaté", "service certified"),
    "payment-ordered": ("mandatée (paiement ordonné)", "payment ordered"),
    "paid": ("payée", "paid"),
}
# What the supplier should do next, when there is something to do.
NEXT_STEP: dict[str, tuple[str, str]] = {
    "suspended": (
        "Complétez la facture (pièces manquantes) depuis le portail ; le délai de paiement "
        "est suspendu jusque-là.",
        "Complete the invoice (missing documents) from the portal; the payment period is "
        "suspended until then.",
    ),
    "to-reroute": (
        "Réacheminez-la vers la bonne structure ou le bon service depuis le portail.",
        "Re-route it to the right structure or service from the portal.",
    ),
    "rejected": (
        "Elle ne sera pas payée ; émettez une nouvelle facture si nécessaire.",
        "It will not be paid; issue a new invoice if needed.",
    ),
}
TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "subject": "Facture {number} : {status}",
        "greeting": "Bonjour,",
        "intro": "Votre facture {number} adressée à {buyer} a changé de statut.",
        "status": "Nouveau statut : {status}",
        "code": "Code du cycle de vie : {code} ({label})",
        "reason": "Motif : {reason}",
        "date": "Date : {date} (heure de Paris)",
        "date_format": "%d/%m/%Y à %H:%M",
        "link": "Voir la facture : {url}",
        "buyer": "{name} (SIRET {siret})",
        "footer": "Message automatique de facturier, merci de ne pas y répondre. Vous le "
        "recevez car le fournisseur {supplier} est abonné à ces notifications.",
    },
    "en": {
        "subject": "Invoice {number}: {status}",
        "greeting": "Hello,",
        "intro": "The status of your invoice {number} to {buyer} has changed.",
        "status": "New status: {status}",
        "code": "Lifecycle code: {code} ({label})",
        "reason": "Reason: {reason}",
        "date": "Date: {date} (Paris time)",
        "date_format": "%Y-%m-%d %H:%M",
        "link": "See the invoice: {url}",
        "buyer": "{name} (SIRET {siret})",
        "footer": "Automatic message from facturier, please do not reply. You receive it "
        "because supplier {supplier} subscribed to these notifications.",
    },
}


def message_id(event_id: str, sender: str) -> str:
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    domain = domain if at and domain else "facturier.invalid"
    return f"<{event_id}@{domain}>"


def render(n: Notification, sender: str, portal_url: str) -> EmailMessage:
    """The e-mail of one outbox row, in the subscription's language."""
    t = TEXTS[n.language]
    lang = 0 if n.language == Language.FR else 1
    status = STATUS_TEXT[n.status][lang]
    buyer = (
        t["buyer"].format(name=n.recipient_name, siret=n.recipient_siret)
        if n.recipient_name
        else f"SIRET {n.recipient_siret}"
    )
    url = f"{portal_url.rstrip('/')}/portal/invoices/{n.invoice_id}"
    label = STATUS_INFO[STATUS_OF_WORD[n.status]].reform_label
    when = n.occurred_at.astimezone(PARIS).strftime(t["date_format"])
    lines = [
        t["greeting"],
        "",
        t["intro"].format(number=n.number, buyer=buyer),
        "",
        t["status"].format(status=status),
        t["code"].format(code=n.reform_code, label=label),
    ]
    if n.reason or n.reason_code:
        reason = " - ".join(part for part in (n.reason_code, n.reason) if part)
        lines.append(t["reason"].format(reason=reason))
    lines.append(t["date"].format(date=when))
    if n.status in NEXT_STEP:
        lines += ["", NEXT_STEP[n.status][lang]]
    lines += ["", t["link"].format(url=url), "", "-- ", t["footer"].format(supplier=n.supplier_id)]
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = sender
    message["To"] = n.recipient
    message["Subject"] = t["subject"].format(number=n.number, status=status)
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = message_id(n.event_id, sender)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    message["X-Facturier-Event-Id"] = n.event_id
    message["X-Facturier-Invoice-Id"] = n.invoice_id
    message.set_content("\n".join(lines) + "\n")
    message["Content-Language"] = n.language  # after set_content, which resets Content-*
    return message


def smtp_code(error: Exception) -> int | None:
    if isinstance(error, smtplib.SMTPResponseException):
        return int(error.smtp_code)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [int(code) for code, _ in error.recipients.values()]
        return max(codes) if codes else None
    return None


def retry_delay(base_s: float, attempts: int) -> float:
    return float(min(MAX_RETRY_DELAY_S, base_s * 2 ** max(0, attempts - 1)))


# ---------------------------------------------------------------- the sender

_COLUMNS = tuple(f.name for f in fields(Notification))
_SELECT = ", ".join(f"{c}::text" if c in ("event_id", "invoice_id") else c for c in _COLUMNS)


class EmailSender:
    def __init__(
        self, smtp: SmtpSettings, notifications: NotificationSettings, postgres: PostgresSettings
    ) -> None:
        self.postgres = postgres
        self.notifications = notifications
        self.smtp_config = SmtpConfig.of(smtp)
        self.retry_s = float(smtp.retry_s)
        self.smtp: smtplib.SMTP | None = None
        self.smtp_used = 0.0
        self.conn: psycopg.Connection[Any] | None = None

    def run(self, stop: threading.Event) -> None:
        apply_schema(self.postgres, "notifications")
        # The lock lives as long as this connection: a dead process releases it.
        with connect(self.postgres, autocommit=True) as lock:
            while not stop.is_set():
                row = lock.execute("SELECT pg_try_advisory_lock(%s)", (SENDER_LOCK,)).fetchone()
                if row and row[0]:
                    break
                stop.wait(1.0)  # another sender is active: stand by
            if stop.is_set():
                return
            log.info("e-mail sender active (%s:%s)", self.smtp_config.host, self.smtp_config.port)
            self.conn = connect(self.postgres, autocommit=True)
            try:
                self.recover()
                pending_due = purge_due = 0.0
                while not stop.is_set():
                    pause = self.send_next()
                    if time.monotonic() >= pending_due:
                        self.update_pending()
                        pending_due = time.monotonic() + 1.0
                    if time.monotonic() >= purge_due:
                        self.purge()
                        purge_due = time.monotonic() + 3600.0
                    if pause:
                        stop.wait(pause)
            finally:
                self.drop_smtp()
                self.conn.close()

    def recover(self) -> int:
        """Rows a dead sender claimed and never confirmed: `unknown`, never sent again."""
        assert self.conn is not None
        rows = self.conn.execute(
            "UPDATE notification_outbox SET state = 'unknown', done_at = now(),"
            " last_error = 'claimed by a sender that stopped before confirming'"
            " WHERE state = 'sending' RETURNING event_id::text, recipient"
        ).fetchall()
        for event_id, recipient in rows:
            log.error(
                "e-mail of event %s to %s: delivery unknown, not re-sent", event_id, recipient
            )
        metrics.EMAILS_UNKNOWN.inc(len(rows))
        return len(rows)

    def purge(self) -> int:
        """Old done rows out of the outbox (FACTURIER_NOTIFICATIONS_RETENTION_DAYS)."""
        assert self.conn is not None
        keep = retention(
            self.notifications.retention_days,
            self.notifications.max_age_hours,
        )
        purged = purge_outbox(self.conn, keep)
        if purged:
            log.info("e-mail outbox: %d rows done more than %s ago purged", purged, keep)
        return purged

    def update_pending(self) -> None:
        assert self.conn is not None
        row = self.conn.execute(
            "SELECT count(*) FROM notification_outbox WHERE state = 'pending'"
        ).fetchone()
        metrics.EMAIL_OUTBOX_PENDING.set(row[0] if row else 0)

    def send_next(self) -> float:
        """Send the next due row, if any; return how long to pause (0: go on)."""
        assert self.conn is not None
        found = self.conn.execute(
            f"SELECT {_SELECT}, attempts FROM notification_outbox WHERE state = 'pending'"
            " AND next_attempt_at <= now() ORDER BY next_attempt_at, occurred_at, version"
            " LIMIT 1"
        ).fetchone()
        if found is None:
            if self.smtp is not None and time.monotonic() - self.smtp_used > NOOP_AFTER_IDLE_S:
                self.drop_smtp()
            return IDLE_POLL_S
        n = Notification(*found[:-1])
        attempts = int(found[-1]) + 1
        try:
            smtp = self.connection()
        except (OSError, smtplib.SMTPException) as error:  # the server, not this message
            self.postpone(n, attempts, error)
            return min(self.retry_s, MAX_RETRY_DELAY_S)
        claimed = self.conn.execute(
            "UPDATE notification_outbox SET state = 'sending', claimed_at = now(),"
            " attempts = attempts + 1 WHERE event_id = %s AND recipient = %s"
            " AND state = 'pending'",
            (n.event_id, n.recipient),
        )
        if claimed.rowcount != 1:
            return 0.0
        data = render(n, self.smtp_config.sender, self.notifications.portal_url).as_bytes()
        try:
            deliver(smtp, self.smtp_config.sender, n.recipient, data)
        except DeliveryUnknown as error:
            self.drop_smtp()
            self.finish(n, "unknown", str(error))
            metrics.EMAILS_UNKNOWN.inc()
            log.error(
                "e-mail of event %s to %s: delivery unknown (%s)", n.event_id, n.recipient, error
            )
            return 0.0
        except (OSError, smtplib.SMTPException) as error:
            self.drop_smtp()
            code = smtp_code(error)
            if code is not None and code >= 500:
                self.finish(n, "undeliverable", f"{type(error).__name__}: {error}")
                metrics.EMAIL_FAILURES.labels("permanent").inc()
                log.error("e-mail of event %s to %s refused: %s", n.event_id, n.recipient, error)
                return 0.0
            self.postpone(n, attempts, error, claimed=True)
            return 0.0
        self.smtp_used = time.monotonic()
        self.finish(n, "sent", None)
        metrics.EMAILS_SENT.inc()
        return 0.0

    def postpone(
        self, n: Notification, attempts: int, error: Exception, claimed: bool = False
    ) -> None:
        """A transient failure: the row goes back to pending, due later."""
        assert self.conn is not None
        delay = retry_delay(self.retry_s, attempts)
        self.conn.execute(
            "UPDATE notification_outbox SET state = 'pending', last_error = %s,"
            " next_attempt_at = now() + make_interval(secs => %s)"
            + ("" if claimed else ", attempts = attempts + 1")
            + " WHERE event_id = %s AND recipient = %s",
            (f"{type(error).__name__}: {error}", delay, n.event_id, n.recipient),
        )
        metrics.EMAIL_FAILURES.labels("transient").inc()
        log.warning(
            "e-mail of event %s to %s failed (attempt %d, next in %.0f s): %s",
            n.event_id,
            n.recipient,
            attempts,
            delay,
            error,
        )

    def finish(self, n: Notification, state: str, error: str | None) -> None:
        assert self.conn is not None
        self.conn.execute(
            "UPDATE notification_outbox SET state = %s, done_at = now(),"
            " last_error = COALESCE(%s, last_error) WHERE event_id = %s AND recipient = %s",
            (state, error, n.event_id, n.recipient),
        )

    def connection(self) -> smtplib.SMTP:
        if self.smtp is not None and time.monotonic() - self.smtp_used > NOOP_AFTER_IDLE_S:
            try:
                self.smtp.noop()
            except (OSError, smtplib.SMTPException):
                self.drop_smtp()
        if self.smtp is None:
            self.smtp = self.smtp_config.connect()
            self.smtp_used = time.monotonic()
        return self.smtp

    def drop_smtp(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None
