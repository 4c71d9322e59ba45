"""The Invoice aggregate: one invoice from submission to payment.

Each command is a method decorated with the event it records; the method body is both the
command's effect and the event's replay (the `eventsourcing` library's declarative style).
Guards come from the one transition table in `lifecycle`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from eventsourcing.domain import Aggregate, event

from facturier.domain.lifecycle import (
    INITIAL_STATUS,
    STATUS_INFO,
    Action,
    EventType,
    StatusInfo,
    next_status,
)
from facturier.domain.money import to_cents, within_bounds
from facturier.domain.text import is_siret, reference_problem, text_problem

# Namespace of invoice ids: an id is derived from (seller, number, year), so a second
# submission of the same invoice collides on the event store's primary key (DOUBLON).
INVOICE_ID_NAMESPACE = uuid.UUID("4f0d1c52-7f7e-4c1b-9d7e-2b8f1a6c0e11")
PLATFORM_ACTOR = "platform"
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
    """The reform's reason codes (DOMAIN.md §5)."""

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


class Invoice(Aggregate):
    """An invoice, from submission (DEPOSEE) to payment (MISE_EN_PAIEMENT) or refusal.

    A command checks its arguments before it records its event; the event's body holds only
    what replaying it needs (the status guard and the new state). Rules may tighten over the
    years, and the invoices recorded under the old ones must still load.

    Events are named by `EventType`'s plain values (`.value`): the library names each event
    class after the string it is given, and the stored topics and published names must stay
    plain text."""

    @staticmethod
    def create_id(data: InvoiceData, **_: object) -> uuid.UUID:
        key = f"{data.supplier_key}|{data.number}|{data.issue_date.year}"
        return uuid.uuid5(INVOICE_ID_NAMESPACE, key)

    @classmethod
    def submit(
        cls,
        data: InvoiceData,
        mode: SubmissionMode,
        actor: str,
        correlation_id: str = "",
        signature: SignatureCheck | None = None,
    ) -> Invoice:
        """A new invoice, if `data` passes every rule (InvalidInvoice otherwise)."""
        data.check()
        return cls(
            data=data, mode=mode, actor=actor, correlation_id=correlation_id, signature=signature
        )

    @event(EventType.SUBMITTED.value)
    def __init__(
        self,
        data: InvoiceData,
        mode: SubmissionMode,
        actor: str,
        correlation_id: str = "",
        signature: SignatureCheck | None = None,
    ) -> None:
        self.data = data
        self.mode = mode
        self.signature = signature
        self.status = INITIAL_STATUS
        self.documents: list[Document] = list(data.documents)
        self.payment_order_number = ""
        self.paid_amount: Decimal | None = None

    @property
    def status_info(self) -> StatusInfo:
        return STATUS_INFO[self.status]

    def _advance(self, action: Action) -> None:
        self.status = next_status(self.status, action)

    @event(EventType.ROUTED.value)
    def route(self, actor: str = PLATFORM_ACTOR, correlation_id: str = "") -> None:
        self._advance(Action.ROUTE)

    @event(EventType.MADE_AVAILABLE.value)
    def make_available(self, actor: str = PLATFORM_ACTOR, correlation_id: str = "") -> None:
        self._advance(Action.MAKE_AVAILABLE)

    @event(EventType.TAKEN_IN_HAND.value)
    def take_in_hand(self, actor: str, correlation_id: str = "") -> None:
        self._advance(Action.TAKE_IN_HAND)

    def suspend(
        self, reason: str, actor: str, reason_code: str = "JUSTIF_ABS", correlation_id: str = ""
    ) -> None:
        _require_reason(reason, reason_code)
        self._suspended(reason, actor, reason_code, correlation_id)

    @event(EventType.SUSPENDED.value)
    def _suspended(self, reason: str, actor: str, reason_code: str, correlation_id: str) -> None:
        self._advance(Action.SUSPEND)

    def complete(
        self,
        comment: str,
        actor: str,
        documents: tuple[Document, ...] = (),
        correlation_id: str = "",
    ) -> None:
        if not comment.strip() and not documents:
            raise InvalidCommand("comment", "say what was added, or attach a document")
        _check_text("comment", comment, multiline=True)
        for document in documents:
            _check_text("filename", document.filename)
        self._completed(comment, actor, documents, correlation_id)

    @event(EventType.COMPLETED.value)
    def _completed(
        self, comment: str, actor: str, documents: tuple[Document, ...], correlation_id: str
    ) -> None:
        self._advance(Action.COMPLETE)
        self.documents.extend(documents)

    def mark_for_rerouting(
        self, reason: str, actor: str, reason_code: str = "DEST_ERR", correlation_id: str = ""
    ) -> None:
        _require_reason(reason, reason_code)
        self._marked_for_rerouting(reason, actor, reason_code, correlation_id)

    @event(EventType.MARKED_FOR_REROUTING.value)
    def _marked_for_rerouting(
        self, reason: str, actor: str, reason_code: str, correlation_id: str
    ) -> None:
        self._advance(Action.MARK_FOR_REROUTING)

    def reroute(
        self,
        recipient_siret: str,
        service_code: str,
        order_reference: str,
        actor: str,
        correlation_id: str = "",
    ) -> None:
        if not is_siret(recipient_siret):
            raise InvalidCommand("recipient_siret", "not a valid SIRET (14 digits 0-9)")
        _check_reference("service_code", service_code)
        _check_reference("order_reference", order_reference)
        self._rerouted(recipient_siret, service_code, order_reference, actor, correlation_id)

    @event(EventType.REROUTED.value)
    def _rerouted(
        self,
        recipient_siret: str,
        service_code: str,
        order_reference: str,
        actor: str,
        correlation_id: str,
    ) -> None:
        self._advance(Action.REROUTE)
        # The invoice keeps its number; only the addressing changes.
        self.data = replace(
            self.data,
            recipient_siret=recipient_siret,
            service_code=service_code,
            order_reference=order_reference,
        )

    def reject(self, reason_code: str, reason: str, actor: str, correlation_id: str = "") -> None:
        _require_reason(reason, reason_code)
        self._rejected(reason_code, reason, actor, correlation_id)

    @event(EventType.REJECTED.value)
    def _rejected(self, reason_code: str, reason: str, actor: str, correlation_id: str) -> None:
        self._advance(Action.REJECT)

    @event(EventType.SERVICE_CERTIFIED.value)
    def certify_service_done(self, actor: str, correlation_id: str = "") -> None:
        self._advance(Action.CERTIFY_SERVICE_DONE)

    def order_payment(
        self, payment_order_number: str, actor: str, correlation_id: str = ""
    ) -> None:
        if not payment_order_number.strip():
            raise InvalidCommand("payment_order_number", "required")
        _check_reference("payment_order_number", payment_order_number)
        self._payment_ordered(payment_order_number, actor, correlation_id)

    @event(EventType.PAYMENT_ORDERED.value)
    def _payment_ordered(self, payment_order_number: str, actor: str, correlation_id: str) -> None:
        self._advance(Action.ORDER_PAYMENT)
        self.payment_order_number = payment_order_number

    @event(EventType.HANDED_TO_ACCOUNTING.value)
    def hand_to_accounting(self, actor: str, correlation_id: str = "") -> None:
        self._advance(Action.HAND_TO_ACCOUNTING)

    @event(EventType.RECORDED_IN_ACCOUNTS.value)
    def record_in_accounts(self, actor: str, correlation_id: str = "") -> None:
        self._advance(Action.RECORD_IN_ACCOUNTS)

    def pay(
        self,
        amount: Decimal,
        payment_date: date,
        payment_reference: str,
        actor: str,
        correlation_id: str = "",
    ) -> None:
        if not within_bounds(amount) or amount <= 0 or amount != to_cents(amount):
            raise InvalidCommand("amount", "a positive amount with at most 2 decimals")
        if not EARLIEST_DATE <= payment_date <= LATEST_DATE:
            raise InvalidCommand("payment_date", "not a plausible date")
        if not payment_reference.strip():
            raise InvalidCommand("payment_reference", "required")
        _check_reference("payment_reference", payment_reference)
        self._payment_sent(amount, payment_date, payment_reference, actor, correlation_id)

    @event(EventType.PAYMENT_SENT.value)
    def _payment_sent(
        self,
        amount: Decimal,
        payment_date: date,
        payment_reference: str,
        actor: str,
        correlation_id: str,
    ) -> None:
        self._advance(Action.PAY)
        self.paid_amount = amount


def _require_reason(reason: str, reason_code: str) -> None:
    if reason_code not in ReasonCode.__members__:
        raise InvalidCommand("reason_code", f"unknown reason code {reason_code!r}")
    if not reason.strip():
        raise InvalidCommand("reason", "a reason is required")
    _check_text("reason", reason, multiline=True)


def _check_text(name: str, value: str, multiline: bool = False) -> None:
    problem = text_problem(value, multiline=multiline)
    if problem:
        raise InvalidCommand(name, problem)


def _check_reference(name: str, value: str) -> None:
    problem = reference_problem(value)
    if problem:
        raise InvalidCommand(name, problem)


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
