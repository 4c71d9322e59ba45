"""The one mapping from errors to HTTP answers: every domain and application error a route
lets through becomes a problem body `{"detail": {"code", "message", "field"?, ...}}`, its
`code` a reform reason code when one fits, else a short English word (NOT_FOUND,
FORBIDDEN...). Routes raise; they do not catch to translate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facturier.domain.lifecycle import LifecycleError
from facturier.domain.model import InvalidCommand, InvalidInvoice, Problem
from facturier.domain.subscriptions import InvalidSubscription
from facturier.services.application.actions import ActionForbidden
from facturier.services.application.directory import DirectoryFileError
from facturier.services.application.fields import CHARACTERS
from facturier.services.application.flow_reports import (
    DocumentNotStored,
    NoSuchDocument,
    problem_json,
)
from facturier.services.application.invoicing import (
    ConcurrentChange,
    DuplicateInvoice,
    InvoiceNotFound,
    RoutingRefused,
)
from facturier.services.application.principals import NotASiret, StructureForbidden
from facturier.services.application.receipts import NotReceived
from facturier.services.application.submissions import NotMandated, SubmissionRefused
from facturier.services.application.subscriptions import SubscriptionForbidden
from facturier.services.http.input_guard import BadInput


def error(status: int, code: str, message: str, field: str | None = None) -> HTTPException:
    """A problem to raise from a route's own check (401, 403, 404...)."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if field:
        detail["field"] = field
    return HTTPException(status_code=status, detail=detail)


def problem(status: int, code: str, message: str, field: str = "", **extra: Any) -> JSONResponse:
    """The same body as `error`, as a response (exception handlers, middleware)."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if field:
        detail["field"] = field
    return JSONResponse(status_code=status, content={"detail": detail | extra})


def bad_input(error: BadInput) -> JSONResponse:
    return problem(error.status, error.code, error.message, error.field)


# Reform reason codes of request fields, by the field's last name (else INVALID).
_FIELD_CODES = {
    "recipient_siret": "SIRET_ERR",
    "id": "SIRET_ERR",  # supplier.id
    "vat_number": "SIRET_ERR",
    "order_reference": "CMD_ERR",
    "service_code": "CODE_ROUTAGE_ERR",
    "quantity": "CALCUL_ERR",
    "unit_price": "CALCUL_ERR",
    "vat_rate": "TX_TVA_ERR",
    "amount": "MONTANTTOTAL_ERR",
}


def field_path(loc: Sequence[int | str]) -> str:
    """pydantic's ("body", "lines", 0, "quantity") as "lines[0].quantity"."""
    path = ""
    for part in loc:
        if part in ("body", "query", "path", "header", "cookie", "form") and not path:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def validation_problem(errors: Iterable[Any], prefix: str = "") -> JSONResponse:
    """422 for a request that does not fit its model: every error with its field, never the
    input it was given (which may not even be representable in JSON)."""
    items = []
    for item in errors:
        where = field_path(tuple(item.get("loc", ())))
        if prefix:
            where = f"{prefix}.{where}" if where != "body" else prefix
        items.append(
            {
                "field": where,
                "message": str(item.get("msg", "invalid")),
                "type": item.get("type", ""),
            }
        )
    if not items:
        items.append({"field": prefix or "body", "message": "invalid", "type": ""})
    first = items[0]
    name = first["field"].rsplit(".", 1)[-1].split("[", 1)[0]
    code = _FIELD_CODES.get(name, "INVALID")
    if name.endswith("_amount"):
        code = "MONTANTTOTAL_ERR"
    if first["type"] == CHARACTERS:  # what XML cannot carry, or invisible in a reference
        code = "IRR_SYNTAX"
    return problem(422, code, first["message"], first["field"], errors=items)


class InvalidPart(ValueError):
    """A part of a request checked by its route, not by FastAPI (the JSON of a form field):
    answered like a body that does not fit its model, its fields under `prefix`."""

    def __init__(self, prefix: str, errors: Sequence[Any]) -> None:
        super().__init__(f"{prefix}: invalid")
        self.prefix = prefix
        self.errors = errors


def refusal(problems: Sequence[Problem]) -> JSONResponse:
    """422 with every problem, the first one's reason code as the code."""
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


def _routing(error: RoutingRefused) -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={
            "detail": {
                "code": error.findings[0].reason_code,
                "message": str(error),
                "errors": [
                    {
                        "invoice": data.number,
                        "code": f.reason_code,
                        "field": f.field,
                        "message": f.message,
                    }
                    for data, findings in error.refusals
                    for f in findings
                ],
            }
        },
    )


def _invalid_command(error: InvalidCommand) -> JSONResponse:
    if isinstance(error, InvalidInvoice):
        return refusal(list(error.problems))
    return problem(422, "INVALID", error.message, error.field)


def _lifecycle(error: LifecycleError) -> JSONResponse:
    code = "CONCURRENT_CHANGE" if isinstance(error, ConcurrentChange) else "ACTION_NOT_ALLOWED"
    return problem(409, code, str(error))


# Each domain or application error a route may let through, and its answer.
ANSWERS: dict[type[Exception], Callable[[Any], Response]] = {
    InvalidCommand: _invalid_command,
    RoutingRefused: _routing,
    DirectoryFileError: lambda e: problem(422, "INVALID", str(e)),
    LifecycleError: _lifecycle,
    ActionForbidden: lambda e: problem(403, "FORBIDDEN", str(e)),
    NotMandated: lambda e: problem(403, "FORBIDDEN", str(e)),
    InvoiceNotFound: lambda e: problem(
        404, "NOT_FOUND", f"no invoice {e.invoice_id} visible to this token"
    ),
    NoSuchDocument: lambda e: problem(
        404, "NOT_FOUND", f"no document {e.sha256} on invoice {e.invoice_id}"
    ),
    DocumentNotStored: lambda e: problem(
        500, "DOCUMENT_MISSING", f"document {e.sha256} is not stored"
    ),
    SubmissionRefused: lambda e: refusal(e.problems),
    DuplicateInvoice: lambda e: problem(409, "DOUBLON", str(e)),
    NotReceived: lambda e: problem(409, "NOT_RECEIVED", str(e)),
    SubscriptionForbidden: lambda e: problem(403, "FORBIDDEN", str(e)),
    StructureForbidden: lambda e: problem(403, "FORBIDDEN", str(e)),
    NotASiret: lambda e: problem(422, "SIRET_ERR", str(e), "siret"),
    InvalidSubscription: lambda e: problem(422, "INVALID", e.message, e.field),
    BadInput: bad_input,
    InvalidPart: lambda e: validation_problem(e.errors, prefix=e.prefix),
}

# A page for a request no route answered, whose URL names nothing (a bad id) or that the
# input guard refused, with a text: None answers the JSON problem (the portal gives its own).
PageFor = Callable[[Request, int, str], Response | None]


def install(app: FastAPI, page_for: PageFor) -> None:
    """Register the mapping on `app`: every router's errors are answered here."""

    def handler(answer: Callable[[Any], Response]) -> Callable[..., Awaitable[Response]]:
        async def handle(_: Request, error: Exception) -> Response:
            return answer(error)

        return handle

    for kind, answer in ANSWERS.items():
        app.add_exception_handler(kind, handler(answer))

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        page = page_for(request, 404, "")
        return page if page is not None else validation_problem(error.errors())

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if isinstance(error.detail, dict):
            return JSONResponse({"detail": error.detail}, error.status_code, error.headers)
        if error.status_code == 404 and (page := page_for(request, 404, "")) is not None:
            return page
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "INVALID")
        body = problem(error.status_code, code, str(error.detail))
        body.headers.update(error.headers or {})
        return body

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
