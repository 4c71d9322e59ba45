"""HTTP routes of the three submission modes, and the flows' processing reports.

(No `from __future__ import annotations`: FastAPI reads the local `Caller` annotation.)

- `POST /invoices`: portal entry as JSON (the web form posts the same model);
- `POST /deposits`: one PDF (Factur-X, or plain with the typed invoice), signed or not;
- `POST /flows`: one EDI file or a zip / tar.gz batch, processed in the background;
  `GET /flows/{id}` its report (JSON), `GET /flows/{id}/report` the same as a page.
"""

import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import Field, ValidationError
from stdnum.fr import tva

from facturier.adapters.documents import DocumentMissing, DocumentStore
from facturier.domain.flow import Flow, FlowStatus
from facturier.domain.invoice import Invoice
from facturier.domain.model import (
    Address,
    InvoiceData,
    InvoiceKind,
    PaymentMeans,
    Problem,
    SupplierScheme,
    line,
    vat_breakdown_of,
)
from facturier.services.application.fields import (
    Body,
    Identifier,
    Line,
    Number,
    Reference,
    Siret,
    Text,
)
from facturier.services.application.flows import FlowIntake
from facturier.services.application.invoicing import DuplicateInvoice
from facturier.services.application.submissions import NotMandated, SubmissionRefused, Submissions
from facturier.services.http.auth import ApiRole, Principal
from facturier.services.http.input_guard import BadInput, strict_json
from facturier.services.http.responses import (
    attachment,
    bad_input,
    command_result,
    error,
    upload_name,
    validation_problem,
)

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parents[1] / "portal" / "templates"),
    autoescape=select_autoescape(["html"]),
)
ZERO = Decimal(0)
# Without a due date or payment terms EN 16931 refuses an invoice with an amount due
# (BR-CO-25); the legal term for public buyers is the default.
DEFAULT_PAYMENT_TERMS = "30 days from receipt (délai global de paiement)"

# ---------------------------------------------------------------- request bodies


class AddressIn(Body):
    line1: Line = Field(default="", max_length=200)
    line2: Line = Field(default="", max_length=200)
    city: Line = Field(default="", max_length=100)
    postcode: Line = Field(default="", max_length=20)
    country: str = Field(default="FR", pattern=r"^[A-Z]{2}$")

    def to_domain(self) -> Address:
        return Address(self.line1, self.line2, self.city, self.postcode, self.country)


class SupplierIn(Body):
    scheme: SupplierScheme = SupplierScheme.SIRET
    id: Identifier = Field(min_length=1, max_length=40, examples=["73282932000074"])
    name: Line = Field(min_length=1, max_length=200)
    vat_number: Identifier = Field(
        default="", max_length=20, description="BT-31; derived from the SIREN when empty"
    )
    address: AddressIn = Field(default_factory=AddressIn)


class LineIn(Body):
    name: Line = Field(min_length=1, max_length=200)
    quantity: Number = Field(max_digits=18, decimal_places=4)
    unit: str = Field(
        default="C62", pattern=r"^[A-Z0-9]{1,3}$", description="UN/ECE rec. 20 (C62 = unit)"
    )
    unit_price: Number = Field(ge=0, max_digits=18, decimal_places=4)
    vat_rate: Number = Field(default=Decimal(20), ge=0, le=100, decimal_places=2)
    vat_category: str = Field(default="S", pattern=r"^(S|Z|E|AE|K|G|O|L|M)$")


class PaymentIn(Body):
    means_code: str = Field(default="58", pattern=r"^[0-9]{1,3}$", description="58 SEPA transfer")
    iban: Identifier = Field(default="", max_length=42)
    bic: Identifier = Field(default="", max_length=11)
    remittance: Reference = Field(default="", max_length=140)


class InvoiceIn(Body):
    """An invoice typed in the portal or posted by the supplier's software. Line amounts,
    the VAT breakdown and the totals are computed; totals sent are checked against them."""

    supplier: SupplierIn
    recipient_siret: Siret
    recipient_name: Line = Field(default="", max_length=200)
    service_code: Reference = Field(default="", max_length=100)
    order_reference: Reference = Field(
        default="", max_length=50, description="engagement juridique"
    )
    contract_reference: Reference = Field(default="", max_length=50)
    number: Reference = Field(min_length=1, max_length=20)
    kind: InvoiceKind = InvoiceKind.INVOICE
    issue_date: date
    due_date: date | None = None
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    lines: list[LineIn] = Field(min_length=1, max_length=2000)
    vat_exemption_reason: Line = Field(
        default="", max_length=200, description="BT-120, for exempt or reverse-charge lines"
    )
    prepaid_amount: Number = Field(default=ZERO, max_digits=18, decimal_places=2)
    payment: PaymentIn | None = None
    payment_terms: Text = Field(default="", max_length=500)
    net_amount: Number | None = Field(default=None, max_digits=18, decimal_places=2)
    vat_amount: Number | None = Field(default=None, max_digits=18, decimal_places=2)
    gross_amount: Number | None = Field(default=None, max_digits=18, decimal_places=2)
    payable_amount: Number | None = Field(default=None, max_digits=18, decimal_places=2)

    def to_domain(self) -> InvoiceData:
        lines = tuple(
            line(str(i), x.name, x.quantity, x.unit_price, x.vat_rate, x.vat_category, x.unit)
            for i, x in enumerate(self.lines, start=1)
        )
        breakdown = vat_breakdown_of(lines, self.vat_exemption_reason)
        line_total = sum((x.net_amount for x in lines), ZERO)
        vat_total = sum((row.tax_amount for row in breakdown), ZERO)
        net = self.net_amount if self.net_amount is not None else line_total
        vat = self.vat_amount if self.vat_amount is not None else vat_total
        gross = self.gross_amount if self.gross_amount is not None else net + vat
        payable = (
            self.payable_amount if self.payable_amount is not None else gross - self.prepaid_amount
        )
        payment = self.payment
        return InvoiceData(
            supplier_scheme=self.supplier.scheme,
            supplier_id=self.supplier.id,
            supplier_name=self.supplier.name,
            supplier_vat_number=self.supplier.vat_number or _french_vat(self.supplier),
            supplier_address=self.supplier.address.to_domain(),
            recipient_siret=self.recipient_siret,
            recipient_name=self.recipient_name,
            service_code=self.service_code,
            order_reference=self.order_reference,
            contract_reference=self.contract_reference,
            number=self.number,
            kind=self.kind.value,
            issue_date=self.issue_date,
            due_date=self.due_date,
            currency=self.currency,
            lines=lines,
            vat_breakdown=breakdown,
            line_total=line_total,
            net_amount=net,
            vat_amount=vat,
            gross_amount=gross,
            prepaid_amount=self.prepaid_amount,
            payable_amount=payable,
            payment_means=(
                (PaymentMeans(payment.means_code, payment.iban.replace(" ", ""), payment.bic),)
                if payment
                else ()
            ),
            payment_terms=self.payment_terms or ("" if self.due_date else DEFAULT_PAYMENT_TERMS),
        )


def _french_vat(supplier: SupplierIn) -> str:
    """A French company's intra-EU VAT number follows from its SIREN (key = (12 + 3 x
    (SIREN mod 97)) mod 97); EN 16931 needs one on any invoice charging VAT (BR-S-02)."""
    if supplier.scheme is not SupplierScheme.SIRET or not supplier.id[:9].isdigit():
        return ""
    siren = supplier.id[:9]
    number = f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    return number if tva.is_valid(number) else ""


# ---------------------------------------------------------------- responses


def refusal(error: SubmissionRefused | list[Problem]) -> JSONResponse:
    """422 with every problem, the first one's reason code as the code."""
    problems = error.problems if isinstance(error, SubmissionRefused) else tuple(error)
    return JSONResponse(
        status_code=422,
        content={
            "detail": {
                "code": problems[0].reason_code.value,
                "field": problems[0].field,
                "message": problems[0].message,
                "errors": [problem_json(p) for p in problems],
            }
        },
    )


def problem_json(problem: Problem) -> dict[str, str]:
    return {
        "rule": problem.rule,
        "location": problem.field,
        "message": problem.message,
        "reason_code": problem.reason_code.value,
    }


def flow_report(flow: Flow) -> dict[str, Any]:
    """The processing report (compte-rendu) of a flow, entry by entry."""
    invoices = []
    for entry in flow.entries:
        if entry in flow.integrated:
            outcome, invoice_id = "integrated", str(flow.integrated[entry])
            errors: tuple[Problem, ...] = ()
        elif entry in flow.rejected:
            outcome, invoice_id, errors = "rejected", None, flow.rejected[entry]
        else:
            outcome, invoice_id, errors = "pending", None, ()
        invoices.append(
            {
                "entry": entry,
                "outcome": outcome,
                "invoice_id": invoice_id,
                "errors": [problem_json(p) for p in errors],
                "warnings": [problem_json(p) for p in flow.warnings.get(entry, ())],
            }
        )
    return {
        "flow_id": str(flow.id),
        "status": flow.status.value,
        "final": flow.status.is_final,
        "mode": flow.mode.value,
        "submitter": flow.submitter,
        "received_at": flow.created_on,
        "updated_at": flow.modified_on,
        "upload": {
            "filename": flow.upload.filename,
            "sha256": flow.upload.sha256,
            "size": flow.upload.size,
        },
        "counts": {
            "entries": len(flow.entries),
            "integrated": len(flow.integrated),
            "rejected": len(flow.rejected),
            "pending": len(flow.pending),
        },
        "errors": [problem_json(p) for p in flow.problems],
        "invoices": invoices,
    }


def flow_visible(flow: Flow, caller: Principal) -> bool:
    """A flow is seen by who submitted it, auditors and admins (the API and the portal)."""
    return caller.role in (ApiRole.ADMIN, ApiRole.AUDITOR) or flow.submitter == caller.actor


class NoSuchDocument(LookupError):
    """The invoice has no document with this hash."""


def document_download(invoice: Invoice, sha256: str, store: DocumentStore) -> Response:
    """One of the invoice's documents as a download (the API and the portal). NoSuchDocument:
    not one of this invoice's documents; DocumentMissing: referenced but not stored."""
    found = next((d for d in invoice.documents if d.sha256 == sha256), None)
    if found is None:
        raise NoSuchDocument(sha256)
    content = store.get(sha256)
    return Response(
        content,
        media_type=found.media_type,
        headers={"Content-Disposition": attachment(found.filename)},
    )


# ---------------------------------------------------------------- routes


def intake_routes(
    principal: Callable[..., Principal],
    visible_invoice: Callable[[uuid.UUID, Principal], Invoice],
    submissions: Callable[[], Submissions],
    flows: Callable[[], FlowIntake],
) -> APIRouter:
    """The routes; `principal` is the API's dependency authenticating the caller."""
    router = APIRouter()
    Caller = Annotated[Principal, Depends(principal)]

    def correlation(request: Request) -> str:
        return request.headers.get("x-correlation-id") or str(uuid.uuid4())

    def submitter(caller: Principal) -> None:
        if not caller.suppliers:
            raise error(403, "FORBIDDEN", f"a {caller.role} token cannot submit invoices")

    @router.post("/invoices", status_code=201, tags=["invoices"], response_model=None)
    def submit_invoice(
        body: InvoiceIn, caller: Caller, request: Request
    ) -> dict[str, Any] | JSONResponse:
        """Portal entry: one typed invoice, turned into an EN 16931 CII document, validated
        like an EDI file, then recorded, routed and made available in one transaction."""
        submitter(caller)
        if not caller.submits_for(body.supplier.id):
            raise error(403, "FORBIDDEN", "this token does not submit for that supplier")
        correlation_id = correlation(request)
        try:
            invoice = submissions().portal(body.to_domain(), caller.actor, correlation_id)
        except SubmissionRefused as refused:
            return refusal(refused)
        except DuplicateInvoice as duplicate:
            raise error(409, "DOUBLON", str(duplicate)) from None
        return command_result(invoice, correlation_id)

    @router.post("/deposits", status_code=201, tags=["invoices"], response_model=None)
    async def deposit_pdf(
        caller: Caller,
        request: Request,
        file: Annotated[UploadFile, File(description="the invoice PDF, signed or not")],
        invoice: Annotated[
            str | None,
            Form(description="for a PDF without invoice XML: the invoice as JSON (InvoiceIn)"),
        ] = None,
    ) -> dict[str, Any] | JSONResponse:
        """PDF deposit: a Factur-X PDF alone, or a plain PDF with the invoice's data typed.
        A signed PDF's signatures are verified; the verdict is recorded on the invoice."""
        submitter(caller)
        filename = upload_name(file, "invoice.pdf")
        content = await _read_bounded(file, submissions().limits.max_pdf_bytes)
        typed = None
        if invoice is not None:
            try:
                typed = InvoiceIn.model_validate(strict_json(invoice, "invoice")).to_domain()
            except BadInput as bad:
                return bad_input(bad)
            except ValidationError as invalid:
                return validation_problem(invalid.errors(), prefix="invoice")
        correlation_id = correlation(request)
        try:
            created = submissions().pdf(
                content,
                filename,
                typed,
                caller.actor,
                correlation_id,
                allowed=lambda data: caller.submits_for(data.supplier_id),
            )
        except SubmissionRefused as refused:
            return refusal(refused)
        except NotMandated as refused:
            raise error(403, "FORBIDDEN", str(refused)) from None
        except DuplicateInvoice as duplicate:
            raise error(409, "DOUBLON", str(duplicate)) from None
        signature = created.signature
        return command_result(created, correlation_id) | {
            "signature": None if signature is None else asdict(signature)
        }

    @router.post("/flows", status_code=202, tags=["flows"])
    async def upload_flow(
        caller: Caller,
        request: Request,
        file: Annotated[UploadFile, File(description="an XML / PDF invoice, or a zip / tar.gz")],
        response: Response,
    ) -> dict[str, Any]:
        """EDI flow: stored and acknowledged at once (202), processed in the background.
        Uploading the same bytes again returns the same flow (safe to retry)."""
        submitter(caller)
        filename = upload_name(file, "upload")
        content = await _read_bounded(file, flows().limits.max_upload_bytes)
        received = flows().receive(
            content,
            filename,
            caller.actor,
            caller.suppliers,
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

    def visible_flow(flow_id: uuid.UUID, caller: Principal) -> Flow:
        try:
            flow: Flow | None = flows().get(flow_id)
        except LookupError:
            flow = None
        if flow is None or not flow_visible(flow, caller):
            raise error(404, "NOT_FOUND", f"no flow {flow_id} visible to this token")
        return flow

    @router.get("/flows/{flow_id}", tags=["flows"])
    def get_flow(flow_id: uuid.UUID, caller: Caller) -> dict[str, Any]:
        """The flow's processing report: every entry, its outcome and every error."""
        return flow_report(visible_flow(flow_id, caller))

    @router.get("/flows/{flow_id}/report", tags=["flows"], response_class=HTMLResponse)
    def flow_page(flow_id: uuid.UUID, caller: Caller) -> HTMLResponse:
        """The processing report as a page."""
        report = flow_report(visible_flow(flow_id, caller))
        page = TEMPLATES.get_template("flow_report.html").render(
            report=report, final=FlowStatus(report["status"]).is_final
        )
        return HTMLResponse(page)

    @router.get("/invoices/{invoice_id}/documents/{sha256}", tags=["invoices"])
    def document(invoice_id: uuid.UUID, sha256: str, caller: Caller) -> Response:
        """One original document of the invoice (its XML, its PDF, an attachment)."""
        invoice = visible_invoice(invoice_id, caller)
        try:
            return document_download(invoice, sha256, submissions().documents)
        except DocumentMissing:
            raise error(500, "DOCUMENT_MISSING", f"document {sha256} is not stored") from None
        except NoSuchDocument:
            raise error(404, "NOT_FOUND", f"no document {sha256} on invoice {invoice_id}") from None

    return router


async def _read_bounded(file: UploadFile, limit: int) -> bytes:
    """The upload's bytes, refusing more than `limit` without reading them all."""
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise error(413, "IRR_TAILLE_F", f"the file exceeds {limit // 1_000_000} MB", "file")
    return content
