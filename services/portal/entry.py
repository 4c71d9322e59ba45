"""The invoice form (portal entry) and its deposit.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

`GET /portal/invoices/new`, `POST /portal/invoices`. Without JavaScript the form's buttons
post it back ("add a line", "remove line N", "compute totals", "search" a buyer, choose one
of the results) and the server renders it again; with JavaScript (`static/portal.js`) rows
are added and removed in the browser, the totals follow every keystroke and the buyer search
is a typeahead (`directory_search.py`). The form's data and errors: `entry_form.py`.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from facturier.domain.model import InvalidCommand, InvalidInvoice, InvoiceData, SubmissionMode
from facturier.domain.payment_terms import paris_date
from facturier.projections.tracking import queries as views
from facturier.services.application import directory
from facturier.services.application.flows import routing_problem
from facturier.services.application.invoice_input import InvoiceIn
from facturier.services.application.invoicing import DuplicateInvoice, RoutingRefused
from facturier.services.application.principals import ApiRole, Principal
from facturier.services.application.submissions import NotMandated, SubmissionRefused
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.directory_search import BuyerSearch, find_buyers
from facturier.services.portal.entry_form import (
    HEADER_FIELDS,
    KINDS,
    MAX_LINES,
    SCHEMES,
    UNITS,
    VATS,
    Finding,
    FormState,
    blank_line,
    invoice_json,
    label,
    line_findings,
    patched,
    problem_findings,
    problem_key,
    target,
    totals_of,
    validation_findings,
)
from facturier.services.portal.rendering import (
    checked,
    forbidden,
    posted_form_and_file,
    render,
    to_login,
    translator,
)
from facturier.services.portal.sessions import Session


def _summary(
    findings: list[Finding], t: Callable[..., str]
) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    """The errors next to their inputs, and the summary above the form (each error once)."""
    errors: dict[str, list[str]] = {}
    seen: set[tuple[str | None, str]] = set()
    summary: list[dict[str, str]] = []
    for finding in findings:
        if (finding.key, finding.message) in seen:
            continue
        seen.add((finding.key, finding.message))
        if finding.key is not None:
            errors.setdefault(finding.key, []).append(finding.message)
            summary.append(
                {
                    "href": "#" + target(finding.key),
                    "label": label(finding.key, t),
                    "message": finding.message,
                }
            )
        else:
            summary.append(
                {
                    "message": finding.message,
                    "reason_code": finding.reason_code,
                    "rule": finding.rule,
                    "location": finding.location,
                }
            )
    return errors, summary


def render_form(
    deps: PortalDeps,
    request: Request,
    session: Session,
    state: FormState,
    findings: list[Finding] | None = None,
    status: int = 200,
    title: str = "",
    search: BuyerSearch | None = None,
) -> HTMLResponse:
    t = translator(request)
    errors, summary = _summary(findings or [], t)
    principal = session.principal
    return render(
        deps,
        request,
        "portal_form.html",
        status,
        session=session,
        state=state,
        errors=errors,
        summary=summary,
        summary_title=title or t("form.not_submitted"),
        totals=totals_of(state),
        kinds=[(k, t(f"kind.{k}")) for k in KINDS],
        schemes=[(code, code) for code in SCHEMES],
        vats=[(v, t(f"form.vat.{v}")) for v in VATS],
        units=[(u, t(f"form.unit.{u}")) for u in UNITS],
        blank=blank_line(),
        supplier_locked=principal.role is ApiRole.SUPPLIER,
        mandates=[s for s in principal.suppliers_for(SubmissionMode.PORTAL) if s != "*"],
        max_lines=MAX_LINES,
        search=search or BuyerSearch(),
    )


def picked_buyer(
    deps: PortalDeps, state: FormState, choice: str, t: Callable[..., str]
) -> BuyerSearch:
    """A result chosen: its SIRET and service code go into the form's fields."""
    siret, _, code = choice.partition(":")
    siret = siret.strip()[:14]
    code = code.strip()[:100]
    state.fields["recipient_siret"] = siret
    state.fields["service_code"] = code
    with deps.pool().connection() as conn:
        name = directory.names(conn, [siret]).get(siret, "")
    service = t("form.buyer_picked_service", code=code) if code else ""
    return BuyerSearch(picked=t("form.buyer_picked", name=name, siret=siret, service=service))


def new_state(deps: PortalDeps, principal: Principal) -> FormState:
    fields = dict.fromkeys(HEADER_FIELDS, "")
    fields.update(
        supplier_scheme="SIRET",
        supplier_address_country="FR",
        kind="380",
        currency="EUR",
        issue_date=paris_date(datetime.now(UTC)).isoformat(),
    )
    mandates = [s for s in principal.suppliers_for(SubmissionMode.PORTAL) if s != "*"]
    if len(mandates) == 1:
        fields["supplier_id"] = mandates[0]
        with deps.pool().connection() as conn:
            latest = views.invoices(conn, suppliers=[mandates[0]], limit=1)
        if latest:
            fields["supplier_name"] = str(latest[0]["supplier_name"])
    return FormState(fields, [blank_line()])


def cannot_submit(deps: PortalDeps, request: Request, session: Session) -> HTMLResponse | None:
    """The refusal of the entry form for this session, or None: it may type invoices.
    An account's organisation must have signed the billing mandate in force."""
    t = translator(request)
    if not session.submits:
        role = t(f"role.{session.principal.role}")
        return forbidden(deps, request, session, t("message.cannot_submit", role=role))
    if session.organisation is None:
        return None  # an operations token: no organisation, no mandate
    organisation = deps.organisations().get(session.organisation)
    if deps.consents().mandate_signed(organisation):
        return None
    link = f"/portal/organisations/{organisation.id}/mandate"
    return render(
        deps,
        request,
        "portal_message.html",
        403,
        title=t("entry.mandate_title"),
        text=t("entry.mandate_text", name=organisation.name),
        link=link,
        link_text=t("entry.mandate_link"),
        session=session,
    )


def also_wrong(
    deps: PortalDeps,
    body: dict[str, Any],
    invalid: ValidationError,
    found: list[Finding],
    lines: int,
) -> list[Finding]:
    """What the domain finds wrong besides the fields the model refused, so that every
    error shows at once (checks only: no Schematron, nothing recorded)."""
    typed = patched(body, invalid)
    if typed is None:
        return []
    data = typed.to_domain()
    problems = data.problems()
    problems += [routing_problem(f) for f in deps.submissions().app.routing_findings(data)]
    refused = {f.key for f in found}
    return [f for f in problem_findings(problems, lines) if f.key not in refused]


def submit(
    deps: PortalDeps,
    request: Request,
    session: Session,
    state: FormState,
    pdf: tuple[str, bytes] | None = None,
) -> Response:
    """The form recorded as an invoice (then its page), or given back with what is wrong.
    With `pdf` (a plain PDF the supplier made), the PDF is the invoice's legal document and
    the typed data its structured twin, as a PDF deposited with typed data."""
    principal = session.principal
    lines = len(state.lines)
    body = invoice_json(state)

    def again(findings: list[Finding], status: int) -> HTMLResponse:
        return render_form(deps, request, session, state, findings, status)

    try:
        typed = InvoiceIn.model_validate(body)
    except ValidationError as invalid:
        findings = validation_findings(invalid, lines, translator(request))
        return again(findings + also_wrong(deps, body, invalid, findings, lines), 422)
    correlation_id = request.headers.get("x-correlation-id") or str(uuid.uuid4())

    def allowed(data: InvoiceData) -> bool:
        return principal.submits_for(data.supplier_id, SubmissionMode.PORTAL)

    try:
        if pdf is None:
            invoice = deps.submissions().portal(
                typed.to_domain(), principal.actor, correlation_id, allowed=allowed
            )
        else:
            invoice = deps.submissions().pdf(
                pdf[1], pdf[0], typed.to_domain(), principal.actor, correlation_id, allowed
            )
    except SubmissionRefused as refused:
        return again(problem_findings(refused.problems, lines), 422)
    except RoutingRefused as refused:
        problems = [routing_problem(f) for _, found in refused.refusals for f in found]
        return again(problem_findings(problems, lines), 422)
    except NotMandated:
        text = translator(request)("form.error.not_mandated", supplier=typed.supplier.id)
        return again([Finding("supplier_id", text)], 403)
    except DuplicateInvoice as duplicate:
        return again([Finding(None, str(duplicate), "DOUBLON", "FR-DOUBLON", "number")], 409)
    except InvalidInvoice as invalid:
        return again(problem_findings(invalid.problems, lines), 422)
    except InvalidCommand as invalid:
        key = problem_key(invalid.field, lines)
        return again([Finding(key, invalid.message, "INVALID", location=invalid.field)], 422)
    return RedirectResponse(f"/portal/invoices/{invoice.id}", status_code=303)


def entry_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/invoices/new")
    def invoice_form(request: Request, buyer_q: str = "") -> Response:
        session = deps.sessions.current(request)
        if session is None:
            return to_login()
        if refused := cannot_submit(deps, request, session):
            return refused
        search = find_buyers(deps, buyer_q)
        state = new_state(deps, session.principal)
        return render_form(deps, request, session, state, search=search)

    @router.post("/invoices")
    async def post_invoice(request: Request) -> Response:
        limit = deps.submissions().limits.max_pdf_bytes
        form, pdf = await posted_form_and_file(request, limit)
        return await run_in_threadpool(entry_step, deps, request, form, pdf)

    return router


def entry_step(
    deps: PortalDeps, request: Request, form: dict[str, str], pdf: tuple[str, bytes] | None
) -> Response:
    """One post of the invoice form: an action on the form, or its submission."""
    session = checked(deps, request, form)
    if isinstance(session, Response):
        return session
    if refused := cannot_submit(deps, request, session):
        return refused
    state = FormState.posted(form)
    action = form.get("action", "compute")
    t = translator(request)
    if action.startswith("pick-buyer:"):
        picked = picked_buyer(deps, state, action.removeprefix("pick-buyer:"), t)
        return render_form(deps, request, session, state, search=picked)
    # A search typed and not yet chosen from goes on showing its results (Enter in the
    # search field presses the form's first button: "compute").
    search = find_buyers(deps, form.get("buyer_q", "")) if action != "submit" else None
    if action == "search-buyer":
        return render_form(deps, request, session, state, search=search)
    if action == "add-line":
        if len(state.lines) >= MAX_LINES:
            too_many = Finding("lines", t("form.error.too_many", n=MAX_LINES))
            return render_form(deps, request, session, state, [too_many], 422, search=search)
        state.lines.append(blank_line())
        return render_form(deps, request, session, state, search=search)
    if action.startswith("remove-") and action[7:].isdigit():
        index = int(action[7:])
        if index < len(state.lines):
            del state.lines[index]
        state.lines = state.lines or [blank_line()]
        return render_form(deps, request, session, state, search=search)
    if action != "submit":  # "compute": the totals, and what is wrong with the lines
        found = line_findings(state, t)
        title = t("form.not_counted")
        return render_form(deps, request, session, state, found, title=title, search=search)
    return submit(deps, request, session, state, pdf)
