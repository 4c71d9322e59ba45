"""One invoice: `GET /portal/invoices/{id}` (status, timeline, documents, payment delay,
reception acknowledgment, flow report, and a form per lifecycle action the account may
perform now), its downloads (`.../documents/{sha256}`, `.../receipt`) with the session
instead of a bearer token. The action forms post to `actions.py`.

Elements showing the invoice's current status carry `data-live-status` / `data-live-code`
(the invoice id), the part rendered from it (status, forms, timeline) `data-live-region` and
the URL it is read from: the hooks of the live updates (`static/live.js`), which the page
does without.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic_core import to_jsonable_python

from facturier.adapters.documents import DocumentMissing
from facturier.domain.invoice import Invoice, SubmissionMode
from facturier.domain.lifecycle import STATUS_INFO
from facturier.projections.payment_delays.projection import fetch_state, paris_date
from facturier.projections.tracking import queries as views
from facturier.services.application import directory
from facturier.services.application.actions import available
from facturier.services.application.invoicing import InvoiceNotFound
from facturier.services.application.receipts import NotReceived
from facturier.services.application.receipts import receipt as receipt_of
from facturier.services.http.auth import Principal
from facturier.services.http.submissions import NoSuchDocument, document_download, flow_visible
from facturier.services.portal.action_forms import action_forms
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.formats import Formats
from facturier.services.portal.rendering import (
    ACTION_NAMES,
    language,
    message,
    not_found,
    render,
    to_login,
    translator,
)
from facturier.services.portal.sessions import Session
from facturier.services.portal.timeline import Party, buyers_of, timeline_steps


def visible(deps: PortalDeps, session: Session, invoice_id: uuid.UUID) -> Invoice | None:
    """The invoice from the event store, if the session's account may see it."""
    try:
        invoice = deps.submissions().app.get(invoice_id)
    except InvoiceNotFound:
        return None
    data = invoice.data
    return invoice if session.principal.sees(data.supplier_id, data.recipient_siret) else None


def flow_of(deps: PortalDeps, invoice: Invoice, first: Invoice.Event, principal: Principal) -> str:
    """The flow an EDI invoice came in (its correlation id), if the account sees it."""
    if deps.flows is None or invoice.mode != SubmissionMode.EDI:
        return ""
    try:
        flow_id = uuid.UUID(str(getattr(first, "correlation_id", "")))
        flow = deps.flows().get(flow_id)
    except (ValueError, LookupError):
        return ""
    return str(flow_id) if flow_visible(flow, principal) else ""


def show_invoice(
    deps: PortalDeps,
    request: Request,
    session: Session,
    invoice: Invoice,
    status: int = 200,
    problem: dict[str, Any] | None = None,
    posted: Mapping[str, str] | None = None,
    done: str = "",
) -> HTMLResponse:
    """The invoice's page; `problem` and `posted`: an action refused, its form as typed."""
    principal = session.principal
    lang = language(request)
    t = translator(request)
    first = deps.submissions().app.history(invoice.id)[0]
    # The recipient the invoice was first addressed to: a re-routing changes it later.
    submitted_to = str(getattr(getattr(first, "data", None), "recipient_siret", ""))
    data = invoice.data
    with deps.pool().connection() as conn:
        row = views.invoice(conn, invoice.id)
        timeline = views.timeline(conn, invoice.id) if row else []
        delays = fetch_state(conn, invoice.id)
        buyers = directory.names(conn, buyers_of(invoice, submitted_to, timeline))
        service = directory.service_names(conn, [(data.recipient_siret, data.service_code)])
    today = paris_date(datetime.now(UTC))
    if row is None:  # recorded, not projected yet
        return render(
            deps,
            request,
            "portal_invoice.html",
            status,
            session=session,
            invoice=None,
            number=data.number,
            done="",
            problem=None,
        )
    try:
        acknowledgment: dict[str, Any] | None = receipt_of(deps.submissions().app, invoice)
    except NotReceived:
        acknowledgment = None
    # The status shown and the forms offered both come from the event store: it is what
    # an action is checked against, so the page offers exactly what would be accepted
    # now and shows an action's result at once. The tracking view may lag behind it by
    # the projection's delay: only the timeline is read there (live.js completes it).
    info = STATUS_INFO[invoice.status]
    prefill = {
        "amount": Formats(lang).typed(data.payable_amount),
        "payment_date": today.isoformat(),
    }
    failed = problem["action"] if problem else ""
    forms = action_forms(available(principal, invoice.status), prefill, posted or {}, failed)
    party = Party(principal, data.supplier_id, data.supplier_name, buyers)
    steps = timeline_steps(timeline, submitted_to, party, t)
    return render(
        deps,
        request,
        "portal_invoice.html",
        status,
        session=session,
        invoice=row,
        number=row["number"],
        current={
            "status": invoice.status.value,
            "summary": info.summary.value,
            "reform_code": info.reform_code,
            "version": invoice.version,
        },
        address=data,
        recipient_name=buyers.get(data.recipient_siret, ""),
        service_name=next(iter(service.values()), ""),
        timeline=steps,
        # The timeline's version, the part of the page that may lag: live.js reads the
        # page again for any push newer than that.
        live_version=steps[-1]["version"] if steps else 0,
        documents=invoice.documents,
        payment=delays.view(today) if delays else None,
        receipt=acknowledgment,
        flow_id=flow_of(deps, invoice, first, principal),
        actions=forms,
        problem=problem,
        done=done if done in ACTION_NAMES else "",
    )


def invoice_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/invoices/{invoice_id}")
    def invoice_page(invoice_id: uuid.UUID, request: Request, done: str = "") -> Response:
        session = deps.sessions.current(request)
        if session is None:
            return to_login()
        invoice = visible(deps, session, invoice_id)
        if invoice is None:
            return not_found(deps, request, session)
        return show_invoice(deps, request, session, invoice, done=done)

    @router.get("/invoices/{invoice_id}/documents/{sha256}")
    def document(invoice_id: uuid.UUID, sha256: str, request: Request) -> Response:
        session = deps.sessions.current(request)
        if session is None:
            return to_login()
        invoice = visible(deps, session, invoice_id)
        if invoice is None:
            return not_found(deps, request, session)
        try:
            response = document_download(invoice, sha256, deps.submissions().documents)
        except DocumentMissing:
            raise HTTPException(500, "document referenced but not stored") from None
        except NoSuchDocument:
            return not_found(deps, request, session)
        response.headers.update({"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
        return response

    @router.get("/invoices/{invoice_id}/receipt")
    def receipt(invoice_id: uuid.UUID, request: Request) -> Response:
        """The reception acknowledgment, as the JSON API gives it, to download."""
        session = deps.sessions.current(request)
        if session is None:
            return to_login()
        invoice = visible(deps, session, invoice_id)
        if invoice is None:
            return not_found(deps, request, session)
        try:
            content = receipt_of(deps.submissions().app, invoice)
        except NotReceived:
            t = translator(request)
            title, text = t("receipt.none"), t("receipt.none_text")
            return message(deps, request, 409, title, text, session)
        filename = f"receipt-{invoice.id}.json"
        return JSONResponse(
            to_jsonable_python(content),  # as the JSON API encodes it
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router
