"""The questions asked of the authorisation projection on every request — what a member may
reach in an organisation, for whom an operator acts, what a technical account holds — each
answered from one indexed row (PostgreSQL) or from the same fold in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from psycopg_pool import ConnectionPool

from facturier.events.access import AccessEvent
from facturier.projections.authorisation.state import OrganisationAccess, apply


@dataclass(frozen=True)
class MemberGrant:
    organisation_id: str
    kind: str
    identifier: str
    public: bool
    role: str
    spaces: frozenset[str]
    mandate_signed: bool
    version: int


@dataclass(frozen=True)
class ClientAccess:
    client_id: str
    organisation_id: str
    kind: str
    identifier: str
    public: bool
    spaces: frozenset[str]
    expires_at: datetime


class AccessIndex(Protocol):
    def member(self, account_id: str, organisation_id: str) -> MemberGrant | None: ...

    def operator(self, identifier: str, on: date) -> dict[str, frozenset[str]]:
        """supplier id -> the modes the operator submits in for it, on that day."""
        ...

    def client(self, client_id: str) -> ClientAccess | None: ...

    def expiring(self, before: datetime) -> list[str]:
        """The organisations with a technical account in force that ends before then."""
        ...


class PostgresAccess:
    def __init__(self, pool: Callable[[], ConnectionPool]) -> None:
        self.pool = pool

    def member(self, account_id: str, organisation_id: str) -> MemberGrant | None:
        with self.pool().connection() as conn:
            row = conn.execute(
                "SELECT organisation_id::text, kind, identifier, public, role, spaces,"
                " mandate_signed, version FROM access_member"
                " WHERE account_id = %s AND organisation_id = %s",
                (account_id, organisation_id),
            ).fetchone()
        if row is None:
            return None
        key, kind, identifier, public, role, spaces, signed, version = row
        return MemberGrant(key, kind, identifier, public, role, frozenset(spaces), signed, version)

    def operator(self, identifier: str, on: date) -> dict[str, frozenset[str]]:
        with self.pool().connection() as conn:
            rows = conn.execute(
                "SELECT supplier_id, modes FROM access_operator"
                " WHERE operator_identifier = %s AND starts_on <= %s",
                (identifier, on),
            ).fetchall()
        return {supplier: frozenset(modes) for supplier, modes in rows}

    def client(self, client_id: str) -> ClientAccess | None:
        with self.pool().connection() as conn:
            row = conn.execute(
                "SELECT client_id, organisation_id::text, kind, identifier, public, spaces,"
                " expires_at FROM access_client WHERE client_id = %s",
                (client_id,),
            ).fetchone()
        if row is None:
            return None
        client, key, kind, identifier, public, spaces, expires_at = row
        return ClientAccess(client, key, kind, identifier, public, frozenset(spaces), expires_at)

    def expiring(self, before: datetime) -> list[str]:
        with self.pool().connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT organisation_id::text FROM access_client WHERE expires_at <= %s",
                (before,),
            ).fetchall()
        return sorted(key for (key,) in rows)


class MemoryAccess:
    """The same answers from the same fold, for tests without PostgreSQL or Kafka: fed with
    the events as the topic would carry them (`apply`)."""

    def __init__(self) -> None:
        self.states: dict[str, OrganisationAccess] = {}

    def apply(self, events: Iterable[AccessEvent]) -> None:
        for event in events:
            if event.aggregate == "organisation":
                key = event.aggregate_id
                apply(self.states.setdefault(key, OrganisationAccess(key)), event)

    def member(self, account_id: str, organisation_id: str) -> MemberGrant | None:
        state = self.states.get(organisation_id)
        found = None if state is None else state.members.get(account_id)
        if state is None or found is None:
            return None
        return MemberGrant(
            state.organisation_id,
            state.kind,
            state.identifier,
            state.public,
            found["role"],
            frozenset(found["spaces"]),
            bool(state.mandate_sha256),
            state.version,
        )

    def operator(self, identifier: str, on: date) -> dict[str, frozenset[str]]:
        return {
            state.identifier: frozenset(grant.modes)
            for state in self.states.values()
            for grant in state.operators.values()
            if grant.identifier == identifier and grant.allows_on(on)
        }

    def client(self, client_id: str) -> ClientAccess | None:
        for state in self.states.values():
            grant = state.clients.get(client_id)
            if grant is not None and not grant.revoked:
                return ClientAccess(
                    client_id,
                    state.organisation_id,
                    state.kind,
                    state.identifier,
                    state.public,
                    frozenset(grant.spaces),
                    datetime.fromisoformat(grant.expires_at),
                )
        return None

    def expiring(self, before: datetime) -> list[str]:
        return sorted(
            state.organisation_id
            for state in self.states.values()
            if any(
                not g.revoked and datetime.fromisoformat(g.expires_at) <= before
                for g in state.clients.values()
            )
        )
