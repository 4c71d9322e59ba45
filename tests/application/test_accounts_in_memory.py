"""Accounts on in-memory stores and a clock the test moves: sign-up, activation, the second
factor, lockouts, resets and sessions, with every refusal the rules promise."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from facturier.adapters.account_sessions import MemorySessions, SessionRules
from facturier.adapters.mail import Mail, MemoryMailer
from facturier.adapters.throttle import MemoryThrottle, ThrottleLimits
from facturier.domain.accounts import AccountRefused, SecondFactor
from facturier.domain.model import InvalidCommand
from facturier.services.application.accounts import AccountsApp, Passwords, Registration
from facturier.services.application.sign_in import (
    LockedOut,
    Opened,
    SignIn,
    SignInPolicy,
    SignInRefused,
)

EMAIL, PASSWORD = "Marie.Durand@Durand.example", "correct horse battery staple"
HERE = "192.0.2.10"
LOGIN_LIMITS = ThrottleLimits(max_failures=5, window_s=900, lockout_s=900)
ADDRESS_LIMITS = ThrottleLimits(max_failures=50, window_s=300, lockout_s=300)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 6, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Platform:
    clock: Clock
    mailer: MemoryMailer
    app: AccountsApp
    registration: Registration
    sign_in: SignIn

    def mails(self, to: str = EMAIL) -> list[Mail]:
        return [m for m in self.mailer.sent if m.to == to.lower()]

    def last_link(self) -> str:
        found = re.findall(r"token=([\w.-]+)", self.mails()[-1].text)
        assert found, self.mails()[-1].text
        return str(found[-1])

    def last_link_to(self, address: str) -> str:
        found = re.findall(r"token=([\w.-]+)", self.mails(address)[-1].text)
        return str(found[-1])

    def code_now(self, seed: str) -> str:
        return str(pyotp.TOTP(seed).at(self.clock()))


def platform(require_2fa: bool = True, login_limits: ThrottleLimits = LOGIN_LIMITS) -> Platform:
    clock, mailer, app, passwords = Clock(), MemoryMailer(), AccountsApp(), Passwords()
    sessions = MemorySessions(SessionRules(), clock)
    throttle = MemoryThrottle(lambda: clock().timestamp())
    policy = SignInPolicy(require_2fa, login_limits, ADDRESS_LIMITS, "https://portal.example")
    return Platform(
        clock,
        mailer,
        app,
        Registration(app, sessions, mailer, passwords, "https://portal.example", clock),
        SignIn(app, sessions, throttle, mailer, passwords, policy, clock),
    )


def active(p: Platform) -> None:
    p.registration.sign_up(EMAIL, "", "Marie Durand", "fr")
    p.registration.activate(p.last_link(), PASSWORD)


def enrolled(p: Platform) -> tuple[str, list[str]]:
    """An active account with an authenticator app: its seed and recovery codes."""
    active(p)
    opened = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    seed = p.sign_in.start_totp(opened.session).seed
    codes, _ = p.sign_in.confirm_totp(opened.session, p.code_now(seed))
    p.clock.move(seconds=30)  # the next code
    return seed, codes


def test_a_supplier_signs_up_activates_enrols_its_app_and_signs_in() -> None:
    p = platform()
    p.registration.sign_up(EMAIL, "compta@durand.example", "  Marie   Durand ", "fr")
    [mail] = p.mails()
    assert "Activez votre compte" in mail.subject and "valable 60 minutes" in mail.text
    assert p.last_link().count(".") == 1 and "https://portal.example/portal/activate?token=" in (
        mail.text
    )
    account = p.registration.activate(p.last_link(), PASSWORD)
    assert account.active and account.name == "Marie Durand"
    assert account.login_email == "marie.durand@durand.example"  # one form of the address
    assert account.contact_email == "compta@durand.example"
    assert PASSWORD not in (account.password_hash or "")

    opened = p.sign_in.begin(EMAIL.upper(), PASSWORD, HERE, "test")
    assert opened.session.stage == "enrol"  # a second factor is mandatory: enrol it first
    enrolment = p.sign_in.start_totp(opened.session)
    assert enrolment.uri.startswith("otpauth://totp/facturier:")
    assert enrolment.qr_svg.startswith("<?xml") and "<svg" in enrolment.qr_svg
    codes, signed = p.sign_in.confirm_totp(opened.session, p.code_now(enrolment.seed))
    assert len(set(codes)) == 10 and all(
        re.fullmatch(r"([a-z2-7]{4}-){5}[a-z2-7]{4}", c) for c in codes
    )
    assert signed is not None and signed.session.signed_in
    assert signed.secret != opened.secret  # a new session id once signed in
    assert p.sign_in.current(opened.secret) is None
    found = p.sign_in.current(signed.secret)
    assert found is not None and found[1].second_factor is SecondFactor.TOTP

    p.clock.move(seconds=30)
    again = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    assert again.session.stage == "second-factor"
    done = p.sign_in.finish(again.session, p.code_now(enrolment.seed))
    assert done.session.signed_in
    history = [type(e).__name__ for e in p.app.repository.event_store.get(account.id)]
    assert history == [
        "Registered",
        "Activated",
        "TotpEnrolmentStarted",
        "TotpEnrolled",
        "SignedIn",
        "SignedIn",
    ]


def test_an_activation_link_expires_after_an_hour_is_used_once_and_is_replaced() -> None:
    p = platform()
    p.registration.sign_up(EMAIL, "", "Marie Durand", "en")
    first = p.last_link()
    assert p.mails()[-1].subject == "Activate your facturier account"
    p.clock.move(minutes=61)
    with pytest.raises(AccountRefused) as expired:
        p.registration.activate(first, PASSWORD)
    assert expired.value.reason == "LINK_INVALID"

    p.registration.resend_activation(EMAIL)
    second = p.last_link()
    assert second != first
    with pytest.raises(AccountRefused):
        p.registration.activate(first, PASSWORD)  # replaced
    with pytest.raises(InvalidCommand) as weak:
        p.registration.activate(second, "short")
    assert weak.value.field == "password"
    p.registration.activate(second, PASSWORD)  # a refused password does not spend the link
    with pytest.raises(AccountRefused):
        p.registration.activate(second, PASSWORD)  # used
    for forged in ("", "x", "0" * 32 + "." + "a" * 40, second.split(".")[0] + ".forged-secret-xx"):
        with pytest.raises(AccountRefused):
            p.registration.activate(forged, PASSWORD)


def test_known_and_unknown_addresses_get_the_same_answers() -> None:
    p = platform()
    active(p)
    before = len(p.mailer.sent)
    # Signing up again, asking for a link or a reset: no answer differs; mail tells the owner.
    assert p.registration.sign_up(EMAIL, "", "Someone Else", "fr") is None
    assert p.registration.sign_up("nobody@else.example", "", "Nobody", "fr") is None
    assert p.registration.resend_activation("ghost@else.example") is None
    assert p.registration.request_reset("ghost@else.example") is None
    sent = p.mailer.sent[before:]
    assert [m.to for m in sent] == [EMAIL.lower(), "nobody@else.example"]
    assert "existe déjà" in sent[0].subject and "token=" not in sent[0].text
    refusals = []
    for email, password in ((EMAIL, "wrong password here"), ("ghost@else.example", PASSWORD)):
        with pytest.raises(SignInRefused) as refused:
            p.sign_in.begin(email, password, HERE, "test")
        refusals.append(str(refused.value))
    p.registration.sign_up("inactive@else.example", "", "Not Yet", "fr")
    with pytest.raises(SignInRefused) as inactive:
        p.sign_in.begin("inactive@else.example", PASSWORD, HERE, "test")
    assert refusals == [str(inactive.value)] * 2


def test_two_sign_ups_with_one_address_make_one_account() -> None:
    p = platform()
    p.registration.sign_up(EMAIL, "", "Marie Durand", "fr")
    p.registration.sign_up(EMAIL.upper(), "", "Marie D.", "fr")
    account = p.app.find(EMAIL)
    assert account is not None and account.name == "Marie Durand"
    assert len(p.mails()) == 2  # a fresh link the second time
    p.registration.activate(p.last_link(), PASSWORD)


def test_wrong_and_replayed_app_codes_are_refused_and_recovery_codes_work_once() -> None:
    p = platform()
    seed, codes = enrolled(p)
    opened = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    code = p.code_now(seed)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(SignInRefused):
        p.sign_in.finish(opened.session, wrong)
    p.sign_in.finish(opened.session, code)

    replay = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    with pytest.raises(SignInRefused):
        p.sign_in.finish(replay.session, code)  # the same code again
    p.clock.move(seconds=30)
    p.sign_in.finish(replay.session, p.code_now(seed))

    with_recovery = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    assert p.sign_in.finish(with_recovery.session, codes[3].upper())
    reused = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    with pytest.raises(SignInRefused):
        p.sign_in.finish(reused.session, codes[3])
    assert p.sign_in.finish(reused.session, codes[4])


def test_the_e_mail_code_is_the_other_second_factor() -> None:
    p = platform(login_limits=ThrottleLimits(max_failures=20, window_s=900, lockout_s=900))
    active(p)
    opened = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    p.sign_in.start_email_factor(opened.session)
    code = re.findall(r"\b\d{6}\b", p.mails()[-1].text)[0]
    signed = p.sign_in.confirm_email_factor(opened.session, code)
    assert signed is not None and signed.session.signed_in

    again = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")  # mails a code at once
    assert again.session.stage == "second-factor"
    code = re.findall(r"\b\d{6}\b", p.mails()[-1].text)[0]
    for _ in range(5):
        with pytest.raises(SignInRefused):
            p.sign_in.finish(again.session, "000000" if code != "000000" else "1")
    with pytest.raises(SignInRefused):
        p.sign_in.finish(again.session, code)  # five tries: the code is void
    p.sign_in.resend_code(again.session)
    p.clock.move(minutes=11)
    code = re.findall(r"\b\d{6}\b", p.mails()[-1].text)[0]
    with pytest.raises(SignInRefused):
        p.sign_in.finish(again.session, code)  # expired after 10 minutes


def test_brute_force_locks_the_login_out_and_mails_its_owner_once() -> None:
    p = platform(require_2fa=False)
    active(p)
    for _ in range(5):
        with pytest.raises(SignInRefused):
            p.sign_in.begin(EMAIL, "not the password", HERE, "test")
    locked = [m for m in p.mails() if "bloquées" in m.subject]
    assert len(locked) == 1 and "15 minutes" in locked[0].text
    with pytest.raises(LockedOut) as out:
        p.sign_in.begin(EMAIL, PASSWORD, "198.51.100.1", "test")  # another address too
    assert out.value.retry_after_s == 900
    # An unknown address is locked out the same way, without any mail.
    for _ in range(5):
        with pytest.raises(SignInRefused):
            p.sign_in.begin("ghost@else.example", "not the password", HERE, "test")
    with pytest.raises(LockedOut):
        p.sign_in.begin("ghost@else.example", PASSWORD, HERE, "test")
    p.clock.move(seconds=901)
    assert p.sign_in.begin(EMAIL, PASSWORD, HERE, "test").session.signed_in
    assert len([m for m in p.mails() if "bloquées" in m.subject]) == 1


def test_a_reset_sets_a_new_password_and_ends_every_session() -> None:
    p = platform(require_2fa=False)
    active(p)
    first = p.sign_in.begin(EMAIL, PASSWORD, HERE, "browser one")
    p.registration.request_reset(EMAIL)
    assert "password/reset?token=" in p.mails()[-1].text
    link = p.last_link()
    p.registration.reset_password(link, "a brand new passphrase")
    assert p.sign_in.current(first.secret) is None
    assert "a changé" in p.mails()[-1].subject
    with pytest.raises(SignInRefused):
        p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    with pytest.raises(AccountRefused):
        p.registration.reset_password(link, "yet another passphrase")
    assert p.sign_in.begin(EMAIL, "a brand new passphrase", HERE, "test").session.signed_in


def test_sessions_are_listed_ended_and_closed_by_a_password_change_or_idleness() -> None:
    p = platform(require_2fa=False)
    active(p)
    sessions: list[Opened] = [
        p.sign_in.begin(EMAIL, PASSWORD, HERE, f"browser {n}") for n in range(3)
    ]
    mine = sessions[0]
    listed = p.sign_in.open_sessions(mine.session)
    assert {s.user_agent for s in listed} == {"browser 0", "browser 1", "browser 2"}
    assert p.sign_in.end_session(mine.session, sessions[1].session.id_sha256)
    assert p.sign_in.current(sessions[1].secret) is None
    with pytest.raises(SignInRefused):
        p.sign_in.change_password(mine.session, "wrong current one", "new one x12")
    with pytest.raises(InvalidCommand):
        p.sign_in.change_password(mine.session, PASSWORD, "short")
    p.sign_in.change_contact_email(mine.session, " Compta@Durand.example ")
    changed = p.app.find(EMAIL)
    assert changed is not None and changed.contact_email == "compta@durand.example"
    with pytest.raises(InvalidCommand):
        p.sign_in.change_contact_email(mine.session, "not an address")
    p.sign_in.change_password(mine.session, PASSWORD, "another long passphrase")
    assert p.sign_in.current(sessions[2].secret) is None  # the others end
    assert p.sign_in.current(mine.secret) is not None  # this one stays
    p.clock.move(minutes=31)
    assert p.sign_in.current(mine.secret) is None  # idle for more than 30 minutes


def test_a_session_awaiting_its_second_factor_can_do_nothing_else() -> None:
    p = platform()
    enrolled(p)
    opened = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    with pytest.raises(AccountRefused):
        p.sign_in.open_sessions(opened.session)
    with pytest.raises(AccountRefused):
        p.sign_in.start_totp(opened.session)
    with pytest.raises(AccountRefused):
        p.sign_in.change_password(opened.session, PASSWORD, "x" * 20)
    p.clock.move(minutes=11)
    assert p.sign_in.current(opened.secret) is None  # ten minutes to give the code


def test_sign_up_names_the_field_it_cannot_read() -> None:
    p = platform()
    for args, field_name in (
        (("not an address", "", "Name", "fr"), "login_email"),
        ((EMAIL, "bad contact", "Name", "fr"), "contact_email"),
        ((EMAIL, "", "   ", "fr"), "name"),
        ((EMAIL, "", "Name\x00", "fr"), "name"),
        ((EMAIL, "", "Name", "de"), "language"),
    ):
        with pytest.raises(InvalidCommand) as invalid:
            p.registration.sign_up(*args)
        assert invalid.value.field == field_name
    assert p.mailer.sent == [] and p.app.find(EMAIL) is None


def test_hostile_codes_links_and_passwords_are_refused_and_never_crash() -> None:
    p = platform(login_limits=ThrottleLimits(max_failures=50, window_s=900, lockout_s=900))
    enrolled(p)
    opened = p.sign_in.begin(EMAIL, PASSWORD, HERE, "test")
    account = p.app.find(EMAIL)
    assert account is not None and account.totp_seed is not None
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in p.code_now(account.totp_seed))
    for code in (fullwidth, "\ud800" * 6, "\x00" * 6, "", "9" * 10_000, "1" * 6 + "\u200b"):
        with pytest.raises(SignInRefused):
            p.sign_in.finish(opened.session, code)
    for token in ("\ud800" * 60, "a" * 32 + "." + "\x00" * 40, "\uff41" * 32 + "." + "b" * 40):
        with pytest.raises(AccountRefused):
            p.registration.activate(token, PASSWORD)
        with pytest.raises(AccountRefused):
            p.registration.reset_password(token, PASSWORD)
    for password in ("\ud800" * 20, "x" * 10**6):
        with pytest.raises(SignInRefused):
            p.sign_in.begin(EMAIL, password, HERE, "test")
    for email in ("\ud800@durand.example", "\x00", "", "\uff4d@durand.example"):
        with pytest.raises(SignInRefused):
            p.sign_in.begin(email, PASSWORD, HERE, "test")
        assert p.registration.request_reset(email) is None
        assert p.registration.resend_activation(email) is None
    p.registration.sign_up("new@durand.example", "", "New", "fr")
    for password in ("correct horse\x00 battery", "\ud800" * 20, " " * 11):
        with pytest.raises(InvalidCommand):
            p.registration.activate(p.last_link_to("new@durand.example"), password)
