"""E-mail out: the SMTP connection as configured (`FACTURIER_SMTP_HOST` and the variables
beside it), one SMTP transaction (`deliver`), and the mailers of one-off messages (`Mail`):
by SMTP from a background queue, so that a request never waits for the mail server, or kept
in memory (the tests).

The invoice notifications have their own outbox and sender
(`projections/notifications/sender.py`), which uses the connection and transaction here.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Protocol

from facturier.config.settings import SmtpSettings

log = logging.getLogger("facturier.email")

TLS_MODES = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: str
    user: str
    password: str
    sender: str
    timeout_s: float
    ca_file: str = ""  # empty: the system's CAs

    @classmethod
    def of(cls, smtp: SmtpSettings) -> SmtpConfig:
        if smtp.tls not in TLS_MODES:
            raise ValueError(f"FACTURIER_SMTP_TLS is one of {', '.join(TLS_MODES)}")
        return cls(
            smtp.host,
            smtp.port,
            smtp.tls,
            smtp.user,
            smtp.password,
            smtp.sender,
            float(smtp.timeout_s),
            smtp.ca_file,
        )

    def connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.ca_file or None)
        smtp: smtplib.SMTP
        if self.tls == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            smtp.ehlo()
            if self.tls == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp


class DeliveryUnknown(Exception):
    """The connection broke while the server had the message: it may have been accepted."""


def deliver(smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """One SMTP transaction. Errors before DATA, and refusals the server answers, mean the
    message was not accepted; a broken connection during DATA raises DeliveryUnknown."""
    envelope_from = parseaddr(sender)[1] or sender
    code, reply = smtp.mail(envelope_from)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, envelope_from)
    code, reply = smtp.rcpt(recipient)
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    try:
        smtp.data(data)
    except smtplib.SMTPDataError:
        raise  # the server answered: refused, not accepted
    except (OSError, smtplib.SMTPException) as error:
        raise DeliveryUnknown(f"{type(error).__name__}: {error}") from error


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    language: str = "fr"
    headers: dict[str, str] = field(default_factory=dict)

    def message(self, sender: str) -> EmailMessage:
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = format_datetime(datetime.now().astimezone())
        _, _, domain = (parseaddr(sender)[1] or "facturier.invalid").rpartition("@")
        message["Message-ID"] = make_msgid(domain=domain or "facturier.invalid")
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text)
        message["Content-Language"] = self.language  # after set_content, which resets it
        return message


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


class MemoryMailer:
    """Keeps what it is given (the application tests read `sent`)."""

    def __init__(self) -> None:
        self.sent: list[Mail] = []

    def send(self, mail: Mail) -> None:
        self.sent.append(mail)


class SmtpMailer:
    """Sends from a background thread, a few attempts per message with a growing delay;
    `send` only queues, so that a request takes the same time whether it mails or not. A
    message still refused after the attempts is logged with its subject (never its text,
    which may hold a link or a code)."""

    ATTEMPTS = 4

    def __init__(self, smtp: SmtpSettings) -> None:
        self.config = SmtpConfig.of(smtp)
        self.retry_s = float(smtp.retry_s)
        self.queue: queue.Queue[Mail] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="mailer", daemon=True)
        self.thread.start()

    def send(self, mail: Mail) -> None:
        self.queue.put(mail)

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued message was handled; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            mail = self.queue.get()
            try:
                self._deliver(mail)
            finally:
                self.queue.task_done()

    def _deliver(self, mail: Mail) -> None:
        data = mail.message(self.config.sender).as_bytes()
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                smtp = self.config.connect()
                try:
                    deliver(smtp, self.config.sender, mail.to, data)
                finally:
                    smtp.close()
                return
            except (OSError, smtplib.SMTPException) as error:
                log.warning("mail %r: attempt %d failed: %s", mail.subject, attempt, error)
                time.sleep(min(self.retry_s * 2 ** (attempt - 1), 60.0))
        log.error("mail %r to one account: not sent after %d attempts", mail.subject, attempt)
