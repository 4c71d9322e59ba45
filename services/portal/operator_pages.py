"""An organisation's operators' mandates: the operators that submit its invoices (which modes,
from which day; the principal manager grants and revokes), and the suppliers for which it
acts itself as an operator (the authorisation projection's answer).

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

Shown to the organisation's members only (404 for anyone else); acting is the principal
manager's (403 for the others).
"""

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facturier.domain.identifiers import UNIDENTIFIED, IdentifierKind
from facturier.domain.model import InvalidCommand, SubmissionMode
from facturier.domain.organisations import NotAllowed, Organisation
from facturier.services.application.operator_mandates import OperatorMandates
from facturier.services.application.organisations import NoSuchOrganisation
from facturier.services.portal.account_pages import Found, mine, person, posted, signed_out
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.organisation_pages import not_found, organisation_of
from facturier.services.portal.rendering import PostedForm, translator

DONE = ("granted", "revoked")
KINDS = [k for k in IdentifierKind if k not in UNIDENTIFIED]


def operators_page(
    deps: PortalDeps,
    request: Request,
    found: Found,
    organisation: Organisation,
    status: int = 200,
    **more: Any,
) -> HTMLResponse:
    mandates = OperatorMandates(deps.organisations())
    granted = [(m, _name(mandates, m.operator)) for m in mandates.of(organisation.id)]
    identifier = organisation.identifier
    acting_for = sorted(deps.authorisation.acting_for(identifier).items()) if identifier else []
    more.setdefault("done", "")
    more.setdefault("error", "")
    more.setdefault("errors", {})
    more.setdefault("posted", {})
    return mine(
        deps,
        request,
        found,
        "portal_operators.html",
        status,
        organisation=organisation,
        principal=organisation.principal == str(found[1].id),
        granted=granted,
        acting_for=acting_for,
        modes=list(SubmissionMode),
        kinds=KINDS,
        today=date.today().isoformat(),
        **more,
    )


def _name(mandates: OperatorMandates, operator: str) -> str:
    try:
        return mandates.operator_name(operator)
    except InvalidCommand:
        return ""


def operator_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/organisations/{key}/operators")
    def operators(key: str, request: Request, done: str = "") -> Response:
        found = person(deps, request)
        if found is None or not found[0].signed_in:
            return signed_out(request)
        chosen = organisation_of(deps, found, key)
        if chosen is None:
            return not_found(deps, request, found)
        return operators_page(deps, request, found, chosen, done=done if done in DONE else "")

    @router.post("/organisations/{key}/operators")
    def grant(key: str, request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        chosen = organisation_of(deps, found, key)
        if chosen is None:
            return not_found(deps, request, found)
        t = translator(request)
        fields = {k: form.get(k, "").strip()[:60] for k in ("kind", "identifier", "starts")}
        modes = [m.value for m in SubmissionMode if form.get(f"mode-{m.value}")]
        try:
            starts = date.fromisoformat(fields["starts"]) if fields["starts"] else None
            OperatorMandates(deps.organisations()).grant(
                found[1], chosen.id, fields["kind"] or "siret", fields["identifier"], modes, starts
            )
        except NotAllowed:
            return operators_page(deps, request, found, chosen, 403, error=t("operators.forbidden"))
        except NoSuchOrganisation:
            errors = {"identifier": t("operators.unknown")}
            return operators_page(deps, request, found, chosen, 422, errors=errors, posted=fields)
        except (InvalidCommand, ValueError) as invalid:
            field = invalid.field if isinstance(invalid, InvalidCommand) else "starts"
            field = field if field in ("identifier", "modes", "starts") else "identifier"
            errors = {field: t(f"operators.invalid.{field}")}
            return operators_page(deps, request, found, chosen, 422, errors=errors, posted=fields)
        return RedirectResponse(f"/portal/organisations/{chosen.id}/operators?done=granted", 303)

    @router.post("/organisations/{key}/operators/{operator}/revoke")
    def revoke(key: str, operator: str, request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        chosen = organisation_of(deps, found, key)
        if chosen is None:
            return not_found(deps, request, found)
        t = translator(request)
        try:
            OperatorMandates(deps.organisations()).revoke(found[1], chosen.id, operator[:40])
        except NotAllowed:
            return operators_page(deps, request, found, chosen, 403, error=t("operators.forbidden"))
        except InvalidCommand:
            return operators_page(
                deps, request, found, chosen, 404, error=t("operators.no_mandate")
            )
        return RedirectResponse(f"/portal/organisations/{chosen.id}/operators?done=revoked", 303)

    return router
