"""The canonical invoice: the EN 16931 business terms every submission mode produces
(`InvoiceData`), its value objects, the document type codes the platform reads, and the
errors that say what is wrong with one. The `Invoice` aggregate (`invoice.py`) records it;
the rules that check it are in `rules.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from facturier.domain.money import to_cents

# Dates a person can mean on an invoice; the generated CII and the FEC write 4-digit years.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2099, 12, 31)


class SubmissionMode(StrEnum):
    PORTAL = "portal"  # typed in the portal form or posted as JSON (saisie)
    PDF = "pdf"  # PDF deposit (dépôt)
    EDI = "edi"  # EDI flow


class InvoiceKind(StrEnum):
    """UNTDID 1001 document type codes (BT-3) the platform distinguishes."""

    INVOICE = "380"
    CREDIT_NOTE = "381"
    CORRECTIVE = "384"
    SELF_BILLED = "389"
    PREPAYMENT = "386"


class SupplierScheme(StrEnum):
    SIRET = "SIRET"
    VAT = "VAT"  # intra-EU VAT number of another member state
    RIDET = "RIDET"  # New Caledonia
    TAHITI = "TAHITI"  # French Polynesia
    RCS = "RCS"
    OUTSIDE_EU = "OUTSIDE_EU"


class ReasonCode(StrEnum):
    """The reform's reason codes (docs/DOMAIN.md §5)."""

    DOUBLON = "DOUBLON"
    DEST_INC = "DEST_INC"
    DEST_ERR = "DEST_ERR"
    SIRET_ERR = "SIRET_ERR"
    CODE_ROUTAGE_ERR = "CODE_ROUTAGE_ERR"
    REF_CT_ABSENT = "REF_CT_ABSENT"
    CMD_ERR = "CMD_ERR"
    MONTANTTOTAL_ERR = "MONTANTTOTAL_ERR"
    CALCUL_ERR = "CALCUL_ERR"
    TX_TVA_ERR = "TX_TVA_ERR"
    JUSTIF_ABS = "JUSTIF_ABS"
    NON_CONFORME = "NON_CONFORME"
    REJ_SEMAN = "REJ_SEMAN"
    REJ_UNI = "REJ_UNI"
    IRR_SYNTAX = "IRR_SYNTAX"
    IRR_TYPE_F = "IRR_TYPE_F"
    IRR_TAILLE_F = "IRR_TAILLE_F"
    IRR_TAILLE_PJ = "IRR_TAILLE_PJ"
    IRR_VIDE_F = "IRR_VIDE_F"
    IRR_ANTIVIRUS = "IRR_ANTIVIRUS"
    AUTRE = "AUTRE"


@dataclass(frozen=True)
class Document:
    """An original document, stored once elsewhere and referenced by its content hash."""

    sha256: str
    filename: str
    media_type: str
    size: int
    role: str = "invoice"  # "invoice" (the legal document), "data" (its XML), "attachment"


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    postcode: str = ""
    country: str = ""  # ISO 3166-1 alpha-2


@dataclass(frozen=True)
class InvoiceLine:
    """BG-25. Quantities and prices keep the decimals the supplier sent."""

    line_id: str  # BT-126
    name: str  # BT-153
    quantity: Decimal  # BT-129
    unit: str  # BT-130, UN/ECE rec. 20 (C62 = one)
    unit_price: Decimal  # BT-146, net of any price discount
    net_amount: Decimal  # BT-131
    vat_category: str  # BT-151, UNCL 5305 (S standard, Z zero, E exempt, AE reverse charge...)
    vat_rate: Decimal | None  # BT-152, percent
    base_quantity: Decimal = Decimal(1)  # BT-149
    allowances: Decimal = Decimal(0)  # sum of BG-27 amounts
    charges: Decimal = Decimal(0)  # sum of BG-28 amounts


@dataclass(frozen=True)
class VatBreakdown:
    """BG-23, one per VAT category and rate."""

    category: str  # BT-118
    rate: Decimal | None  # BT-119
    taxable_amount: Decimal  # BT-116
    tax_amount: Decimal  # BT-117
    exemption_reason: str = ""  # BT-120


@dataclass(frozen=True)
class AllowanceCharge:
    """BG-20 (allowance) or BG-21 (charge) at document level."""

    is_charge: bool
    amount: Decimal  # BT-92 / BT-99
    reason: str  # BT-97 / BT-104
    vat_category: str  # BT-95 / BT-102
    vat_rate: Decimal | None  # BT-96 / BT-103


@dataclass(frozen=True)
class PaymentMeans:
    """BG-16: how the buyer pays; `iban` for a credit transfer (BT-84)."""

    code: str  # BT-81, UNCL 4461 (30 credit transfer, 58 SEPA credit transfer, 49 debit...)
    iban: str = ""  # BT-84
    bic: str = ""  # BT-86
    remittance: str = ""  # BT-83


@dataclass(frozen=True)
class SignatureCheck:
    """What the PDF signature of a deposited invoice proved when it was received."""

    signed: bool
    intact: bool  # the signed bytes are unchanged
    trusted: bool  # the certificate chains to a configured trust root and was valid
    signer: str = ""  # the certificate's common name
    signing_time: str = ""  # ISO 8601, the trusted timestamp or else the signer's claim
    note: str = ""  # why it is not trusted, when it is not


# UNTDID 1001 codes of credit notes (EN 16931 code list); an amount on them is owed back.
CREDIT_NOTE_CODES = frozenset(
    {"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"}
)


def is_credit_note(kind: str) -> bool:
    """Whether a BT-3 document type code is a credit note (the one test every reader of
    invoice kinds uses: the buyer is owed the amount back, and no payment deadline runs)."""
    return kind in CREDIT_NOTE_CODES


def line(
    line_id: str,
    name: str,
    quantity: Decimal,
    unit_price: Decimal,
    vat_rate: Decimal,
    vat_category: str = "S",
    unit: str = "C62",
) -> InvoiceLine:
    """A line as a supplier types it: its net amount is computed, rounded half up."""
    net = to_cents(quantity * unit_price)
    return InvoiceLine(line_id, name, quantity, unit, unit_price, net, vat_category, vat_rate)


def vat_breakdown_of(
    lines: tuple[InvoiceLine, ...], exemption_reason: str = ""
) -> tuple[VatBreakdown, ...]:
    """BG-23 computed from the lines: one row per (category, rate), tax rounded once per row
    (EN 16931 BR-CO-17), not per line."""
    bases: dict[tuple[str, Decimal | None], Decimal] = {}
    for item in lines:
        key = (item.vat_category, item.vat_rate)
        bases[key] = bases.get(key, Decimal(0)) + item.net_amount
    return tuple(
        VatBreakdown(
            category,
            rate,
            base,
            to_cents(base * (rate or 0) / 100),
            "" if category in ("S", "Z", "L", "M") else exemption_reason,
        )
        for (category, rate), base in bases.items()
    )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an invoice: the field (a dotted path), why, and the reform code."""

    field: str
    message: str
    reason_code: ReasonCode
    rule: str  # facturier's own rule id, e.g. "FR-CALC-LINE"


@dataclass(frozen=True)
class InvoiceData:
    """What the supplier submits: the EN 16931 business terms every mode produces."""

    supplier_scheme: SupplierScheme
    supplier_id: str  # SIRET (BT-30 scheme 0009) or the scheme's identifier
    supplier_name: str  # BT-27
    recipient_siret: str  # BT-47 / routing identifier of the public buyer
    service_code: str  # BT-10 buyer reference: the recipient's service code
    order_reference: str  # BT-13: engagement juridique (EJ)
    number: str  # BT-1
    kind: str  # BT-3, UNTDID 1001 (380 invoice, 381 credit note, 384 corrective, 389 self-billed)
    issue_date: date  # BT-2
    due_date: date | None  # BT-9
    currency: str  # BT-5
    net_amount: Decimal  # BT-109, total without VAT
    vat_amount: Decimal  # BT-110
    gross_amount: Decimal  # BT-112, total with VAT
    payable_amount: Decimal  # BT-115
    documents: tuple[Document, ...] = field(default_factory=tuple)
    supplier_vat_number: str = ""  # BT-31
    supplier_address: Address = field(default_factory=Address)  # BG-5
    recipient_name: str = ""  # BT-44
    contract_reference: str = ""  # BT-12
    lines: tuple[InvoiceLine, ...] = field(default_factory=tuple)  # BG-25
    vat_breakdown: tuple[VatBreakdown, ...] = field(default_factory=tuple)  # BG-23
    allowances_charges: tuple[AllowanceCharge, ...] = field(default_factory=tuple)  # BG-20/21
    line_total: Decimal | None = None  # BT-106
    allowance_total: Decimal = Decimal(0)  # BT-107
    charge_total: Decimal = Decimal(0)  # BT-108
    prepaid_amount: Decimal = Decimal(0)  # BT-113
    rounding_amount: Decimal = Decimal(0)  # BT-114
    payment_means: tuple[PaymentMeans, ...] = field(default_factory=tuple)  # BG-16
    payment_terms: str = ""  # BT-20
    guideline_id: str = ""  # BT-24, the specification the document declares

    @property
    def supplier_key(self) -> str:
        """Who issued the invoice, for duplicate detection: the SIREN of a French seller."""
        if self.supplier_scheme is SupplierScheme.SIRET:
            return f"SIREN:{self.supplier_id[:9]}"
        return f"{self.supplier_scheme}:{self.supplier_id}"

    @property
    def is_credit_note(self) -> bool:
        return is_credit_note(self.kind)

    @property
    def sign(self) -> int:
        """+1 for an invoice, -1 for a credit note (what the buyer owes, or is owed back)."""
        return -1 if self.is_credit_note else 1

    @property
    def is_french_seller(self) -> bool:
        """French VAT applies: the seller is registered in France."""
        return (
            self.supplier_scheme is SupplierScheme.SIRET
            or self.supplier_address.country == "FR"
            or self.supplier_vat_number.startswith("FR")
        )

    def check(self) -> None:
        """Raise InvalidInvoice naming the first problem (`problems` lists them all)."""
        problems = self.problems()
        if problems:
            raise InvalidInvoice.of(problems)

    def problems(self) -> list[Problem]:
        """Everything wrong with the invoice (`domain/rules.py`), in the order shown."""
        from facturier.domain.rules import invoice_problems  # the rules read this model

        return invoice_problems(self)


class InvalidCommand(ValueError):
    """A command's argument is wrong; `field` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


class InvalidInvoice(InvalidCommand):
    """The submitted invoice is wrong; carries the reform reason code of its first problem,
    and `problems` lists every one (a form shows them all at once)."""

    def __init__(
        self,
        field_name: str,
        message: str,
        reason_code: ReasonCode,
        problems: tuple[Problem, ...] = (),
    ) -> None:
        super().__init__(field_name, message)
        self.reason_code = reason_code
        self.problems = problems or (Problem(field_name, message, reason_code, ""),)

    @classmethod
    def of(cls, problems: list[Problem]) -> InvalidInvoice:
        first = problems[0]
        return cls(first.field, first.message, first.reason_code, tuple(problems))
