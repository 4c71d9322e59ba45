"""Consent on the in-memory store: the terms of use, asked again for a new version; the
billing mandate, signed by a manager only; every acceptance an event with the text's hash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from facturier.adapters.account_sessions import MemorySessions, SessionRules
from facturier.adapters.mail import MemoryMailer
from facturier.domain.accounts import Account, AccountRefused
from facturier.domain.model import InvalidCommand
from facturier.domain.organisations import NotAllowed
from facturier.domain.texts import Text, TextKind
from facturier.services.application.accounts import AccountsApp
from facturier.services.application.authorisation import in_memory
from facturier.services.application.consents import Consents, shipped_texts
from facturier.services.application.organisations import Decision, Organisations
from tests.support.data import SUPPLIER

NOW = datetime(2026, 12, 6, 9, tzinfo=UTC)


def person(app: AccountsApp, name: str) -> Account:
    account = Account.register(f"{name}@durand.example", "", name, "fr", "0" * 64, NOW)
    account.activate("0" * 64, "hash", NOW)
    app.save(account)
    return account


def test_terms_are_accepted_once_per_version_with_their_hash_address_and_agent() -> None:
    app, sessions = AccountsApp(), MemorySessions(SessionRules(), lambda: NOW)
    texts = shipped_texts()
    consents = Consents(app, texts, lambda: NOW)
    marie = person(app, "marie")
    assert consents.needs_terms(marie)
    _, pending = sessions.open(marie.id, "second-factor", "192.0.2.1", "browser")
    with pytest.raises(AccountRefused):
        consents.accept_terms(pending)  # not signed in yet
    _, session = sessions.open(marie.id, "signed-in", "192.0.2.1", "browser")
    consents.accept_terms(session)
    marie = app.find_id(marie.id) or marie
    assert not consents.needs_terms(marie)
    [accepted] = [
        e for e in app.repository.event_store.get(marie.id) if "Terms" in type(e).__name__
    ]
    terms = consents.current(TextKind.TERMS)
    assert (accepted.version, accepted.sha256) == (terms.version, terms.sha256)
    assert (accepted.address, accepted.user_agent) == ("192.0.2.1", "browser")
    assert consents.by_sha256(terms.sha256) == terms

    newer = Text(TextKind.TERMS, terms.version + 1, terms.body + "\n5. A new clause.\n")
    updated = Consents(app, {**texts, TextKind.TERMS: [*texts[TextKind.TERMS], newer]})
    assert updated.needs_terms(marie)  # asked again at the next sign-in
    assert updated.by_sha256(terms.sha256) == terms  # the old version is still known


def test_the_mandate_is_signed_by_a_manager_of_the_organisation() -> None:
    app, sessions = AccountsApp(), MemorySessions(SessionRules(), lambda: NOW)
    organisations = Organisations(app, MemoryMailer(), "https://portal.example", lambda: NOW)
    consents = Consents(app, clock=lambda: NOW)
    marie, paul = person(app, "marie"), person(app, "paul")
    durand = organisations.create(marie, "siret", SUPPLIER, "Durand SARL").organisation
    organisations.ask_to_join(paul, "siret", SUPPLIER)
    organisations.decide(marie, durand.id, [Decision(str(paul.id), "", True)])
    assert not consents.mandate_signed(organisations.get(durand.id))
    _, paul_session = sessions.open(paul.id, "signed-in", "192.0.2.2", "phone")
    with pytest.raises(NotAllowed):
        consents.sign_mandate(paul_session, durand.id)
    _, marie_session = sessions.open(marie.id, "signed-in", "192.0.2.1", "browser")
    consents.sign_mandate(marie_session, durand.id)
    assert consents.mandate_signed(organisations.get(durand.id))
    # Revoked by a manager (not by a user): typing stops, the projection says so too.
    authorisation = in_memory(app, lambda: NOW)
    grant = authorisation.grant(marie.id, durand.id)
    assert grant is not None and grant.mandate_signed
    with pytest.raises(NotAllowed):
        consents.revoke_mandate(paul_session, durand.id)
    consents.revoke_mandate(marie_session, durand.id)
    assert not consents.mandate_signed(organisations.get(durand.id))
    grant = authorisation.grant(marie.id, durand.id)
    assert grant is not None and not grant.mandate_signed
    with pytest.raises(InvalidCommand):  # nothing left to revoke
        consents.revoke_mandate(marie_session, durand.id)
    consents.sign_mandate(marie_session, durand.id)
    assert consents.mandate_signed(organisations.get(durand.id))
