"""The one mapping between EN 16931 business terms and the domain's `InvoiceData`.

Both directions go through the term dict of the `factur-x` library (keys "BT-1", "BG-4",
"BG-25"...), never through XPath or hand-written XML:

* `from_terms(terms)` reads what `facturx.parse_ubl_cii_xml` returns for a UBL, CII or
  Factur-X invoice (`intake.pipeline.Validated.terms`) into an `InvoiceData`;
* `to_terms(data)` is its inverse, in the input format of `facturx.generate_xml`, and
  `to_cii(data)` / `to_ubl(data)` turn a portal entry into a real EN 16931 CII / UBL
  document with it.

What the term dict cannot say, and how it is resolved:

* Repeated terms come as a string for one occurrence and a list for several, with no
  grouping: the payment means of a CII file are read back by position (BT-81 / BT-84 / BT-86 /
  BT-83 zipped, a single value applying to every account), and exact duplicates are merged
  (the official CII examples repeat the same account twice).
* Document allowances (BG-20) and charges (BG-21) are two lists: `allowances_charges` lists
  the allowances first, then the charges, whatever their order in the document.
* A line's allowances and charges (BG-27 / BG-28) are summed: the domain keeps their totals.
* Sub-total lines of the French extended profile (EXT-FR-FE-163 = GROUP, or INFORMATION) are
  not billed lines: their amount repeats their detail lines, and BT-106 excludes them. They
  are skipped.

Round trip: for a portal entry (SIRET or VAT seller with an address, SIRET buyer, lines, VAT
breakdown, at most one payment means), `from_terms(parse_ubl_cii_xml(to_cii(d)))` equals `d`
except for `documents` (not part of the XML), `guideline_id` (generate_xml always writes
urn:cen.eu:en16931:2017) and the normalisations listed in `to_terms`.
"""
# Long: both directions of the one mapping stay side by side, so that a change to a term
# on one side shows its counterpart on the other.

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import facturx  # type: ignore[import-untyped]
from stdnum.eu import vat
from stdnum.fr import siret

from facturier.domain.model import (
    Address,
    AllowanceCharge,
    Document,
    InvoiceData,
    InvoiceLine,
    PaymentMeans,
    SupplierScheme,
    VatBreakdown,
)

# ISO 6523 ICD codes of the French SIRENE registry: 0009 is the SIRET, 0002 the SIREN (older
# Factur-X files also put a 14-digit SIRET under 0002: ICD 0002 is the whole SIRENE registry).
SIRET_SCHEME = "0009"
SIRENE_SCHEME = "0002"
# The French routing scheme: "<SIRET or SIREN>[_<suffix>]".
ROUTING_SCHEME = "0225"
# VAT number prefixes of the EU member states (Greece writes EL, Northern Ireland XI).
EU_VAT_PREFIXES = frozenset(code.upper() for code in vat.MEMBER_STATES) | {"EL"}
# Line status codes (EXT-FR-FE-163) of lines that are not billed: sub-totals, information.
UNBILLED_LINE_STATUSES = frozenset({"GROUP", "INFORMATION"})
# Reasons written for a line's summed allowances and charges (BR-42 / BR-44 want one).
LINE_ALLOWANCE_REASON = "Remise"
LINE_CHARGE_REASON = "Frais"
ONE = Decimal(1)
ZERO = Decimal(0)


# --- reading ---------------------------------------------------------------------------------


def from_terms(terms: Mapping[str, Any], documents: tuple[Document, ...] = ()) -> InvoiceData:
    """The invoice that a term dict of `facturx.parse_ubl_cii_xml` describes.

    Amounts are Decimals (never floats); an absent amount is 0, except BT-106 (line total)
    and BT-9 (due date), which stay None. Identifiers are chosen as `_supplier` and
    `_recipient_siret` say. Raises ValueError when a numeric term is not a number."""
    seller = _party(terms.get("BG-4"))
    buyer = _party(terms.get("BG-7"))
    scheme, supplier_id = _supplier(seller)
    return InvoiceData(
        supplier_scheme=scheme,
        supplier_id=supplier_id,
        supplier_name=_text(seller.get("name")),
        recipient_siret=_recipient_siret(buyer),
        service_code=_text(terms.get("BT-10")),
        order_reference=_text(terms.get("BT-13")),
        number=_text(terms.get("BT-1")),
        kind=_text(terms.get("BT-3")),
        issue_date=_date(terms, "BT-2"),
        due_date=_optional_date(terms.get("BT-9")),
        currency=_text(terms.get("BT-5")),
        net_amount=_amount(terms, "BT-109"),
        vat_amount=_amount(terms, "BT-110"),
        gross_amount=_amount(terms, "BT-112"),
        payable_amount=_amount(terms, "BT-115"),
        documents=documents,
        supplier_vat_number=_vat_number(seller),
        supplier_address=Address(
            line1=_text(seller.get("addr_l1")),
            line2=_text(seller.get("addr_l2")),
            city=_text(seller.get("city")),
            postcode=_text(seller.get("postcode")),
            country=_text(seller.get("country_code")),
        ),
        recipient_name=_text(buyer.get("name")),
        contract_reference=_text(terms.get("BT-12")),
        lines=tuple(
            _line(line)
            for line in _dicts(terms.get("BG-25"))
            if _text(line.get("EXT-FR-FE-163")).upper() not in UNBILLED_LINE_STATUSES
        ),
        vat_breakdown=tuple(_vat_row(row) for row in _dicts(terms.get("BG-23"))),
        allowances_charges=(
            *(_allowance_charge(entry, False) for entry in _dicts(terms.get("BG-20"))),
            *(_allowance_charge(entry, True) for entry in _dicts(terms.get("BG-21"))),
        ),
        line_total=_optional_amount(terms, "BT-106"),
        allowance_total=_amount(terms, "BT-107"),
        charge_total=_amount(terms, "BT-108"),
        prepaid_amount=_amount(terms, "BT-113"),
        rounding_amount=_amount(terms, "BT-114"),
        payment_means=_payment_means(terms),
        payment_terms="\n".join(_texts(terms.get("BT-20"))),
        guideline_id=_text(terms.get("BT-24")),
    )


def _supplier(seller: Mapping[str, Any]) -> tuple[SupplierScheme, str]:
    """The seller's scheme and identifier (BG-4).

    1. a valid SIRET (legal identifier under 0009, 0002 or no scheme; identifier 0009;
       electronic address 0009 or 0225) => SIRET; a value explicitly declared as a SIRET
       (scheme 0009) that is not valid is kept too, so the domain reports SIRET_ERR;
    2. a SIREN (legal identifier under 0002, 9 digits): a SIREN is not a SIRET, so => VAT with
       the VAT number if there is one, else OUTSIDE_EU with the SIREN;
    3. a VAT number of an EU member state => VAT;
    4. else OUTSIDE_EU with the first identifier found (legal identifier, other identifiers,
       VAT number), possibly "" (the domain then reports the missing identifier).
    """
    found = _siret(seller)
    if found:
        return SupplierScheme.SIRET, found
    vat_number = _vat_number(seller)
    legal = _compact(_text(seller.get("legal_identifier")))
    if (
        _text(seller.get("legal_identifier_schemeid")) == SIRENE_SCHEME
        and len(legal) == 9
        and legal.isdigit()
    ):
        return (
            (SupplierScheme.VAT, vat_number) if vat_number else (SupplierScheme.OUTSIDE_EU, legal)
        )
    if vat_number[:2] in EU_VAT_PREFIXES:
        return SupplierScheme.VAT, vat_number
    identifiers = _identifiers(seller)
    first = next(
        (value for value in (legal, *identifiers.values(), vat_number) if value),
        "",
    )
    return SupplierScheme.OUTSIDE_EU, first


def _recipient_siret(buyer: Mapping[str, Any]) -> str:
    """The buyer's SIRET (BG-7), or "" when it gives none (the domain says DEST_INC)."""
    return _siret(buyer)


def _siret(party: Mapping[str, Any]) -> str:
    """The first valid SIRET the party gives, else the first value it declares as a SIRET
    (scheme 0009, kept so that the domain reports SIRET_ERR), else ""."""
    candidates: list[tuple[str, bool]] = []  # (value, declared as a SIRET)
    legal = _compact(_text(party.get("legal_identifier")))
    legal_scheme = _text(party.get("legal_identifier_schemeid"))
    if legal and legal_scheme in ("", SIRET_SCHEME, SIRENE_SCHEME):
        candidates.append((legal, legal_scheme == SIRET_SCHEME))
    declared = _compact(_identifiers(party).get(SIRET_SCHEME, ""))
    if declared:
        candidates.append((declared, True))
    address = _compact(_text(party.get("einvoicing_addr")))
    address_scheme = _text(party.get("einvoicing_addr_schemeid"))
    if address and address_scheme == SIRET_SCHEME:
        candidates.append((address, True))
    elif address_scheme == ROUTING_SCHEME and siret.is_valid(address[:14]):
        candidates.append((address[:14], True))
    for value, _ in candidates:
        if siret.is_valid(value):
            return value
    return next((value for value, is_declared in candidates if is_declared), "")


def _vat_number(party: Mapping[str, Any]) -> str:
    """BT-31 / BT-48 without the spaces and dots people type in it, upper-cased."""
    value = _text(party.get("vat_identifier"))
    return value.replace(" ", "").replace(".", "").upper()


def _identifiers(party: Mapping[str, Any]) -> dict[str | None, str]:
    """The party identifiers {scheme or None: id} (BT-29 / BT-46)."""
    value = party.get("identifiers")
    if not isinstance(value, Mapping):
        return {}
    return {scheme: _text(ident) for scheme, ident in value.items() if _text(ident)}


def _line(line: Mapping[str, Any]) -> InvoiceLine:
    return InvoiceLine(
        line_id=_text(line.get("BT-126")),
        name=_text(line.get("BT-153")),
        quantity=_amount(line, "BT-129"),
        unit=_text(line.get("BT-130")),
        unit_price=_amount(line, "BT-146"),
        net_amount=_amount(line, "BT-131"),
        vat_category=_text(line.get("BT-151")),
        vat_rate=_optional_amount(line, "BT-152"),
        base_quantity=_amount_or(line, "BT-149", ONE),
        allowances=_sum_amounts(line.get("BG-27")),
        charges=_sum_amounts(line.get("BG-28")),
    )


def _sum_amounts(entries: Any) -> Decimal:
    return sum((_amount(entry, "amount") for entry in _dicts(entries)), ZERO)


def _vat_row(row: Mapping[str, Any]) -> VatBreakdown:
    return VatBreakdown(
        category=_text(row.get("BT-118")),
        rate=_optional_amount(row, "BT-119"),
        taxable_amount=_amount(row, "BT-116"),
        tax_amount=_amount(row, "BT-117"),
        exemption_reason=_text(row.get("BT-120")),
    )


def _allowance_charge(entry: Mapping[str, Any], is_charge: bool) -> AllowanceCharge:
    return AllowanceCharge(
        is_charge=is_charge,
        amount=_amount(entry, "amount"),
        reason=_text(entry.get("reason")),
        vat_category=_text(entry.get("vat_category_code")),
        vat_rate=_optional_amount(entry, "vat_rate"),
    )


def _payment_means(terms: Mapping[str, Any]) -> tuple[PaymentMeans, ...]:
    """BG-16: one means per payment account (BT-84), or per code when no account is given.

    The term dict keeps each term's values in document order without their grouping, so
    they are zipped by position: the i-th account takes the i-th code (the last one when
    there are fewer codes), and the i-th BIC / remittance, or the only one when a single
    value is given for several accounts. Exact duplicates are merged."""
    codes = _texts(terms.get("BT-81"))
    if not codes:
        return ()
    accounts = _texts(terms.get("BT-84"))
    bics = _texts(terms.get("BT-86"))
    remittances = _texts(terms.get("BT-83"))
    found: list[PaymentMeans] = []
    for index in range(max(len(codes), len(accounts))):
        means = PaymentMeans(
            code=codes[min(index, len(codes) - 1)],
            iban=accounts[index] if index < len(accounts) else "",
            bic=_nth(bics, index),
            remittance=_nth(remittances, index),
        )
        if means not in found:
            found.append(means)
    return tuple(found)


def _nth(values: list[str], index: int) -> str:
    if index < len(values):
        return values[index]
    return values[0] if len(values) == 1 else ""


# --- term values -----------------------------------------------------------------------------


def _party(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [entry for entry in value if isinstance(entry, Mapping)]
    return []


def _texts(value: Any) -> list[str]:
    """Every non-empty value of a term that is a string once and a list when repeated."""
    values: Iterable[Any] = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in values if v is not None and str(v).strip()]


def _text(value: Any) -> str:
    """A single-valued text term; a repeated one (invalid for it) gives its first value."""
    texts = _texts(value)
    return texts[0] if texts else ""


def _optional_amount(terms: Mapping[str, Any], key: str) -> Decimal | None:
    text = _text(terms.get(key))
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation as err:
        raise ValueError(f"{key}: {text!r} is not a number") from err


def _amount(terms: Mapping[str, Any], key: str) -> Decimal:
    return _amount_or(terms, key, ZERO)


def _amount_or(terms: Mapping[str, Any], key: str, default: Decimal) -> Decimal:
    value = _optional_amount(terms, key)
    return default if value is None else value


def _optional_date(value: Any) -> date | None:
    values = value if isinstance(value, list) else [value]
    for entry in values:  # several payment terms (extended): the first one's due date
        if isinstance(entry, date):
            return entry
        if isinstance(entry, str) and entry.strip():
            return date.fromisoformat(entry.strip())
    return None


def _date(terms: Mapping[str, Any], key: str) -> date:
    value = _optional_date(terms.get(key))
    if value is None:
        raise ValueError(f"{key}: a date is required")
    return value


def _compact(value: str) -> str:
    return value.replace(" ", "").replace(".", "")


# --- writing ---------------------------------------------------------------------------------


def to_terms(data: InvoiceData) -> dict[str, Any]:
    """The term dict of `data`, in the input format of `facturx.generate_xml`.

    Normalisations (what `from_terms` reads back differently):

    * BT-24 is written by generate_xml itself (the EN 16931 id), whatever `guideline_id` is;
    * a missing `line_total` is written as the sum of the lines (BT-106 is mandatory);
    * an empty seller country becomes FR for a SIRET seller, the VAT number's country for a
      VAT seller (BT-40 is mandatory); the buyer's country (BT-55) is FR, the country of the
      public buyers this platform serves;
    * a RIDET, TAHITI, RCS or OUTSIDE_EU seller identifier is written as a legal identifier
      without scheme: it reads back as OUTSIDE_EU (or VAT, with an EU VAT number); a VAT
      seller has one slot, BT-31: `supplier_vat_number` (else `supplier_id`) is written there;
    * a line's summed allowances and charges become one BG-27 / BG-28 each, with the reason
      "Remise" / "Frais"; `allowances_charges` read back allowances first, then charges;
    * the CII generator writes a single payment means (BG-16): more raise ValueError.
    """
    if len(data.payment_means) > 1:
        raise ValueError(
            "payment_means: the factur-x CII generator writes one payment means, "
            f"{len(data.payment_means)} given"
        )
    terms: dict[str, Any] = {
        "BT-1": data.number,
        "BT-2": data.issue_date,
        "BT-3": data.kind,
        "BT-5": data.currency,
        # An EN 16931 CII document needs a delivery (ApplicableHeaderTradeDelivery must not be
        # empty for the XSD); a portal entry knows no delivery date, and for services invoiced
        # on the day the issue date is the best known date of the supply.
        "BT-72": data.issue_date,
        "BG-4": _seller_terms(data),
        "BG-7": _buyer_terms(data),
        "BG-25": [_line_terms(line) for line in data.lines],
        "BG-23": [_vat_row_terms(row) for row in data.vat_breakdown],
        "BT-106": _number(
            data.line_total
            if data.line_total is not None
            else sum((line.net_amount for line in data.lines), ZERO)
        ),
        "BT-109": _number(data.net_amount),
        "BT-110": _number(data.vat_amount),
        "BT-112": _number(data.gross_amount),
        "BT-115": _number(data.payable_amount),
    }
    optional: dict[str, Any] = {
        "BT-9": data.due_date,
        "BT-10": data.service_code,
        "BT-12": data.contract_reference,
        "BT-13": data.order_reference,
        "BT-20": data.payment_terms,
    }
    terms.update({key: value for key, value in optional.items() if value})
    allowances = [_allowance_charge_terms(a) for a in data.allowances_charges if not a.is_charge]
    charges = [_allowance_charge_terms(c) for c in data.allowances_charges if c.is_charge]
    if allowances:
        terms["BG-20"] = allowances
    if charges:
        terms["BG-21"] = charges
    totals = {
        "BT-107": data.allowance_total,
        "BT-108": data.charge_total,
        "BT-113": data.prepaid_amount,
        "BT-114": data.rounding_amount,
    }
    terms.update({key: _number(value) for key, value in totals.items() if value})
    if allowances and "BT-107" not in terms:
        terms["BT-107"] = _number(ZERO)
    if charges and "BT-108" not in terms:
        terms["BT-108"] = _number(ZERO)
    for means in data.payment_means:
        payment = {
            "BT-81": means.code,
            "BT-84": means.iban,
            "BT-86": means.bic,
            "BT-83": means.remittance,
        }
        terms.update({key: value for key, value in payment.items() if value})
    return terms


def to_cii(data: InvoiceData) -> bytes:
    """A Factur-X / CII EN 16931 document of `data` (the pipeline validates it afterwards)."""
    return _generate(data, "factur-x")


def to_ubl(data: InvoiceData) -> bytes:
    """A UBL 2.1 EN 16931 document of `data` (the pipeline validates it afterwards)."""
    return _generate(data, "ubl-2.1")


def _generate(data: InvoiceData, flavor: str) -> bytes:
    xml = facturx.generate_xml(
        copy.deepcopy(to_terms(data)),  # generate_xml rewrites its input
        flavor=flavor,
        level="en16931",
        check_xsd=False,
        check_schematron=False,
    )
    return bytes(xml)


def _seller_terms(data: InvoiceData) -> dict[str, Any]:
    address = data.supplier_address
    country = address.country
    seller: dict[str, Any] = {"name": data.supplier_name}
    if data.supplier_scheme is SupplierScheme.SIRET:
        seller["legal_identifier"] = data.supplier_id
        seller["legal_identifier_schemeid"] = SIRET_SCHEME
        country = country or "FR"
    elif data.supplier_scheme is SupplierScheme.VAT:
        vat_number = data.supplier_vat_number or data.supplier_id
        country = country or ("GR" if vat_number[:2] == "EL" else vat_number[:2])
    elif data.supplier_id:
        seller["legal_identifier"] = data.supplier_id
    vat_number = data.supplier_vat_number or (
        data.supplier_id if data.supplier_scheme is SupplierScheme.VAT else ""
    )
    fields = {
        "vat_identifier": vat_number,
        "addr_l1": address.line1,
        "addr_l2": address.line2,
        "city": address.city,
        "postcode": address.postcode,
        "country_code": country,
    }
    seller.update({key: value for key, value in fields.items() if value})
    return seller


def _buyer_terms(data: InvoiceData) -> dict[str, Any]:
    buyer: dict[str, Any] = {"name": data.recipient_name, "country_code": "FR"}
    if data.recipient_siret:
        buyer["legal_identifier"] = data.recipient_siret
        buyer["legal_identifier_schemeid"] = SIRET_SCHEME
    return buyer


def _line_terms(line: InvoiceLine) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "BT-126": line.line_id,
        "BT-129": _number(line.quantity),
        "BT-130": line.unit,
        "BT-146": _number(line.unit_price),
        "BT-131": _number(line.net_amount),
        "BT-151": line.vat_category,
        "BT-153": line.name,
    }
    if line.vat_rate is not None:
        terms["BT-152"] = _number(line.vat_rate)
    if line.base_quantity != ONE:
        terms["BT-149"] = _number(line.base_quantity)
    if line.allowances:
        terms["BG-27"] = [{"amount": _number(line.allowances), "reason": LINE_ALLOWANCE_REASON}]
    if line.charges:
        terms["BG-28"] = [{"amount": _number(line.charges), "reason": LINE_CHARGE_REASON}]
    return terms


def _vat_row_terms(row: VatBreakdown) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "BT-116": _number(row.taxable_amount),
        "BT-117": _number(row.tax_amount),
        "BT-118": row.category,
    }
    if row.rate is not None:
        terms["BT-119"] = _number(row.rate)
    if row.exemption_reason:
        terms["BT-120"] = row.exemption_reason
    return terms


def _allowance_charge_terms(entry: AllowanceCharge) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "amount": _number(entry.amount),
        "vat_category_code": entry.vat_category,
    }
    if entry.reason:
        terms["reason"] = entry.reason
    if entry.vat_rate is not None:
        terms["vat_rate"] = _number(entry.vat_rate)
    return terms


def _number(value: Decimal) -> str:
    """A Decimal as generate_xml wants it: a plain decimal string, never an exponent."""
    return f"{value:f}"
