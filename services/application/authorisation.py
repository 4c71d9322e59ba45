"""One source for "who may do what": the authorisation projection, fed by the access topic
(`projections/authorisation/`). The API and the portal both ask it, through `Authorisation`:

- an account's session working for an organisation reaches what its spaces there give
  (`member`): the invoices the organisation issues (as its supplier), else those it receives
  (as its buyer, a public organisation);
- an operator's token names the operator's organisation; the suppliers it acts for, and in
  which modes, are the mandates in force today (`complete`);
- a technical account holds its organisation's spaces it was given (`client`).

The projection follows the event store by a few milliseconds: a page that has just changed an
organisation passes the version it saved (`at_least`) and the answer waits, briefly, until the
projection has caught up — a user never sees rights older than their own last change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from facturier.domain.identifiers import IdentifierKind
from facturier.domain.organisations import Space
from facturier.events.access import from_value, to_message
from facturier.projections.authorisation.queries import (
    AccessIndex,
    ClientAccess,
    MemberGrant,
    MemoryAccess,
)
from facturier.services.application.principals import ApiRole, Principal

CATCH_UP_S = 3.0  # the longest a request waits for the projection to reach a version


def utc_now() -> datetime:
    return datetime.now(UTC)


def principal_of_grant(grant: MemberGrant, label: str) -> Principal | None:
    """What a member reaches of the invoices: its organisation's as supplier (invoices
    issued), else as buyer (invoices received, a public organisation), else nothing."""
    if Space.ISSUED.value in grant.spaces and grant.identifier:
        return Principal(ApiRole.SUPPLIER, grant.identifier, label)
    if Space.RECEIVED.value in grant.spaces and grant.kind == IdentifierKind.SIRET:
        return Principal(ApiRole.BUYER, grant.identifier, label)
    return None


@dataclass
class Authorisation:
    index: AccessIndex
    clock: Callable[[], datetime] = utc_now
    # In memory, reading the index first brings it up to date (`MemoryFeed`).
    catch_up: Callable[[], None] = field(default=lambda: None)

    def grant(
        self, account_id: UUID, organisation_id: UUID, at_least: int = 0
    ) -> MemberGrant | None:
        """The member's rights, from a version of the organisation at least `at_least` (0:
        whatever the projection holds); None if it holds none, or none that recent within
        `CATCH_UP_S` (it is down: refused rather than read stale)."""
        deadline = time.monotonic() + CATCH_UP_S
        while True:
            self.catch_up()
            found = self.index.member(str(account_id), str(organisation_id))
            if at_least == 0 or (found is not None and found.version >= at_least):
                return found
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def member(
        self, account_id: UUID, organisation_id: UUID, label: str, at_least: int = 0
    ) -> Principal | None:
        found = self.grant(account_id, organisation_id, at_least)
        return None if found is None else principal_of_grant(found, label)

    def complete(self, principal: Principal, client_id: str | None = None) -> Principal | None:
        """An operator's principal with the mandates in force today; a technical account's
        while it is valid (None after its revocation or expiry); any other as it is."""
        if client_id is not None:
            client = self.client(client_id)
            if client is None or client.expires_at <= self.clock():
                return None
            if principal.scope != client.identifier:
                return None
        if principal.role is not ApiRole.OPERATOR:
            return principal
        return principal.acting_for(self.acting_for(principal.scope))

    def acting_for(self, operator: str) -> dict[str, frozenset[str]]:
        """The suppliers an operator organisation acts for today, and in which modes."""
        self.catch_up()
        return self.index.operator(operator, self.clock().date())

    def client(self, client_id: str) -> ClientAccess | None:
        self.catch_up()
        return self.index.client(client_id)

    def expiring(self, before: datetime) -> list[str]:
        self.catch_up()
        return self.index.expiring(before)


class MemoryFeed:
    """The access topic's stand-in for tests without Kafka: the accounts' store read in
    order, each event encoded as the relay publishes it and decoded as the projection
    reads it, then folded into a `MemoryAccess`."""

    def __init__(self, app: Any, index: MemoryAccess) -> None:
        self.app = app  # an AccountsApp (its recorder and mapper)
        self.index = index
        self.position = 0

    def __call__(self) -> None:
        while notifications := self.app.recorder.select_notifications(self.position + 1, 500):
            self.index.apply(
                from_value(to_message(self.app.mapper.to_domain_event(n)).value)
                for n in notifications
            )
            self.position = notifications[-1].id


def in_memory(app: Any, clock: Callable[[], datetime] = utc_now) -> Authorisation:
    """The authorisation of an in-memory accounts' application."""
    index = MemoryAccess()
    return Authorisation(index, clock, MemoryFeed(app, index))
