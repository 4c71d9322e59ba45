"""What every router of the HTTP API answers alike: errors, a command's result, downloads,
uploads' names, and the headers every response carries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, UploadFile
from fastapi.responses import JSONResponse

from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import STATUS_INFO, allowed_actions
from facturier.domain.text import text_problem
from facturier.services.application.fields import CHARACTERS
from facturier.services.http.input_guard import ASGIApp, BadInput, Message, Receive, Scope, Send

MAX_FILENAME = 255


def error(status: int, code: str, message: str, field: str | None = None) -> HTTPException:
    """`{"detail": {"code", "message", "field"?}}`: `code` is a reform reason code when one
    fits, else a short English word (NOT_FOUND, FORBIDDEN...)."""
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


def command_result(invoice: Invoice, correlation_id: str) -> dict[str, Any]:
    """The invoice's state after a command, and what may be done next."""
    info = STATUS_INFO[invoice.status]
    return {
        "invoice_id": str(invoice.id),
        "version": invoice.version,
        "status": invoice.status.value,
        "reform_code": info.reform_code,
        "summary": info.summary.value,
        "correlation_id": correlation_id,
        "allowed_actions": [a.value for a in allowed_actions(invoice.status)],
    }


def attachment(filename: str) -> str:
    """A Content-Disposition header for a download named `filename` (RFC 6266): the name
    itself when it is plain ASCII; else an ASCII fallback for old clients and the exact name,
    UTF-8, in `filename*` (RFC 5987). Never a header that latin-1 cannot encode."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    header = f'attachment; filename="{fallback or "download"}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


def upload_name(file: UploadFile, default: str) -> str:
    """An upload's file name, checked like any text that enters (422 otherwise)."""
    name = file.filename or default
    problem_text = text_problem(name)
    if problem_text is None and len(name) > MAX_FILENAME:
        problem_text = f"longer than {MAX_FILENAME} characters"
    if problem_text:
        raise error(422, "IRR_SYNTAX", f"the file name {problem_text}", "file")
    return name


# Headers of every response. Pages of the portal set their own, stricter policy first.
_ALWAYS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    # Nothing the API serves (JSON, documents, reports) is to run scripts or be framed.
    b"content-security-policy": (
        b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"
    ),
    # Invoice data in a shared cache or a browser's history is a leak.
    b"cache-control": b"no-store",
}
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
# The interactive API docs load Swagger UI's scripts.
_OWN_POLICY = ("/docs", "/redoc", "/docs/oauth2-redirect")


class SecurityHeaders:
    """ASGI middleware adding `_ALWAYS` (where a route did not set the header itself), and
    HSTS on a request that came over TLS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own_policy = scope.get("path", "") in _OWN_POLICY
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in _ALWAYS.items():
                    if name not in present and not (
                        own_policy and name == b"content-security-policy"
                    ):
                        headers.append((name, value))
                if secure:
                    headers.append(_HSTS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
