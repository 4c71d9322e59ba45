"""Operators' mandates: a supplier organisation's principal manager lets an operator
organisation (a service provider, an accountant) submit its invoices in chosen modes from a
chosen day, and revokes it. What an operator may do follows from these events alone: its
tokens name its own organisation, and the authorisation projection says for whom it acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from facturier.domain.accounts import Account
from facturier.domain.model import InvalidCommand
from facturier.domain.organisations import OperatorMandate
from facturier.services.application.organisations import NoSuchOrganisation, Organisations


@dataclass
class OperatorMandates:
    organisations: Organisations

    def grant(
        self,
        principal: Account,
        organisation_id: UUID,
        operator_kind: str,
        operator_identifier: str,
        modes: list[str],
        starts: date | None = None,
    ) -> OperatorMandate:
        """Mandate the operator organisation registered under that identifier."""
        organisation = self.organisations.get(organisation_id)
        operator = self.organisations.find(operator_kind, operator_identifier)
        if operator is None:
            raise NoSuchOrganisation(operator_identifier)
        now = self.organisations.clock()
        organisation.mandate_operator(
            principal.id, str(operator.id), operator.identifier, modes, starts or now.date(), now
        )
        self.organisations.save(organisation)
        return organisation.operators[str(operator.id)]

    def revoke(self, principal: Account, organisation_id: UUID, operator_id: str) -> None:
        organisation = self.organisations.get(organisation_id)
        organisation.revoke_operator(principal.id, operator_id, self.organisations.clock())
        self.organisations.save(organisation)

    def of(self, organisation_id: UUID) -> list[OperatorMandate]:
        """The organisation's mandates, those in force first."""
        found = self.organisations.get(organisation_id).operators.values()
        return sorted(found, key=lambda m: (m.revoked_at is not None, m.identifier))

    def operator_name(self, operator_id: str) -> str:
        try:
            return self.organisations.get(UUID(operator_id)).name
        except (NoSuchOrganisation, ValueError):
            raise InvalidCommand("operator", "no such organisation") from None
