"""An account's organisations (structures): create one, ask to join one, choose the one the
session works for; and an organisation's page: its members and their spaces, the pending
requests that its managers approve or refuse in bulk, the principal manager's role.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

An organisation's page is shown to its members only (404 for anyone else).
"""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facturier.domain.accounts import AccountRefused
from facturier.domain.identifiers import IdentifierKind
from facturier.domain.model import InvalidCommand
from facturier.domain.organisations import NotAllowed, Organisation, Space
from facturier.domain.texts import TextKind
from facturier.services.application.organisations import Decision, NoSuchOrganisation
from facturier.services.portal.account_pages import Found, mine, person, posted, signed_out
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.rendering import PostedForm, translator

ORGANISATIONS_DONE = ("created", "requested", "left")
ORGANISATION_DONE = (
    "decided",
    "spaces",
    "copied",
    "transferred",
    "asked",
    "granted",
    "mandate",
    "mandate-revoked",
)


def organisation_of(deps: PortalDeps, found: Found, key: str) -> Organisation | None:
    """The organisation `key` names, if the account is a member of it."""
    try:
        organisation = deps.organisations().get(UUID(key))
    except (ValueError, NoSuchOrganisation):
        return None
    return organisation if organisation.member(found[1].id) else None


def overview(
    deps: PortalDeps, request: Request, found: Found, status: int = 200, **more: Any
) -> HTMLResponse:
    memberships = deps.organisations().of_account(found[1])
    more.setdefault("done", "")
    more.setdefault("errors", {})
    more.setdefault("posted", {})
    return mine(
        deps,
        request,
        found,
        "portal_organisations.html",
        status,
        memberships=memberships,
        kinds=list(IdentifierKind),
        **more,
    )


def details(
    deps: PortalDeps,
    request: Request,
    found: Found,
    organisation: Organisation,
    status: int = 200,
    **more: Any,
) -> HTMLResponse:
    manages = organisation.manages(found[1].id)
    requests = deps.organisations().pending(found[1], organisation.id) if manages else []
    more.setdefault("done", "")
    more.setdefault("error", "")
    return mine(
        deps,
        request,
        found,
        "portal_organisation.html",
        status,
        organisation=organisation,
        me=organisation.member(found[1].id),
        manages=manages,
        requests=requests,
        spaces=[s for s in Space if s is not Space.RECEIVED or organisation.public],
        mandate_signed=deps.consents().mandate_signed(organisation),
        **more,
    )


def organisation_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()
    add_terms_routes(router, deps)
    add_list_routes(router, deps)
    add_manager_routes(router, deps)
    return router


def add_terms_routes(router: APIRouter, deps: PortalDeps) -> None:
    @router.get("/terms")
    def terms(request: Request) -> Response:
        found = person(deps, request)
        if found is None or not found[0].signed_in:
            return signed_out(request)
        accepted = not deps.consents().needs_terms(found[1])
        text = deps.consents().current(TextKind.TERMS)
        action = "/portal/terms"
        return mine(
            deps,
            request,
            found,
            "portal_text.html",
            text=text,
            action=action,
            may_accept=True,
            accepted=accepted,
            organisation=None,
        )

    @router.post("/terms")
    def accept_terms(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        deps.consents().accept_terms(found[0])
        return RedirectResponse("/portal/organisations", status_code=303)


def add_list_routes(router: APIRouter, deps: PortalDeps) -> None:
    @router.get("/organisations")
    def organisations(request: Request, done: str = "") -> Response:
        found = person(deps, request)
        if found is None or not found[0].signed_in:
            return signed_out(request)
        if deps.consents().needs_terms(found[1]):
            return RedirectResponse("/portal/terms", status_code=303)
        return overview(deps, request, found, done=done if done in ORGANISATIONS_DONE else "")

    @router.post("/organisations")
    def create(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        fields = {k: form.get(k, "").strip()[:200] for k in ("kind", "identifier", "name")}
        try:
            made = deps.organisations().create(
                found[1], fields["kind"], fields["identifier"], fields["name"], "public" in form
            )
        except InvalidCommand as invalid:
            t = translator(request)
            errors = {f"new-{invalid.field}": t(f"organisation.invalid.{invalid.field}")}
            return overview(deps, request, found, 422, errors=errors, posted=fields)
        done = "created" if made.state == "member" else "requested"
        return RedirectResponse(f"/portal/organisations?done={done}", status_code=303)

    @router.post("/organisations/join")
    def join(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        t = translator(request)
        kind, identifier = form.get("kind", "")[:20], form.get("identifier", "")[:60]
        try:
            deps.organisations().ask_to_join(found[1], kind, identifier, form.get("note", ""))
        except InvalidCommand as invalid:
            errors = {f"join-{invalid.field}": t(f"organisation.invalid.{invalid.field}")}
            return overview(deps, request, found, 422, errors=errors)
        except NoSuchOrganisation:
            errors = {"join-identifier": t("organisation.unknown")}
            return overview(deps, request, found, 422, errors=errors)
        return RedirectResponse("/portal/organisations?done=requested", status_code=303)


def not_found(deps: PortalDeps, request: Request, found: Found) -> HTMLResponse:
    t = translator(request)
    title, text = t("organisation.not_found"), t("organisation.not_found_text")
    return mine(deps, request, found, "portal_message.html", 404, title=title, text=text)


def add_manager_routes(router: APIRouter, deps: PortalDeps) -> None:
    @router.get("/organisations/{key}/mandate")
    def mandate(key: str, request: Request) -> Response:
        found = person(deps, request)
        if found is None or not found[0].signed_in:
            return signed_out(request)
        chosen = organisation_of(deps, found, key)
        if chosen is None:
            return not_found(deps, request, found)
        text = deps.consents().current(TextKind.MANDATE)
        return mine(
            deps,
            request,
            found,
            "portal_text.html",
            organisation=chosen,
            text=text,
            action=f"/portal/organisations/{chosen.id}/mandate",
            may_accept=chosen.manages(found[1].id),
            accepted=deps.consents().mandate_signed(chosen),
        )

    @router.get("/organisations/{key}")
    def organisation(key: str, request: Request, done: str = "") -> Response:
        found = person(deps, request)
        if found is None or not found[0].signed_in:
            return signed_out(request)
        chosen = organisation_of(deps, found, key)
        if chosen is None:
            return not_found(deps, request, found)
        done = done if done in ORGANISATION_DONE else ""
        return details(deps, request, found, chosen, done=done)

    @router.post("/organisations/{key}/{what}")
    def manage(key: str, what: str, request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        chosen = organisation_of(deps, found, key)
        if chosen is None or what not in MANAGER_STEPS:
            return not_found(deps, request, found)
        t = translator(request)
        try:
            target = MANAGER_STEPS[what](deps, found, chosen, form)
        except NotAllowed:
            refused = details(deps, request, found, chosen, 403, error=t("organisation.forbidden"))
            return refused
        except (InvalidCommand, AccountRefused):
            return details(deps, request, found, chosen, 422, error=t("organisation.invalid"))
        return RedirectResponse(target, status_code=303)


def _decide(deps: PortalDeps, found: Found, chosen: Organisation, form: dict[str, str]) -> str:
    """Every request ticked, approved or refused at once."""
    approve = form.get("decision") == "approve"
    picked = [
        Decision(account, space, approve)
        for (account, space) in chosen.requests
        if form.get(f"pick-{account}-{space or 'join'}")
    ]
    if not picked:
        raise InvalidCommand("pick", "tick at least one request")
    deps.organisations().decide(found[1], chosen.id, picked)
    return done_page(chosen, "decided")


def _spaces(deps: PortalDeps, found: Found, chosen: Organisation, form: dict[str, str]) -> str:
    account, space = form.get("account", ""), form.get("space", "")
    if form.get("change") == "grant":
        deps.organisations().grant(found[1], chosen.id, account, space)
    else:
        deps.organisations().withdraw(found[1], chosen.id, account, space)
    return done_page(chosen, "spaces")


def _copy(deps: PortalDeps, found: Found, chosen: Organisation, form: dict[str, str]) -> str:
    source, target = form.get("source", ""), form.get("target", "")
    deps.organisations().copy_rights(found[1], chosen.id, source, [target])
    return done_page(chosen, "copied")


def _transfer(deps: PortalDeps, found: Found, chosen: Organisation, form: dict[str, str]) -> str:
    deps.organisations().transfer_principal(found[1], chosen.id, form.get("to", ""))
    return done_page(chosen, "transferred")


def _ask(deps: PortalDeps, found: Found, chosen: Organisation, form: dict[str, str]) -> str:
    granted = deps.organisations().ask_for_space(found[1], chosen.id, form.get("space", ""))
    return done_page(chosen, "granted" if granted else "asked")


def _use(deps: PortalDeps, found: Found, chosen: Organisation, form: dict[str, str]) -> str:
    """The session works for this organisation from now on."""
    deps.sign_in().sessions.work_for(found[0], chosen.id)
    return "/portal"


def _leave(deps: PortalDeps, found: Found, chosen: Organisation, form: dict[str, str]) -> str:
    deps.organisations().leave(found[1], chosen.id)
    deps.sign_in().sessions.work_for(found[0], None)
    return "/portal/organisations?done=left"


def done_page(chosen: Organisation, done: str) -> str:
    return f"/portal/organisations/{chosen.id}?done={done}"


def _mandate(deps: PortalDeps, found: Found, chosen: Organisation, form: dict[str, str]) -> str:
    deps.consents().sign_mandate(found[0], chosen.id)
    return done_page(chosen, "mandate")


def _revoke_mandate(
    deps: PortalDeps, found: Found, chosen: Organisation, form: dict[str, str]
) -> str:
    deps.consents().revoke_mandate(found[0], chosen.id)
    return done_page(chosen, "mandate-revoked")


# What a member posts to its organisation's page: each step acts, then names the page to go to.
MANAGER_STEPS = {
    "use": _use,
    "leave": _leave,
    "mandate": _mandate,
    "revoke-mandate": _revoke_mandate,
    "decide": _decide,
    "spaces": _spaces,
    "copy": _copy,
    "transfer": _transfer,
    "ask": _ask,
}
