"""Organisations (structures) on the in-memory store: creation, the one-identifier rule,
requests to join and their decisions in bulk, spaces, the principal manager's role, and
what each member's session may reach."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from facturier.adapters.mail import MemoryMailer
from facturier.domain.accounts import Account, AccountRefused
from facturier.domain.model import InvalidCommand
from facturier.domain.organisations import NotAllowed, Organisation, Role, Space
from facturier.services.application.accounts import AccountsApp
from facturier.services.application.authorisation import in_memory
from facturier.services.application.organisations import (
    MEMBER,
    PENDING,
    Decision,
    NoSuchOrganisation,
    Organisations,
)
from facturier.services.application.principals import ApiRole, Principal
from tests.support.data import BUYER, SUPPLIER

NOW = datetime(2026, 12, 6, 9, tzinfo=UTC)


def person(app: AccountsApp, name: str, active: bool = True) -> Account:
    email = f"{name.lower().replace(' ', '.')}@durand.example"
    account = Account.register(email, "", name, "fr", "0" * 64, NOW)
    if active:
        account.activate("0" * 64, "hash", NOW)
    app.save(account)
    return account


def fresh(app: AccountsApp, account: Account) -> Account:
    found = app.find_id(account.id)
    assert found is not None
    return found


@pytest.fixture
def world() -> tuple[AccountsApp, MemoryMailer, Organisations]:
    app, mailer = AccountsApp(), MemoryMailer()
    return app, mailer, Organisations(app, mailer, "https://portal.example", lambda: NOW)


def test_the_creator_is_principal_manager_and_a_siret_exists_once(
    world: tuple[AccountsApp, MemoryMailer, Organisations],
) -> None:
    app, mailer, organisations = world
    marie, paul = person(app, "Marie Durand"), person(app, "Paul Martin")
    made = organisations.create(marie, "siret", SUPPLIER[:3] + " " + SUPPLIER[3:], "Durand SARL")
    assert made.state == MEMBER
    durand = made.organisation
    assert (durand.identifier, durand.principal) == (SUPPLIER, str(marie.id))
    assert durand.member(marie.id) is not None
    assert durand.member(marie.id).spaces == {Space.ISSUED, Space.MANAGER}  # not public
    assert fresh(app, marie).organisations == {str(durand.id): MEMBER}

    # The same SIRET again: a request to join, which mails the principal manager.
    again = organisations.create(paul, "siret", SUPPLIER, "Durand again")
    assert again.state == PENDING and again.organisation.id == durand.id
    assert fresh(app, paul).organisations == {str(durand.id): PENDING}
    assert [m.to for m in mailer.sent] == [marie.login_email]
    assert "Paul Martin" in mailer.sent[0].text

    for kind, identifier, field_name in (
        ("siret", "73282932000075", "identifier"),  # fails the Luhn check
        ("siret", "".join(chr(0xFF10 + int(d)) for d in SUPPLIER), "identifier"),  # fullwidth
        ("eu-vat", "FR44732829320", "identifier"),  # French: a SIRET, not a VAT id
        ("nowhere", "1", "kind"),
    ):
        with pytest.raises(InvalidCommand) as invalid:
            organisations.create(marie, kind, identifier, "X")
        assert invalid.value.field == field_name
    assert organisations.create(marie, "eu-vat", "DE 136695976", "GmbH").state == MEMBER
    private = organisations.create(paul, "private", "", "Paul Martin")
    assert private.organisation.identifier == "" and private.state == MEMBER
    inactive = person(app, "Not Yet", active=False)
    with pytest.raises(AccountRefused):
        organisations.create(inactive, "siret", BUYER, "X")


def test_managers_decide_requests_in_bulk_and_each_requester_is_told(
    world: tuple[AccountsApp, MemoryMailer, Organisations],
) -> None:
    app, mailer, organisations = world
    marie = person(app, "Marie Durand")
    durand = organisations.create(marie, "siret", SUPPLIER, "Durand SARL").organisation
    asking = [person(app, f"Person {n}") for n in range(3)]
    for a in asking:
        organisations.ask_to_join(a, "siret", SUPPLIER, note="comptabilité")
    assert [r.name for r in organisations.pending(marie, durand.id)] == [
        "Person 0",
        "Person 1",
        "Person 2",
    ]
    with pytest.raises(NotAllowed):
        organisations.pending(asking[0], durand.id)
    with pytest.raises(NotAllowed):
        organisations.decide(asking[0], durand.id, [Decision(str(asking[1].id), "", True)])

    mailer.sent.clear()
    decided = organisations.decide(
        marie,
        durand.id,
        [
            Decision(str(asking[0].id), "", True),
            Decision(str(asking[1].id), "", True),
            Decision(str(asking[2].id), "", False),
        ],
    )
    assert decided == 3
    durand = organisations.get(durand.id)
    assert set(durand.members) == {str(marie.id), str(asking[0].id), str(asking[1].id)}
    assert durand.member(asking[0].id).spaces == {Space.ISSUED}
    assert fresh(app, asking[0]).organisations == {str(durand.id): MEMBER}
    assert fresh(app, asking[2]).organisations == {}
    assert sorted(m.to for m in mailer.sent) == sorted(a.login_email for a in asking)
    assert any("refusée" in m.text for m in mailer.sent)
    with pytest.raises(InvalidCommand):  # decided already
        organisations.decide(marie, durand.id, [Decision(str(asking[2].id), "", True)])
    with pytest.raises(NoSuchOrganisation):
        organisations.ask_to_join(asking[2], "siret", BUYER)


def test_spaces_are_self_service_for_issued_invoices_and_granted_for_the_rest(
    world: tuple[AccountsApp, MemoryMailer, Organisations],
) -> None:
    app, _, organisations = world
    marie, paul, lou = person(app, "Marie Durand"), person(app, "Paul Martin"), person(app, "Lou")
    city = organisations.create(marie, "siret", BUYER, "Ville", public=True).organisation
    assert city.member(marie.id).spaces == set(Space)
    for other in (paul, lou):
        organisations.ask_to_join(other, "siret", BUYER)
        organisations.decide(marie, city.id, [Decision(str(other.id), "", True)])
    assert organisations.ask_for_space(paul, city.id, "invoices-issued") is True
    assert organisations.ask_for_space(paul, city.id, "invoices-received") is False
    assert [r.space for r in organisations.pending(marie, city.id)] == ["invoices-received"]
    organisations.decide(marie, city.id, [Decision(str(paul.id), "invoices-received", True)])
    organisations.copy_rights(marie, city.id, str(paul.id), [str(lou.id)])
    city = organisations.get(city.id)
    assert city.member(lou.id).spaces == {Space.ISSUED, Space.RECEIVED}
    organisations.withdraw(marie, city.id, str(lou.id), "invoices-issued")
    assert organisations.get(city.id).member(lou.id).spaces == {Space.RECEIVED}
    with pytest.raises(NotAllowed):
        organisations.grant(paul, city.id, str(lou.id), "manager")
    with pytest.raises(InvalidCommand):
        organisations.grant(marie, city.id, str(lou.id), "everything")

    durand = organisations.create(paul, "siret", SUPPLIER, "Durand SARL").organisation
    with pytest.raises(InvalidCommand):  # not a public organisation: nothing received
        organisations.ask_for_space(paul, durand.id, "invoices-received")


def test_sessions_reach_the_invoices_their_spaces_allow(
    world: tuple[AccountsApp, MemoryMailer, Organisations],
) -> None:
    app, _, organisations = world
    authorisation = in_memory(app)

    def principal_for(account: Account, organisation: Organisation) -> Principal | None:
        return authorisation.member(account.id, organisation.id, account.name)

    marie, paul = person(app, "Marie Durand"), person(app, "Paul Martin")
    durand = organisations.create(marie, "siret", SUPPLIER, "Durand SARL").organisation
    city = organisations.create(paul, "siret", BUYER, "Ville", public=True).organisation
    assert principal_for(marie, durand) == Principal(ApiRole.SUPPLIER, SUPPLIER, "Marie Durand")
    assert principal_for(paul, city) == Principal(ApiRole.SUPPLIER, BUYER, "Paul Martin")
    assert principal_for(marie, city) is None  # not a member
    organisations.ask_to_join(marie, "siret", BUYER)
    organisations.decide(paul, city.id, [Decision(str(marie.id), "", True)])
    organisations.withdraw(paul, city.id, str(marie.id), "invoices-issued")
    organisations.grant(paul, city.id, str(marie.id), "invoices-received")
    city = organisations.get(city.id)
    assert principal_for(marie, city) == Principal(ApiRole.BUYER, BUYER, "Marie Durand")


def test_the_principal_manager_hands_on_the_role_and_support_appoints_one_when_gone(
    world: tuple[AccountsApp, MemoryMailer, Organisations],
) -> None:
    app, _, organisations = world
    marie, paul = person(app, "Marie Durand"), person(app, "Paul Martin")
    durand = organisations.create(marie, "siret", SUPPLIER, "Durand SARL").organisation
    organisations.ask_to_join(paul, "siret", SUPPLIER)
    organisations.decide(marie, durand.id, [Decision(str(paul.id), "", True)])
    with pytest.raises(NotAllowed):
        organisations.transfer_principal(paul, durand.id, str(paul.id))
    organisations.transfer_principal(marie, durand.id, str(paul.id))
    durand = organisations.get(durand.id)
    assert durand.principal == str(paul.id)
    assert durand.member(marie.id).role is Role.USER

    organisations.leave(fresh(app, paul), durand.id)
    assert organisations.get(durand.id).principal is None
    assert fresh(app, paul).organisations == {}
    with pytest.raises(NotAllowed):
        organisations.appoint_principal(
            Principal(ApiRole.SUPPLIER, SUPPLIER, "x"), durand.id, str(marie.id)
        )
    admin = Principal(ApiRole.ADMIN, "*", "support")
    organisations.appoint_principal(admin, durand.id, str(marie.id))
    assert organisations.get(durand.id).principal == str(marie.id)
    with pytest.raises(InvalidCommand):  # it has one now
        organisations.appoint_principal(admin, durand.id, str(marie.id))
    assert [m.organisation.id for m in organisations.of_account(fresh(app, marie))] == [durand.id]
    assert isinstance(durand.id, UUID)


def test_a_note_that_cannot_be_kept_is_refused(
    world: tuple[AccountsApp, MemoryMailer, Organisations],
) -> None:
    app, _, organisations = world
    marie, paul = person(app, "Marie Durand"), person(app, "Paul Martin")
    organisations.create(marie, "siret", SUPPLIER, "Durand SARL")
    for note in ("a\x00b", "\ud800", "x\uffff"):
        with pytest.raises(InvalidCommand) as invalid:
            organisations.ask_to_join(paul, "siret", SUPPLIER, note)
        assert invalid.value.field == "note"
    for name in ("\x00", "", "x" * 201):
        with pytest.raises(InvalidCommand):
            organisations.create(paul, "private", "", name)
