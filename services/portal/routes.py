"""The web portal: server-rendered pages over the services of the JSON API, one router per
group of pages, each given the portal's collaborators (`deps.PortalDeps`):

- `login.py`: sign in and out (cookie sessions, `sessions.py`), the language switch;
- `dashboard.py`: `GET /portal`, the invoices the account sees;
- `entry.py`: the invoice form and its deposit (its data and errors: `entry_form.py`);
- `directory_search.py`: the buyer search of the form, as JSON;
- `invoice_page.py`: one invoice, its documents and receipt; `actions.py`: its action
  forms' posts (the forms: `action_forms.py`; the timeline in words: `timeline.py`);
- `flows.py`: a flow's processing report; `notifications.py`: a supplier's e-mails;
- `rendering.py`: the templates, `t` and formats, the helpers every router shares.

Every string of the pages comes from `i18n.py` (French and English), amounts, dates and times
from `formats.py`. The live updates of an open page (`static/live.js`) read
`GET /portal/live` (`services/http/live.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response
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
from facturier.services.portal.account_pages import account_routes
from facturier.services.portal.actions import action_routes
from facturier.services.portal.dashboard import dashboard_routes
from facturier.services.portal.deposits import deposit_routes
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.directory_search import directory_routes
from facturier.services.portal.entry import entry_routes
from facturier.services.portal.flows import flow_routes
from facturier.services.portal.invoice_page import invoice_routes
from facturier.services.portal.login import login_routes
from facturier.services.portal.notifications import notification_routes
from facturier.services.portal.operator_pages import operator_routes
from facturier.services.portal.organisation_pages import organisation_routes
from facturier.services.portal.rendering import page
from facturier.services.portal.sessions import Sessions
from facturier.services.portal.signup import signup_routes
from facturier.services.portal.technical_account_pages import technical_account_routes

__all__ = ["page", "web_routes"]

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {
    "portal.js": "text/javascript",
    "portal.css": "text/css",
    "live.js": "text/javascript",  # status pushes (services/http/live.py)
}


def static_routes() -> APIRouter:
    router = APIRouter()

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_TYPES or not (STATIC / name).is_file():
            return Response(status_code=404)
        return Response(
            (STATIC / name).read_bytes(),
            media_type=STATIC_TYPES[name],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    return router


def web_routes(
    pool: Callable[[], ConnectionPool],
    submissions: Callable[[], Submissions],
    directory: Callable[[], DirectoryApp],
    subscriptions: Subscriptions,
    guard: TokenGuard,
    registration: Callable[[], Registration],
    sign_in: Callable[[], SignIn],
    organisations: Callable[[], Organisations],
    consents: Callable[[], Consents],
    authorisation: Authorisation,
    technical_accounts: Callable[[], TechnicalAccounts],
    flows: Callable[[], FlowIntake] | None = None,
) -> APIRouter:
    """The portal's routes (`PortalDeps` says what each collaborator is for)."""
    deps = PortalDeps(
        pool,
        submissions,
        directory,
        subscriptions,
        guard,
        Sessions(pool, sign_in, organisations, consents, authorisation),
        registration,
        sign_in,
        organisations,
        consents,
        authorisation,
        technical_accounts,
        flows,
    )
    router = APIRouter()
    for group in (
        login_routes,
        signup_routes,
        account_routes,
        # Before organisation_routes' POST /organisations/{key}/{what}:
        operator_routes,
        technical_account_routes,
        organisation_routes,
        dashboard_routes,
        entry_routes,
        deposit_routes,
        directory_routes,
        invoice_routes,
        action_routes,
        flow_routes,
        notification_routes,
    ):
        router.include_router(group(deps), prefix="/portal", include_in_schema=False)
    router.include_router(static_routes(), prefix="/portal", include_in_schema=False)
    return router
