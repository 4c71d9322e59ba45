"""HTTP routes of the three submission modes, the flows' processing reports and the
invoices' documents.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

- `POST /invoices`: portal entry as JSON (the web form posts the same model);
- `POST /deposits`: one PDF (Factur-X, or plain with the typed invoice), signed or not;
- `POST /flows`: one EDI file or a zip / tar.gz batch, processed in the background;
  `GET /flows/{id}` its report (JSON), `GET /flows/{id}/report` the same as a page.
"""

import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from facturier.domain.flow import Flow, FlowStatus
from facturier.domain.model import SubmissionMode
from facturier.services.application.flow_reports import flow_report, flow_visible
from facturier.services.application.flows import FlowIntake
from facturier.services.application.invoice_input import InvoiceIn
from facturier.services.application.principals import Principal
from facturier.services.http.dependencies import (
    Caller,
    FlowsDep,
    Invoicing,
    SubmissionsDep,
    correlation,
    visible_invoice,
)
from facturier.services.http.errors import InvalidPart, error
from facturier.services.http.input_guard import strict_json
from facturier.services.http.responses import command_result, upload_name
from facturier.services.web_common import document_download

# The flow report as a page (the API answers HTML to a browser that asks for it).
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

router = APIRouter()


def submitter(caller: Principal) -> None:
    if not caller.suppliers:
        raise error(403, "FORBIDDEN", f"a {caller.role} token cannot submit invoices")


@router.post("/invoices", status_code=201, tags=["invoices"], response_model=None)
def submit_invoice(
    body: InvoiceIn, caller: Caller, request: Request, submissions: SubmissionsDep
) -> dict[str, Any]:
    """Portal entry: one typed invoice, turned into an EN 16931 CII document, validated
    like an EDI file, then recorded, routed and made available in one transaction."""
    submitter(caller)
    if not caller.submits_for(body.supplier.id, SubmissionMode.PORTAL):
        raise error(403, "FORBIDDEN", "this token does not submit for that supplier")
    correlation_id = correlation(request)
    invoice = submissions.portal(body.to_domain(), caller.actor, correlation_id)
    return command_result(invoice, correlation_id)


@router.post("/deposits", status_code=201, tags=["invoices"], response_model=None)
async def deposit_pdf(
    caller: Caller,
    request: Request,
    submissions: SubmissionsDep,
    file: Annotated[UploadFile, File(description="the invoice PDF, signed or not")],
    invoice: Annotated[
        str | None,
        Form(description="for a PDF without invoice XML: the invoice as JSON (InvoiceIn)"),
    ] = None,
) -> dict[str, Any]:
    """PDF deposit: a Factur-X PDF alone, or a plain PDF with the invoice's data typed.
    A signed PDF's signatures are verified; the verdict is recorded on the invoice."""
    submitter(caller)
    filename = upload_name(file, "invoice.pdf")
    content = await _read_bounded(file, submissions.limits.max_pdf_bytes)
    typed = None
    if invoice is not None:
        try:
            typed = InvoiceIn.model_validate(strict_json(invoice, "invoice")).to_domain()
        except ValidationError as invalid:
            raise InvalidPart("invoice", invalid.errors()) from None
    correlation_id = correlation(request)
    created = submissions.pdf(
        content,
        filename,
        typed,
        caller.actor,
        correlation_id,
        allowed=lambda data: caller.submits_for(data.supplier_id, SubmissionMode.PDF),
    )
    signature = created.signature
    return command_result(created, correlation_id) | {
        "signature": None if signature is None else asdict(signature)
    }


@router.post("/flows", status_code=202, tags=["flows"])
async def upload_flow(
    caller: Caller,
    request: Request,
    flows: FlowsDep,
    file: Annotated[UploadFile, File(description="an XML / PDF invoice, or a zip / tar.gz")],
    response: Response,
) -> dict[str, Any]:
    """EDI flow: stored and acknowledged at once (202), processed in the background.
    Uploading the same bytes again returns the same flow (safe to retry)."""
    submitter(caller)
    filename = upload_name(file, "upload")
    content = await _read_bounded(file, flows.limits.max_upload_bytes)
    received = flows.receive(
        content,
        filename,
        caller.actor,
        caller.suppliers_for(SubmissionMode.EDI),
        correlation_id=correlation(request),
    )
    if not received.created:
        response.status_code = 200
    flow = received.flow
    return {
        "flow_id": str(flow.id),
        "status": flow.status.value,
        "duplicate_upload": not received.created,
        "report": f"/flows/{flow.id}",
    }


def visible_flow(flows: FlowIntake, flow_id: uuid.UUID, caller: Principal) -> Flow:
    try:
        flow: Flow | None = flows.get(flow_id)
    except LookupError:
        flow = None
    if flow is None or not flow_visible(flow, caller):
        raise error(404, "NOT_FOUND", f"no flow {flow_id} visible to this token")
    return flow


@router.get("/flows/{flow_id}", tags=["flows"])
def get_flow(flow_id: uuid.UUID, caller: Caller, flows: FlowsDep) -> dict[str, Any]:
    """The flow's processing report: every entry, its outcome and every error."""
    return flow_report(visible_flow(flows, flow_id, caller))


@router.get("/flows/{flow_id}/report", tags=["flows"], response_class=HTMLResponse)
def flow_page(flow_id: uuid.UUID, caller: Caller, flows: FlowsDep) -> HTMLResponse:
    """The processing report as a page."""
    report = flow_report(visible_flow(flows, flow_id, caller))
    page = TEMPLATES.get_template("flow_report.html").render(
        report=report, final=FlowStatus(report["status"]).is_final
    )
    return HTMLResponse(page)


@router.get("/invoices/{invoice_id}/documents/{sha256}", tags=["invoices"])
def document(
    invoice_id: uuid.UUID,
    sha256: str,
    caller: Caller,
    invoicing: Invoicing,
    submissions: SubmissionsDep,
) -> Response:
    """One original document of the invoice (its XML, its PDF, an attachment)."""
    invoice = visible_invoice(invoicing, invoice_id, caller)
    return document_download(invoice, sha256, submissions.documents)


async def _read_bounded(file: UploadFile, limit: int) -> bytes:
    """The upload's bytes, refusing more than `limit` without reading them all."""
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise error(413, "IRR_TAILLE_F", f"the file exceeds {limit // 1_000_000} MB", "file")
    return content
