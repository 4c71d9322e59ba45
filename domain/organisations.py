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
- The principal manager hands the organisation's invoices to **operators** (other
  organisations that submit on its behalf) by **mandates**: which submission modes, from which
  day, until revoked. And creates its **technical accounts**: machine credentials whose
  secret is shown once, stored by its SHA-256, and renewed every 424 days.
"""

from __future__ import annotations

# Long: one aggregate; eventsourcing declares its events on its class, each beside its
# command, so they cannot move to modules of their own.
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from eventsourcing.domain import Aggregate, event

from facturier.domain.accounts import checked_name
from facturier.domain.identifiers import UNIDENTIFIED, IdentifierKind, checked_identifier
from facturier.domain.model import InvalidCommand, SubmissionMode
from facturier.domain.text import text_problem

ORGANISATION_NAMESPACE = uuid.UUID("0b6a3c5e-2f0d-4e8a-9c41-7e5d2a9b6f30")
MAX_REQUEST_NOTE = 500
TECHNICAL_ACCOUNT_DAYS = 424  # as on Chorus Pro: a secret lives 424 days, then is renewed
MAX_LABEL = 80


class Space(StrEnum):
    ISSUED = "invoices-issued"  # submit and follow the invoices the organisation issues
    RECEIVED = "invoices-received"  # process the invoices a public organisation receives
    MANAGER = "manager"  # approve requests, grant spaces


class Role(StrEnum):
    PRINCIPAL = "principal"
    USER = "user"


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
class OperatorMandate:
    """What a supplier organisation lets an operator organisation do for it."""

    operator: str  # the operator organisation's id
    identifier: str  # its identifier (a SIRET...), as its tokens name it
    modes: frozenset[SubmissionMode]
    starts: date
    revoked_at: datetime | None = None

    def allows(self, mode: SubmissionMode, on: date) -> bool:
        return self.revoked_at is None and mode in self.modes and on >= self.starts


@dataclass(frozen=True)
class TechnicalAccount:
    """A machine's credentials: an OAuth2 client of the organisation."""

    client_id: str
    label: str
    secret_sha256: str
    spaces: frozenset[Space]
    expires_at: datetime
    revoked_at: datetime | None = None
    reminded: bool = False  # the renewal reminder of this secret was sent

    def valid(self, at: datetime) -> bool:
        return self.revoked_at is None and at < self.expires_at


def checked_modes(modes: Iterable[str]) -> frozenset[SubmissionMode]:
    try:
        chosen = frozenset(SubmissionMode(m) for m in modes)
    except ValueError:
        raise InvalidCommand("modes", f"among {', '.join(SubmissionMode)}") from None
    if not chosen:
        raise InvalidCommand("modes", f"at least one of {', '.join(SubmissionMode)}")
    return chosen


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
        self.operators: dict[str, OperatorMandate] = {}  # by operator organisation id
        self.technical_accounts: dict[str, TechnicalAccount] = {}  # by client id

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

    def _must_be_principal(self, account: uuid.UUID) -> None:
        if self.principal != str(account):
            raise NotAllowed("only the organisation's principal manager")

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

    def revoke_mandate(self, manager: uuid.UUID, at: datetime) -> None:
        """The organisation withdraws the billing mandate: typing invoices stops until a
        manager signs it again."""
        self._must_manage(manager)
        if not self.mandate_sha256:
            raise InvalidCommand("mandate", "no billing mandate is signed")
        self._mandate_revoked(str(manager), at)

    @event("MandateRevoked")
    def _mandate_revoked(self, account: str, at: datetime) -> None:
        self.mandate_sha256 = ""

    def leave(self, account: uuid.UUID) -> None:
        self._must_be_member(str(account))
        self._left(str(account))

    @event("MemberLeft")
    def _left(self, account: str) -> None:
        del self.members[account]
        for key in [k for k in self.requests if k[0] == account]:
            del self.requests[key]

    # ------------------------------------------------------------ operators' mandates

    def mandate_operator(
        self,
        principal: uuid.UUID,
        operator: str,
        operator_identifier: str,
        modes: Iterable[str],
        starts: date,
        at: datetime,
    ) -> None:
        """Let the operator organisation submit this organisation's invoices in `modes`
        from `starts` on (and follow them); granting again replaces the modes and the day."""
        self._must_be_principal(principal)
        if not self.identifier:
            raise InvalidCommand("organisation", "an organisation without identifier issues none")
        if operator == str(self.id):
            raise InvalidCommand("operator", "an organisation does not mandate itself")
        if not operator_identifier:
            raise InvalidCommand("operator", "an operator without identifier cannot submit")
        chosen = checked_modes(modes)
        if starts < at.date():
            raise InvalidCommand("starts", "today or later")
        self._operator_mandated(
            operator, operator_identifier, sorted(chosen), starts.isoformat(), str(principal), at
        )

    @event("OperatorMandated")
    def _operator_mandated(
        self, operator: str, identifier: str, modes: list[str], starts: str, by: str, at: datetime
    ) -> None:
        self.operators[operator] = OperatorMandate(
            operator,
            identifier,
            frozenset(SubmissionMode(m) for m in modes),
            date.fromisoformat(starts),
        )

    def revoke_operator(self, principal: uuid.UUID, operator: str, at: datetime) -> None:
        self._must_be_principal(principal)
        found = self.operators.get(operator)
        if found is None or found.revoked_at is not None:
            raise InvalidCommand("operator", "no mandate in force for this operator")
        self._operator_revoked(operator, str(principal), at)

    @event("OperatorMandateRevoked")
    def _operator_revoked(self, operator: str, by: str, at: datetime) -> None:
        self.operators[operator] = replace(self.operators[operator], revoked_at=at)

    # ------------------------------------------------------------ technical accounts

    def create_technical_account(
        self,
        principal: uuid.UUID,
        client_id: str,
        label: str,
        secret_sha256: str,
        spaces: Iterable[str],
        at: datetime,
    ) -> None:
        self._must_be_principal(principal)
        label = " ".join(label.split())
        if not label or len(label) > MAX_LABEL or text_problem(label):
            raise InvalidCommand("label", f"required, at most {MAX_LABEL} characters")
        try:
            chosen = frozenset(Space(s) for s in spaces)
        except ValueError:
            raise InvalidCommand("spaces", "unknown space") from None
        usable = frozenset(Space) - self._closed() - {Space.MANAGER}
        if not chosen or not chosen <= usable:
            raise InvalidCommand("spaces", f"among {', '.join(sorted(usable))}")
        expires = at + timedelta(days=TECHNICAL_ACCOUNT_DAYS)
        self._technical_account_created(
            client_id, label, secret_sha256, sorted(chosen), expires, str(principal)
        )

    @event("TechnicalAccountCreated")
    def _technical_account_created(
        self,
        client_id: str,
        label: str,
        secret_sha256: str,
        spaces: list[str],
        expires_at: datetime,
        by: str,
    ) -> None:
        self.technical_accounts[client_id] = TechnicalAccount(
            client_id, label, secret_sha256, frozenset(Space(s) for s in spaces), expires_at
        )

    def _must_find_client(self, client_id: str) -> TechnicalAccount:
        found = self.technical_accounts.get(client_id)
        if found is None or found.revoked_at is not None:
            raise InvalidCommand("client_id", "no such technical account")
        return found

    def renew_technical_account(
        self, principal: uuid.UUID, client_id: str, secret_sha256: str, at: datetime
    ) -> None:
        """A new secret (the old one stops working), valid 424 days from now."""
        self._must_be_principal(principal)
        self._must_find_client(client_id)
        expires = at + timedelta(days=TECHNICAL_ACCOUNT_DAYS)
        self._technical_account_renewed(client_id, secret_sha256, expires, str(principal))

    @event("TechnicalAccountRenewed")
    def _technical_account_renewed(
        self, client_id: str, secret_sha256: str, expires_at: datetime, by: str
    ) -> None:
        self.technical_accounts[client_id] = replace(
            self.technical_accounts[client_id],
            secret_sha256=secret_sha256,
            expires_at=expires_at,
            reminded=False,
        )

    def revoke_technical_account(self, principal: uuid.UUID, client_id: str, at: datetime) -> None:
        self._must_be_principal(principal)
        self._must_find_client(client_id)
        self._technical_account_revoked(client_id, str(principal), at)

    @event("TechnicalAccountRevoked")
    def _technical_account_revoked(self, client_id: str, by: str, at: datetime) -> None:
        self.technical_accounts[client_id] = replace(
            self.technical_accounts[client_id], revoked_at=at
        )

    def technical_accounts_to_remind(self, at: datetime, days: int) -> list[TechnicalAccount]:
        """The valid technical accounts expiring within `days` whose reminder is not sent."""
        soon = at + timedelta(days=days)
        return [
            t
            for t in self.technical_accounts.values()
            if t.valid(at) and t.expires_at <= soon and not t.reminded
        ]

    @event("TechnicalAccountReminded")
    def technical_account_reminded(self, client_id: str) -> None:
        self.technical_accounts[client_id] = replace(
            self.technical_accounts[client_id], reminded=True
        )
