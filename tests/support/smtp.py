"""A real SMTP server for the tests (aiosmtpd, in the test's process) keeping every message
it receives."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.stack import free_port

GONE = "parti@autre.example"  # the server refuses it for good (550)


@dataclass(frozen=True)
class Mail:
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def event_id(self) -> str:
        return str(self.message["X-Facturier-Event-Id"])

    @property
    def text(self) -> str:
        content: str = self.message.get_content()
        return content.replace("\r\n", "\n")


class Inbox:
    """An aiosmtpd handler keeping every message; it can hold the reply to the n-th one
    (the message is then with the server, the sender not yet told). With `credentials`, it
    requires AUTH (over plain TCP: a test)."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.logins: list[str] = []
        self.port = free_port()
        self.mails: list[Mail] = []
        self.lock = threading.Lock()
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.controller: Controller | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address == GONE:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.credentials == (
            data.login.decode(),
            data.password.decode(),
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mails.append(Mail(tuple(envelope.rcpt_tos), message))
            count = len(self.mails)
        if count == self.hold_at:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return "250 OK"

    def start(self) -> None:
        auth: dict[str, Any] = {}
        if self.credentials:
            auth = {
                "authenticator": self.authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **auth)
        self.controller.start()

    def stop(self) -> None:
        self.release.set()
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[Mail]:
        with self.lock:
            return [m for m in self.mails if m.recipients == (address,)]

    def count(self) -> int:
        with self.lock:
            return len(self.mails)
