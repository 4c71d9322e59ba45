"""The checks an invoice passes before it is recorded, whatever mode it came in by.

The EN 16931 Schematron already checks the sums of an XML invoice (BR-CO-10...16); these
checks make portal entries obey the same rules before any XML exists, and add what the
Schematron leaves out. Each rule has an id (`FR-...`); docs/RULES.md gives each one its
source — the law, the reform's specifications, or the limits of what the platform stores.

Order: texts and ranges first (a value out of range makes the arithmetic meaningless, and
must never reach it), then identifiers, dates, totals, lines, VAT, payment means.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from decimal import Decimal
from typing import Any

from stdnum import iban
from stdnum.eu import vat

from facturier.domain.model import (
    EARLIEST_DATE,
    LATEST_DATE,
    InvoiceData,
    InvoiceLine,
    Problem,
    ReasonCode,
    SupplierScheme,
)
from facturier.domain.money import CENTS, MAX_AMOUNT, MAX_FACTOR, to_cents
from facturier.domain.text import (
    identifier_problem,
    is_ascii_digits,
    is_siret,
    reference_problem,
    text_problem,
)

# Rounding slack allowed between computed and stated amounts, per computation.
TOLERANCE = CENTS
# VAT rates in force in France (standard, intermediate, reduced, special; Corsica; overseas
# departments). A French seller's standard-rated line at another rate is TX_TVA_ERR.
FRENCH_VAT_RATES = frozenset(
    Decimal(r) for r in ("20", "10", "5.5", "2.1", "13", "0.9", "8.5", "1.75", "1.05")
)
# ISO 4217 codes that name no currency: precious metals, bond-market and accounting units,
# the testing code and "no currency involved". No amount can be owed in them.
NOT_CURRENCIES = frozenset(
    {"XAG", "XAU", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XTS", "XXX"}
)
# Factur-X MINIMUM carries no prepaid amount (BT-113): its payable amount cannot be checked.
MINIMUM_PROFILE = "urn:factur-x.eu:1p0:minimum"
# UNCL 4461 code 58, SEPA credit transfer: the account (BT-84) must be an IBAN.
SEPA_CREDIT_TRANSFER = "58"

# How each text field of the model is judged (the rest are free texts).
_REFERENCES = frozenset(
    {"number", "order_reference", "contract_reference", "service_code", "line_id", "remittance"}
)
_IDENTIFIERS = frozenset(
    {
        "supplier_id",
        "recipient_siret",
        "supplier_vat_number",
        "currency",
        "kind",
        "unit",
        "vat_category",
        "category",
        "code",
        "iban",
        "bic",
        "country",
        "sha256",
        "media_type",
        "guideline_id",
    }
)
_SIRET_FIELDS = frozenset({"supplier_id", "recipient_siret", "supplier_vat_number"})


def invoice_problems(data: InvoiceData) -> list[Problem]:
    """Everything wrong with the invoice, in the order of the module's docstring."""
    found = _text_problems(data) + _range_problems(data)
    if found:
        return found
    found = _identifier_problems(data) + _date_problems(data) + _total_problems(data)
    return found + _line_problems(data) + _vat_problems(data) + _payment_problems(data)


def _problem(field: str, message: str, code: str, rule: str) -> Problem:
    return Problem(field, message, ReasonCode(code), rule)


def _texts(value: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(path, field name, text) of every string in a model value, nested ones included."""
    for f in fields(value):
        item = getattr(value, f.name)
        where = f"{path}{f.name}"
        if isinstance(item, str):
            yield where, f.name, item
        elif is_dataclass(item):
            yield from _texts(item, f"{where}.")
        elif isinstance(item, tuple):
            for index, element in enumerate(item):
                if is_dataclass(element):
                    yield from _texts(element, f"{where}[{index}].")


def _text_problems(data: InvoiceData) -> list[Problem]:
    found = []
    for where, name, text in _texts(data):
        if name in _IDENTIFIERS:
            problem = identifier_problem(text) or text_problem(text)
            code = "SIRET_ERR" if name in _SIRET_FIELDS else "REJ_SEMAN"
        elif name in _REFERENCES:
            problem, code = reference_problem(text), "IRR_SYNTAX"
        else:  # names, addresses, notes read from a file may break lines
            problem, code = text_problem(text, multiline=True), "IRR_SYNTAX"
        if problem:
            found.append(_problem(where, problem, code, "FR-TEXT"))
    return found


def _amounts(data: InvoiceData) -> Iterator[tuple[str, Decimal | None, Decimal]]:
    """(path, amount, bound) of every amount and factor of the invoice."""
    for name in (
        "net_amount",
        "vat_amount",
        "gross_amount",
        "payable_amount",
        "line_total",
        "allowance_total",
        "charge_total",
        "prepaid_amount",
        "rounding_amount",
    ):
        yield name, getattr(data, name), MAX_AMOUNT
    for index, item in enumerate(data.lines):
        where = f"lines[{index}]"
        for name in ("net_amount", "allowances", "charges"):
            yield f"{where}.{name}", getattr(item, name), MAX_AMOUNT
        for name in ("quantity", "unit_price", "base_quantity", "vat_rate"):
            yield f"{where}.{name}", getattr(item, name), MAX_FACTOR
    for index, row in enumerate(data.vat_breakdown):
        for name in ("taxable_amount", "tax_amount"):
            yield f"vat_breakdown[{index}].{name}", getattr(row, name), MAX_AMOUNT
        yield f"vat_breakdown[{index}].rate", row.rate, MAX_FACTOR
    for index, charge in enumerate(data.allowances_charges):
        yield f"allowances_charges[{index}].amount", charge.amount, MAX_AMOUNT
        yield f"allowances_charges[{index}].vat_rate", charge.vat_rate, MAX_FACTOR


def _range_problems(data: InvoiceData) -> list[Problem]:
    found = []
    for where, amount, bound in _amounts(data):
        if amount is None:
            continue
        if not amount.is_finite():
            found.append(_problem(where, "not a number", "MONTANTTOTAL_ERR", "FR-AMOUNT-RANGE"))
        elif abs(amount) > bound:
            found.append(
                _problem(
                    where,
                    f"{amount} is beyond what an invoice may hold (at most {bound} in absolute"
                    " value)",
                    "MONTANTTOTAL_ERR",
                    "FR-AMOUNT-RANGE",
                )
            )
    rates = [(f"lines[{i}].vat_rate", x.vat_rate) for i, x in enumerate(data.lines)]
    rates += [(f"vat_breakdown[{i}].rate", r.rate) for i, r in enumerate(data.vat_breakdown)]
    for where, rate in rates:
        if rate is not None and rate.is_finite() and not 0 <= rate <= 100:
            found.append(_problem(where, "a VAT rate is 0 to 100 %", "TX_TVA_ERR", "FR-VAT-RANGE"))
    return found


def _identifier_problems(data: InvoiceData) -> list[Problem]:
    found: list[Problem] = []

    def bad(name: str, message: str, code: str, rule: str) -> None:
        found.append(_problem(name, message, code, rule))

    if not data.supplier_id.strip():
        bad("supplier_id", "missing", "SIRET_ERR", "FR-ID-SUPPLIER")
    elif data.supplier_scheme is SupplierScheme.SIRET and not is_siret(data.supplier_id):
        bad("supplier_id", "not a valid SIRET", "SIRET_ERR", "FR-ID-SUPPLIER")
    elif data.supplier_scheme is SupplierScheme.VAT and not vat.is_valid(data.supplier_id):
        bad("supplier_id", "not a valid EU VAT number", "SIRET_ERR", "FR-ID-SUPPLIER")
    if data.supplier_vat_number and not vat.is_valid(data.supplier_vat_number):
        bad("supplier_vat_number", "not a valid EU VAT number", "SIRET_ERR", "FR-ID-VAT")
    if not data.recipient_siret.strip():
        bad(
            "recipient_siret",
            "no recipient: the SIRET of a public buyer is required",
            "DEST_INC",
            "FR-ID-RECIPIENT",
        )
    elif not is_siret(data.recipient_siret):
        bad("recipient_siret", "not a valid SIRET", "SIRET_ERR", "FR-ID-RECIPIENT")
    if not data.number.strip() or len(data.number) > 20:
        bad("number", "1 to 20 characters required", "REJ_SEMAN", "FR-NUMBER")
    if not is_ascii_digits(data.kind) or len(data.kind) > 3:
        bad("kind", "an UNTDID 1001 document type code", "REJ_SEMAN", "FR-KIND")
    currency = data.currency
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        bad("currency", "ISO 4217 code expected", "REJ_SEMAN", "FR-CURRENCY")
    elif not currency.isupper():
        bad("currency", "ISO 4217 code expected, in capitals", "REJ_SEMAN", "FR-CURRENCY")
    elif currency in NOT_CURRENCIES:
        bad("currency", f"{currency} names no currency to pay in", "REJ_SEMAN", "FR-CURRENCY")
    if len(data.order_reference) > 50:
        bad("order_reference", "at most 50 characters", "CMD_ERR", "FR-EJ-LENGTH")
    return found


def _date_problems(data: InvoiceData) -> list[Problem]:
    return [
        _problem(
            name,
            f"{value.isoformat()} is not a plausible date"
            f" ({EARLIEST_DATE.year} to {LATEST_DATE.year})",
            "REJ_SEMAN",
            "FR-DATE-RANGE",
        )
        for name, value in (("issue_date", data.issue_date), ("due_date", data.due_date))
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE
    ]


def _total_problems(data: InvoiceData) -> list[Problem]:
    found: list[Problem] = []
    amounts = ("net_amount", "vat_amount", "gross_amount", "payable_amount")
    for name in (*amounts, "allowance_total", "charge_total", "prepaid_amount"):
        amount: Decimal = getattr(data, name)
        if amount != to_cents(amount):
            found.append(_problem(name, "at most 2 decimals", "CALCUL_ERR", "FR-CALC-DECIMALS"))
    if found:
        return found
    if data.net_amount + data.vat_amount != data.gross_amount:
        found.append(
            _problem(
                "gross_amount",
                f"net {data.net_amount} + VAT {data.vat_amount} != gross {data.gross_amount}",
                "MONTANTTOTAL_ERR",
                "FR-CALC-GROSS",
            )
        )
    expected_payable = data.gross_amount - data.prepaid_amount + data.rounding_amount
    if data.payable_amount != expected_payable and data.guideline_id != MINIMUM_PROFILE:
        found.append(
            _problem(
                "payable_amount",
                f"gross {data.gross_amount} - prepaid {data.prepaid_amount} + rounding "
                f"{data.rounding_amount} = {expected_payable}, not {data.payable_amount}",
                "MONTANTTOTAL_ERR",
                "FR-CALC-PAYABLE",
            )
        )
    if data.line_total is not None:
        expected_net = data.line_total - data.allowance_total + data.charge_total
        if data.net_amount != expected_net:
            found.append(
                _problem(
                    "net_amount",
                    f"lines {data.line_total} - allowances {data.allowance_total} + "
                    f"charges {data.charge_total} = {expected_net}, not {data.net_amount}",
                    "MONTANTTOTAL_ERR",
                    "FR-CALC-NET",
                )
            )
    return found + _sign_problems(data)


def _sign_problems(data: InvoiceData) -> list[Problem]:
    """An amount owed back is a credit note's: an invoice's total is positive, and no
    invoice asks for a negative payment or for nothing at all."""
    found: list[Problem] = []
    if data.gross_amount == 0:
        found.append(
            _problem(
                "gross_amount",
                "an invoice of zero: nothing is owed, there is nothing to send",
                "MONTANTTOTAL_ERR",
                "FR-ZERO-AMOUNT",
            )
        )
    elif data.gross_amount < 0 and not data.is_credit_note:
        found.append(
            _problem(
                "gross_amount",
                f"the total {data.gross_amount} is negative: an amount owed back is a credit"
                " note (type 381), not an invoice",
                "MONTANTTOTAL_ERR",
                "FR-NEGATIVE-TOTAL",
            )
        )
    if data.payable_amount < 0 and data.guideline_id != MINIMUM_PROFILE:
        found.append(
            _problem(
                "payable_amount",
                f"the amount due {data.payable_amount} is negative: the prepaid amount"
                f" {data.prepaid_amount} exceeds the total {data.gross_amount}",
                "MONTANTTOTAL_ERR",
                "FR-PAYABLE-NEGATIVE",
            )
        )
    return found


def line_net(item: InvoiceLine) -> Decimal:
    """BT-131 as EN 16931 defines it: quantity x net price / base quantity - allowances +
    charges, rounded to cents."""
    return to_cents(
        item.quantity * item.unit_price / item.base_quantity - item.allowances + item.charges
    )


def _line_problems(data: InvoiceData) -> list[Problem]:
    found: list[Problem] = []
    for index, item in enumerate(data.lines):
        where = f"lines[{index}]"
        if item.base_quantity <= 0:
            found.append(
                _problem(f"{where}.base_quantity", "must be positive", "CALCUL_ERR", "FR-CALC-LINE")
            )
            continue
        expected = line_net(item)
        if abs(item.net_amount - expected) > TOLERANCE:
            found.append(
                _problem(
                    f"{where}.net_amount",
                    f"line {item.line_id}: {item.quantity} x {item.unit_price} "
                    f"= {expected}, not {item.net_amount}",
                    "CALCUL_ERR",
                    "FR-CALC-LINE",
                )
            )
        if (
            data.is_french_seller
            and item.vat_category == "S"
            and item.vat_rate is not None
            and item.vat_rate not in FRENCH_VAT_RATES
        ):
            found.append(
                _problem(
                    f"{where}.vat_rate",
                    f"line {item.line_id}: {item.vat_rate} % is not a French VAT rate",
                    "TX_TVA_ERR",
                    "FR-VAT-RATE",
                )
            )
    if data.lines and data.line_total is not None:
        total = sum((item.net_amount for item in data.lines), Decimal(0))
        if total != data.line_total:
            found.append(
                _problem(
                    "line_total",
                    f"sum of line amounts {total} != line total {data.line_total}",
                    "MONTANTTOTAL_ERR",
                    "FR-CALC-LINES",
                )
            )
    return found


def _vat_problems(data: InvoiceData) -> list[Problem]:
    found: list[Problem] = []
    for index, row in enumerate(data.vat_breakdown):
        if row.rate is None:
            continue
        expected = to_cents(row.taxable_amount * row.rate / 100)
        if abs(row.tax_amount - expected) > TOLERANCE:
            found.append(
                _problem(
                    f"vat_breakdown[{index}].tax_amount",
                    f"{row.rate} % of {row.taxable_amount} = {expected}, not {row.tax_amount}",
                    "TX_TVA_ERR",
                    "FR-CALC-VAT",
                )
            )
    if data.vat_breakdown:
        total = sum((row.tax_amount for row in data.vat_breakdown), Decimal(0))
        if total != data.vat_amount:
            found.append(
                _problem(
                    "vat_amount",
                    f"sum of the VAT breakdown {total} != VAT total {data.vat_amount}",
                    "MONTANTTOTAL_ERR",
                    "FR-CALC-VAT-TOTAL",
                )
            )
    return found


def _payment_problems(data: InvoiceData) -> list[Problem]:
    """An account that is, or must be, an IBAN but fails its checks. Other accounts
    (a national account number, a bankgiro...) are legitimate under other payment means."""
    return [
        _problem(
            f"payment_means[{index}].iban",
            "not a valid IBAN (country, length, check digits)",
            "REJ_SEMAN",
            "FR-IBAN",
        )
        for index, means in enumerate(data.payment_means)
        if means.iban
        and (means.code == SEPA_CREDIT_TRANSFER or _looks_like_iban(means.iban))
        and not iban.is_valid(means.iban)
    ]


def _looks_like_iban(account: str) -> bool:
    compact = iban.compact(account)
    return len(compact) > 4 and compact[:2].isalpha() and compact[2:4].isdigit()
