"""A person's account: the login e-mail that identifies it, its contact e-mail and name, its
password (as a hash), its second factor, and every step of its life as an event.

The rules that depend on time take the instant as an argument (`at`), never read a clock: an
account rebuilt from its events in ten years replays the same decisions. Secrets never enter
an event: links and codes are kept as SHA-256 digests, passwords as the hash the application
computes; only the authenticator's seed is kept as is, since checking a code needs it.

- **Sign-up** records the account with a single-use activation link valid 60 minutes; the
  password is chosen on activation. A new link can be issued while the account is inactive.
- **Second factor**: an authenticator app (TOTP, each code accepted once) with ten single-use
  recovery codes, or a code sent by e-mail. Enrolment is confirmed by a first valid code.
- **Password reset**: a single-use link valid 60 minutes, to the login address.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from eventsourcing.domain import Aggregate, event

from facturier.domain.languages import Language
from facturier.domain.model import InvalidCommand
from facturier.domain.text import is_email, text_problem

ACCOUNT_NAMESPACE = uuid.UUID("5b0f6f8e-4f7a-4c39-9a77-0c8d2f3c1a11")
LINK_VALIDITY = timedelta(minutes=60)
EMAIL_CODE_VALIDITY = timedelta(minutes=10)
EMAIL_CODE_ATTEMPTS = 5
MIN_PASSWORD, MAX_PASSWORD = 12, 128
MAX_NAME = 200
RECOVERY_CODES = 10


def normalized_email(text: str) -> str:
    """The form of an address that identifies an account: trimmed, lower case; whatever
    cannot be encoded (a lone surrogate) replaced, so that any text has an id."""
    return text.strip().lower().encode("utf-8", "replace").decode("utf-8")


def account_id(login_email: str) -> uuid.UUID:
    """One login address, one account: the id follows from the address, so two sign-ups
    racing with one address collide in the event store and only one is recorded."""
    return uuid.uuid5(ACCOUNT_NAMESPACE, normalized_email(login_email))


def checked_email(field_name: str, text: str) -> str:
    address = normalized_email(text)
    if not is_email(address):
        raise InvalidCommand(field_name, "not an e-mail address")
    return address


def checked_name(text: str) -> str:
    name = " ".join(text.split())
    problem = text_problem(name)
    if not name or len(name) > MAX_NAME or problem:
        raise InvalidCommand("name", problem or f"required, at most {MAX_NAME} characters")
    return name


def password_problem(password: str, login_email: str) -> str | None:
    """Why a password is refused, or None: length only (12 to 128 characters, any
    character, no composition rule), and not the login address itself."""
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"at most {MAX_PASSWORD} characters"
    if normalized_email(password) == login_email or text_problem(password, multiline=False):
        return "not the login address, no control characters"
    return None


class SecondFactor(StrEnum):
    TOTP = "totp"  # an authenticator app
    EMAIL = "email"  # a code sent to the login address


class AccountRefused(ValueError):
    """A step the account's state does not allow; `reason` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PendingLink:
    sha256: str
    expires_at: datetime


class Account(Aggregate):
    @staticmethod
    def create_id(login_email: str, **_: object) -> uuid.UUID:
        return account_id(login_email)

    @event("Registered")
    def __init__(
        self,
        login_email: str,
        contact_email: str,
        name: str,
        language: str,
        activation_sha256: str,
        activation_expires_at: datetime,
    ) -> None:
        self.login_email = login_email
        self.contact_email = contact_email
        self.name = name
        self.language = language
        self.activation: PendingLink | None = PendingLink(activation_sha256, activation_expires_at)
        self.reset: PendingLink | None = None
        self.password_hash: str | None = None
        self.activated_at: datetime | None = None
        self.second_factor: SecondFactor | None = None
        self.totp_seed: str | None = None
        self.pending_totp_seed: str | None = None
        self.last_totp_step = -1
        self.recovery_sha256: tuple[str, ...] = ()
        self.email_code: PendingLink | None = None
        self.email_code_failures = 0
        self.last_sign_in: datetime | None = None
        # Organisations the account belongs to ("member") or asked to join ("pending").
        self.organisations: dict[str, str] = {}
        self.terms_sha256 = ""  # the terms of use last accepted

    @classmethod
    def register(
        cls,
        login_email: str,
        contact_email: str,
        name: str,
        language: str,
        activation_sha256: str,
        at: datetime,
    ) -> Account:
        """InvalidCommand naming the field for an address or a name that cannot be one."""
        if language not in tuple(Language):
            raise InvalidCommand("language", f"one of {', '.join(Language)}")
        return cls(
            login_email=checked_email("login_email", login_email),
            contact_email=checked_email("contact_email", contact_email or login_email),
            name=checked_name(name),
            language=language,
            activation_sha256=activation_sha256,
            activation_expires_at=at + LINK_VALIDITY,
        )

    @property
    def active(self) -> bool:
        return self.activated_at is not None

    # ------------------------------------------------------------ activation, passwords

    def reissue_activation(self, sha256: str, at: datetime) -> None:
        if self.active:
            raise AccountRefused("ALREADY_ACTIVE", "the account is already active")
        self._activation_issued(sha256, at + LINK_VALIDITY)

    @event("ActivationIssued")
    def _activation_issued(self, sha256: str, expires_at: datetime) -> None:
        self.activation = PendingLink(sha256, expires_at)

    def activate(self, link_sha256: str, password_hash: str, at: datetime) -> None:
        """AccountRefused("LINK_INVALID") for a link used, replaced or expired."""
        _check_link(self.activation, link_sha256, at)
        self._activated(password_hash, at)

    @event("Activated")
    def _activated(self, password_hash: str, at: datetime) -> None:
        self.activation = None
        self.password_hash = password_hash
        self.activated_at = at

    def request_reset(self, sha256: str, at: datetime) -> None:
        if not self.active:
            raise AccountRefused("NOT_ACTIVE", "the account is not active yet")
        self._reset_requested(sha256, at + LINK_VALIDITY)

    @event("PasswordResetRequested")
    def _reset_requested(self, sha256: str, expires_at: datetime) -> None:
        self.reset = PendingLink(sha256, expires_at)

    def reset_password(self, link_sha256: str, password_hash: str, at: datetime) -> None:
        _check_link(self.reset, link_sha256, at)
        self._password_changed(password_hash, "reset")

    def change_password(self, password_hash: str) -> None:
        self._password_changed(password_hash, "changed")

    @event("PasswordChanged")
    def _password_changed(self, password_hash: str, how: str) -> None:
        self.password_hash = password_hash
        self.reset = None

    @event("ContactEmailChanged")
    def change_contact_email(self, contact_email: str) -> None:
        self.contact_email = contact_email

    # ------------------------------------------------------------ second factor

    @event("TotpEnrolmentStarted")
    def start_totp(self, seed: str) -> None:
        self.pending_totp_seed = seed

    def confirm_totp(self, step: int, recovery_sha256: tuple[str, ...]) -> None:
        """The first valid code (`step`: its 30-second time step) confirms the enrolment."""
        if self.pending_totp_seed is None:
            raise AccountRefused("NO_ENROLMENT", "start the enrolment first")
        self._totp_enrolled(self.pending_totp_seed, step, recovery_sha256)

    @event("TotpEnrolled")
    def _totp_enrolled(self, seed: str, step: int, recovery_sha256: tuple[str, ...]) -> None:
        self.second_factor = SecondFactor.TOTP
        self.totp_seed = seed
        self.pending_totp_seed = None
        self.last_totp_step = step
        self.recovery_sha256 = tuple(recovery_sha256)

    @event("EmailFactorChosen")
    def choose_email_factor(self) -> None:
        self.second_factor = SecondFactor.EMAIL
        self.totp_seed = None
        self.pending_totp_seed = None
        self.recovery_sha256 = ()

    @event("EmailCodeIssued")
    def issue_email_code(self, sha256: str, expires_at: datetime) -> None:
        self.email_code = PendingLink(sha256, expires_at)
        self.email_code_failures = 0

    @event("EmailCodeFailed")
    def email_code_failed(self) -> None:
        self.email_code_failures += 1
        if self.email_code_failures >= EMAIL_CODE_ATTEMPTS:
            self.email_code = None  # a new code must be asked for

    def totp_step_fresh(self, step: int) -> bool:
        """A code is accepted once: its time step must be later than the last one used."""
        return step > self.last_totp_step

    # ------------------------------------------------------------ signing in

    @event("SignedIn")
    def signed_in(
        self, method: str, at: datetime, address: str, step: int = -1, recovery_used: int = -1
    ) -> None:
        """A sign-in completed with its second factor (`method`), from `address`."""
        self.last_sign_in = at
        if step >= 0:
            self.last_totp_step = step
        if recovery_used >= 0:
            codes = list(self.recovery_sha256)
            codes[recovery_used] = ""  # spent
            self.recovery_sha256 = tuple(codes)
        if method == SecondFactor.EMAIL:
            self.email_code = None

    # ------------------------------------------------------------ consent

    @event("TermsAccepted")
    def accept_terms(
        self, version: int, sha256: str, at: datetime, address: str, user_agent: str
    ) -> None:
        self.terms_sha256 = sha256

    # ------------------------------------------------------------ organisations

    @event("OrganisationLinked")
    def link_organisation(self, organisation: str, state: str) -> None:
        self.organisations[organisation] = state

    @event("OrganisationUnlinked")
    def unlink_organisation(self, organisation: str) -> None:
        self.organisations.pop(organisation, None)


def _check_link(link: PendingLink | None, sha256: str, at: datetime) -> None:
    if link is None or link.sha256 != sha256 or at >= link.expires_at:
        raise AccountRefused("LINK_INVALID", "this link is no longer valid: ask for a new one")
