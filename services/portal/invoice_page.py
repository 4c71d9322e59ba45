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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic_core import to_jsonable_python

from facturier.adapters.documents import DocumentMissing
from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import Status
from facturier.domain.model import SubmissionMode
from facturier.domain.payment_terms import paris_date
from facturier.projections.payment_delays.projection import fetch_state
from facturier.projections.tracking import queries as views
from facturier.services.application import directory
from facturier.services.application.actions import available
from facturier.services.application.flow_reports import NoSuchDocument, flow_visible
from facturier.services.application.invoicing import InvoiceNotFound
from facturier.services.application.principals import Principal
from facturier.services.application.receipts import RECEIPT_NAMESPACE, NotReceived
from facturier.services.application.receipts import receipt as receipt_of
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
from facturier.services.web_common import document_download


def visible(deps: PortalDeps, session: Session, invoice_id: uuid.UUID) -> Invoice | None:
    """The invoice from the event store, if the session's account may see it (who may see
    it is that of now: a re-routed invoice leaves the former buyer's pages at once)."""
    try:
        invoice = deps.submissions().app.get(invoice_id)
    except InvoiceNotFound:
        return None
    data = invoice.data
    return invoice if session.principal.sees(data.supplier_id, data.recipient_siret) else None


def flow_of(deps: PortalDeps, mode: str, correlation_id: str, principal: Principal) -> str:
    """The flow an EDI invoice came in (its submission's correlation id), if the account
    sees it."""
    if deps.flows is None or mode != SubmissionMode.EDI:
        return ""
    try:
        flow_id = uuid.UUID(correlation_id)
        flow = deps.flows().get(flow_id)
    except (ValueError, LookupError):
        return ""
    return str(flow_id) if flow_visible(flow, principal) else ""


@dataclass(frozen=True)
class Extras:
    """What the page shows besides the row's facts: the recipient at submission, the
    submission's correlation id, the documents, the reception acknowledgment (None: the
    invoice is not with a buyer)."""

    submitted_to: str
    correlation_id: str
    documents: list[Any]
    receipt: dict[str, Any] | None


def extras_of(deps: PortalDeps, row: Mapping[str, Any], invoice: Invoice) -> Extras:
    """From the row, as of its version; a row projected before these columns existed
    (documents NULL) has them from the event store until the topic is replayed."""
    if row["documents"] is None:
        app = deps.submissions().app
        first = app.history(invoice.id)[0]
        try:
            acknowledgment: dict[str, Any] | None = receipt_of(app, invoice)
        except NotReceived:
            acknowledgment = None
        return Extras(
            str(getattr(getattr(first, "data", None), "recipient_siret", "")),
            str(getattr(first, "correlation_id", "")),
            list(invoice.documents),
            acknowledgment,
        )
    received = row["received_version"]
    if received is None or row["status"] == Status.A_RECYCLER:
        acknowledgment = None
    else:  # as services/application/receipts.py names it
        name = f"{row['invoice_id']}:receipt:{received}"
        acknowledgment = {
            "receipt_id": str(uuid.uuid5(RECEIPT_NAMESPACE, name)),
            "received_at": row["received_at"],
        }
    return Extras(
        row["submitted_to"] or row["recipient_siret"],
        row["correlation_id"] or "",
        list(row["documents"]),
        acknowledgment,
    )


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
    """The invoice's page; `problem` and `posted`: an action refused, its form as typed.

    Everything it shows is one state, the tracking row's (with its timeline up to the row's
    version): the status, and the action forms that status allows the account, so the forms
    always match the status shown, also while the projection lags behind an action just
    performed (live.js brings the page up to date once it has caught up). Actions are
    still checked against the event store when posted (`actions.py`)."""
    principal = session.principal
    with deps.pool().connection() as conn:
        found = views.invoice_page(conn, invoice.id)
        if found is None:  # recorded, not projected yet
            return render(
                deps,
                request,
                "portal_invoice.html",
                status,
                session=session,
                invoice=None,
                number=invoice.data.number,
                done="",
                problem=None,
            )
        row, timeline = found
        extras = extras_of(deps, row, invoice)
        delays = fetch_state(conn, invoice.id)
        recipient = row["recipient_siret"]
        buyers = directory.names(conn, buyers_of(recipient, extras.submitted_to, timeline))
        service = directory.service_names(conn, [(recipient, row["service_code"])])
    today = paris_date(datetime.now(UTC))
    shown = Status(row["status"])
    prefill = {
        "amount": Formats(language(request)).typed(row["payable_amount"]),
        "payment_date": today.isoformat(),
    }
    failed = problem["action"] if problem else ""
    forms = action_forms(available(principal, shown), prefill, posted or {}, failed)
    party = Party(principal, row["supplier_id"], row["supplier_name"], buyers)
    return render(
        deps,
        request,
        "portal_invoice.html",
        status,
        session=session,
        invoice=row,
        number=row["number"],
        current={
            "status": shown.value,
            "summary": row["summary"],
            "reform_code": row["reform_code"],
            "version": row["version"],
        },
        address=row,
        recipient_name=buyers.get(recipient, ""),
        service_name=next(iter(service.values()), ""),
        timeline=timeline_steps(timeline, extras.submitted_to, party, translator(request)),
        # The version the part of the page that changes is rendered from: live.js reads the
        # page again for any push newer than that.
        live_version=row["version"],
        documents=extras.documents,
        payment=delays.view(today) if delays else None,
        receipt=extras.receipt,
        flow_id=flow_of(deps, row["mode"], extras.correlation_id, principal),
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
