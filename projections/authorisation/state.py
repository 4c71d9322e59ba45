"""Who may do what in one organisation, folded from its events on the access topic: its
members with their role and spaces, whether its billing mandate is signed, the operators it
has mandated, its technical accounts. The one fold that the PostgreSQL projection and its
in-memory twin both apply, so the two cannot disagree.

The rules mirror the `Organisation` aggregate (`domain/organisations.py`): the creator is
principal manager with every space the organisation has; an approved request makes a user
with the invoices issued; a new principal manager gets every space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from facturier.domain.organisations import Role, Space
from facturier.events.access import AccessEvent


@dataclass
class OperatorGrant:
    identifier: str  # the operator organisation's
    modes: list[str]
    starts_on: str  # ISO date
    revoked: bool = False

    def allows_on(self, day: date) -> bool:
        return not self.revoked and date.fromisoformat(self.starts_on) <= day


@dataclass
class ClientGrant:
    spaces: list[str]
    expires_at: str  # ISO instant
    revoked: bool = False


@dataclass
class OrganisationAccess:
    organisation_id: str
    version: int = 0
    kind: str = ""
    identifier: str = ""
    public: bool = False
    mandate_sha256: str = ""
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # account -> role, spaces
    operators: dict[str, OperatorGrant] = field(default_factory=dict)  # by operator org id
    clients: dict[str, ClientGrant] = field(default_factory=dict)  # by client id

    def open_spaces(self) -> list[str]:
        closed = set() if self.public else {Space.RECEIVED.value}
        return sorted(s.value for s in Space if s.value not in closed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrganisationAccess:
        found = cls(**data)
        found.operators = {k: OperatorGrant(**v) for k, v in data["operators"].items()}
        found.clients = {k: ClientGrant(**v) for k, v in data["clients"].items()}
        return found


def _member(state: OrganisationAccess, account: str, role: Role, spaces: list[str]) -> None:
    state.members[account] = {"role": role.value, "spaces": sorted(set(spaces))}


def _spaces(state: OrganisationAccess, account: str, change: set[str], add: bool) -> None:
    member = state.members.get(account)
    if member is not None:
        now = set(member["spaces"])
        member["spaces"] = sorted(now | change if add else now - change)


def apply(state: OrganisationAccess, event: AccessEvent) -> bool:
    """Fold one event in; False (and nothing changed) for a version already applied."""
    if event.version <= state.version:
        return False
    state.version = event.version
    r, kind = event.record, event.event_type
    account = r["account_id"]
    if kind == "Created":
        state.kind, state.identifier, state.public = r["kind"], r["identifier"], r["public"]
        _member(state, account, Role.PRINCIPAL, state.open_spaces())
    elif kind == "JoinApproved":
        _member(state, account, Role.USER, [Space.ISSUED.value])
    elif kind == "SpaceGranted":
        _spaces(state, account, {r["space"]}, add=True)
    elif kind == "SpaceWithdrawn":
        _spaces(state, account, {r["space"]}, add=False)
    elif kind == "RightsCopied" and account in state.members:
        state.members[account]["spaces"] = sorted(set(r["spaces"]))
    elif kind == "PrincipalChanged":
        for member in state.members.values():
            member["role"] = Role.USER.value
        if account in state.members:
            _member(state, account, Role.PRINCIPAL, state.open_spaces())
    elif kind == "MemberLeft":
        state.members.pop(account, None)
    elif kind == "MandateSigned":
        state.mandate_sha256 = r["text_sha256"]
    elif kind == "MandateRevoked":
        state.mandate_sha256 = ""
    elif kind == "OperatorMandated":
        grant = OperatorGrant(r["identifier"], sorted(r["modes"]), r["starts_on"])
        state.operators[r["operator_id"]] = grant
    elif kind == "OperatorMandateRevoked" and r["operator_id"] in state.operators:
        state.operators[r["operator_id"]].revoked = True
    elif kind in ("TechnicalAccountCreated", "TechnicalAccountRenewed"):
        spaces = r["spaces"] or (state.clients.get(r["client_id"]) or ClientGrant([], "")).spaces
        state.clients[r["client_id"]] = ClientGrant(sorted(spaces), _instant(r["expires_at"]))
    elif kind == "TechnicalAccountRevoked" and r["client_id"] in state.clients:
        state.clients[r["client_id"]].revoked = True
    return True


def _instant(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""
