"""An organisation's technical accounts: the machine credentials its applications trade for
short-lived tokens at /oauth/token. Its principal manager creates, renews and revokes them;
a secret is shown once, on the page that answers its creation or renewal, never again.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

Shown to the organisation's members only (404 for anyone else); acting is the principal
manager's (403 for the others).
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facturier.domain.model import InvalidCommand
from facturier.domain.organisations import NotAllowed, Organisation, Space
from facturier.services.application.technical_accounts import Credentials
from facturier.services.portal.account_pages import Found, mine, person, posted, signed_out
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.organisation_pages import not_found, organisation_of
from facturier.services.portal.rendering import PostedForm, translator

DONE = ("revoked",)


def accounts_page(
    deps: PortalDeps,
    request: Request,
    found: Found,
    organisation: Organisation,
    status: int = 200,
    shown: Credentials | None = None,
    **more: Any,
) -> HTMLResponse:
    more.setdefault("done", "")
    more.setdefault("error", "")
    more.setdefault("errors", {})
    more.setdefault("posted", {})
    page = mine(
        deps,
        request,
        found,
        "portal_technical_accounts.html",
        status,
        organisation=organisation,
        principal=organisation.principal == str(found[1].id),
        accounts=deps.technical_accounts().of(organisation.id),
        spaces=[
            s.value
            for s in Space
            if s is not Space.MANAGER and (organisation.public or s is not Space.RECEIVED)
        ],
        shown=shown,
        **more,
    )
    if shown is not None:
        page.headers["Cache-Control"] = "no-store"  # the secret: never kept by a cache
    return page


def technical_account_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()
    base = "/organisations/{key}/technical-accounts"

    def chosen_for(key: str, found: Found) -> Organisation | None:
        return organisation_of(deps, found, key)

    @router.get(base)
    def accounts(key: str, request: Request, done: str = "") -> Response:
        found = person(deps, request)
        if found is None or not found[0].signed_in:
            return signed_out(request)
        chosen = chosen_for(key, found)
        if chosen is None:
            return not_found(deps, request, found)
        return accounts_page(deps, request, found, chosen, done=done if done in DONE else "")

    @router.post(base)
    def create(key: str, request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        chosen = chosen_for(key, found)
        if chosen is None:
            return not_found(deps, request, found)
        t = translator(request)
        label = form.get("label", "").strip()[:200]
        spaces = [s.value for s in Space if form.get(f"space-{s.value}")]
        try:
            made = deps.technical_accounts().create(found[1], chosen.id, label, spaces)
        except NotAllowed:
            return accounts_page(deps, request, found, chosen, 403, error=t("clients.forbidden"))
        except InvalidCommand as invalid:
            field = invalid.field if invalid.field in ("label", "spaces") else "label"
            errors = {field: t(f"clients.invalid.{field}")}
            posted_back = {"label": label}
            return accounts_page(
                deps, request, found, chosen, 422, errors=errors, posted=posted_back
            )
        return accounts_page(deps, request, found, chosen, 201, shown=made)

    @router.post(base + "/{client_id}/{what}")
    def change(key: str, client_id: str, what: str, request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        chosen = chosen_for(key, found)
        if chosen is None or what not in ("renew", "revoke"):
            return not_found(deps, request, found)
        t = translator(request)
        accounts = deps.technical_accounts()
        try:
            if what == "renew":
                renewed = accounts.renew(found[1], chosen.id, client_id[:64])
                return accounts_page(deps, request, found, chosen, shown=renewed)
            accounts.revoke(found[1], chosen.id, client_id[:64])
        except NotAllowed:
            return accounts_page(deps, request, found, chosen, 403, error=t("clients.forbidden"))
        except InvalidCommand:
            return accounts_page(deps, request, found, chosen, 404, error=t("clients.unknown"))
        target = f"/portal/organisations/{chosen.id}/technical-accounts?done=revoked"
        return RedirectResponse(target, status_code=303)

    return router
