"""Accounts on the real stores: the PostgreSQL event store, sessions and throttling, and a
real SMTP server receiving the mails the SMTP mailer sends from its queue."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pyotp
import pytest
from psycopg_pool import ConnectionPool

from facturier.adapters.account_sessions import PostgresSessions, SessionRules
from facturier.adapters.mail import SmtpMailer
from facturier.adapters.postgres import apply_schema
from facturier.adapters.throttle import PostgresThrottle, ThrottleLimits
from facturier.config.settings import Settings
from facturier.domain.accounts import AccountRefused, account_id
from facturier.services.application.accounts import AccountsApp, Passwords, Registration
from facturier.services.application.organisations import Decision, Organisations
from facturier.services.application.sign_in import LockedOut, SignIn, SignInPolicy, SignInRefused
from tests.support.data import BUYER, OTHER_SUPPLIER, SUPPLIER
from tests.support.smtp import Inbox
from tests.support.stack import wait_until

pytestmark = pytest.mark.stack

PASSWORD = "correct horse battery staple"
PORTAL = "https://portal.example"


@dataclass
class Stack:
    app: AccountsApp
    mailer: SmtpMailer
    inbox: Inbox
    registration: Registration
    sign_in: SignIn
    pool: ConnectionPool

    def link_for(self, address: str) -> str:
        wait_until(lambda: self.inbox.to(address), 30, f"a mail to {address}")
        text = self.inbox.to(address)[-1].text
        return str(re.findall(r"token=([\w.-]+)", text)[-1])


@pytest.fixture
def stack(settings: Settings) -> Iterator[Stack]:
    apply_schema(settings.postgres, "auth", "accounts")
    inbox = Inbox()
    inbox.start()
    mailer = SmtpMailer(settings.replaced(smtp_host="127.0.0.1", smtp_port=inbox.port).smtp)
    app, passwords = AccountsApp(settings.postgres), Passwords()
    pool = ConnectionPool(settings.postgres.dsn, min_size=1, max_size=8, open=True)
    sessions = PostgresSessions(lambda: pool, SessionRules())
    limits = ThrottleLimits(max_failures=3, window_s=900, lockout_s=900)
    policy = SignInPolicy(True, limits, ThrottleLimits(100, 300, 300), PORTAL)
    yield Stack(
        app,
        mailer,
        inbox,
        Registration(app, sessions, mailer, passwords, PORTAL),
        SignIn(app, sessions, PostgresThrottle(lambda: pool), mailer, passwords, policy),
        pool,
    )
    mailer.drain(30)
    pool.close()
    app.close()
    inbox.stop()


def test_racing_sign_ups_with_one_address_record_one_account(stack: Stack) -> None:
    address, start = "racing@durand.example", threading.Barrier(8)
    errors: list[BaseException] = []

    def sign_up(n: int) -> None:
        start.wait()
        try:
            stack.registration.sign_up(address, "", f"Person {n}", "fr")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with stack.pool.connection() as conn:
        created = conn.execute(
            "SELECT count(*) FROM accounts_events WHERE originator_id = %s"
            " AND originator_version = 1",
            (account_id(address),),
        ).fetchone()
    assert created == (1,)
    assert stack.mailer.drain(30)
    assert len(stack.inbox.to(address)) == 8  # the first link, then a fresh one each time


def test_a_mailed_link_activates_and_the_account_signs_in_with_its_app(stack: Stack) -> None:
    address = "marie@durand.example"
    stack.registration.sign_up(address, "", "Marie Durand", "en")
    link = stack.link_for(address)
    assert stack.inbox.to(address)[-1].message["Subject"] == "Activate your facturier account"
    stack.registration.activate(link, PASSWORD)
    with pytest.raises(AccountRefused):
        stack.registration.activate(link, PASSWORD)  # once only

    opened = stack.sign_in.begin(address, PASSWORD, "192.0.2.20", "browser")
    assert opened.session.stage == "enrol"
    seed = stack.sign_in.start_totp(opened.session).seed
    codes, signed = stack.sign_in.confirm_totp(opened.session, pyotp.TOTP(seed).now())
    assert signed is not None and len(codes) == 10
    found = stack.sign_in.current(signed.secret)
    assert found is not None and found[0].signed_in and found[1].login_email == address
    assert stack.sign_in.current(opened.secret) is None

    other = stack.sign_in.begin(address, PASSWORD, "192.0.2.21", "phone")
    with pytest.raises(SignInRefused):
        stack.sign_in.finish(other.session, pyotp.TOTP(seed).now())  # already used
    phone = stack.sign_in.finish(other.session, codes[0])
    assert len(stack.sign_in.open_sessions(signed.session)) == 2
    stack.sign_in.change_password(signed.session, PASSWORD, "another long passphrase")
    assert stack.sign_in.current(phone.secret) is None
    assert [s.user_agent for s in stack.sign_in.open_sessions(signed.session)] == ["browser"]


def test_failures_lock_a_login_out_across_addresses_and_mail_the_owner(stack: Stack) -> None:
    address = "locked@durand.example"
    stack.registration.sign_up(address, "", "Lou Durand", "fr")
    stack.registration.activate(stack.link_for(address), PASSWORD)
    for n in range(3):
        with pytest.raises(SignInRefused):
            stack.sign_in.begin(address, "wrong password!", f"203.0.113.{n}", "bot")
    with pytest.raises(LockedOut) as locked:
        stack.sign_in.begin(address, PASSWORD, "203.0.113.99", "me")
    assert 890 <= locked.value.retry_after_s <= 900
    wait_until(lambda: len(stack.inbox.to(address)) == 2, 30, "the lockout mail")
    assert "bloquées" in str(stack.inbox.to(address)[-1].message["Subject"])


def test_racing_creations_of_one_siret_make_one_organisation_and_requests_to_join(
    stack: Stack,
) -> None:
    """Eight people create the same SIRET at once: one organisation, its creator principal
    manager, seven requests to join waiting for it."""
    people = []
    for n in range(8):
        address = f"founder{n}@durand.example"
        stack.registration.sign_up(address, "", f"Founder {n}", "fr")
        stack.registration.activate(stack.link_for(address), PASSWORD)
        found = stack.app.find(address)
        assert found is not None
        people.append(found)
    organisations = Organisations(stack.app, stack.mailer, PORTAL)
    start, outcomes = threading.Barrier(8), []
    errors: list[BaseException] = []

    def create(n: int) -> None:
        start.wait()
        try:
            outcomes.append(organisations.create(people[n], "siret", SUPPLIER, f"Durand {n}"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(o.state for o in outcomes) == ["member"] + ["pending"] * 7
    assert len({o.organisation.id for o in outcomes}) == 1
    durand = organisations.get(outcomes[0].organisation.id)
    assert len(durand.members) == 1 and len(durand.requests) == 7


def test_support_appoints_a_principal_manager_when_none_is_left(
    stack: Stack, settings: Settings
) -> None:
    people = {}
    for name in ("marie", "paul"):
        address = f"{name}@martin.example"
        stack.registration.sign_up(address, "", name.title(), "fr")
        stack.registration.activate(stack.link_for(address), PASSWORD)
        found = stack.app.find(address)
        assert found is not None
        people[name] = found
    organisations = Organisations(stack.app, stack.mailer, PORTAL)
    made = organisations.create(people["marie"], "siret", OTHER_SUPPLIER, "Martin SAS")
    organisations.ask_to_join(people["paul"], "siret", OTHER_SUPPLIER)
    decision = Decision(str(people["paul"].id), "", True)
    organisations.decide(people["marie"], made.organisation.id, [decision])
    organisations.leave(people["marie"], made.organisation.id)
    assert organisations.get(made.organisation.id).principal is None

    def admin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "facturier.services.cli.main", "admin", *args],
            env={**os.environ, **settings.to_env()},
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = admin("appoint-principal", OTHER_SUPPLIER, "paul@martin.example")
    assert done.returncode == 0, done.stderr
    assert "Paul <paul@martin.example> is its principal manager" in done.stdout
    fresh = Organisations(AccountsApp(settings.postgres), stack.mailer, PORTAL)
    assert fresh.get(made.organisation.id).principal == str(people["paul"].id)
    for args, said in (
        ((OTHER_SUPPLIER, "paul@martin.example"), "has a principal manager"),
        ((str(made.organisation.id), "nobody@martin.example"), "no account"),
        (("12345", "paul@martin.example"), "neither a SIRET nor an organisation id"),
        ((BUYER, "paul@martin.example"), "no organisation"),
    ):
        refused = admin("appoint-principal", *args)
        assert refused.returncode != 0 and said in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
