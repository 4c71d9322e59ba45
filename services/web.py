"""The supplier web portal: server-rendered pages over the services of the JSON API.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

- `GET|POST /portal/login`, `POST /portal/logout`: a session opened with an API token;
- `GET /portal/invoices/new`, `POST /portal/invoices`: the invoice form (portal entry). Without
  JavaScript its buttons post the form back ("add a line", "remove line N", "compute
  totals") and the server re-renders it; with JavaScript (`static/portal.js`) rows are added
  and removed in the browser and the totals follow every keystroke;
- `GET /portal/invoices/{id}`: the invoice's status and timeline, from the tracking view.

Sessions: the browser holds a random session id in an HttpOnly, SameSite=Strict cookie
scoped to /portal (Secure over https); the server keeps its SHA-256 only, with the SHA-256 of
the API token it stands for (a revoked token ends its sessions), a CSRF token that every
state-changing form sends back in a hidden field, and an expiry 8 hours after login. The
login form itself is protected by a double-submit cookie.

Amounts shown by the server are those of `InvoiceIn.to_domain()`, the code the JSON API
submits with; the browser's live totals round half up to the cent the same way.
"""

import copy
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from psycopg_pool import ConnectionPool
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from facturier.domain.invoice import (
    InvalidCommand,
    InvalidInvoice,
    InvoiceData,
    Problem,
    SupplierScheme,
)
from facturier.projections import views
from facturier.projections.payment_delays import paris_date
from facturier.services.auth import ApiRole, Principal, authenticate
from facturier.services.flows import routing_problem
from facturier.services.intake_api import TEMPLATES, InvoiceIn, LineIn, SupplierIn
from facturier.services.invoicing import DuplicateInvoice, InvoiceNotFound, RoutingRefused
from facturier.services.submission import NotMandated, SubmissionRefused, Submissions

SESSION_COOKIE = "facturier_portal"
LOGIN_COOKIE = "facturier_portal_login"
SESSION_HOURS = 8
LOGIN_FORM_SECONDS = 3600
SUBMITTERS = frozenset({ApiRole.SUPPLIER, ApiRole.OPERATOR, ApiRole.ADMIN})
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {"portal.js": "text/javascript", "portal.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# ---------------------------------------------------------------- the form's fields

# Larger invoices come as files (EDI flows); this bounds what one form post may carry.
MAX_LINES = 200
HEADER_FIELDS = (
    "supplier_scheme",
    "supplier_id",
    "supplier_name",
    "supplier_vat_number",
    "supplier_address_line1",
    "supplier_address_line2",
    "supplier_address_postcode",
    "supplier_address_city",
    "supplier_address_country",
    "recipient_siret",
    "service_code",
    "order_reference",
    "number",
    "kind",
    "issue_date",
    "due_date",
    "currency",
    "iban",
    "bic",
    "payment_terms",
    "vat_exemption_reason",
)
LINE_FIELDS = ("name", "quantity", "unit", "unit_price", "vat")
MAX_FORM_FIELDS = len(HEADER_FIELDS) + 8 + MAX_LINES * len(LINE_FIELDS)
MAX_FORM_BYTES = 512 * 1024
LINE_KEY = re.compile(r"lines-(\d{1,4})-(name|quantity|unit|unit_price|vat)")

LABELS = {
    "supplier_scheme": "Identifier scheme",
    "supplier_id": "Supplier identifier",
    "supplier_name": "Supplier name",
    "supplier_vat_number": "VAT number",
    "supplier_address_line1": "Address",
    "supplier_address_line2": "Address, line 2",
    "supplier_address_postcode": "Postcode",
    "supplier_address_city": "City",
    "supplier_address_country": "Country",
    "recipient_siret": "Recipient SIRET",
    "service_code": "Service code",
    "order_reference": "Order reference (EJ)",
    "number": "Invoice number",
    "kind": "Kind",
    "issue_date": "Issue date",
    "due_date": "Due date",
    "currency": "Currency",
    "iban": "IBAN",
    "bic": "BIC",
    "payment_terms": "Payment terms",
    "vat_exemption_reason": "VAT exemption reason",
    "lines": "Lines",
}
LINE_LABELS = {
    "name": "description",
    "quantity": "quantity",
    "unit": "unit",
    "unit_price": "unit price",
    "vat": "VAT",
}
KINDS = (
    ("380", "Invoice (380)"),
    ("381", "Credit note (381)"),
    ("384", "Corrective invoice (384)"),
    ("389", "Self-billed invoice (389)"),
)
SCHEMES = tuple((s.value, s.value) for s in SupplierScheme)
# VAT choices: "category:rate" (UNCL 5305 category, percent).
VATS = (
    ("S:20", "20 %"),
    ("S:10", "10 %"),
    ("S:5.5", "5.5 %"),
    ("S:2.1", "2.1 %"),
    ("Z:0", "0 % zero rated (Z)"),
    ("E:0", "0 % exempt (E)"),
    ("AE:0", "0 % reverse charge (AE)"),
    ("K:0", "0 % intra-EU supply (K)"),
    ("G:0", "0 % export outside the EU (G)"),
)
VAT_VALUES = frozenset(value for value, _ in VATS)
UNITS = (
    ("C62", "unit (C62)"),
    ("H87", "piece (H87)"),
    ("HUR", "hour (HUR)"),
    ("DAY", "day (DAY)"),
    ("MON", "month (MON)"),
    ("KGM", "kilogram (KGM)"),
    ("MTR", "metre (MTR)"),
    ("MTK", "square metre (MTK)"),
    ("LTR", "litre (LTR)"),
    ("LS", "lump sum (LS)"),
)


def blank_line() -> dict[str, str]:
    return {"name": "", "quantity": "", "unit": "C62", "unit_price": "", "vat": "S:20"}


@dataclass
class FormState:
    """What the form holds, as typed (strings), so that it is given back unchanged."""

    fields: dict[str, str]
    lines: list[dict[str, str]]

    @classmethod
    def posted(cls, raw: Mapping[str, str]) -> "FormState":
        fields = {name: raw.get(name, "") for name in HEADER_FIELDS}
        rows: dict[int, dict[str, str]] = {}
        for key, value in raw.items():
            match = LINE_KEY.fullmatch(key)
            if match:
                rows.setdefault(int(match[1]), blank_line())[match[2]] = value
        lines = [rows[i] for i in sorted(rows)][:MAX_LINES]
        return cls(fields, lines or [blank_line()])


def _text(value: str) -> str:
    return value.strip()


def _compact(value: str) -> str:
    return "".join(value.split())


def _number(value: str) -> str:
    """A number as typed in France too: "1 234,50" is 1234.50."""
    return _compact(value).replace(",", ".")


def _put(target: dict[str, Any], key: str, value: str) -> None:
    """Blank fields are left out: the model's default applies, or it says "required"."""
    if value != "":
        target[key] = value


def line_json(row: Mapping[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    _put(item, "name", _text(row.get("name", "")))
    _put(item, "quantity", _number(row.get("quantity", "")))
    _put(item, "unit", _compact(row.get("unit", "")).upper())
    _put(item, "unit_price", _number(row.get("unit_price", "")))
    vat = row.get("vat", "")
    if vat in VAT_VALUES:
        category, _, rate = vat.partition(":")
        item.update(vat_category=category, vat_rate=rate)
    else:
        item["vat_rate"] = vat or "?"  # refused by the model, next to the field
    return item


def invoice_json(state: FormState) -> dict[str, Any]:
    """The form as the JSON body of `POST /invoices` (`InvoiceIn`)."""
    f = state.fields
    address: dict[str, Any] = {}
    for part in ("line1", "line2", "postcode", "city"):
        _put(address, part, _text(f[f"supplier_address_{part}"]))
    _put(address, "country", _text(f["supplier_address_country"]).upper())
    supplier: dict[str, Any] = {"address": address}
    _put(supplier, "scheme", _text(f["supplier_scheme"]))
    _put(supplier, "id", _compact(f["supplier_id"]))
    _put(supplier, "name", _text(f["supplier_name"]))
    _put(supplier, "vat_number", _compact(f["supplier_vat_number"]).upper())
    body: dict[str, Any] = {"supplier": supplier, "lines": [line_json(x) for x in state.lines]}
    _put(body, "recipient_siret", _compact(f["recipient_siret"]))
    for name in ("service_code", "order_reference", "number", "kind", "issue_date", "due_date"):
        _put(body, name, _text(f[name]))
    _put(body, "currency", _text(f["currency"]).upper())
    _put(body, "payment_terms", _text(f["payment_terms"]))
    _put(body, "vat_exemption_reason", _text(f["vat_exemption_reason"]))
    payment: dict[str, Any] = {}
    _put(payment, "iban", _compact(f["iban"]).upper())
    _put(payment, "bic", _compact(f["bic"]).upper())
    if payment:
        body["payment"] = payment
    return body


# ---------------------------------------------------------------- totals


@dataclass(frozen=True)
class Totals:
    """The amounts of the lines that are complete, as `InvoiceIn.to_domain()` computes them."""

    data: InvoiceData | None  # None: no complete line
    nets: dict[int, Decimal]  # form row -> its net amount
    left_out: tuple[int, ...]  # form rows not counted (quantity or price missing or wrong)


def totals_of(state: FormState) -> Totals:
    counted: list[tuple[int, LineIn]] = []
    left_out: list[int] = []
    for index, row in enumerate(state.lines):
        item = line_json(row)
        item.setdefault("name", "-")  # a line without its description yet still counts
        try:
            counted.append((index, LineIn.model_validate(item)))
        except ValidationError:
            left_out.append(index)
    if not counted:
        return Totals(None, {}, tuple(left_out))
    # Only the lines matter to the amounts; the rest of the invoice is filled in for the model.
    data = InvoiceIn(
        supplier=SupplierIn(id="-", name="-"),
        recipient_siret="0" * 14,
        number="-",
        issue_date=date(2000, 1, 1),
        lines=[item for _, item in counted],
    ).to_domain()
    nets = {index: data.lines[k].net_amount for k, (index, _) in enumerate(counted)}
    return Totals(data, nets, tuple(left_out))


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class Finding:
    """One error shown on the form: next to the input `key` (None: in the summary only)."""

    key: str | None
    message: str
    reason_code: str = ""
    rule: str = ""
    location: str = ""


PATTERN_HINTS = {
    "recipient_siret": "A SIRET is 14 digits.",
    "currency": "A 3-letter currency code, e.g. EUR.",
    "country": "A 2-letter country code, e.g. FR.",
}
PROBLEM_FIELDS = frozenset(
    {
        "supplier_id",
        "supplier_name",
        "supplier_vat_number",
        "recipient_siret",
        "service_code",
        "order_reference",
        "number",
        "kind",
        "issue_date",
        "due_date",
        "currency",
        "payment_terms",
        "vat_exemption_reason",
    }
)
LINE_PROBLEM = re.compile(r"lines\[(\d+)\]\.(\w+)")
PAYMENT_PROBLEM = re.compile(r"payment_means\[0\]\.(iban|bic)")


def _line_key(index: int, name: str, lines: int) -> str | None:
    if index >= lines:
        return None
    if name in ("vat_rate", "vat_category"):
        name = "vat"
    return f"lines-{index}-{name}" if name in LINE_FIELDS else f"lines-{index}"


def loc_key(loc: tuple[int | str, ...], lines: int) -> str | None:
    """The input a pydantic error location of `InvoiceIn` is about."""
    match loc:
        case ("supplier", "address", str(part)):
            return f"supplier_address_{part}"
        case ("supplier", str(part)):
            return f"supplier_{part}"
        case ("payment", "iban" | "bic" as part):
            return part
        case ("payment", *_):
            return "iban"
        case ("lines", int(index), str(name), *_):
            return _line_key(index, name, lines)
        case ("lines", int(index)):
            return _line_key(index, "", lines)
        case ("lines",):
            return "lines"
        case (str(name),) if name in LABELS:
            return name
    return None


def problem_key(location: str, lines: int) -> str | None:
    """The input a problem's field is about (None: an XPath, or no such input)."""
    if location in PROBLEM_FIELDS:
        return location
    match = LINE_PROBLEM.fullmatch(location)
    if match:
        return _line_key(int(match[1]), match[2], lines)
    match = PAYMENT_PROBLEM.fullmatch(location)
    return match[1] if match else None


def _message(error: ErrorDetails) -> str:
    kind, loc = error["type"], error["loc"]
    last = str(loc[-1]) if loc else ""
    if loc == ("lines",) and kind == "too_short":
        return "Add at least one line."
    if kind in ("missing", "string_too_short"):
        return "Required."
    if kind in ("decimal_parsing", "decimal_type"):
        return "Enter a number, e.g. 12.50."
    if kind.startswith("date"):
        return "Enter a date (YYYY-MM-DD)."
    if kind == "string_pattern_mismatch" and last in PATTERN_HINTS:
        return PATTERN_HINTS[last]
    return error["msg"]


def validation_findings(error: ValidationError, lines: int) -> list[Finding]:
    found: list[Finding] = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        found.append(Finding(loc_key(item["loc"], lines), _message(item), location=location))
    return found


def problem_findings(problems: Iterable[Problem], lines: int) -> list[Finding]:
    return [
        Finding(
            problem_key(p.field, lines), p.message, p.reason_code.value, p.rule, location=p.field
        )
        for p in problems
    ]


# Values standing in for refused ones, so the rest of the invoice can still be checked by
# the domain (an empty description must not hide an invalid IBAN). Others take the default.
PLACEHOLDERS: dict[tuple[str, ...], str] = {
    ("supplier", "scheme"): "SIRET",
    ("supplier", "id"): "-",
    ("supplier", "name"): "-",
    ("recipient_siret",): "0" * 14,
    ("number",): "-",
    ("kind",): "380",
    ("issue_date",): "2000-01-01",
    ("currency",): "EUR",
    ("lines", "*", "name"): "-",
    ("lines", "*", "quantity"): "0",
    ("lines", "*", "unit"): "C62",
    ("lines", "*", "unit_price"): "0",
    ("lines", "*", "vat_rate"): "20",
    ("lines", "*", "vat_category"): "S",
}


def _patched(body: dict[str, Any], error: ValidationError) -> InvoiceIn | None:
    patched = copy.deepcopy(body)
    for item in error.errors(include_url=False):
        loc = item["loc"]
        if not loc:
            return None
        parent: Any = patched
        try:
            for part in loc[:-1]:
                parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return None
        pattern = tuple("*" if isinstance(part, int) else part for part in loc)
        if pattern in PLACEHOLDERS:
            parent[loc[-1]] = PLACEHOLDERS[pattern]
        elif isinstance(parent, dict):
            parent.pop(loc[-1], None)
        else:
            return None
    try:
        return InvoiceIn.model_validate(patched)
    except ValidationError:
        return None


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    id_sha256: str
    principal: Principal
    csrf: str

    @property
    def submits(self) -> bool:
        return self.principal.role in SUBMITTERS


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


class Sessions:
    def __init__(self, pool: Callable[[], ConnectionPool]) -> None:
        self.pool = pool

    def open(self, token: str) -> tuple[str, Session] | None:
        """A new session for a valid token: (the cookie's value, the session)."""
        with self.pool().connection() as conn:
            principal = authenticate(conn, token)
            if principal is None:
                return None
            session_id = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            conn.execute("DELETE FROM portal_session WHERE expires_at <= now()")
            conn.execute(
                "INSERT INTO portal_session (session_sha256, token_sha256, csrf_token, expires_at)"
                " VALUES (%s, %s, %s, now() + make_interval(hours => %s))",
                (_sha256(session_id), _sha256(token), csrf, SESSION_HOURS),
            )
        return session_id, Session(_sha256(session_id), principal, csrf)

    def find(self, session_id: str) -> Session | None:
        """The session, if it exists, has not expired and its token is not revoked."""
        digest = _sha256(session_id)
        with self.pool().connection() as conn:
            row = conn.execute(
                "SELECT t.role, t.scope, t.label, s.csrf_token FROM portal_session s"
                " JOIN api_token t ON t.token_sha256 = s.token_sha256"
                " WHERE s.session_sha256 = %s AND s.expires_at > now()"
                " AND t.revoked_at IS NULL",
                (digest,),
            ).fetchone()
        if row is None:
            return None
        return Session(digest, Principal(ApiRole(row[0]), str(row[1]), str(row[2])), str(row[3]))

    def close(self, session: Session) -> None:
        with self.pool().connection() as conn:
            conn.execute(
                "DELETE FROM portal_session WHERE session_sha256 = %s", (session.id_sha256,)
            )


async def posted_form(request: Request) -> dict[str, str]:
    """The posted fields (the last value of a repeated name; files are refused)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, "a form post states its length")
    if int(length) > MAX_FORM_BYTES:
        raise HTTPException(413, f"a form post is at most {MAX_FORM_BYTES // 1024} KiB")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


PostedForm = Annotated[dict[str, str], Depends(posted_form)]

# ---------------------------------------------------------------- pages


def _money(value: Decimal | None) -> str:
    if value is None or value == 0:  # no "-0.00"
        return "0.00"
    return f"{value:.2f}"


def _rate(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(money=_money, rate=_rate, when=_when, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _label(key: str) -> str:
    match = re.fullmatch(r"lines-(\d+)(?:-(\w+))?", key)
    if match:
        number = int(match[1]) + 1
        return f"Line {number}, {LINE_LABELS[match[2]]}" if match[2] else f"Line {number}"
    return LABELS.get(key, key)


def _target(key: str) -> str:
    """The input a summary entry links to."""
    return f"{key}-quantity" if re.fullmatch(r"lines-\d+", key) else key


# ---------------------------------------------------------------- routes


def web_routes(
    pool: Callable[[], ConnectionPool], submissions: Callable[[], Submissions]
) -> APIRouter:
    """The portal's routes; `pool` reads the tracking view, `submissions` records invoices."""
    router = APIRouter(prefix="/portal", include_in_schema=False)
    sessions = Sessions(pool)

    def current(request: Request) -> Session | None:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not session_id or len(session_id) > 128:
            return None
        return sessions.find(session_id)

    def to_login() -> RedirectResponse:
        return RedirectResponse("/portal/login", status_code=303)

    def message(status: int, title: str, text: str, session: Session | None = None) -> HTMLResponse:
        return page(
            "portal_message.html",
            status,
            title=title,
            text=text,
            session=session,
        )

    def forbidden(session: Session | None, text: str) -> HTMLResponse:
        return message(403, "Not allowed", text, session)

    def checked(request: Request, form: Mapping[str, str]) -> Session | HTMLResponse:
        """The session of a state-changing post, or the 403 page."""
        session = current(request)
        if session is None:
            return forbidden(None, "Your session has ended: sign in again.")
        if not _same(form.get("csrf", ""), session.csrf):
            return forbidden(session, "This form is out of date: open it again.")
        return session

    def login_page(
        request: Request, status: int = 200, error: str = "", summary: str = ""
    ) -> HTMLResponse:
        nonce = secrets.token_urlsafe(32)
        response = page(
            "portal_login.html", status, csrf=nonce, error=error, summary=summary, session=None
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=LOGIN_FORM_SECONDS,
            path="/portal/login",
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
        return response

    @router.get("")
    def home(request: Request) -> Response:
        return RedirectResponse(
            "/portal/invoices/new" if current(request) else "/portal/login", status_code=303
        )

    @router.get("/login")
    def login_form(request: Request) -> Response:
        return login_page(request)

    @router.post("/login")
    def login(request: Request, form: PostedForm) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not _same(form.get("csrf", ""), nonce):
            return login_page(
                request, 403, summary="The sign-in form had expired: paste your token again."
            )
        token = form.get("token", "").strip()
        if not token:
            return login_page(request, 422, error="Paste your API token.")
        opened = sessions.open(token)
        if opened is None:
            return login_page(request, 401, error="Unknown or revoked token.")
        previous = current(request)
        if previous is not None:
            sessions.close(previous)
        session_id, _ = opened
        response = RedirectResponse("/portal/invoices/new", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=SESSION_HOURS * 3600,
            path="/portal",
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
        response.delete_cookie(LOGIN_COOKIE, path="/portal/login")
        return response

    @router.post("/logout")
    def logout(request: Request, form: PostedForm) -> Response:
        session = checked(request, form)
        if isinstance(session, Response):
            return session
        sessions.close(session)
        response = to_login()
        response.delete_cookie(
            SESSION_COOKIE,
            path="/portal",
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
        return response

    def render_form(
        session: Session,
        state: FormState,
        findings: list[Finding] | None = None,
        status: int = 200,
        title: str = "The invoice was not submitted",
    ) -> HTMLResponse:
        findings = findings or []
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
                        "href": "#" + _target(finding.key),
                        "label": _label(finding.key),
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
        principal = session.principal
        return page(
            "portal_form.html",
            status,
            session=session,
            state=state,
            errors=errors,
            summary=summary,
            summary_title=title,
            totals=totals_of(state),
            kinds=KINDS,
            schemes=SCHEMES,
            vats=VATS,
            units=UNITS,
            blank=blank_line(),
            supplier_locked=principal.role is ApiRole.SUPPLIER,
            mandates=[s for s in principal.suppliers if s != "*"],
            max_lines=MAX_LINES,
        )

    def new_state(principal: Principal) -> FormState:
        fields = dict.fromkeys(HEADER_FIELDS, "")
        fields.update(
            supplier_scheme="SIRET",
            supplier_address_country="FR",
            kind="380",
            currency="EUR",
            issue_date=paris_date(datetime.now(UTC)).isoformat(),
        )
        mandates = [s for s in principal.suppliers if s != "*"]
        if len(mandates) == 1:
            fields["supplier_id"] = mandates[0]
            with pool().connection() as conn:
                latest = views.invoices(conn, supplier_id=mandates[0], limit=1)
            if latest:
                fields["supplier_name"] = str(latest[0]["supplier_name"])
        return FormState(fields, [blank_line()])

    @router.get("/invoices/new")
    def invoice_form(request: Request) -> Response:
        session = current(request)
        if session is None:
            return to_login()
        if not session.submits:
            return forbidden(session, f"A {session.principal.role} account cannot submit invoices.")
        return render_form(session, new_state(session.principal))

    @router.post("/invoices")
    def post_invoice(request: Request, form: PostedForm) -> Response:
        session = checked(request, form)
        if isinstance(session, Response):
            return session
        if not session.submits:
            return forbidden(session, f"A {session.principal.role} account cannot submit invoices.")
        state = FormState.posted(form)
        action = form.get("action", "compute")
        if action == "add-line":
            if len(state.lines) >= MAX_LINES:
                too_many = Finding(
                    "lines", f"At most {MAX_LINES} lines here: send larger invoices as a file."
                )
                return render_form(session, state, [too_many], 422)
            state.lines.append(blank_line())
            return render_form(session, state)
        if action.startswith("remove-") and action[7:].isdigit():
            index = int(action[7:])
            if index < len(state.lines):
                del state.lines[index]
            state.lines = state.lines or [blank_line()]
            return render_form(session, state)
        if action != "submit":  # "compute": the totals, and what is wrong with the lines
            found = _line_findings(state)
            return render_form(session, state, found, title="Lines not counted in the totals")
        return submit(request, session, state)

    def submit(request: Request, session: Session, state: FormState) -> Response:
        principal = session.principal
        lines = len(state.lines)
        body = invoice_json(state)
        try:
            typed = InvoiceIn.model_validate(body)
        except ValidationError as invalid:
            findings = validation_findings(invalid, lines)
            also = also_wrong(body, invalid, findings, lines)
            return render_form(session, state, findings + also, 422)
        correlation_id = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        try:
            invoice = submissions().portal(
                typed.to_domain(),
                principal.actor,
                correlation_id,
                allowed=lambda data: principal.submits_for(data.supplier_id),
            )
        except SubmissionRefused as refused:
            return render_form(session, state, problem_findings(refused.problems, lines), 422)
        except RoutingRefused as refused:
            problems = [routing_problem(f) for _, found in refused.refusals for f in found]
            return render_form(session, state, problem_findings(problems, lines), 422)
        except NotMandated:
            supplier = typed.supplier.id
            text = f"This account does not submit invoices for supplier {supplier}."
            return render_form(session, state, [Finding("supplier_id", text)], 403)
        except DuplicateInvoice as duplicate:
            found = Finding(None, str(duplicate), "DOUBLON", "FR-DOUBLON", "number")
            return render_form(session, state, [found], 409)
        except InvalidInvoice as invalid:
            return render_form(session, state, problem_findings(invalid.problems, lines), 422)
        except InvalidCommand as invalid:
            key = problem_key(invalid.field, lines)
            found = Finding(key, invalid.message, "INVALID", location=invalid.field)
            return render_form(session, state, [found], 422)
        return RedirectResponse(f"/portal/invoices/{invoice.id}", status_code=303)

    def also_wrong(
        body: dict[str, Any], invalid: ValidationError, found: list[Finding], lines: int
    ) -> list[Finding]:
        """What the domain finds wrong besides the fields the model refused, so that every
        error shows at once (checks only: no Schematron, nothing recorded)."""
        typed = _patched(body, invalid)
        if typed is None:
            return []
        data = typed.to_domain()
        problems = data.problems()
        problems += [routing_problem(f) for f in submissions().app.routing_findings(data)]
        refused = {f.key for f in found}
        return [f for f in problem_findings(problems, lines) if f.key not in refused]

    @router.get("/invoices/{invoice_id}")
    def invoice_page(invoice_id: uuid.UUID, request: Request) -> Response:
        session = current(request)
        if session is None:
            return to_login()
        principal = session.principal
        with pool().connection() as conn:
            row = views.invoice(conn, invoice_id)
            timeline = views.timeline(conn, invoice_id) if row else []
        if row is not None and principal.sees(row["supplier_id"], row["recipient_siret"]):
            return page("portal_invoice.html", session=session, invoice=row, timeline=timeline)
        try:
            recorded = submissions().app.get(invoice_id).data
        except InvoiceNotFound:
            recorded = None
        if (
            row is None
            and recorded is not None
            and principal.sees(recorded.supplier_id, recorded.recipient_siret)
        ):
            return page(
                "portal_invoice.html",
                session=session,
                invoice=None,
                number=recorded.number,
                timeline=[],
            )
        return message(404, "No such invoice", "No invoice with this id for this account.", session)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_TYPES:
            return Response(status_code=404)
        return Response(
            (STATIC / name).read_bytes(),
            media_type=STATIC_TYPES[name],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    return router


def _line_findings(state: FormState) -> list[Finding]:
    """Why lines are left out of the totals ("compute totals"): the model's word on each."""
    found: list[Finding] = []
    for index, row in enumerate(state.lines):
        item = line_json(row)
        item.setdefault("name", "-")
        try:
            LineIn.model_validate(item)
        except ValidationError as invalid:
            for error in invalid.errors(include_url=False):
                loc = ("lines", index, *error["loc"])
                found.append(Finding(loc_key(loc, len(state.lines)), _message(error)))
    return found
