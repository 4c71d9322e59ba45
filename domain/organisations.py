"""An organisation — a *structure* in Chorus Pro's words: one legal entity, identified by its
SIRET (or an EU VAT number, a non-EU id, a RIDET, a TAHITI number; or none yet: a private
person, a company being registered), whose people hold accounts.

- Its creator is its **principal manager**. Others ask to be **attached**; the request waits
  until the principal manager (or a manager with the manager's space) approves or refuses it.
  An identifier exists once: creating it again becomes an attach request
  (`organisation_id`). The principal manager can hand the role to another member; if the
  principal manager has left, only the platform's administrators appoint a new one.
- Rights are per **space**: the invoices the organisation issues (self-service for every
  member), the invoices it receives (public organisations only; the manager grants it), and
  the manager's activities (the manager grants it). A manager can copy one member's spaces
  to another.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from eventsourcing.domain import Aggregate, event
from stdnum.eu import vat
from stdnum.fr import siret

from facturier.domain.accounts import checked_name
from facturier.domain.model import InvalidCommand
from facturier.domain.text import is_ascii_digits, text_problem

ORGANISATION_NAMESPACE = uuid.UUID("0b6a3c5e-2f0d-4e8a-9c41-7e5d2a9b6f30")
MAX_REQUEST_NOTE = 500


class IdentifierKind(StrEnum):
    SIRET = "siret"
    EU_VAT = "eu-vat"  # a company of another EU member state
    NON_EU = "non-eu"  # outside the EU: its own registration number
    RIDET = "ridet"  # New Caledonia
    TAHITI = "tahiti"  # French Polynesia
    PRIVATE = "private"  # a private person: no identifier
    REGISTERING = "registering"  # a company being registered: none yet


# Kinds without an identifier of their own: each creation is a new organisation.
UNIDENTIFIED = frozenset({IdentifierKind.PRIVATE, IdentifierKind.REGISTERING})


class Space(StrEnum):
    ISSUED = "invoices-issued"  # submit and follow the invoices the organisation issues
    RECEIVED = "invoices-received"  # process the invoices a public organisation receives
    MANAGER = "manager"  # approve requests, grant spaces


class Role(StrEnum):
    PRINCIPAL = "principal"
    USER = "user"


def checked_identifier(kind: str, identifier: str) -> tuple[IdentifierKind, str]:
    """The identifier in its compact form, or InvalidCommand("identifier")."""
    try:
        known = IdentifierKind(kind)
    except ValueError:
        raise InvalidCommand("kind", f"one of {', '.join(IdentifierKind)}") from None
    compact = "".join(identifier.split()).upper()
    if known in UNIDENTIFIED:
        return known, ""
    if not _valid(known, compact):
        raise InvalidCommand("identifier", f"not a valid {known} identifier")
    return known, compact


PATTERNS = {
    IdentifierKind.NON_EU: re.compile(r"[A-Z0-9][A-Z0-9./-]{1,39}"),
    IdentifierKind.RIDET: re.compile(r"[0-9]{6,7}[0-9]{3}"),  # company (6-7) + establishment
    IdentifierKind.TAHITI: re.compile(r"[A-Z0-9][0-9]{5}[0-9]{3}"),  # number + establishment
}


def _valid(kind: IdentifierKind, value: str) -> bool:
    if kind is IdentifierKind.SIRET:
        return is_ascii_digits(value, 14) and bool(siret.is_valid(value))
    if kind is IdentifierKind.EU_VAT:
        return not value.startswith("FR") and _eu_vat(value)
    return PATTERNS[kind].fullmatch(value) is not None


def _eu_vat(value: str) -> bool:
    try:
        return bool(vat.is_valid(value)) and value.isascii()
    except Exception:  # stdnum raises on country codes it does not know
        return False


def organisation_id(kind: IdentifierKind, identifier: str, creator: uuid.UUID) -> uuid.UUID:
    """One identifier, one organisation: two creations racing with one SIRET collide in the
    event store. An organisation without identifier is its creator's own."""
    key = f"{kind}:{identifier}" if kind not in UNIDENTIFIED else f"{kind}:{creator}:{uuid.uuid4()}"
    return uuid.uuid5(ORGANISATION_NAMESPACE, key)


class NotAllowed(PermissionError):
    """The account may not do this in this organisation."""


@dataclass(frozen=True)
class Member:
    account_id: str
    name: str
    role: Role
    spaces: frozenset[Space] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Request:
    """An account waiting: to be attached (`space` empty) or for a space."""

    account_id: str
    name: str
    at: datetime
    space: str = ""
    note: str = ""


class Organisation(Aggregate):
    @staticmethod
    def create_id(organisation_key: uuid.UUID, **_: object) -> uuid.UUID:
        return organisation_key

    @event("Created")
    def __init__(
        self,
        organisation_key: uuid.UUID,
        kind: str,
        identifier: str,
        name: str,
        public: bool,
        principal: str,
        principal_name: str,
        at: datetime,
    ) -> None:
        self.kind = IdentifierKind(kind)
        self.identifier = identifier
        self.name = name
        self.public = public
        self.created_at = at
        self.members: dict[str, Member] = {
            principal: Member(
                principal, principal_name, Role.PRINCIPAL, frozenset(Space) - self._closed()
            )
        }
        self.requests: dict[tuple[str, str], Request] = {}
        self.mandate_sha256 = ""  # the billing mandate signed, if any

    @classmethod
    def create(
        cls,
        kind: str,
        identifier: str,
        name: str,
        public: bool,
        creator: uuid.UUID,
        creator_name: str,
        at: datetime,
    ) -> Organisation:
        known, compact = checked_identifier(kind, identifier)
        return cls(
            organisation_key=organisation_id(known, compact, creator),
            kind=known.value,
            identifier=compact,
            name=checked_name(name),
            public=bool(public) and known is IdentifierKind.SIRET,
            principal=str(creator),
            principal_name=creator_name,
            at=at,
        )

    def _closed(self) -> frozenset[Space]:
        """The spaces this organisation does not have."""
        return frozenset() if self.public else frozenset({Space.RECEIVED})

    @property
    def principal(self) -> str | None:
        return next((m.account_id for m in self.members.values() if m.role is Role.PRINCIPAL), None)

    def member(self, account: uuid.UUID) -> Member | None:
        return self.members.get(str(account))

    def may(self, account: uuid.UUID, space: Space) -> bool:
        found = self.member(account)
        return found is not None and space in found.spaces

    def manages(self, account: uuid.UUID) -> bool:
        found = self.member(account)
        return found is not None and (found.role is Role.PRINCIPAL or Space.MANAGER in found.spaces)

    def _must_manage(self, account: uuid.UUID) -> None:
        if not self.manages(account):
            raise NotAllowed("only the organisation's managers")

    def _must_be_member(self, account: str) -> Member:
        found = self.members.get(account)
        if found is None:
            raise InvalidCommand("account", "not a member of the organisation")
        return found

    # ------------------------------------------------------------ attachment

    def ask_to_join(self, account: uuid.UUID, name: str, at: datetime, note: str = "") -> None:
        if str(account) in self.members:
            raise InvalidCommand("account", "already a member")
        if (str(account), "") in self.requests:
            return  # asked already: one request stands
        note = note.strip()[:MAX_REQUEST_NOTE]
        if problem := text_problem(note, multiline=True):
            raise InvalidCommand("note", problem)
        self._join_requested(str(account), name, at, note)

    @event("JoinRequested")
    def _join_requested(self, account: str, name: str, at: datetime, note: str) -> None:
        self.requests[(account, "")] = Request(account, name, at, "", note)

    def decide_join(
        self, manager: uuid.UUID, account: str, approve: bool, reason: str = ""
    ) -> None:
        self._must_manage(manager)
        if (account, "") not in self.requests:
            raise InvalidCommand("account", "no pending request from this account")
        if approve:
            self._join_approved(account, str(manager))
        else:
            self._join_refused(account, str(manager), reason[:MAX_REQUEST_NOTE])

    @event("JoinApproved")
    def _join_approved(self, account: str, by: str) -> None:
        request = self.requests.pop((account, ""))
        self.members[account] = Member(account, request.name, Role.USER, frozenset({Space.ISSUED}))

    @event("JoinRefused")
    def _join_refused(self, account: str, by: str, reason: str) -> None:
        del self.requests[(account, "")]

    # ------------------------------------------------------------ spaces

    def ask_for_space(self, account: uuid.UUID, space: Space, at: datetime) -> bool:
        """True when granted at once (the invoices issued are self-service)."""
        member = self._must_be_member(str(account))
        if space in self._closed():
            raise InvalidCommand("space", f"{self.name} has no space {space}")
        if space in member.spaces:
            return True
        if space is Space.ISSUED:
            self._space_granted(str(account), space.value, str(account))
            return True
        if (str(account), space.value) not in self.requests:
            self._space_requested(str(account), member.name, space.value, at)
        return False

    @event("SpaceRequested")
    def _space_requested(self, account: str, name: str, space: str, at: datetime) -> None:
        self.requests[(account, space)] = Request(account, name, at, space)

    def decide_space(self, manager: uuid.UUID, account: str, space: Space, approve: bool) -> None:
        self._must_manage(manager)
        if (account, space.value) not in self.requests:
            raise InvalidCommand("account", "no pending request for this space")
        if approve:
            self._space_granted(account, space.value, str(manager))
        else:
            self._space_refused(account, space.value, str(manager))

    def grant(self, manager: uuid.UUID, account: str, space: Space) -> None:
        self._must_manage(manager)
        member = self._must_be_member(account)
        if space in self._closed():
            raise InvalidCommand("space", f"{self.name} has no space {space}")
        if space not in member.spaces:
            self._space_granted(account, space.value, str(manager))

    @event("SpaceGranted")
    def _space_granted(self, account: str, space: str, by: str) -> None:
        self.requests.pop((account, space), None)
        member = self.members[account]
        self.members[account] = replace(member, spaces=member.spaces | {Space(space)})

    @event("SpaceRefused")
    def _space_refused(self, account: str, space: str, by: str) -> None:
        del self.requests[(account, space)]

    def withdraw(self, manager: uuid.UUID, account: str, space: Space) -> None:
        self._must_manage(manager)
        member = self._must_be_member(account)
        if member.role is Role.PRINCIPAL:
            raise InvalidCommand("account", "the principal manager keeps every space")
        if space in member.spaces:
            self._space_withdrawn(account, space.value, str(manager))

    @event("SpaceWithdrawn")
    def _space_withdrawn(self, account: str, space: str, by: str) -> None:
        member = self.members[account]
        self.members[account] = replace(member, spaces=member.spaces - {Space(space)})

    def copy_rights(self, manager: uuid.UUID, source: str, target: str) -> None:
        """`target` gets exactly the spaces of `source` (the principal's role excepted)."""
        self._must_manage(manager)
        spaces = self._must_be_member(source).spaces
        if self._must_be_member(target).role is Role.PRINCIPAL:
            raise InvalidCommand("account", "the principal manager keeps every space")
        self._rights_copied(source, target, sorted(spaces), str(manager))

    @event("RightsCopied")
    def _rights_copied(self, source: str, target: str, spaces: list[str], by: str) -> None:
        member = self.members[target]
        self.members[target] = replace(member, spaces=frozenset(Space(s) for s in spaces))

    # ------------------------------------------------------------ the principal manager

    def transfer_principal(self, principal: uuid.UUID, to: str) -> None:
        if self.principal != str(principal):
            raise NotAllowed("only the principal manager hands the role on")
        self._must_be_member(to)
        if to != str(principal):
            self._principal_changed(to, str(principal))

    def appoint_principal(self, admin: str, to: str) -> None:
        """The platform's administrators, when the principal manager has left."""
        if self.principal is not None:
            raise InvalidCommand("account", "the organisation has a principal manager")
        self._must_be_member(to)
        self._principal_changed(to, admin)

    @event("PrincipalChanged")
    def _principal_changed(self, to: str, by: str) -> None:
        everything = frozenset(Space) - self._closed()
        for key, member in list(self.members.items()):
            if member.role is Role.PRINCIPAL:
                self.members[key] = replace(member, role=Role.USER)
        self.members[to] = replace(self.members[to], role=Role.PRINCIPAL, spaces=everything)

    # ------------------------------------------------------------ the billing mandate

    def sign_mandate(
        self,
        manager: uuid.UUID,
        version: int,
        sha256: str,
        at: datetime,
        address: str,
        user_agent: str,
    ) -> None:
        """The organisation authorises the platform to draw up the invoices its users type."""
        self._must_manage(manager)
        self._mandate_signed(str(manager), version, sha256, at, address, user_agent[:300])

    @event("MandateSigned")
    def _mandate_signed(
        self, account: str, version: int, sha256: str, at: datetime, address: str, user_agent: str
    ) -> None:
        self.mandate_sha256 = sha256

    def leave(self, account: uuid.UUID) -> None:
        self._must_be_member(str(account))
        self._left(str(account))

    @event("MemberLeft")
    def _left(self, account: str) -> None:
        del self.members[account]
        for key in [k for k in self.requests if k[0] == account]:
            del self.requests[key]
