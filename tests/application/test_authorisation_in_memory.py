"""Who may do what, on the in-memory store: the authorisation fold agrees with the
aggregates it follows; operators act only through mandates in force (modes, first day,
revocation); technical accounts are the principal manager's, 424 days long."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from facturier.adapters.mail import MemoryMailer
from facturier.domain.accounts import Account
from facturier.domain.model import InvalidCommand
from facturier.domain.organisations import (
    TECHNICAL_ACCOUNT_DAYS,
    NotAllowed,
    Role,
    Space,
)
from facturier.services.application.accounts import AccountsApp
from facturier.services.application.authorisation import Authorisation, in_memory
from facturier.services.application.operator_mandates import OperatorMandates
from facturier.services.application.organisations import Decision, Organisations
from facturier.services.application.principals import ApiRole, Principal
from facturier.services.application.technical_accounts import (
    TechnicalAccounts,
    principal_of_client,
)
from tests.support.data import BUYER, OPERATOR, OTHER_SUPPLIER, SUPPLIER

NOW = datetime(2026, 12, 6, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def person(app: AccountsApp, name: str) -> Account:
    account = Account.register(f"{name.lower()}@example.org", "", name, "fr", "0" * 64, NOW)
    account.activate("0" * 64, "hash", NOW)
    app.save(account)
    return account


@pytest.fixture
def world() -> tuple[AccountsApp, Organisations, Authorisation, Clock]:
    app, clock = AccountsApp(), Clock()
    organisations = Organisations(app, MemoryMailer(), "https://portal.example", clock)
    return app, organisations, in_memory(app, clock), clock


def test_the_fold_says_what_the_aggregates_say_after_any_sequence_of_changes(
    world: tuple[AccountsApp, Organisations, Authorisation, Clock],
) -> None:
    """Random walks of joins, grants, withdrawals, copies, hand-overs and departures: after
    each step, every account's role and spaces in the projection equal the aggregate's."""
    app, organisations, authorisation, _ = world
    rng = random.Random(11)
    people = [person(app, f"P{i}") for i in range(6)]
    city = organisations.create(people[0], "siret", BUYER, "Ville", public=True).organisation
    key = city.id
    for step in range(120):
        org = organisations.get(key)
        principal = next(p for p in people if str(p.id) == org.principal)
        others = [p for p in people if str(p.id) in org.members and p is not principal]
        outsiders = [p for p in people if str(p.id) not in org.members]
        action = rng.choice(["join", "grant", "withdraw", "copy", "hand", "leave"])
        space = rng.choice(["invoices-issued", "invoices-received", "manager"])
        if action == "join" and outsiders:
            newcomer = organisations.app.find_id(rng.choice(outsiders).id)
            assert newcomer is not None
            organisations.ask_to_join(newcomer, "siret", BUYER)
            organisations.decide(principal, key, [Decision(str(newcomer.id), "", True)])
        elif action == "grant" and others:
            organisations.grant(principal, key, str(rng.choice(others).id), space)
        elif action == "withdraw" and others:
            organisations.withdraw(principal, key, str(rng.choice(others).id), space)
        elif action == "copy" and len(others) >= 2:
            source, target = rng.sample(others, 2)
            organisations.copy_rights(principal, key, str(source.id), [str(target.id)])
        elif action == "hand" and others:
            organisations.transfer_principal(principal, key, str(rng.choice(others).id))
        elif action == "leave" and others:
            leaver = organisations.app.find_id(rng.choice(others).id)
            assert leaver is not None
            organisations.leave(leaver, key)
        org = organisations.get(key)
        for p in people:
            member, grant = org.member(p.id), authorisation.grant(p.id, key)
            if member is None:
                assert grant is None, (step, action)
                continue
            assert grant is not None and grant.version == org.version, (step, action)
            spaces = {s.value for s in member.spaces}
            assert (grant.role, grant.spaces) == (member.role.value, spaces), (step, action)


def test_an_operator_acts_only_through_mandates_in_force(
    world: tuple[AccountsApp, Organisations, Authorisation, Clock],
) -> None:
    app, organisations, authorisation, clock = world
    mandates = OperatorMandates(organisations)
    claire, paul, olivia = person(app, "Claire"), person(app, "Paul"), person(app, "Olivia")
    durand = organisations.create(claire, "siret", SUPPLIER, "Durand").organisation
    martin = organisations.create(paul, "siret", OTHER_SUPPLIER, "Martin").organisation
    express = organisations.create(olivia, "siret", OPERATOR, "Express").organisation
    token = Principal(ApiRole.OPERATOR, OPERATOR, "express")

    assert authorisation.complete(token).suppliers == ()  # no mandate: nothing
    mandates.grant(claire, durand.id, "siret", OPERATOR, ["edi", "pdf"])
    tomorrow = NOW.date() + timedelta(days=1)
    mandates.grant(paul, martin.id, "siret", OPERATOR, ["portal"], starts=tomorrow)
    acting = authorisation.complete(token)
    assert acting.suppliers == (SUPPLIER,)  # Martin's starts tomorrow
    assert acting.submits_for(SUPPLIER, "edi") and not acting.submits_for(SUPPLIER, "portal")
    assert acting.suppliers_for("edi") == (SUPPLIER,)
    assert acting.sees(SUPPLIER, BUYER) and not acting.sees(OTHER_SUPPLIER, BUYER)

    clock.now = NOW + timedelta(days=1)
    acting = authorisation.complete(token)
    assert acting.suppliers == (OTHER_SUPPLIER, SUPPLIER)
    assert acting.suppliers_for("portal") == (OTHER_SUPPLIER,)

    mandates.revoke(claire, durand.id, str(express.id))
    acting = authorisation.complete(token)
    assert acting.suppliers == (OTHER_SUPPLIER,)
    assert not acting.submits_for(SUPPLIER, "edi") and not acting.sees(SUPPLIER, BUYER)
    # The supplier's own principal alone grants; one organisation, one mandate per operator.
    with pytest.raises(InvalidCommand):
        mandates.revoke(claire, durand.id, str(express.id))  # revoked already
    organisations.ask_to_join(olivia, "siret", SUPPLIER)
    organisations.decide(claire, durand.id, [Decision(str(olivia.id), "", True)])
    with pytest.raises(NotAllowed):
        mandates.grant(olivia, durand.id, "siret", OPERATOR, ["edi"])
    for refused in (
        dict(modes=[]),
        dict(modes=["fax"]),
        dict(modes=["edi"], starts=NOW.date() - timedelta(days=1)),
    ):
        with pytest.raises(InvalidCommand):
            mandates.grant(claire, durand.id, "siret", OPERATOR, **refused)  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand):  # itself
        mandates.grant(claire, durand.id, "siret", SUPPLIER, ["edi"])
    listed = mandates.of(durand.id)
    assert [(m.identifier, m.revoked_at is not None) for m in listed] == [(OPERATOR, True)]


def test_technical_accounts_are_the_principal_managers_and_live_424_days(
    world: tuple[AccountsApp, Organisations, Authorisation, Clock],
) -> None:
    app, organisations, authorisation, _ = world
    claire, paul = person(app, "Claire"), person(app, "Paul")
    durand = organisations.create(claire, "siret", SUPPLIER, "Durand").organisation
    organisations.ask_to_join(paul, "siret", SUPPLIER)
    organisations.decide(claire, durand.id, [Decision(str(paul.id), "", True)])
    org = organisations.get(durand.id)
    with pytest.raises(NotAllowed):
        org.create_technical_account(paul.id, "c1", "ERP", "a" * 64, ["invoices-issued"], NOW)
    with pytest.raises(InvalidCommand):  # a private organisation receives nothing
        org.create_technical_account(claire.id, "c1", "ERP", "a" * 64, ["invoices-received"], NOW)
    with pytest.raises(InvalidCommand):
        org.create_technical_account(claire.id, "c1", "ERP", "a" * 64, ["manager"], NOW)
    org.create_technical_account(claire.id, "c1", "ERP", "a" * 64, ["invoices-issued"], NOW)
    organisations.save(org)
    found = authorisation.client("c1")
    assert found is not None and found.identifier == SUPPLIER
    assert found.spaces == {Space.ISSUED.value}
    assert found.expires_at == NOW + timedelta(days=TECHNICAL_ACCOUNT_DAYS)
    org = organisations.get(durand.id)
    assert org.technical_accounts_to_remind(NOW, 30) == []
    due = NOW + timedelta(days=TECHNICAL_ACCOUNT_DAYS - 30)
    assert [t.client_id for t in org.technical_accounts_to_remind(due, 30)] == ["c1"]
    org.technical_account_reminded("c1")
    assert org.technical_accounts_to_remind(due, 30) == []
    org.renew_technical_account(claire.id, "c1", "b" * 64, due)
    assert org.technical_accounts["c1"].secret_sha256 == "b" * 64
    org.revoke_technical_account(claire.id, "c1", due)
    organisations.save(org)
    assert authorisation.client("c1") is None
    held = org.member(claire.id)
    assert held is not None and held.role is Role.PRINCIPAL


def test_members_without_a_space_that_reaches_invoices_reach_none(
    world: tuple[AccountsApp, Organisations, Authorisation, Clock],
) -> None:
    app, organisations, authorisation, _ = world
    claire, paul = person(app, "Claire"), person(app, "Paul")
    durand = organisations.create(claire, "siret", SUPPLIER, "Durand").organisation
    organisations.ask_to_join(paul, "siret", SUPPLIER)
    organisations.decide(claire, durand.id, [Decision(str(paul.id), "", True)])
    assert authorisation.member(paul.id, durand.id, "Paul") == Principal(
        ApiRole.SUPPLIER, SUPPLIER, "Paul"
    )
    organisations.withdraw(claire, durand.id, str(paul.id), "invoices-issued")
    assert authorisation.member(paul.id, durand.id, "Paul") is None
    assert authorisation.member(paul.id, UUID(int=1), "Paul") is None


def test_a_technical_account_authenticates_with_its_current_secret_while_valid(
    world: tuple[AccountsApp, Organisations, Authorisation, Clock],
) -> None:
    app, organisations, authorisation, clock = world
    accounts = TechnicalAccounts(organisations, authorisation)
    claire = person(app, "Claire")
    city = organisations.create(claire, "siret", BUYER, "Ville", public=True).organisation
    made = accounts.create(claire, city.id, "ERP", ["invoices-issued", "invoices-received"])
    assert made.expires_at == NOW + timedelta(days=TECHNICAL_ACCOUNT_DAYS)
    found = accounts.verify(made.client_id, made.secret)
    assert found is not None and found.identifier == BUYER
    assert accounts.verify(made.client_id, made.secret + "x") is None
    assert accounts.verify("fcc_unknown", made.secret) is None
    assert principal_of_client(found, None) == Principal(
        ApiRole.SUPPLIER, BUYER, f"technical account {made.client_id}"
    )
    buyer = principal_of_client(found, "invoices-received")
    assert buyer is not None and buyer.role is ApiRole.BUYER
    assert principal_of_client(found, "manager") is None
    assert authorisation.complete(buyer, made.client_id) == buyer

    renewed = accounts.renew(claire, city.id, made.client_id)
    assert accounts.verify(made.client_id, made.secret) is None  # the old secret: gone
    assert accounts.verify(made.client_id, renewed.secret) is not None

    mailer = organisations.mailer
    assert isinstance(mailer, MemoryMailer)
    clock.now = NOW + timedelta(days=TECHNICAL_ACCOUNT_DAYS - 40)
    assert accounts.remind() == 0
    clock.now = NOW + timedelta(days=TECHNICAL_ACCOUNT_DAYS - 29)
    assert accounts.remind() == 1
    assert accounts.remind() == 0  # once per secret
    reminder = mailer.sent[-1]
    assert reminder.to == claire.login_email and made.client_id in reminder.text
    renewed = accounts.renew(claire, city.id, made.client_id)  # 424 days from now
    clock.now = NOW + timedelta(days=TECHNICAL_ACCOUNT_DAYS + 1)
    assert accounts.verify(made.client_id, renewed.secret) is not None
    assert authorisation.complete(buyer, made.client_id) == buyer
    assert accounts.remind() == 0  # the new secret's reminder is a year away

    accounts.revoke(claire, city.id, made.client_id)
    assert accounts.verify(made.client_id, renewed.secret) is None
    assert authorisation.complete(buyer, made.client_id) is None
    assert [a.revoked_at is not None for a in accounts.of(city.id)] == [True]
    other = accounts.create(claire, city.id, "Batch", ["invoices-issued"])
    clock.now += timedelta(days=TECHNICAL_ACCOUNT_DAYS)
    assert accounts.verify(other.client_id, other.secret) is None  # expired
