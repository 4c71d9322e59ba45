"""What the portal's routers work with, given to each router factory explicitly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from facturier.services.application.accounts import Registration
from facturier.services.application.authentication import TokenGuard
from facturier.services.application.authorisation import Authorisation
from facturier.services.application.consents import Consents
from facturier.services.application.directory import DirectoryApp
from facturier.services.application.flows import FlowIntake
from facturier.services.application.organisations import Organisations
from facturier.services.application.sign_in import SignIn
from facturier.services.application.submissions import Submissions
from facturier.services.application.subscriptions import Subscriptions
from facturier.services.application.technical_accounts import TechnicalAccounts
from facturier.services.portal.sessions import Sessions


@dataclass(frozen=True)
class PortalDeps:
    """The portal's collaborators. `pool` reads the read models (tracking, directory,
    payment delays, sessions); `submissions` records invoices and holds the invoicing
    application and the document store; `directory` searches the buyers; `flows` reads
    flows (None: no flow intake); `subscriptions` holds the suppliers' e-mail notification
    settings; `guard` checks the token pasted at sign-in, throttling failures like the
    API's bearer tokens; `registration`, `sign_in`, `organisations` and `consents` are the
    accounts' use cases; `authorisation` answers who may do what (the projection)."""

    pool: Callable[[], ConnectionPool]
    submissions: Callable[[], Submissions]
    directory: Callable[[], DirectoryApp]
    subscriptions: Subscriptions
    guard: TokenGuard
    sessions: Sessions
    registration: Callable[[], Registration]
    sign_in: Callable[[], SignIn]
    organisations: Callable[[], Organisations]
    consents: Callable[[], Consents]
    authorisation: Authorisation
    technical_accounts: Callable[[], TechnicalAccounts]
    flows: Callable[[], FlowIntake] | None = None
