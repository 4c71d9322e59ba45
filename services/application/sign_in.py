"""Signing in with an account: the password, then the second factor; enrolling one; the
sessions an account has open; changing the password.

- The password step answers the same refusal for an unknown address, an inactive account
  and a wrong password, after the same argon2 work. Failures count against the client
  address (the limits of API tokens, shared with them) and against the login address; a
  login address locked out gets a mail, once per lockout.
- The second factor: a code of the authenticator app (each accepted once: its time step must
  be later than the last one used), one of the recovery codes (each once), or a code mailed
  to the login address (10 minutes, 5 tries). Its failures count as the password's do.
- With `FACTURIER_REQUIRE_2FA` (the default), an account without a second factor can only
  enrol one after its password: the session is signed in once the first code is confirmed.
- Changing the password ends the account's other sessions.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import io
import secrets
from dataclasses import dataclass

import pyotp
import qrcode
import qrcode.image.svg
from eventsourcing.persistence import IntegrityError

from facturier.adapters.account_sessions import SIGNED_IN, AccountSession, SessionStore
from facturier.adapters.mail import Mailer
from facturier.adapters.throttle import Throttle, ThrottleLimits
from facturier.domain.accounts import (
    EMAIL_CODE_VALIDITY,
    RECOVERY_CODES,
    Account,
    AccountRefused,
    SecondFactor,
    checked_email,
    normalized_email,
    password_problem,
)
from facturier.domain.model import InvalidCommand
from facturier.services.application.account_mails import mail_to
from facturier.services.application.accounts import (
    AccountsApp,
    Clock,
    Passwords,
    digest,
    utc_now,
)

ISSUER = "facturier"
TOTP_STEP_S = 30


class LockedOut(PermissionError):
    """Too many failures for this login or this address: retry after `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins: retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class SignInRefused(PermissionError):
    """One answer for every reason, so that it tells nothing of the account."""

    def __init__(self) -> None:
        super().__init__("wrong e-mail, password or code")


@dataclass(frozen=True)
class SignInPolicy:
    require_2fa: bool
    login_limits: ThrottleLimits  # per login address
    address_limits: ThrottleLimits  # per client address
    portal_url: str


@dataclass(frozen=True)
class Enrolment:
    """What the person needs to add the account to an authenticator app."""

    seed: str
    uri: str
    qr_svg: str


@dataclass(frozen=True)
class Opened:
    """A session just opened (`secret`: the cookie's value) and its account."""

    secret: str
    session: AccountSession
    account: Account


def login_key(login_email: str) -> str:
    return "login:" + digest(normalized_email(login_email))[:32]


def recovery_code() -> str:
    """24 characters of base 32 (120 bits: guessing one is out of reach, so a plain SHA-256
    of it is enough to keep), in groups of four."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode().lower()
    return "-".join(raw[i : i + 4] for i in range(0, 24, 4))


def recovery_form(code: str) -> str:
    """A recovery code as issued, however it was typed (case, spaces, hyphens)."""
    raw = "".join(c for c in code.lower() if c.isalnum())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


@dataclass
class SignIn:
    app: AccountsApp
    sessions: SessionStore
    throttle: Throttle
    mailer: Mailer
    passwords: Passwords
    policy: SignInPolicy
    clock: Clock = utc_now

    # ------------------------------------------------------------ the password

    def begin(self, login_email: str, password: str, address: str, agent: str) -> Opened:
        """The password step: a session awaiting the second factor (or its enrolment), or
        signed in when none is required. SignInRefused, or Locked with its delay."""
        key = login_key(login_email)
        self._unless_locked(key, address)
        account = self.app.find(login_email)
        stored = account.password_hash if account is not None and account.active else None
        if not self.passwords.verify(stored, password) or account is None:
            self._failed(key, address, account)
            raise SignInRefused()
        self.throttle.clear(key)
        if account.second_factor is SecondFactor.EMAIL:
            self._mail_code(account)
        if account.second_factor is not None:
            stage = "second-factor"
        elif self.policy.require_2fa:
            stage = "enrol"
        else:
            account.signed_in("password", self.clock(), address)
            self._save(account)
            stage = SIGNED_IN
        secret, session = self.sessions.open(account.id, stage, address, agent)
        return Opened(secret, session, account)

    def current(self, secret: str) -> tuple[AccountSession, Account] | None:
        """The session a cookie names, if still valid, and its account."""
        if not secret or len(secret) > 128:
            return None
        session = self.sessions.find(secret)
        if session is None:
            return None
        account = self.app.find_id(session.account_id)
        return None if account is None else (session, account)

    def _unless_locked(self, key: str, address: str) -> None:
        wait = max(self.throttle.locked_for(key), self.throttle.locked_for(address))
        if wait:
            raise LockedOut(wait)

    def _failed(self, key: str, address: str, account: Account | None) -> None:
        self.throttle.record_failure(address, self.policy.address_limits)
        locked_for = self.throttle.record_failure(key, self.policy.login_limits)
        if locked_for and account is not None and account.active:
            minutes = str(max(1, locked_for // 60))
            portal = self.policy.portal_url.rstrip("/")
            self._send("locked", account, minutes=minutes, portal=portal)

    # ------------------------------------------------------------ the second factor

    def finish(self, session: AccountSession, code: str) -> Opened:
        """The second factor: an app code, a recovery code or the mailed code. The session
        is replaced by a signed-in one. SignInRefused, or Locked with its delay."""
        if session.stage != "second-factor":
            raise SignInRefused()
        account = self._account(session)
        key = login_key(account.login_email)
        self._unless_locked(key, session.address)
        code = "".join(code.split()).lower()
        if not code.isascii():  # codes are ASCII: nothing else can match, or be hashed
            code = ""
        now = self.clock()
        if account.second_factor is SecondFactor.TOTP and account.totp_seed:
            step = self._totp_step(account.totp_seed, code)
            if step is not None and account.totp_step_fresh(step):
                account.signed_in("totp", now, session.address, step=step)
                return self._signed_in(session, account, key)
            spent = digest(recovery_form(code))
            if code and spent in account.recovery_sha256:
                used = account.recovery_sha256.index(spent)
                account.signed_in("recovery", now, session.address, recovery_used=used)
                return self._signed_in(session, account, key)
        elif account.second_factor is SecondFactor.EMAIL and account.email_code is not None:
            pending = account.email_code
            if now < pending.expires_at and hmac.compare_digest(digest(code), pending.sha256):
                account.signed_in("email", now, session.address)
                return self._signed_in(session, account, key)
            account.email_code_failed()
            self._save_quietly(account)
        self._failed(key, session.address, account)
        raise SignInRefused()

    def resend_code(self, session: AccountSession) -> None:
        account = self._account(session)
        if session.stage == "second-factor" and account.second_factor is SecondFactor.EMAIL:
            self._mail_code(account)

    def _signed_in(self, session: AccountSession, account: Account, key: str) -> Opened:
        try:
            self.app.save(account)
        except IntegrityError:  # the same code used by two requests at once: one wins
            raise SignInRefused() from None
        self.throttle.clear(key)
        secret, promoted = self.sessions.promote(session)
        return Opened(secret, promoted, account)

    def _totp_step(self, seed: str, code: str) -> int | None:
        """The time step whose code `code` is, within one step of now; None if none."""
        if len(code) != 6 or not code.isascii() or not code.isdigit():
            return None
        totp = pyotp.TOTP(seed)
        now_step = int(self.clock().timestamp()) // TOTP_STEP_S
        for step in (now_step - 1, now_step, now_step + 1):
            if hmac.compare_digest(totp.at(step * TOTP_STEP_S), code):
                return step
        return None

    def _mail_code(self, account: Account) -> None:
        code = f"{secrets.randbelow(10**6):06d}"
        account.issue_email_code(digest(code), self.clock() + EMAIL_CODE_VALIDITY)
        self._save(account)
        self._send("code", account, code=code)

    def _account(self, session: AccountSession) -> Account:
        """The account as stored now (never a copy a request read earlier)."""
        account = self.app.find_id(session.account_id)
        if account is None:
            raise AccountRefused("SIGN_IN_FIRST", "sign in first")
        return account

    def _save(self, account: Account) -> None:
        refused = AccountRefused("CONCURRENT_CHANGE", "the account changed meanwhile: try again")
        self.app.save_once(account, refused=refused)

    def _save_quietly(self, account: Account) -> None:
        with contextlib.suppress(IntegrityError):  # another request's count stands
            self.app.save(account)

    # ------------------------------------------------------------ enrolment

    def start_totp(self, session: AccountSession) -> Enrolment:
        self._may_enrol(session)
        account = self._account(session)
        seed = pyotp.random_base32()
        account.start_totp(seed)
        self._save(account)
        uri = pyotp.TOTP(seed).provisioning_uri(name=account.login_email, issuer_name=ISSUER)
        return Enrolment(seed, uri, qr_svg(uri))

    def confirm_totp(self, session: AccountSession, code: str) -> tuple[list[str], Opened | None]:
        """The first code confirms the app: the recovery codes (shown once), and the session
        signed in if it was enrolling after its password."""
        self._may_enrol(session)
        account = self._account(session)
        seed = account.pending_totp_seed
        step = self._totp_step(seed, "".join(code.split())) if seed else None
        if step is None:
            self._failed(login_key(account.login_email), session.address, account)
            raise SignInRefused()
        codes = [recovery_code() for _ in range(RECOVERY_CODES)]
        account.confirm_totp(step, tuple(digest(c) for c in codes))
        self._send("factor_changed", account, portal=self.policy.portal_url.rstrip("/"))
        if session.stage == "enrol":
            account.signed_in("totp", self.clock(), session.address, step=step)
            return codes, self._signed_in(session, account, login_key(account.login_email))
        self._save(account)
        return codes, None

    def start_email_factor(self, session: AccountSession) -> None:
        """Mail a code that confirms the e-mail factor (`confirm_email_factor`)."""
        self._may_enrol(session)
        self._mail_code(self._account(session))

    def confirm_email_factor(self, session: AccountSession, code: str) -> Opened | None:
        self._may_enrol(session)
        account = self._account(session)
        pending, now = account.email_code, self.clock()
        code = "".join(code.split())
        if not code.isascii():
            code = ""
        if pending is None or now >= pending.expires_at or digest(code) != pending.sha256:
            if pending is not None:
                account.email_code_failed()
                self._save_quietly(account)
            self._failed(login_key(account.login_email), session.address, account)
            raise SignInRefused()
        account.choose_email_factor()
        self._send("factor_changed", account, portal=self.policy.portal_url.rstrip("/"))
        if session.stage == "enrol":
            account.signed_in("email", now, session.address)
            return self._signed_in(session, account, login_key(account.login_email))
        self._save(account)
        return None

    @staticmethod
    def _may_enrol(session: AccountSession) -> None:
        if session.stage not in ("enrol", SIGNED_IN):
            raise AccountRefused("SIGN_IN_FIRST", "sign in first")

    # ------------------------------------------------------------ the signed-in account

    def change_password(self, session: AccountSession, current: str, new: str) -> None:
        """Needs the current password; ends the account's other sessions."""
        _signed_in_only(session)
        account = self._account(session)
        if not self.passwords.verify(account.password_hash, current):
            self._failed(login_key(account.login_email), session.address, account)
            raise SignInRefused()
        if problem := password_problem(new, account.login_email):
            raise InvalidCommand("new_password", problem)
        account.change_password(self.passwords.hash(new))
        self._save(account)
        self.sessions.end_all(account.id, keep=session.id_sha256)
        self._send("password_changed", account, portal=self.policy.portal_url.rstrip("/"))

    def change_contact_email(self, session: AccountSession, email: str) -> None:
        """The address notifications go to (the login address never changes)."""
        _signed_in_only(session)
        account = self._account(session)
        account.change_contact_email(checked_email("contact_email", email))
        self._save(account)

    def open_sessions(self, session: AccountSession) -> list[AccountSession]:
        _signed_in_only(session)
        return self.sessions.of_account(session.account_id)

    def end_session(self, session: AccountSession, id_sha256: str) -> bool:
        """End one of the account's sessions (its own included)."""
        _signed_in_only(session)
        return self.sessions.end(session.account_id, id_sha256)

    def sign_out(self, session: AccountSession) -> None:
        self.sessions.end(session.account_id, session.id_sha256)

    def _send(self, kind: str, account: Account, **values: str) -> None:
        self.mailer.send(mail_to(account, kind, **values))


def _signed_in_only(session: AccountSession) -> None:
    if not session.signed_in:
        raise AccountRefused("SIGN_IN_FIRST", "sign in first")
