"""`facturier mailbox`: a mail catcher for the local stack. An SMTP server on loopback
(`FACTURIER_MAILBOX_PORT`) that delivers nothing and keeps every message it is given as a
file, `$FACTURIER_DATA_DIR/mail/<n>.eml`: the demo reads its activation links and codes
there, and so can whoever tries the portal locally (`facturier mailbox --list`)."""

from __future__ import annotations

import argparse
import signal
import threading
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from facturier.config.settings import env
from facturier.services.cli.args import Commands


def mail_dir() -> Path:
    return Path(env("FACTURIER_DATA_DIR")) / "mail"


def port() -> int:
    return int(env("FACTURIER_MAILBOX_PORT"))


class Keeper:
    """The aiosmtpd handler: each message into its own file, numbered in arrival order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            number = len(list(self.folder.glob("*.eml"))) + 1
            (self.folder / f"{number:06d}.eml").write_bytes(envelope.content)
        return "250 kept"


def kept(to: str, folder: Path | None = None) -> list[EmailMessage]:
    """The messages kept for `to`, oldest first."""
    found = []
    for path in sorted((folder or mail_dir()).glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=default_policy)
        if isinstance(message, EmailMessage) and to.lower() in str(message["To"]).lower():
            found.append(message)
    return found


def _run(args: argparse.Namespace) -> int:
    if args.list:
        for path in sorted(mail_dir().glob("*.eml")):
            message = message_from_bytes(path.read_bytes(), policy=default_policy)
            print(f"{path.name}  {message['To']}  {message['Subject']}")
        return 0
    from aiosmtpd.controller import Controller

    controller = Controller(Keeper(mail_dir()), hostname="127.0.0.1", port=port())
    controller.start()
    print(f"mailbox on 127.0.0.1:{port()}, keeping mails in {mail_dir()}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


def add_command(sub: Commands) -> None:
    mailbox = sub.add_parser(
        "mailbox",
        help="a local mail catcher: keeps every mail sent to it as a file (the demo's mails)",
    )
    mailbox.add_argument("--list", action="store_true", help="list the mails kept")
    mailbox.set_defaults(func=_run)
