"""The web portal: server-rendered pages over the services of the JSON API.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

- `GET|POST /portal/login`, `POST /portal/logout`: a session opened with an API token;
- `GET /portal`: the invoices the account sees (a supplier's own, an operator's mandates', a
  buyer structure's queue, all for auditors and admins) with their status in plain words,
  filters, search by number and keyset pagination (`views.portal_query`);
- `GET /portal/invoices/new`, `POST /portal/invoices`: the invoice form (portal entry). Without
  JavaScript its buttons post the form back ("add a line", "remove line N", "compute
  totals", "search" a buyer, choose one of the results) and the server re-renders it; with
  JavaScript (`static/portal.js`) rows are added and removed in the browser, the totals
  follow every keystroke and the buyer search is a typeahead;
- `GET /portal/directory/search?q=`: that search as JSON (the directory's read side,
  `services/application/directory.py`), for the signed-in;
- `GET /portal/invoices/{id}`: the invoice's status, timeline, documents, payment delay,
  reception acknowledgment, flow report, and a form per lifecycle action the account may
  perform now (`POST /portal/invoices/{id}/actions/{action}`, generated from the transition
  table and the action's API model: POST/redirect/GET, errors shown in place);
- `GET /portal/invoices/{id}/documents/{sha256}`, `.../receipt`, `/portal/flows/{id}/report`:
  the downloads and the flow's processing report, with the session instead of a bearer token;
- `GET /portal/language/{code}`: the language switch (cookie; else `Accept-Language`).

Every string of the pages comes from `services/portal/i18n.py` (French and English), amounts, dates
and times from `services/portal/formats.py`. Elements showing an invoice's current status carry
`data-live-status` / `data-live-code` (the invoice id), the parts rendered from it (an
invoice's status, forms and timeline; a list's row) `data-live-region` and the URL they are
read from: the hooks of the live updates (`static/live.js`), which the pages do without.

Sessions: the browser holds a random session id in an HttpOnly, SameSite=Strict cookie
scoped to /portal (Secure over https); the server keeps its SHA-256 only, with the SHA-256 of
the API token it stands for (a revoked or expired token ends its sessions), a CSRF token that
every state-changing form sends back in a hidden field, and an expiry 8 hours after login.
The login form itself is protected by a double-submit cookie; its failures are throttled
with the API's (`TokenGuard`).

Amounts shown by the server are those of `InvoiceIn.to_domain()`, the code the JSON API
submits with; the browser's live totals round half up to the cent the same way.
"""

import copy
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import annotated_types
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from psycopg_pool import ConnectionPool
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, to_jsonable_python

from facturier.adapters.documents import DocumentMissing
from facturier.domain.flow import FlowStatus
from facturier.domain.invoice import (
    PLATFORM_ACTOR,
    InvalidCommand,
    InvalidInvoice,
    Invoice,
    InvoiceData,
    Problem,
    ReasonCode,
    SubmissionMode,
    SupplierScheme,
)
from facturier.domain.lifecycle import (
    STATUS_INFO,
    TRANSITION_BY_ACTION,
    Action,
    LifecycleError,
    Role,
    Status,
    Summary,
)
from facturier.projections.notifications.projection import (
    DEFAULT_STATUSES,
    STATUS_OF_WORD,
    WORDS,
    InvalidSubscription,
    Subscription,
)
from facturier.projections.payment_delays.projection import fetch_state, paris_date
from facturier.projections.tracking import queries as views
from facturier.services.application import directory
from facturier.services.application.actions import (
    ActionForbidden,
    NoBody,
    arguments,
    available,
    body_of,
    may_perform,
    perform,
)
from facturier.services.application.authentication import Locked, Refusal, TokenGuard
from facturier.services.application.flow_reports import NoSuchDocument, flow_report, flow_visible
from facturier.services.application.flows import FlowIntake, routing_problem
from facturier.services.application.invoice_input import InvoiceIn, LineIn, SupplierIn
from facturier.services.application.invoicing import (
    DuplicateInvoice,
    InvoiceNotFound,
    RoutingRefused,
)
from facturier.services.application.principals import ApiRole, Principal, principal_of
from facturier.services.application.receipts import NotReceived
from facturier.services.application.receipts import receipt as receipt_of
from facturier.services.application.submissions import NotMandated, SubmissionRefused, Submissions
from facturier.services.application.subscriptions import Subscriptions
from facturier.services.http.dependencies import client_address
from facturier.services.http.submissions import TEMPLATES, document_download
from facturier.services.portal import i18n
from facturier.services.portal.formats import Formats

SESSION_COOKIE = "facturier_portal"
LOGIN_COOKIE = "facturier_portal_login"
SESSION_HOURS = 8
LOGIN_FORM_SECONDS = 3600
SUBMITTERS = frozenset({ApiRole.SUPPLIER, ApiRole.OPERATOR, ApiRole.ADMIN})
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {
    "portal.js": "text/javascript",
    "portal.css": "text/css",
    "live.js": "text/javascript",  # status pushes (services/http/live.py)
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self';"  # live.js's EventSource on /portal/live
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

# Inputs an error can be placed next to (their labels are in the catalogue: "form.<name>").
FIELD_KEYS = frozenset((*HEADER_FIELDS, "lines"))
KINDS = ("380", "381", "384", "389")
SCHEMES = tuple(s.value for s in SupplierScheme)
# VAT choices: "category:rate" (UNCL 5305 category, percent).
VATS = ("S:20", "S:10", "S:5.5", "S:2.1", "Z:0", "E:0", "AE:0", "K:0", "G:0")
VAT_VALUES = frozenset(VATS)
UNITS = ("C62", "H87", "HUR", "DAY", "MON", "KGM", "MTR", "MTK", "LTR", "LS")


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


PATTERN_HINTS = frozenset({"recipient_siret", "currency", "country"})  # "form.hint.<name>"
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
        case (str(name),) if name in FIELD_KEYS:
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


def _message(error: ErrorDetails, t: Callable[..., str]) -> str:
    kind, loc = error["type"], error["loc"]
    last = str(loc[-1]) if loc else ""
    if loc == ("lines",) and kind == "too_short":
        return t("form.error.one_line")
    if kind in ("missing", "string_too_short"):
        return t("error.required")
    if kind in ("decimal_parsing", "decimal_type"):
        return t("form.error.number")
    if kind.startswith("date"):
        return t("error.date")
    if kind == "string_pattern_mismatch" and last in PATTERN_HINTS:
        return t(f"form.hint.{last}")
    return error["msg"]


def validation_findings(error: ValidationError, lines: int, t: Callable[..., str]) -> list[Finding]:
    found: list[Finding] = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        found.append(Finding(loc_key(item["loc"], lines), _message(item, t), location=location))
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

    def open(self, token: str, principal: Principal) -> tuple[str, Session]:
        """A new session for a token found valid: (the cookie's value, the session)."""
        with self.pool().connection() as conn:
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
        """The session, if it exists, has not expired and its token is neither revoked nor
        expired."""
        digest = _sha256(session_id)
        with self.pool().connection() as conn:
            row = conn.execute(
                "SELECT t.role, t.scope, t.label, s.csrf_token FROM portal_session s"
                " JOIN api_token t ON t.token_sha256 = s.token_sha256"
                " WHERE s.session_sha256 = %s AND s.expires_at > now()"
                " AND t.revoked_at IS NULL AND t.expires_at > now()",
                (digest,),
            ).fetchone()
        if row is None:
            return None
        principal = principal_of(row[0], row[1], row[2])
        return None if principal is None else Session(digest, principal, str(row[3]))

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


def page(
    template: str,
    status: int = 200,
    *,
    lang: str = i18n.DEFAULT,
    here: str = "/portal",
    **context: Any,
) -> HTMLResponse:
    formats = Formats(lang)
    t = i18n.translator(lang)
    session = context.get("session")
    # Whose portal it is, as the account sees it (neutral before signing in).
    brand = t(f"portal.name.{session.principal.role}") if session else t("portal.name")
    html = TEMPLATES.get_template(template).render(
        money=formats.money,  # money(value, currency): "1 200,00 €" / "€1,200.00"
        amount=formats.number,  # the number alone, where the currency is shown apart
        rate=formats.rate,
        day=formats.day,
        when=formats.when,  # <time> in Paris time, the UTC instant as its title
        t=t,
        brand=brand,
        lang=lang,
        languages=i18n.LANGUAGES,
        here=here,
        **context,
    )
    headers = {**SECURITY_HEADERS, "Content-Language": lang, "Vary": "Cookie, Accept-Language"}
    return HTMLResponse(html, status_code=status, headers=headers)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _label(key: str, t: Callable[..., str]) -> str:
    match = re.fullmatch(r"lines-(\d+)(?:-(\w+))?", key)
    if match:
        line = t("form.line_n", n=int(match[1]) + 1)
        return f"{line}, {t('form.line.' + match[2])}" if match[2] else line
    return t(f"form.{key}")


def _target(key: str) -> str:
    """The input a summary entry links to."""
    return f"{key}-quantity" if re.fullmatch(r"lines-\d+", key) else key


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _local(target: str, fallback: str) -> str:
    """`target` if it is a page of the portal (never another site: no open redirect)."""
    if target.startswith("/portal") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != name] + [(name, value)]
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


# ---------------------------------------------------------------- the list

PAGE_SIZE = 25
CATEGORIES = tuple(s.value for s in Summary)
CURSOR = re.compile(r"(?P<at>[0-9T:.+\- ]{19,40})~(?P<id>[0-9a-f-]{36})")


def _cursor(text: str) -> tuple[datetime, uuid.UUID] | None:
    """A page's position, `<submitted_at ISO>~<invoice id>`; None: the first page."""
    match = CURSOR.fullmatch(text)
    if match is None:
        return None
    try:
        at = datetime.fromisoformat(match["at"].replace(" ", "+"))
        return (at, uuid.UUID(match["id"])) if at.tzinfo else None
    except ValueError:
        return None


def _scope(principal: Principal) -> dict[str, Any]:
    """What a principal's list holds (`Principal.invoices`): its invoices (supplier,
    operator's mandates), those addressed to its structure (buyer), or all (auditor, admin)."""
    scope = principal.invoices
    filters: dict[str, Any] = {}
    if scope.suppliers is not None:
        filters["suppliers"] = list(scope.suppliers)
    if scope.recipient is not None:
        filters["recipient_siret"] = scope.recipient
    return filters


# ---------------------------------------------------------------- action forms

# Attachments a supplier may add when completing an invoice (Chorus: 10 MB each).
ATTACHMENT_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".csv": "text/csv",
}
ATTACHMENT_FIELD = "attachment"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text, textarea, select, date, decimal, file
    required: bool
    value: str = ""
    maxlength: int | None = None
    choices: tuple[str, ...] = ()
    accept: str = ""


@dataclass(frozen=True)
class ActionForm:
    action: str
    fields: tuple[FieldSpec, ...]
    multipart: bool
    primary: bool


def _max_length(info: FieldInfo) -> int | None:
    for item in info.metadata:
        if isinstance(item, annotated_types.MaxLen):
            return int(item.max_length)
    return None


def field_specs(action: Action, values: Mapping[str, str]) -> tuple[FieldSpec, ...]:
    """The inputs of an action's form, read from the model its API route takes."""
    specs: list[FieldSpec] = []
    for name, info in body_of(action).model_fields.items():
        required = info.is_required()
        default = "" if required or info.default is None else str(info.default)
        maxlength = _max_length(info)
        kind = "text"
        choices: tuple[str, ...] = ()
        if name == "reason_code":
            kind, choices = "select", tuple(code.value for code in ReasonCode)
            # No choice is made for the user, whatever the API's default: the form opens
            # on an empty placeholder and a post must name one (`select_errors`).
            default, required = "", True
        elif info.annotation is date:
            kind = "date"
        elif info.annotation is Decimal:
            kind = "decimal"
        elif maxlength is not None and maxlength >= 1000:
            kind = "textarea"
        specs.append(FieldSpec(name, kind, required, values.get(name, default), maxlength, choices))
    specs.sort(key=lambda spec: spec.kind != "select")  # the reason first, then its details
    if action is Action.COMPLETE:  # the domain takes documents; the JSON route has none
        accept = ",".join(ATTACHMENT_TYPES)
        specs.append(FieldSpec(ATTACHMENT_FIELD, "file", False, accept=accept))
    return tuple(specs)


def select_errors(action: Action, form: Mapping[str, str], t: Callable[..., str]) -> dict[str, str]:
    """Every select of an action's form needs an explicit choice among its options."""
    return {
        spec.name: t(f"error.choose.{spec.name}")
        for spec in field_specs(action, {})
        if spec.kind == "select" and form.get(spec.name, "").strip() not in spec.choices
    }


def action_forms(
    actions: Iterable[Action], prefill: Mapping[str, str], posted: Mapping[str, str], failed: str
) -> list[ActionForm]:
    forms: list[ActionForm] = []
    for action in actions:
        values = posted if action.value == failed else prefill
        fields = field_specs(action, values)
        forms.append(
            ActionForm(
                action.value,
                fields,
                multipart=any(f.kind == "file" for f in fields),
                primary=TRANSITION_BY_ACTION[action].target not in (Status.REJETEE,),
            )
        )
    return forms


def _validation_text(error: ErrorDetails, t: Callable[..., str]) -> str:
    kind = error["type"]
    if kind in ("missing", "string_too_short"):
        return t("error.required")
    if kind in ("decimal_parsing", "decimal_type", "greater_than", "decimal_max_places"):
        return t("error.amount")
    if kind.startswith("date"):
        return t("error.date")
    if kind == "string_pattern_mismatch":
        return t("error.siret")
    if kind == "string_too_long":
        return t("error.too_long")
    return error["msg"]


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes


@dataclass(frozen=True)
class ActionPost:
    fields: dict[str, str]
    upload: Upload | None


# ---------------------------------------------------------------- the timeline in words


@dataclass(frozen=True)
class Party:
    """Who reads the page, and the names the timeline's actors are shown by."""

    principal: Principal
    supplier_id: str
    supplier_name: str
    buyers: Mapping[str, str]  # SIRET -> the directory's name


def _buyers_of(
    invoice: Invoice, submitted_to: str, timeline: Iterable[Mapping[str, Any]]
) -> set[str]:
    """Every structure the timeline may name: recipients, and the buyers who acted."""
    sirets = {invoice.data.recipient_siret, submitted_to}
    for row in timeline:
        details = row.get("details") or {}
        if isinstance(details, dict) and details.get("recipient_siret"):
            sirets.add(str(details["recipient_siret"]))
        kind, _, who = str(row.get("actor", "")).partition(":")
        if kind == "buyer":
            sirets.add(who)
    return {s for s in sirets if s}


def actor_words(actor: str, party: Party, t: Callable[..., str]) -> str:
    """Who did a step, as the reader says it: "you", the buyer's name, "the platform"."""
    if actor == party.principal.actor:
        return t("actor.you")
    if actor == PLATFORM_ACTOR:
        return t("actor.platform")
    kind, _, who = actor.partition(":")
    if kind == ApiRole.SUPPLIER:
        return party.supplier_name if who == party.supplier_id else who
    if kind == ApiRole.BUYER:
        return party.buyers.get(who) or t("actor.buyer", siret=who)
    if kind == ApiRole.OPERATOR:
        return t("actor.operator")
    if kind == ApiRole.ADMIN:
        return t("actor.admin", label=who)
    if kind == ApiRole.AUDITOR:
        return t("actor.auditor", label=who)
    return actor


def timeline_steps(
    rows: Iterable[Mapping[str, Any]], submitted_to: str, party: Party, t: Callable[..., str]
) -> list[dict[str, Any]]:
    """The timeline's rows in the reader's words; the codes (event, Chorus status, reform
    code) and the raw actor are kept as details."""
    recipient = submitted_to
    steps: list[dict[str, Any]] = []
    for row in rows:
        event = str(row["event_type"])
        details = row.get("details") or {}
        if event == "Rerouted" and isinstance(details, dict) and details.get("recipient_siret"):
            recipient = str(details["recipient_siret"])
        buyer = party.buyers.get(recipient) or t("actor.buyer", siret=recipient)
        key = f"event.{event}"
        what = t(key, buyer=buyer) if key in i18n.MESSAGES else event
        comment = details.get("comment", "") if isinstance(details, dict) else ""
        reason_code = str(row.get("reason_code") or "")
        reason_key = f"reason.{reason_code}"
        steps.append(
            {
                "version": int(row["version"]),
                "occurred_at": row["occurred_at"],
                "what": what,
                "summary": row["summary"],
                "by": actor_words(str(row["actor"]), party, t),
                "actor": row["actor"],
                "codes": f"{event} · {row['status']} · {row['reform_code']}",
                "reason_code": reason_code,
                "reason_label": t(reason_key) if reason_key in i18n.MESSAGES else "",
                "reason": row.get("reason") or "",
                "comment": comment or "",
            }
        )
    return steps


# ---------------------------------------------------------------- the buyer search

MAX_BUYER_QUERY = 100


@dataclass(frozen=True)
class BuyerSearch:
    """The buyer search of the invoice form: what was typed, what the directory found (shown
    when `searched`), or the choice just made (`picked`, a sentence)."""

    query: str = ""
    results: list[directory.BuyerMatch] = field(default_factory=list)
    searched: bool = False
    picked: str = ""


# ---------------------------------------------------------------- routes


def web_routes(
    pool: Callable[[], ConnectionPool],
    submissions: Callable[[], Submissions],
    subscriptions: Subscriptions,
    guard: TokenGuard,
    flows: Callable[[], FlowIntake] | None = None,
) -> APIRouter:
    """The portal's routes; `pool` reads the tracking view, `submissions` records invoices
    (and holds the invoicing application and the document store), `flows` reads flows,
    `subscriptions` holds the suppliers' e-mail notification settings, `guard` checks the
    token pasted at sign-in (throttling failures like the API's bearer tokens)."""
    router = APIRouter(prefix="/portal", include_in_schema=False)
    sessions = Sessions(pool)

    def current(request: Request) -> Session | None:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not session_id or len(session_id) > 128:
            return None
        return sessions.find(session_id)

    def language(request: Request) -> str:
        return i18n.negotiate(
            request.cookies.get(i18n.COOKIE), request.headers.get("accept-language", "")
        )

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = context.get("session")
        if isinstance(session, Session) and session.principal.role is ApiRole.BUYER:
            # A buyer signs in for a structure: the page names it.
            siret = session.principal.scope
            with pool().connection() as conn:
                context.setdefault("structure_name", directory.names(conn, [siret]).get(siret))
        return page(template, status, lang=language(request), here=_here(request), **context)

    def to_login() -> RedirectResponse:
        return RedirectResponse("/portal/login", status_code=303)

    def message(
        request: Request, status: int, title: str, text: str, session: Session | None = None
    ) -> HTMLResponse:
        return render(
            request, "portal_message.html", status, title=title, text=text, session=session
        )

    def forbidden(request: Request, session: Session | None, text: str) -> HTMLResponse:
        t = i18n.translator(language(request))
        return message(request, 403, t("message.forbidden"), text, session)

    def not_found(request: Request, session: Session | None) -> HTMLResponse:
        t = i18n.translator(language(request))
        return message(request, 404, t("message.not_found"), t("message.not_found_text"), session)

    def checked(request: Request, form: Mapping[str, str]) -> Session | HTMLResponse:
        """The session of a state-changing post, or the 403 page."""
        t = i18n.translator(language(request))
        session = current(request)
        if session is None:
            return forbidden(request, None, t("message.session_ended"))
        if not _same(form.get("csrf", ""), session.csrf):
            return forbidden(request, session, t("message.form_expired"))
        return session

    def login_page(
        request: Request, status: int = 200, error: str = "", summary: str = ""
    ) -> HTMLResponse:
        nonce = secrets.token_urlsafe(32)
        response = render(
            request,
            "portal_login.html",
            status,
            csrf=nonce,
            error=error,
            summary=summary,
            session=None,
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

    @router.get("/language/{code}")
    def choose_language(code: str, request: Request, next: str = "/portal") -> Response:
        """The language switch of every page: remembered in a cookie, then back to the page."""
        response = RedirectResponse(_local(next, "/portal"), status_code=303)
        if code in i18n.CODES:
            response.set_cookie(
                i18n.COOKIE,
                code,
                max_age=365 * 24 * 3600,
                path="/portal",
                httponly=True,
                samesite="lax",
                secure=_secure(request),
            )
        return response

    @router.get("/login")
    def login_form(request: Request) -> Response:
        return login_page(request)

    @router.post("/login")
    def login(request: Request, form: PostedForm) -> Response:
        t = i18n.translator(language(request))
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not _same(form.get("csrf", ""), nonce):
            return login_page(request, 403, summary=t("login.expired"))
        token = form.get("token", "").strip()
        if not token:
            return login_page(request, 422, error=t("login.missing"))
        found = guard.check(token, client_address(request), "portal")
        if isinstance(found, Locked):
            seconds = found.retry_after_s
            locked = login_page(request, 429, summary=t("login.throttled", seconds=seconds))
            locked.headers["Retry-After"] = str(seconds)
            return locked
        if isinstance(found, Refusal):
            refused = (
                t("login.revoked")
                if found is Refusal.REVOKED
                else t("login.token_expired")
                if found is Refusal.EXPIRED
                else t("login.unknown")
            )
            return login_page(request, 401, error=refused)
        previous = current(request)
        if previous is not None:
            sessions.close(previous)
        session_id, _ = sessions.open(token, found)
        response = RedirectResponse("/portal", status_code=303)
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

    # ------------------------------------------------------------ the list

    @router.get("")
    def dashboard(
        request: Request,
        q: str = "",
        category: str = "",
        recipient: str = "",
        issued_from: str = "",
        issued_to: str = "",
        after: str = "",
        done: str = "",
    ) -> Response:
        """The invoices the account sees, newest first: a supplier's own, an operator's
        mandates', a buyer structure's queue, everything for auditors and admins."""
        session = current(request)
        if session is None:
            return to_login()
        t = i18n.translator(language(request))
        principal = session.principal
        buyer = principal.role is ApiRole.BUYER
        errors: dict[str, str] = {}
        filters: dict[str, Any] = _scope(principal)
        q = q.strip()[:20]
        if q:
            filters["number_prefix"] = q
        if category in CATEGORIES:
            filters["summary"] = category
        recipient = "".join(recipient.split())
        if recipient and not buyer:
            if re.fullmatch(r"\d{14}", recipient):
                filters["recipient_siret"] = recipient
            else:
                errors["recipient"] = t("error.siret")
        for name, text in (("issued_from", issued_from), ("issued_to", issued_to)):
            if text:
                try:
                    filters[name] = date.fromisoformat(text)
                except ValueError:
                    errors[name] = t("error.date")
        cursor = _cursor(after)
        with pool().connection() as conn:
            rows = views.portal_invoices(conn, limit=PAGE_SIZE + 1, after=cursor, **filters)
            more = len(rows) > PAGE_SIZE
            rows = rows[:PAGE_SIZE]
            buyers = directory.names(conn, (r["recipient_siret"] for r in rows))
            services = directory.service_names(
                conn, ((r["recipient_siret"], r["service_code"]) for r in rows)
            )
        for row in rows:
            row["recipient_name"] = buyers.get(row["recipient_siret"], "")
            row["service_name"] = services.get((row["recipient_siret"], row["service_code"]), "")
            row["quick"] = (
                [
                    a.value
                    for a in available(principal, Status(row["status"]))
                    if body_of(a) is NoBody
                ]
                if buyer
                else []
            )
        here = _here(request)
        first_page = _with_param(here, "after", "")
        next_page = ""
        if more:
            last = rows[-1]
            position = f"{last['submitted_at'].isoformat()}~{last['invoice_id']}"
            next_page = _with_param(here, "after", position)
        role = principal.role
        heading = t("list.heading_buyer" if buyer else "list.heading")
        if role in (ApiRole.AUDITOR, ApiRole.ADMIN):
            heading = t("list.heading_all")
        return render(
            request,
            "portal_dashboard.html",
            422 if errors else 200,
            session=session,
            heading=heading,
            rows=rows,
            errors=errors,
            filters={
                "q": q,
                "category": category if category in CATEGORIES else "",
                "recipient": recipient,
                "issued_from": issued_from,
                "issued_to": issued_to,
            },
            categories=CATEGORIES,
            show_recipient_filter=not buyer,
            show_recipient=not buyer,  # a buyer's queue is all its own: its services instead
            show_supplier=role is not ApiRole.SUPPLIER,
            quick_actions=buyer,
            cursor=cursor,
            first_page=first_page,
            next_page=next_page,
            done=t("invoice.done", action=t(f"action.{done}")) if done in ACTION_NAMES else "",
        )

    # ------------------------------------------------------------ the invoice form

    def render_form(
        request: Request,
        session: Session,
        state: FormState,
        findings: list[Finding] | None = None,
        status: int = 200,
        title: str = "",
        search: BuyerSearch | None = None,
    ) -> HTMLResponse:
        t = i18n.translator(language(request))
        title = title or t("form.not_submitted")
        search = search or BuyerSearch()
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
                        "label": _label(finding.key, t),
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
        return render(
            request,
            "portal_form.html",
            status,
            session=session,
            state=state,
            errors=errors,
            summary=summary,
            summary_title=title,
            totals=totals_of(state),
            kinds=[(k, t(f"kind.{k}")) for k in KINDS],
            schemes=[(code, code) for code in SCHEMES],
            vats=[(v, t(f"form.vat.{v}")) for v in VATS],
            units=[(u, t(f"form.unit.{u}")) for u in UNITS],
            blank=blank_line(),
            supplier_locked=principal.role is ApiRole.SUPPLIER,
            mandates=[s for s in principal.suppliers if s != "*"],
            max_lines=MAX_LINES,
            search=search,
        )

    def find_buyers(text: str) -> BuyerSearch:
        """The directory's answer to the buyer search of the form (no JavaScript needed)."""
        text = text.strip()[:MAX_BUYER_QUERY]
        if not text:
            return BuyerSearch()
        with pool().connection() as conn:
            return BuyerSearch(text, directory.search(conn, text), searched=True)

    def picked_buyer(state: FormState, choice: str, t: Callable[..., str]) -> BuyerSearch:
        """A result chosen: its SIRET and service code go into the form's fields."""
        siret, _, code = choice.partition(":")
        siret = siret.strip()[:14]
        code = code.strip()[:100]
        state.fields["recipient_siret"] = siret
        state.fields["service_code"] = code
        with pool().connection() as conn:
            name = directory.names(conn, [siret]).get(siret, "")
        service = t("form.buyer_picked_service", code=code) if code else ""
        return BuyerSearch(picked=t("form.buyer_picked", name=name, siret=siret, service=service))

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
                latest = views.invoices(conn, suppliers=[mandates[0]], limit=1)
            if latest:
                fields["supplier_name"] = str(latest[0]["supplier_name"])
        return FormState(fields, [blank_line()])

    def cannot_submit(request: Request, session: Session) -> HTMLResponse:
        t = i18n.translator(language(request))
        role = t(f"role.{session.principal.role}")
        return forbidden(request, session, t("message.cannot_submit", role=role))

    @router.get("/invoices/new")
    def invoice_form(request: Request, buyer_q: str = "") -> Response:
        session = current(request)
        if session is None:
            return to_login()
        if not session.submits:
            return cannot_submit(request, session)
        search = find_buyers(buyer_q)
        return render_form(request, session, new_state(session.principal), search=search)

    @router.get("/directory/search")
    def buyer_search(request: Request, q: str = "") -> Response:
        """The buyer search as JSON, for the form's typeahead (`static/portal.js`)."""
        session = current(request)
        if session is None:
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        found = find_buyers(q)
        return JSONResponse(
            {"query": found.query, "results": [asdict(m) for m in found.results]},
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    @router.post("/invoices")
    def post_invoice(request: Request, form: PostedForm) -> Response:
        session = checked(request, form)
        if isinstance(session, Response):
            return session
        if not session.submits:
            return cannot_submit(request, session)
        state = FormState.posted(form)
        action = form.get("action", "compute")
        if action.startswith("pick-buyer:"):
            t = i18n.translator(language(request))
            picked = picked_buyer(state, action.removeprefix("pick-buyer:"), t)
            return render_form(request, session, state, search=picked)
        # A search typed and not yet chosen from goes on showing its results (Enter in the
        # search field presses the form's first button: "compute").
        search = find_buyers(form.get("buyer_q", "")) if action != "submit" else None
        if action == "search-buyer":
            return render_form(request, session, state, search=search)
        if action == "add-line":
            if len(state.lines) >= MAX_LINES:
                t = i18n.translator(language(request))
                too_many = Finding("lines", t("form.error.too_many", n=MAX_LINES))
                return render_form(request, session, state, [too_many], 422, search=search)
            state.lines.append(blank_line())
            return render_form(request, session, state, search=search)
        if action.startswith("remove-") and action[7:].isdigit():
            index = int(action[7:])
            if index < len(state.lines):
                del state.lines[index]
            state.lines = state.lines or [blank_line()]
            return render_form(request, session, state, search=search)
        if action != "submit":  # "compute": the totals, and what is wrong with the lines
            t = i18n.translator(language(request))
            found = _line_findings(state, t)
            title = t("form.not_counted")
            return render_form(request, session, state, found, title=title, search=search)
        return submit(request, session, state)

    def submit(request: Request, session: Session, state: FormState) -> Response:
        principal = session.principal
        lines = len(state.lines)
        body = invoice_json(state)
        try:
            typed = InvoiceIn.model_validate(body)
        except ValidationError as invalid:
            findings = validation_findings(invalid, lines, i18n.translator(language(request)))
            also = also_wrong(body, invalid, findings, lines)
            return render_form(request, session, state, findings + also, 422)
        correlation_id = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        try:
            invoice = submissions().portal(
                typed.to_domain(),
                principal.actor,
                correlation_id,
                allowed=lambda data: principal.submits_for(data.supplier_id),
            )
        except SubmissionRefused as refused:
            found = problem_findings(refused.problems, lines)
            return render_form(request, session, state, found, 422)
        except RoutingRefused as refused:
            problems = [routing_problem(f) for _, found in refused.refusals for f in found]
            return render_form(request, session, state, problem_findings(problems, lines), 422)
        except NotMandated:
            supplier = typed.supplier.id
            t = i18n.translator(language(request))
            text = t("form.error.not_mandated", supplier=supplier)
            return render_form(request, session, state, [Finding("supplier_id", text)], 403)
        except DuplicateInvoice as duplicate:
            found_dup = Finding(None, str(duplicate), "DOUBLON", "FR-DOUBLON", "number")
            return render_form(request, session, state, [found_dup], 409)
        except InvalidInvoice as invalid:
            found = problem_findings(invalid.problems, lines)
            return render_form(request, session, state, found, 422)
        except InvalidCommand as invalid:
            key = problem_key(invalid.field, lines)
            found_one = Finding(key, invalid.message, "INVALID", location=invalid.field)
            return render_form(request, session, state, [found_one], 422)
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

    # ------------------------------------------------------------ one invoice

    def visible(session: Session, invoice_id: uuid.UUID) -> Invoice | None:
        """The invoice from the event store, if the session's account may see it."""
        try:
            invoice = submissions().app.get(invoice_id)
        except InvoiceNotFound:
            return None
        data = invoice.data
        return invoice if session.principal.sees(data.supplier_id, data.recipient_siret) else None

    def flow_of(invoice: Invoice, first: Invoice.Event, principal: Principal) -> str:
        """The flow an EDI invoice came in (its correlation id), if the account sees it."""
        if flows is None or invoice.mode != SubmissionMode.EDI:
            return ""
        try:
            flow_id = uuid.UUID(str(getattr(first, "correlation_id", "")))
            flow = flows().get(flow_id)
        except (ValueError, LookupError):
            return ""
        return str(flow_id) if flow_visible(flow, principal) else ""

    def show_invoice(
        request: Request,
        session: Session,
        invoice: Invoice,
        status: int = 200,
        problem: dict[str, Any] | None = None,
        posted: Mapping[str, str] | None = None,
        done: str = "",
    ) -> HTMLResponse:
        principal = session.principal
        lang = language(request)
        t = i18n.translator(lang)
        first = submissions().app.history(invoice.id)[0]
        # The recipient the invoice was first addressed to: a re-routing changes it later.
        submitted_to = str(getattr(getattr(first, "data", None), "recipient_siret", ""))
        with pool().connection() as conn:
            row = views.invoice(conn, invoice.id)
            timeline = views.timeline(conn, invoice.id) if row else []
            delays = fetch_state(conn, invoice.id)
            buyers = directory.names(conn, _buyers_of(invoice, submitted_to, timeline))
            service = directory.service_names(
                conn, [(invoice.data.recipient_siret, invoice.data.service_code)]
            )
        today = paris_date(datetime.now(UTC))
        if row is None:  # recorded, not projected yet
            return render(
                request,
                "portal_invoice.html",
                status,
                session=session,
                invoice=None,
                number=invoice.data.number,
                done="",
                problem=None,
            )
        try:
            acknowledgment: dict[str, Any] | None = receipt_of(submissions().app, invoice)
        except NotReceived:
            acknowledgment = None
        # The status shown and the forms offered both come from the event store: it is what
        # an action is checked against, so the page offers exactly what would be accepted
        # now and shows an action's result at once. The tracking view may lag behind it by
        # the projection's delay: only the timeline is read there (live.js completes it).
        info = STATUS_INFO[invoice.status]
        prefill = {
            "amount": Formats(lang).typed(invoice.data.payable_amount),
            "payment_date": today.isoformat(),
        }
        forms = action_forms(
            available(principal, invoice.status),
            prefill,
            posted or {},
            problem["action"] if problem else "",
        )
        steps = timeline_steps(
            timeline,
            submitted_to,
            Party(principal, invoice.data.supplier_id, invoice.data.supplier_name, buyers),
            t,
        )
        return render(
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
            address=invoice.data,
            recipient_name=buyers.get(invoice.data.recipient_siret, ""),
            service_name=next(iter(service.values()), ""),
            timeline=steps,
            # The timeline's version, the part of the page that may lag: live.js reads the
            # page again for any push newer than that.
            live_version=steps[-1]["version"] if steps else 0,
            documents=invoice.documents,
            payment=delays.view(today) if delays else None,
            receipt=acknowledgment,
            flow_id=flow_of(invoice, first, principal),
            actions=forms,
            problem=problem,
            done=done if done in ACTION_NAMES else "",
        )

    @router.get("/invoices/{invoice_id}")
    def invoice_page(invoice_id: uuid.UUID, request: Request, done: str = "") -> Response:
        session = current(request)
        if session is None:
            return to_login()
        invoice = visible(session, invoice_id)
        if invoice is None:
            return not_found(request, session)
        return show_invoice(request, session, invoice, done=done)

    @router.get("/invoices/{invoice_id}/documents/{sha256}")
    def document(invoice_id: uuid.UUID, sha256: str, request: Request) -> Response:
        session = current(request)
        if session is None:
            return to_login()
        invoice = visible(session, invoice_id)
        if invoice is None:
            return not_found(request, session)
        try:
            response = document_download(invoice, sha256, submissions().documents)
        except DocumentMissing:
            raise HTTPException(500, "document referenced but not stored") from None
        except NoSuchDocument:
            return not_found(request, session)
        response.headers.update({"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
        return response

    @router.get("/invoices/{invoice_id}/receipt")
    def receipt(invoice_id: uuid.UUID, request: Request) -> Response:
        """The reception acknowledgment, as the JSON API gives it, to download."""
        session = current(request)
        if session is None:
            return to_login()
        invoice = visible(session, invoice_id)
        if invoice is None:
            return not_found(request, session)
        try:
            content = receipt_of(submissions().app, invoice)
        except NotReceived:
            t = i18n.translator(language(request))
            return message(request, 409, t("receipt.none"), t("receipt.none_text"), session)
        filename = f"receipt-{invoice.id}.json"
        return JSONResponse(
            to_jsonable_python(content),  # as the JSON API encodes it
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.get("/flows/{flow_id}/report")
    def flow_page(flow_id: uuid.UUID, request: Request) -> Response:
        """The processing report of a flow (`GET /flows/{id}/report`'s, with the session)."""
        session = current(request)
        if session is None:
            return to_login()
        try:
            flow = flows().get(flow_id) if flows is not None else None
        except LookupError:
            flow = None
        if flow is None or not flow_visible(flow, session.principal):
            return not_found(request, session)
        report = flow_report(flow)
        final = FlowStatus(report["status"]).is_final
        return render(request, "portal_flow.html", session=session, report=report, final=final)

    # ------------------------------------------------------------ lifecycle actions

    async def action_post(request: Request) -> ActionPost:
        """An action's form: urlencoded, or multipart with at most one attachment (completing
        a suspended invoice), bounded before it is read."""
        limit = submissions().limits.max_pdf_bytes
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            raise HTTPException(411, "a form post states its length")
        if int(length) > limit + MAX_FORM_BYTES:
            raise HTTPException(413, f"an attachment is at most {limit // 1_000_000} MB")
        form = await request.form(max_files=1, max_fields=20)
        fields: dict[str, str] = {}
        upload: Upload | None = None
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            elif key == ATTACHMENT_FIELD and value.filename:
                upload = Upload(Path(value.filename).name, await value.read(limit + 1))
        await form.close()
        return ActionPost(fields, upload)

    @router.post("/invoices/{invoice_id}/actions/{name}")
    def act(
        invoice_id: uuid.UUID,
        name: str,
        request: Request,
        posted: Annotated[ActionPost, Depends(action_post)],
    ) -> Response:
        """One lifecycle action through its form; POST/redirect/GET on success, the invoice
        page with the errors in place otherwise."""
        form = posted.fields
        session = checked(request, form)
        if isinstance(session, Response):
            return session
        t = i18n.translator(language(request))
        invoice = visible(session, invoice_id)
        if invoice is None or name not in ACTION_NAMES:
            return not_found(request, session)
        action = Action(name)
        principal = session.principal
        if not may_perform(principal, action) or TRANSITION_BY_ACTION[action].by is Role.PLATFORM:
            return forbidden(request, session, t("message.not_yours", action=t(f"action.{name}")))

        def refused(status: int, fields: dict[str, str], text: str = "") -> HTMLResponse:
            items = [
                {"href": f"#{name}-{key}", "text": f"{t('field.' + key)}: {message}"}
                for key, message in fields.items()
            ]
            if text:
                items.append({"href": "", "text": text})
            problem = {"action": name, "fields": fields, "items": items}
            return show_invoice(request, session, invoice, status, problem, form)

        model = body_of(action)
        raw: dict[str, str] = {}
        for name_, info in model.model_fields.items():
            value = form.get(name_, "").strip()
            if info.annotation is Decimal:
                value = "".join(value.split()).replace(",", ".")
            if value:
                raw[name_] = value
        errors = select_errors(action, form, t)
        try:
            params = arguments(model.model_validate(raw))
        except ValidationError as invalid:
            for e in invalid.errors(include_url=False):
                if e["loc"]:
                    errors.setdefault(str(e["loc"][0]), _validation_text(e, t))
            if not errors:
                return refused(422, {}, str(invalid))
        if errors:
            return refused(422, errors)
        if posted.upload is not None:
            upload = posted.upload
            media_type = ATTACHMENT_TYPES.get(Path(upload.filename).suffix.lower())
            limit = submissions().limits.max_pdf_bytes
            if media_type is None:
                return refused(422, {ATTACHMENT_FIELD: t("error.attachment_type")})
            if not upload.content:
                return refused(422, {ATTACHMENT_FIELD: t("error.attachment_empty")})
            if len(upload.content) > limit:
                text = t("error.attachment_size", mb=limit // 1_000_000)
                return refused(413, {ATTACHMENT_FIELD: text})
            # Stored before the event that references it (content-addressed: a retry is free).
            stored = submissions().documents.put(
                upload.content, upload.filename, media_type, role="attachment"
            )
            params["documents"] = (stored,)
        correlation_id = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        try:
            perform(submissions().app, invoice_id, action, params, principal, correlation_id)
        except ActionForbidden:
            return forbidden(request, session, t("message.not_yours", action=t(f"action.{name}")))
        except LifecycleError:
            current_status = submissions().app.get(invoice_id).status
            text = t("error.not_allowed", status=t(f"status.{current_status}"))
            return refused(409, {}, text)
        except RoutingRefused as routing:
            errors = {}
            for finding in routing.findings:
                key = finding.field if finding.field in model.model_fields else "recipient_siret"
                errors[key] = f"[{finding.reason_code}] {finding.message}"
            return refused(422, errors)
        except InvalidCommand as invalid:
            if invalid.field in model.model_fields:
                return refused(422, {invalid.field: invalid.message})
            return refused(422, {}, invalid.message)
        back = _local(form.get("back", ""), f"/portal/invoices/{invoice_id}")
        return RedirectResponse(_with_param(back, "done", name), status_code=303)

    # ------------------------------------------------------------ e-mail notifications

    def notifications_page(
        request: Request,
        session: Session,
        status: int = 200,
        posted: Mapping[str, Any] | None = None,
        invalid: InvalidSubscription | None = None,
        done: str = "",
    ) -> HTMLResponse:
        found = subscriptions.get(session.principal.scope)
        values = posted or {
            "email": found.email if found else "",
            "statuses": found.statuses if found else DEFAULT_STATUSES,
            "language": found.language if found else language(request),
        }
        return render(
            request,
            "portal_notifications.html",
            status,
            session=session,
            subscribed=found,
            words=[(word, STATUS_OF_WORD[word].value) for word in WORDS],
            invalid=invalid,
            done=done,
            **values,
        )

    def subscriber(request: Request, form: Mapping[str, str] | None = None) -> Session | Response:
        """The session of a supplier (who manages its own e-mails), its CSRF token checked
        for a post; else the page that refuses it."""
        if form is None:
            session: Session | Response | None = current(request)
            if session is None:
                return to_login()
        else:
            session = checked(request, form)
        if isinstance(session, Response):
            return session
        if session.principal.role is not ApiRole.SUPPLIER:
            t = i18n.translator(language(request))
            return forbidden(request, session, t("notify.suppliers_only"))
        return session

    @router.get("/notifications")
    def notifications(request: Request, done: str = "") -> Response:
        session = subscriber(request)
        if isinstance(session, Response):
            return session
        return notifications_page(request, session, done=done if done in NOTIFY_DONE else "")

    @router.post("/notifications")
    def save_notifications(request: Request, form: PostedForm) -> Response:
        session = subscriber(request, form)
        if isinstance(session, Response):
            return session
        email, language_code = form.get("email", "").strip(), form.get("language", "")
        # One checkbox per status word: posted forms keep one value per name.
        statuses = tuple(word for word in WORDS if form.get(f"status-{word}"))
        posted = {"email": email, "statuses": statuses, "language": language_code}
        try:
            if not statuses:  # the API allows none; on this page, that is what removing is for
                raise InvalidSubscription("statuses", "no status chosen")
            subscription = Subscription.checked(
                session.principal.scope, email, statuses, language_code
            )
        except InvalidSubscription as invalid:
            return notifications_page(request, session, 422, posted=posted, invalid=invalid)
        subscriptions.save(subscription, session.principal.actor)
        return RedirectResponse("/portal/notifications?done=saved", status_code=303)

    @router.post("/notifications/delete")
    def delete_notifications(request: Request, form: PostedForm) -> Response:
        session = subscriber(request, form)
        if isinstance(session, Response):
            return session
        subscriptions.delete(session.principal.scope)
        return RedirectResponse("/portal/notifications?done=removed", status_code=303)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_TYPES or not (STATIC / name).is_file():
            return Response(status_code=404)
        return Response(
            (STATIC / name).read_bytes(),
            media_type=STATIC_TYPES[name],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    return router


ACTION_NAMES = frozenset(a.value for a in Action)
NOTIFY_DONE = frozenset({"saved", "removed"})


def _line_findings(state: FormState, t: Callable[..., str]) -> list[Finding]:
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
                found.append(Finding(loc_key(loc, len(state.lines)), _message(error, t)))
    return found
