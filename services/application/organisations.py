"""Organisations (structures): creating one, asking to join one, the managers' decisions —
one at a time or in bulk —, spaces, and the principal manager's role; with the mails each
party gets. Organisations are aggregates of the accounts' application (`AccountsApp`), so an
organisation and the accounts it changes are saved in one transaction.

Which invoices an account's session reaches is the authorisation projection's answer
(`authorisation.py`), fed by these aggregates' events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from facturier.adapters.mail import Mail, Mailer
from facturier.domain.accounts import Account, AccountRefused
from facturier.domain.identifiers import UNIDENTIFIED, checked_identifier
from facturier.domain.languages import Language
from facturier.domain.model import InvalidCommand
from facturier.domain.organisations import (
    NotAllowed,
    Organisation,
    Request,
    Space,
    organisation_id,
)
from facturier.services.application.accounts import RACE_RETRIES, AccountsApp, Clock, utc_now
from facturier.services.application.principals import ApiRole, Principal

MEMBER, PENDING = "member", "pending"


@dataclass(frozen=True)
class Decision:
    account_id: str
    space: str  # "": the request to join
    approve: bool


@dataclass(frozen=True)
class Membership:
    organisation: Organisation
    state: str  # member | pending


class NoSuchOrganisation(LookupError):
    pass


MAILS: dict[str, tuple[str, str]] = {
    "asked": (
        "Une demande de rattachement à {organisation} attend votre décision : {name}."
        " {portal}/portal/organisations/{id}",
        "A request to join {organisation} awaits your decision: {name}."
        " {portal}/portal/organisations/{id}",
    ),
    "approved": (
        "Votre demande pour {organisation} est acceptée. {portal}/portal/organisations",
        "Your request for {organisation} has been accepted. {portal}/portal/organisations",
    ),
    "refused": (
        "Votre demande pour {organisation} est refusée. {portal}/portal/organisations",
        "Your request for {organisation} has been refused. {portal}/portal/organisations",
    ),
}


@dataclass
class Organisations:
    app: AccountsApp
    mailer: Mailer
    portal_url: str
    clock: Clock = utc_now

    # ------------------------------------------------------------ reading

    def get(self, organisation_id: UUID) -> Organisation:
        try:
            found: Organisation = self.app.repository.get(organisation_id)
        except AggregateNotFoundError:
            raise NoSuchOrganisation(str(organisation_id)) from None
        return found

    def of_account(self, account: Account) -> list[Membership]:
        return [
            Membership(self.get(UUID(key)), state)
            for key, state in sorted(account.organisations.items())
        ]

    def find(self, kind: str, identifier: str) -> Organisation | None:
        known, compact = checked_identifier(kind, identifier)
        if known in UNIDENTIFIED:
            return None
        try:
            return self.get(organisation_id(known, compact, UUID(int=0)))
        except NoSuchOrganisation:
            return None

    # ------------------------------------------------------------ joining

    def create(
        self, account: Account, kind: str, identifier: str, name: str, public: bool = False
    ) -> Membership:
        """The account's new organisation, of which it is the principal manager; an
        identifier already registered (even a moment ago, by another request) becomes a
        request to join it."""
        account = self._fresh(account)
        _active(account)
        organisation = Organisation.create(
            kind, identifier, name, public, account.id, account.name, self.clock()
        )
        account.link_organisation(str(organisation.id), MEMBER)
        try:
            self.app.save(organisation, account)
        except IntegrityError:
            if self.find(kind, identifier) is None:  # the account itself changed meanwhile
                raise AccountRefused("CONCURRENT_CHANGE", "try again") from None
            return self.ask_to_join(self._fresh(account), kind, identifier)
        return Membership(organisation, MEMBER)

    def ask_to_join(
        self, account: Account, kind: str, identifier: str, note: str = ""
    ) -> Membership:
        for _ in range(RACE_RETRIES):  # requests racing for one organisation: each is kept
            account = self._fresh(account)
            _active(account)
            organisation = self.find(kind, identifier)
            if organisation is None:
                raise NoSuchOrganisation(identifier)
            organisation.ask_to_join(account.id, account.name, self.clock(), note)
            account.link_organisation(str(organisation.id), PENDING)
            try:
                self.app.save(organisation, account)
                break
            except IntegrityError:
                continue
        else:
            raise AccountRefused("CONCURRENT_CHANGE", "the organisation is busy: try again")
        for manager in self._managers(organisation):
            self._mail(manager, "asked", organisation, name=account.name)
        return Membership(organisation, PENDING)

    def pending(self, manager: Account, organisation_id: UUID) -> list[Request]:
        organisation = self.get(organisation_id)
        if not organisation.manages(manager.id):
            raise NotAllowed("only the organisation's managers")
        return sorted(organisation.requests.values(), key=lambda r: r.at)

    def decide(self, manager: Account, organisation_id: UUID, decisions: Iterable[Decision]) -> int:
        """Approve or refuse requests, several at once; each requester gets a mail."""
        organisation = self.get(organisation_id)
        changed: dict[str, Account] = {}
        told: list[tuple[str, str]] = []
        for d in decisions:
            if d.space:
                organisation.decide_space(manager.id, d.account_id, Space(d.space), d.approve)
            else:
                organisation.decide_join(manager.id, d.account_id, d.approve)
                requester = changed.get(d.account_id) or self._account(d.account_id)
                if d.approve:
                    requester.link_organisation(str(organisation.id), MEMBER)
                else:
                    requester.unlink_organisation(str(organisation.id))
                changed[d.account_id] = requester
            told.append((d.account_id, "approved" if d.approve else "refused"))
        self.save(organisation, *changed.values())
        for account_id, outcome in told:
            self._mail(account_id, outcome, organisation)
        return len(told)

    # ------------------------------------------------------------ spaces and roles

    def ask_for_space(self, account: Account, organisation_id: UUID, space: str) -> bool:
        organisation = self.get(organisation_id)
        granted = organisation.ask_for_space(account.id, _space(space), self.clock())
        self.save(organisation)
        if not granted:
            for manager in self._managers(organisation):
                self._mail(manager, "asked", organisation, name=account.name)
        return granted

    def grant(self, manager: Account, organisation_id: UUID, account_id: str, space: str) -> None:
        organisation = self.get(organisation_id)
        organisation.grant(manager.id, account_id, _space(space))
        self.save(organisation)

    def withdraw(
        self, manager: Account, organisation_id: UUID, account_id: str, space: str
    ) -> None:
        organisation = self.get(organisation_id)
        organisation.withdraw(manager.id, account_id, _space(space))
        self.save(organisation)

    def copy_rights(
        self, manager: Account, organisation_id: UUID, source: str, targets: Iterable[str]
    ) -> None:
        organisation = self.get(organisation_id)
        for target in targets:
            organisation.copy_rights(manager.id, source, target)
        self.save(organisation)

    def transfer_principal(self, principal: Account, organisation_id: UUID, to: str) -> None:
        organisation = self.get(organisation_id)
        organisation.transfer_principal(principal.id, to)
        self.save(organisation)

    def appoint_principal(self, admin: Principal, organisation_id: UUID, to: str) -> None:
        if admin.role is not ApiRole.ADMIN:
            raise NotAllowed("only the platform's administrators appoint a principal manager")
        organisation = self.get(organisation_id)
        organisation.appoint_principal(admin.actor, to)
        self.save(organisation)

    def leave(self, account: Account, organisation_id: UUID) -> None:
        organisation, account = self.get(organisation_id), self._fresh(account)
        organisation.leave(account.id)
        account.unlink_organisation(str(organisation.id))
        self.save(organisation, account)

    # ------------------------------------------------------------ helpers

    def save(self, *aggregates: Organisation | Account) -> None:
        refused = AccountRefused(
            "CONCURRENT_CHANGE", "the organisation changed meanwhile: try again"
        )
        self.app.save_once(*aggregates, refused=refused)

    def _account(self, account_id: str) -> Account:
        found = self.app.find_id(UUID(account_id))
        if found is None:
            raise InvalidCommand("account", "no such account")
        return found

    def _fresh(self, account: Account) -> Account:
        """The account as stored now: the one a caller holds may be older."""
        return self._account(str(account.id))

    def _managers(self, organisation: Organisation) -> list[str]:
        return [
            m.account_id
            for m in organisation.members.values()
            if organisation.manages(UUID(m.account_id))
        ]

    def _mail(self, account_id: str, kind: str, organisation: Organisation, **values: str) -> None:
        account = self.app.find_id(UUID(account_id))
        if account is None:
            return
        french, english = MAILS[kind]
        text = (french if account.language == Language.FR else english).format(
            organisation=organisation.name,
            id=organisation.id,
            portal=self.portal_url.rstrip("/"),
            name=values.get("name", ""),
        )
        subject = f"facturier — {organisation.name}"
        self.mailer.send(Mail(account.login_email, subject, text + "\n", account.language))


def _active(account: Account) -> None:
    if not account.active:
        raise AccountRefused("NOT_ACTIVE", "the account is not active yet")


def _space(space: str) -> Space:
    try:
        return Space(space)
    except ValueError:
        raise InvalidCommand("space", f"one of {', '.join(Space)}") from None
