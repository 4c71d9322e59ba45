"""The portal's two other ways to submit, beside typing: depositing a PDF (a Factur-X PDF,
which carries its own invoice data; signed or not, the signatures verified and their verdict
shown) and sending an EDI flow (an XML, PDF or a zip / tar.gz of several), whose processing
report follows. The same use cases as the JSON API's `POST /deposits` and `POST /flows`.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from facturier.domain.model import InvalidCommand, SignatureCheck, SubmissionMode
from facturier.services.application.invoicing import DuplicateInvoice, RoutingRefused
from facturier.services.application.submissions import NotMandated, SubmissionRefused
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.rendering import render, to_login, translator
from facturier.services.portal.sessions import Session, same

# A part of a multipart post besides the file: the CSRF field.
MAX_UPLOAD_FIELDS = 4


def deposit_page(
    deps: PortalDeps, request: Request, session: Session, status: int = 200, **more: Any
) -> HTMLResponse:
    more.setdefault("problems", [])
    return render(deps, request, "portal_deposit.html", status, session=session, **more)


async def upload(request: Request, session: Session, limit: int) -> tuple[str, bytes] | str:
    """The posted file's name and bytes; else the catalogue key of why not."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        return "deposit.no_length"
    if int(length) > limit + 64 * 1024:
        return "deposit.too_big"
    form = await request.form(max_files=1, max_fields=MAX_UPLOAD_FIELDS)
    if not same(str(form.get("csrf", "")), session.csrf):
        return "message.form_expired"
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return "deposit.no_file"
    content = await file.read(limit + 1)
    if len(content) > limit:
        return "deposit.too_big"
    return file.filename[:255], content


def refused_status(why: str) -> int:
    """A forged or expired form is refused (403); a file missing or too large is not
    acceptable (413, 422)."""
    return {"message.form_expired": 403, "deposit.too_big": 413}.get(why, 422)


def refusal_of(error: Exception) -> list[tuple[str, str]]:
    """(reason code, message) of each problem of a refused deposit."""
    if isinstance(error, SubmissionRefused):
        return [(str(p.reason_code), p.message) for p in error.problems]
    if isinstance(error, RoutingRefused):
        return [(str(f.reason_code), f.message) for _, findings in error.refusals for f in findings]
    if isinstance(error, DuplicateInvoice):
        return [(str(error.reason_code), str(error))]
    return [("REJ_SEMAN", str(error))]


def deposit_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/deposits/new")
    def deposit_form(request: Request) -> Response:
        session = deps.sessions.current(request)
        if session is None:
            return to_login()
        if not session.submits:
            return deposit_page(deps, request, session, 403, closed=True)
        return deposit_page(deps, request, session)

    @router.post("/deposits")
    async def deposit(request: Request) -> Response:
        session = deps.sessions.current(request)
        if session is None:
            return to_login()
        if not session.submits:
            return deposit_page(deps, request, session, 403, closed=True)
        t = translator(request)
        submissions = deps.submissions()
        got = await upload(request, session, submissions.limits.max_pdf_bytes)
        if isinstance(got, str):
            return deposit_page(
                deps, request, session, refused_status(got), problems=[("", t(got))]
            )
        filename, content = got
        principal = session.principal
        try:
            created = submissions.pdf(
                content,
                filename,
                None,
                principal.actor,
                allowed=lambda data: principal.submits_for(data.supplier_id, SubmissionMode.PDF),
            )
        except NotMandated:
            return deposit_page(
                deps, request, session, 403, problems=[("", t("deposit.not_yours"))]
            )
        except (SubmissionRefused, RoutingRefused, DuplicateInvoice, InvalidCommand) as error:
            return deposit_page(deps, request, session, 422, problems=refusal_of(error))
        return deposit_page(
            deps, request, session, 201, created=created, verdict=verdict_of(created.signature)
        )

    @router.post("/flows")
    async def send_flow(request: Request) -> Response:
        session = deps.sessions.current(request)
        if session is None:
            return to_login()
        if not session.submits or deps.flows is None:
            return deposit_page(deps, request, session, 403, closed=True)
        t = translator(request)
        flows = deps.flows()
        got = await upload(request, session, flows.limits.max_upload_bytes)
        if isinstance(got, str):
            return deposit_page(
                deps, request, session, refused_status(got), problems=[("", t(got))]
            )
        filename, content = got
        principal = session.principal
        suppliers = principal.suppliers_for(SubmissionMode.EDI)
        received = flows.receive(content, filename, principal.actor, suppliers)
        return RedirectResponse(f"/portal/flows/{received.flow.id}/report", status_code=303)

    return router


def verdict_of(signature: SignatureCheck | None) -> str:
    """The catalogue key of a deposited PDF's signature verdict."""
    if signature is None or not signature.signed:
        return "deposit.unsigned"
    if not signature.intact:
        return "deposit.signature_broken"
    return "deposit.signature_trusted" if signature.trusted else "deposit.signature_untrusted"
