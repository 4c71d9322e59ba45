"""The API's collaborators in one typed container, made when the app starts and closed when
it stops, and handed to the routes as FastAPI dependencies (`Caller`, `Invoicing`, ...)."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from facturier.adapters.account_sessions import PostgresSessions, SessionRules
from facturier.adapters.directory_index import PostgresDirectoryIndex
from facturier.adapters.documents import DocumentStore
from facturier.adapters.mail import SmtpMailer
from facturier.adapters.payment_terms import PostgresPaymentTerms
from facturier.adapters.postgres import apply_schema, pool
from facturier.adapters.subscriptions import PostgresSubscriptions
from facturier.adapters.throttle import PostgresThrottle, ThrottleLimits
from facturier.adapters.tokens import PostgresTokens
from facturier.config.settings import Settings
from facturier.domain.invoice import Invoice
from facturier.projections.authorisation.queries import PostgresAccess
from facturier.services.application.accounts import AccountsApp, Passwords, Registration
from facturier.services.application.authentication import Locked, Refusal, TokenGuard
from facturier.services.application.authorisation import Authorisation
from facturier.services.application.consents import Consents
from facturier.services.application.directory import DirectoryApp
from facturier.services.application.flows import FlowIntake
from facturier.services.application.invoicing import InvoiceNotFound, InvoicingApp
from facturier.services.application.organisations import Organisations
from facturier.services.application.payment_terms import PaymentTerms
from facturier.services.application.principals import Principal
from facturier.services.application.sign_in import SignIn, SignInPolicy
from facturier.services.application.submissions import Submissions
from facturier.services.application.subscriptions import Subscriptions
from facturier.services.application.technical_accounts import TechnicalAccounts
from facturier.services.http.errors import error
from facturier.services.live_hub import LiveHub
from facturier.services.web_common import client_address

# The read models and tables the API reads or writes, created (if missing) at start.
log = logging.getLogger("facturier.api")
REMIND_EVERY_S = 3600.0
SCHEMAS = (
    "auth",
    "accounts",
    "authorisation",
    "tracking",
    "accounting",
    "payment_delays",
    "web",
)


@dataclass(frozen=True)
class Running:
    """What exists only while the app runs: connections and applications."""

    directory: DirectoryApp
    invoicing: InvoicingApp
    pool: ConnectionPool
    documents: DocumentStore
    submissions: Submissions
    flows: FlowIntake
    accounts: AccountsApp
    registration: Registration
    sign_in: SignIn
    organisations: Organisations
    consents: Consents
    technical_accounts: TechnicalAccounts


class Dependencies:
    """The app's collaborators. Those that hold connections are made by `start` (the app's
    lifespan), so that building the app (its routes, its OpenAPI) connects to nothing."""

    def __init__(self, settings: Settings, live: LiveHub) -> None:
        self.settings = settings
        self.live = live
        self.authorisation = Authorisation(PostgresAccess(lambda: self.pool))
        self.guard = TokenGuard(
            PostgresTokens(lambda: self.pool),
            ThrottleLimits.of(settings.api),
            self.authorisation.complete,
        )
        self.subscriptions = Subscriptions(
            PostgresSubscriptions(settings.postgres, pool=lambda: self.pool)
        )
        self.payment_terms = PaymentTerms(PostgresPaymentTerms(lambda: self.pool))
        self._running: Running | None = None
        self._mailer: SmtpMailer | None = None
        self._reminders = threading.Event()  # set: stop reminding

    def start(self) -> None:
        settings = self.settings
        apply_schema(settings.postgres, *SCHEMAS)
        # Buyer searches use the API's pool, made just below.
        index = PostgresDirectoryIndex(settings.postgres, pool=lambda: self.pool)
        directory = DirectoryApp(settings.postgres, index=index)
        invoicing = InvoicingApp(
            settings.postgres,
            directory=directory if settings.intake.routing == "directory" else None,
        )
        connections = pool(settings.postgres, "api")
        documents = DocumentStore(settings.postgres, connections)
        accounts = AccountsApp(settings.postgres)
        self._running = Running(
            directory=directory,
            invoicing=invoicing,
            pool=connections,
            documents=documents,
            submissions=Submissions(invoicing, documents, settings.intake),
            flows=FlowIntake(invoicing, documents, settings.intake),
            accounts=accounts,
            **self._account_use_cases(accounts),
        )
        self._reminders.clear()
        threading.Thread(target=self._remind, name="reminders", daemon=True).start()

    def _remind(self) -> None:
        """Hourly, the renewal reminders of technical accounts that end within 30 days. Each
        replica tries; the reminder is an event saved before its mail, so only one mails."""
        while not self._reminders.wait(REMIND_EVERY_S):
            try:
                sent = self.running.technical_accounts.remind()
            except Exception:  # the next hour tries again; the log says why
                log.exception("technical accounts' reminders failed")
            else:
                if sent:
                    log.info("%s technical account renewal reminder(s) mailed", sent)

    def _account_use_cases(self, accounts: AccountsApp) -> dict[str, Any]:
        settings, passwords = self.settings, Passwords()
        rules = SessionRules(
            lifetime=timedelta(hours=settings.accounts.session_hours),
            idle=timedelta(minutes=settings.accounts.session_idle_minutes),
        )
        sessions = PostgresSessions(lambda: self.pool, rules)
        login_limits = ThrottleLimits(
            settings.accounts.login_max_failures,
            settings.accounts.login_window_s,
            settings.accounts.login_lockout_s,
        )
        portal = settings.notifications.portal_url
        policy = SignInPolicy(
            settings.accounts.require_2fa, login_limits, ThrottleLimits.of(settings.api), portal
        )
        throttle = PostgresThrottle(lambda: self.pool)
        organisations = Organisations(accounts, self.mailer, portal)
        return {
            "organisations": organisations,
            "technical_accounts": TechnicalAccounts(organisations, self.authorisation),
            "consents": Consents(accounts),
            "registration": Registration(accounts, sessions, self.mailer, passwords, portal),
            "sign_in": SignIn(accounts, sessions, throttle, self.mailer, passwords, policy),
        }

    @property
    def mailer(self) -> SmtpMailer:
        if self._mailer is None:
            self._mailer = SmtpMailer(self.settings.smtp)
        return self._mailer

    def close(self) -> None:
        self._reminders.set()
        if self._running is not None:
            self._running.pool.close()
            self._running.invoicing.close()
            self._running.directory.close()
            self._running.accounts.close()
            self._running = None

    @property
    def running(self) -> Running:
        if self._running is None:
            raise RuntimeError("the API is not started")
        return self._running

    @property
    def pool(self) -> ConnectionPool:
        return self.running.pool

    @property
    def client_seconds(self) -> int:
        return self.settings.api.client_token_seconds


def dependencies(request: Request) -> Dependencies:
    found: Dependencies = request.app.state.dependencies
    return found


Deps = Annotated[Dependencies, Depends(dependencies)]


def invoicing(deps: Deps) -> InvoicingApp:
    return deps.running.invoicing


def directory(deps: Deps) -> DirectoryApp:
    return deps.running.directory


def connections(deps: Deps) -> ConnectionPool:
    return deps.running.pool


def submissions(deps: Deps) -> Submissions:
    return deps.running.submissions


def flows(deps: Deps) -> FlowIntake:
    return deps.running.flows


def subscriptions(deps: Deps) -> Subscriptions:
    return deps.subscriptions


def payment_terms(deps: Deps) -> PaymentTerms:
    return deps.payment_terms


Invoicing = Annotated[InvoicingApp, Depends(invoicing)]
Directory = Annotated[DirectoryApp, Depends(directory)]
Pool = Annotated[ConnectionPool, Depends(connections)]
SubmissionsDep = Annotated[Submissions, Depends(submissions)]
FlowsDep = Annotated[FlowIntake, Depends(flows)]
SubscriptionsDep = Annotated[Subscriptions, Depends(subscriptions)]
PaymentTermsDep = Annotated[PaymentTerms, Depends(payment_terms)]

bearer = HTTPBearer(auto_error=False)


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    deps: Deps,
) -> Principal:
    """The caller, authenticated by its bearer token (401, or 429 while its address is
    locked out after failed attempts)."""
    if credentials is None:
        raise error(401, "UNAUTHENTICATED", "missing bearer token")
    found = deps.guard.check(credentials.credentials, client_address(request), "api")
    if isinstance(found, Locked):
        raise HTTPException(
            429,
            {"code": "TOO_MANY_ATTEMPTS", "message": found.text},
            headers={"Retry-After": str(found.retry_after_s)},
        )
    if isinstance(found, Refusal):
        raise error(401, "UNAUTHENTICATED", found.text)
    return found


Caller = Annotated[Principal, Depends(principal)]


def correlation(request: Request) -> str:
    """The request's correlation id (X-Correlation-Id), or a new one."""
    return request.headers.get("x-correlation-id") or str(uuid.uuid4())


def visible_invoice(app: InvoicingApp, invoice_id: uuid.UUID, caller: Principal) -> Invoice:
    """The invoice as it is now; InvoiceNotFound (404) alike when it does not exist or lies
    outside the caller's scope (a token cannot probe for other parties' invoices)."""
    invoice = app.get(invoice_id)
    if not caller.sees(invoice.data.supplier_id, invoice.data.recipient_siret):
        raise InvoiceNotFound(invoice_id)
    return invoice
