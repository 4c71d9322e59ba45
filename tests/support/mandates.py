"""Operators' mandates set up as the platform records them: organisations and their principal
managers saved in the accounts' store, mandates granted through the use case, then waited for
until the authorisation projection (fed by the access topic) says them."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from psycopg_pool import ConnectionPool

from facturier.adapters.mail import MemoryMailer
from facturier.config.settings import Settings
from facturier.domain.accounts import Account
from facturier.domain.organisations import Organisation
from facturier.projections.authorisation.queries import PostgresAccess
from facturier.services.application.accounts import AccountsApp
from facturier.services.application.operator_mandates import OperatorMandates
from facturier.services.application.organisations import Organisations
from tests.support.stack import wait_until


def principal(app: AccountsApp, identifier: str) -> Account:
    """An active account, principal manager-to-be of the organisation `identifier`."""
    found = app.find(f"principal.{identifier.lower()}@example.org")
    if found is not None:
        return found
    now = datetime.now(UTC)
    account = Account.register(
        f"principal.{identifier.lower()}@example.org",
        "",
        f"Principal {identifier}",
        "fr",
        "0" * 64,
        now,
    )
    account.activate("0" * 64, "unused", now)
    app.save(account)
    return account


def organisation(organisations: Organisations, identifier: str) -> tuple[Organisation, Account]:
    account = principal(organisations.app, identifier)
    found = organisations.find("siret", identifier)
    if found is None:
        found = organisations.create(account, "siret", identifier, f"Org {identifier}").organisation
    return found, account


def mandate(
    settings: Settings, operator: str, suppliers: dict[str, list[str]], revoke: bool = False
) -> None:
    """Each supplier (SIRET -> modes) mandates (or, with `revoke`, stops mandating) the
    operator organisation (SIRET); returns once the projection shows it."""
    app = AccountsApp(settings.postgres)
    try:
        organisations = Organisations(app, MemoryMailer(), "https://portal.example")
        mandates = OperatorMandates(organisations)
        held, _ = organisation(organisations, operator)
        for supplier, modes in suppliers.items():
            org, account = organisation(organisations, supplier)
            if revoke:
                mandates.revoke(account, org.id, str(held.id))
            else:
                mandates.grant(account, org.id, "siret", operator, modes)
    finally:
        app.close()
    expected = {} if revoke else {s: frozenset(m) for s, m in suppliers.items()}
    pool = ConnectionPool(settings.postgres.dsn, min_size=1, max_size=1, open=True)
    try:
        access = PostgresAccess(lambda: pool)

        def shown() -> bool:
            now = access.operator(operator, datetime.now(UTC).date())
            return all(now.get(s) == expected.get(s) for s in suppliers)

        wait_until(shown, 60, f"the mandates of {operator} in the authorisation projection")
    finally:
        pool.close()


def organisation_id(settings: Settings, identifier: str) -> UUID:
    app = AccountsApp(settings.postgres)
    try:
        organisations = Organisations(app, MemoryMailer(), "https://portal.example")
        found = organisations.find("siret", identifier)
        assert found is not None
        return found.id
    finally:
        app.close()
