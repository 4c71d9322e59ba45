"""Every request's texts checked once, before any route reads them.

The path, each query parameter, the correlation header and the whole of a JSON or form body:
a text holding what XML 1.0 forbids (NUL, other control characters, unpaired surrogates,
U+FFFE/U+FFFF), bytes that are not UTF-8, a number JSON does not have (NaN, Infinity, an
overflowing 1e309), or nesting deeper than any of our documents is refused with a 4xx and a
problem body naming where, before a route, a model or the database sees it. Field-level rules
(single-line texts, identifiers in ASCII, invisible characters in references) are the request
models' and the domain's; this guard makes sure nothing else slips through, whatever the route.

Multipart bodies (uploads) are left to their routes, which check their file names and text
fields with the same functions (`services.http.upload_name`, `strict_json`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from facturier.domain.text import text_problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Our deepest document (the directory: structures, services, their EJs) nests 5 levels.
MAX_DEPTH = 20
MAX_CORRELATION_ID = 128


class BadInput(ValueError):
    """A request refused before any route: status, reform-style code, where, why."""

    def __init__(
        self, field: str, message: str, status: int = 422, code: str = "IRR_SYNTAX"
    ) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.code = code
        self.field = field
        self.message = message


def _reject_constant(name: str) -> Any:
    raise BadInput("body", f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadInput("body", f"the number {text[:40]} is too large")
    return value


def strict_json(raw: bytes | str, field: str = "body") -> Any:
    """JSON as RFC 8259 has it (no NaN or Infinity, numbers that fit), every text checked:
    BadInput otherwise."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except BadInput as bad:
        raise BadInput(field, bad.message) from None
    except RecursionError:
        raise BadInput(field, "nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise BadInput(field, f"not valid JSON: {error}"[:300]) from None
    check_texts(value, field)
    return value


def check_texts(value: Any, field: str = "body") -> None:
    """BadInput naming the first string (key or value) of a parsed JSON value that holds a
    forbidden character, or the first place nested too deeply. Line breaks are allowed here:
    which texts must be single-line is the models' business."""
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadInput(where, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            problem = text_problem(item, multiline=True)
            if problem:
                raise BadInput(where, problem)
        elif isinstance(item, dict):
            for key, element in item.items():
                problem = text_problem(key)
                if problem:
                    raise BadInput(where, f"a field name {problem}")
                stack.append((element, f"{where}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((e, f"{where}[{i}]", depth + 1) for i, e in enumerate(item))


def check_pairs(raw: str, field: str, multiline: bool) -> None:
    """An application/x-www-form-urlencoded text (a query string, a form body)."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadInput(field, "not UTF-8") from None
    for name, value in pairs:
        problem = text_problem(name) or text_problem(value, multiline=multiline)
        if problem:
            raise BadInput(f"{field}.{name}" if text_problem(name) is None else field, problem)


class InputGuard:
    """ASGI middleware: see the module docstring. `render(request_path, error)` builds the
    refusal (a JSON problem, or a page for the portal); `max_body` bounds what is read."""

    def __init__(
        self,
        app: ASGIApp,
        render: Callable[[str, BadInput], Callable[[Scope, Receive, Send], Awaitable[None]]],
        max_body: int,
    ) -> None:
        self.app = app
        self.render = render
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_head(scope)
            kind = _body_kind(scope)
            if kind is None:
                await self.app(scope, receive, send)
                return
            body = await self._read(scope, receive)
            if kind == "json":
                if body.strip():
                    strict_json(body)
            else:
                check_pairs(body.decode("latin-1"), "form", multiline=True)
        except BadInput as bad:
            await self.render(scope.get("path", ""), bad)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _check_head(self, scope: Scope) -> None:
        problem = text_problem(scope.get("path", ""))
        if problem:
            raise BadInput("path", problem)
        query: bytes = scope.get("query_string", b"")
        if query:
            check_pairs(query.decode("latin-1"), "query", multiline=False)
        for name, value in scope.get("headers", ()):
            if name == b"x-correlation-id":
                text = value.decode("latin-1")
                if not (text.isascii() and text.isprintable()) or len(text) > MAX_CORRELATION_ID:
                    raise BadInput(
                        "X-Correlation-ID",
                        f"printable ASCII, at most {MAX_CORRELATION_ID} characters",
                        code="INVALID",
                    )

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                raise BadInput("body", f"larger than {self.max_body} bytes", 413, "IRR_TAILLE_F")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BadInput("body", f"larger than {self.max_body} bytes", 413, "IRR_TAILLE_F")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _body_kind(scope: Scope) -> str | None:
    """ "json", "form", or None (no body to check here: uploads, GETs)."""
    if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return None
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media == b"application/json" or media.endswith(b"+json"):
                return "json"
            if media == b"application/x-www-form-urlencoded":
                return "form"
            return None
    return "json"  # FastAPI reads a body without a content type as JSON


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, handed to the app as one message; then the real channel (so a
    client's disconnect is still seen)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
