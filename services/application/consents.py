"""Consent: the terms of use each account accepts (again at the next sign-in after a new
version), and the billing mandate an organisation's manager signs before its users may type
invoices on the portal. Each acceptance is an event carrying the account, the organisation
(for a mandate), the text's version and SHA-256, the instant, the client's address and its
user agent. The texts are those shipped in `schemas/texts/` (`<kind>-<version>.md`, every
version kept); the highest version of a kind is the one in force."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from uuid import UUID

from facturier.adapters.account_sessions import AccountSession
from facturier.domain.accounts import Account, AccountRefused
from facturier.domain.organisations import Organisation
from facturier.domain.texts import Text, TextKind
from facturier.services.application.accounts import AccountsApp, Clock, utc_now

_NAME = re.compile(r"(terms|mandate)-([0-9]+)\.md")


def shipped_texts() -> dict[TextKind, list[Text]]:
    """Every version of every text, oldest first."""
    found: dict[TextKind, list[Text]] = {kind: [] for kind in TextKind}
    for item in resources.files("facturier.schemas").joinpath("texts").iterdir():
        named = _NAME.fullmatch(item.name)
        if named:
            kind = TextKind(named[1])
            found[kind].append(Text(kind, int(named[2]), item.read_text(encoding="utf-8")))
    for versions in found.values():
        versions.sort(key=lambda t: t.version)
    return found


@dataclass
class Consents:
    app: AccountsApp
    texts: Mapping[TextKind, Sequence[Text]] = field(default_factory=shipped_texts)
    clock: Clock = utc_now

    def current(self, kind: TextKind) -> Text:
        return self.texts[kind][-1]

    def by_sha256(self, sha256: str) -> Text | None:
        """Any version ever in force, by the hash an acceptance recorded."""
        return next((t for ts in self.texts.values() for t in ts if t.sha256 == sha256), None)

    def needs_terms(self, account: Account) -> bool:
        return account.terms_sha256 != self.current(TextKind.TERMS).sha256

    def accept_terms(self, session: AccountSession) -> None:
        account = self.app.find_id(session.account_id)
        if account is None or not session.signed_in:
            raise AccountRefused("SIGN_IN_FIRST", "sign in first")
        terms = self.current(TextKind.TERMS)
        account.accept_terms(
            terms.version, terms.sha256, self.clock(), session.address, session.user_agent
        )
        self.app.save(account)

    def mandate_signed(self, organisation: Organisation) -> bool:
        return organisation.mandate_sha256 == self.current(TextKind.MANDATE).sha256

    def sign_mandate(self, session: AccountSession, organisation_id: UUID) -> None:
        """NotAllowed unless the account manages the organisation."""
        if not session.signed_in:
            raise AccountRefused("SIGN_IN_FIRST", "sign in first")
        organisation: Organisation = self.app.repository.get(organisation_id)
        mandate = self.current(TextKind.MANDATE)
        organisation.sign_mandate(
            session.account_id,
            mandate.version,
            mandate.sha256,
            self.clock(),
            session.address,
            session.user_agent,
        )
        self.app.save(organisation)

    def revoke_mandate(self, session: AccountSession, organisation_id: UUID) -> None:
        """NotAllowed unless the account manages the organisation; InvalidCommand when no
        mandate is signed."""
        if not session.signed_in:
            raise AccountRefused("SIGN_IN_FIRST", "sign in first")
        organisation: Organisation = self.app.repository.get(organisation_id)
        organisation.revoke_mandate(session.account_id, self.clock())
        self.app.save(organisation)
