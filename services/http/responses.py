"""What every router of the HTTP API answers alike: a command's result, downloads, uploads'
names, and the headers every response carries (errors: `errors.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import UploadFile

from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import STATUS_INFO, allowed_actions
from facturier.domain.text import text_problem
from facturier.services.http.errors import error
from facturier.services.http.input_guard import ASGIApp, Message, Receive, Scope, Send

MAX_FILENAME = 255


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
