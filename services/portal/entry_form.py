"""The invoice form's data (portal entry): the fields as typed, the JSON body they make for
`POST /invoices` (`InvoiceIn`), the totals of the complete lines, and the errors placed next
to the inputs they are about. No I/O: the routes are in `entry.py`.

Amounts shown by the server are those of `InvoiceIn.to_domain()`, the code the JSON API
submits with; the browser's live totals (`static/portal.js`) round half up to the cent the
same way.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from facturier.domain.model import InvoiceData, InvoiceKind, Problem, SupplierScheme
from facturier.services.application.invoice_input import InvoiceIn, LineIn, SupplierIn

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
# The kinds a supplier types in the form (a prepayment invoice, 386, is sent as a file).
KINDS = tuple(
    k.value
    for k in (
        InvoiceKind.INVOICE,
        InvoiceKind.CREDIT_NOTE,
        InvoiceKind.CORRECTIVE,
        InvoiceKind.SELF_BILLED,
    )
)
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
    def posted(cls, raw: Mapping[str, str]) -> FormState:
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


def patched(body: dict[str, Any], error: ValidationError) -> InvoiceIn | None:
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


def line_findings(state: FormState, t: Callable[..., str]) -> list[Finding]:
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


def label(key: str, t: Callable[..., str]) -> str:
    """The words of an input an error is about, for the summary above the form."""
    match = re.fullmatch(r"lines-(\d+)(?:-(\w+))?", key)
    if match:
        line = t("form.line_n", n=int(match[1]) + 1)
        return f"{line}, {t('form.line.' + match[2])}" if match[2] else line
    return t(f"form.{key}")


def target(key: str) -> str:
    """The input a summary entry links to."""
    return f"{key}-quantity" if re.fullmatch(r"lines-\d+", key) else key
