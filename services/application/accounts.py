"""Accounts: sign-up, activation, password reset (signing in: `sign_in.py`).

The accounts are event-sourced aggregates (`domain/accounts.py`) in their own table of the
event store (`accounts_events`, from the application's name), or in the library's memory
store without PostgreSQL.

No answer tells whether an address has an account: signing up with a known address, asking
for a new link or for a reset all answer the same; what differs goes by mail to the address
itself (a link, or a notice that the account exists), sent from a queue so that the request
takes the same time either way.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from facturier.adapters.account_sessions import SessionStore
from facturier.adapters.mail import Mailer
from facturier.adapters.postgres import ddl_lock
from facturier.config.settings import PostgresSettings
from facturier.domain.accounts import (
    Account,
    AccountRefused,
    account_id,
    checked_email,
    password_problem,
)
from facturier.domain.model import InvalidCommand
from facturier.services.application.account_mails import mail_to

Clock = Callable[[], datetime]
RACE_RETRIES = 20


def utc_now() -> datetime:
    return datetime.now(UTC)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountsApp(Application[UUID]):
    name = "accounts"
    # Every portal request reads its account (and organisation): a cache of aggregates, each
    # brought up to date from the store on reading (fast-forward), so that a long history
    # (a sign-in is an event) is not replayed each time. Readers get copies.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "10000"}

    def __init__(
        self, postgres: PostgresSettings | None = None, env: dict[str, str] | None = None
    ) -> None:
        merged = postgres.eventsourcing_env() if postgres else {}
        merged.update(env or {})
        with ddl_lock(postgres):
            super().__init__(merged)

    def find(self, login_email: str) -> Account | None:
        return self.find_id(account_id(login_email))

    def save_once(self, *aggregates: Aggregate, refused: AccountRefused) -> None:
        """Save; or raise `refused` when another request saved one of them meanwhile (their
        versions collide in the store: of two racing requests, one wins)."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise refused from None

    def find_id(self, key: UUID) -> Account | None:
        try:
            account: Account = self.repository.get(key)
        except AggregateNotFoundError:
            return None
        return account


class Passwords:
    """Argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane). An account without a
    password is checked against a hash of nothing anyone knows, so that a refusal takes as
    long whether the account exists or not."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
        self._nobody = self.hasher.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(stored or self._nobody, password) and stored is not None
        except (VerificationError, InvalidHashError, UnicodeEncodeError):  # a lone surrogate
            return False


def link_gone() -> AccountRefused:
    return AccountRefused("LINK_INVALID", "this link is no longer valid: ask for a new one")


def new_link(key: UUID) -> tuple[str, str]:
    """A link's token (the account's id and a secret) and the digest kept of its secret."""
    secret = secrets.token_urlsafe(32)
    return f"{key.hex}.{secret}", digest(secret)


def read_link(token: str) -> tuple[UUID, str]:
    """The account and the digest a link names; AccountRefused for one that cannot be."""
    key, _, secret = token.strip().partition(".")
    try:
        if len(key) != 32 or not 20 <= len(secret) <= 100 or not token.isascii():
            raise ValueError(token)
        return UUID(hex=key), digest(secret)
    except ValueError:
        raise link_gone() from None


@dataclass
class Registration:
    """Sign-up, activation and password reset."""

    app: AccountsApp
    sessions: SessionStore
    mailer: Mailer
    passwords: Passwords
    portal_url: str
    clock: Clock = utc_now

    def _link(self, path: str, token: str) -> str:
        return f"{self.portal_url.rstrip('/')}/portal/{path}?token={token}"

    def sign_up(self, login_email: str, contact_email: str, name: str, language: str) -> None:
        """Record an account and mail its activation link; for an address that has one,
        mail it a new link (not active yet) or a notice (active). InvalidCommand names a
        field that cannot be read."""
        key = account_id(checked_email("login_email", login_email))
        token, sha = new_link(key)
        account = Account.register(login_email, contact_email, name, language, sha, self.clock())
        try:
            self.app.save(account)
        except IntegrityError:  # known, or signed up at this very moment by another request
            self.resend_activation(login_email, notify_active=True)
            return
        self._send("activation", account, link=self._link("activate", token))

    def resend_activation(self, login_email: str, notify_active: bool = False) -> None:
        """A new link for an account not active yet (the previous one no longer works)."""
        for _ in range(RACE_RETRIES):  # requests racing for one account: each gets its link
            account = self.app.find(login_email)
            if account is None:
                return
            if account.active:
                if notify_active:
                    portal = self.portal_url.rstrip("/")
                    self._send("already_registered", account, portal=portal)
                return
            token, sha = new_link(account.id)
            account.reissue_activation(sha, self.clock())
            try:
                self.app.save(account)
            except IntegrityError:
                continue
            self._send("activation", account, link=self._link("activate", token))
            return

    def activate(self, token: str, password: str) -> Account:
        """Set the password and activate; AccountRefused("LINK_INVALID") for a link used,
        replaced or expired, InvalidCommand("password") for a password refused."""
        key, sha = read_link(token)
        account = self._account(key)
        if problem := password_problem(password, account.login_email):
            raise InvalidCommand("password", problem)
        account.activate(sha, self.passwords.hash(password), self.clock())
        self._save(account)
        return account

    def request_reset(self, login_email: str) -> None:
        account = self.app.find(login_email)
        if account is None or not account.active:
            return
        token, sha = new_link(account.id)
        account.request_reset(sha, self.clock())
        self.app.save(account)
        self._send("reset", account, link=self._link("password/reset", token))

    def reset_password(self, token: str, password: str) -> Account:
        """A new password from a reset link; every session of the account ends."""
        key, sha = read_link(token)
        account = self._account(key)
        if problem := password_problem(password, account.login_email):
            raise InvalidCommand("password", problem)
        account.reset_password(sha, self.passwords.hash(password), self.clock())
        self._save(account)
        self.sessions.end_all(account.id)
        self._send("password_changed", account, portal=self.portal_url.rstrip("/"))
        return account

    def _account(self, key: UUID) -> Account:
        account = self.app.find_id(key)
        if account is None:
            raise link_gone()
        return account

    def _save(self, account: Account) -> None:
        """A link is used once: of two requests racing with it, the second is refused."""
        self.app.save_once(account, refused=link_gone())

    def _send(self, kind: str, account: Account, **values: str) -> None:
        self.mailer.send(mail_to(account, kind, **values))
