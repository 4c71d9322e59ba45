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
from stdnum.eu import vat
from stdnum.fr import siret

from facturier.domain.lifecycle import (
    INITIAL_STATUS,
    STATUS_INFO,
    Action,
    StatusInfo,
    next_status,
)

# Namespace of invoice ids: an id is derived from (seller, number, year), so a second
# submission of the same invoice collides on the event store's primary key (DOUBLON).
INVOICE_ID_NAMESPACE = uuid.UUID("4f0d1c52-7f7e-4c1b-9d7e-2b8f1a6c0e11")
PLATFORM_ACTOR = "platform"
CENTS = Decimal("0.01")


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


@dataclass(frozen=True)
class InvoiceData:
    """What the supplier submits: the business terms every mode produces."""

    supplier_scheme: SupplierScheme
    supplier_id: str
    supplier_name: str
    recipient_siret: str
    service_code: str
    order_reference: str  # engagement juridique (EJ), BT-13
    number: str  # BT-1
    kind: InvoiceKind  # BT-3
    issue_date: date
    due_date: date | None
    currency: str
    net_amount: Decimal  # BT-109
    vat_amount: Decimal  # BT-110
    gross_amount: Decimal  # BT-112
    payable_amount: Decimal  # BT-115
    documents: tuple[Document, ...] = field(default_factory=tuple)

    @property
    def supplier_key(self) -> str:
        """Who issued the invoice, for duplicate detection: the SIREN of a French seller."""
        if self.supplier_scheme is SupplierScheme.SIRET:
            return f"SIREN:{self.supplier_id[:9]}"
        return f"{self.supplier_scheme}:{self.supplier_id}"

    def check(self) -> None:
        """Raise InvalidInvoice naming the first field that is wrong."""
        if self.supplier_scheme is SupplierScheme.SIRET and not siret.is_valid(self.supplier_id):
            raise InvalidInvoice("supplier_id", "not a valid SIRET", ReasonCode.SIRET_ERR)
        if self.supplier_scheme is SupplierScheme.VAT and not vat.is_valid(self.supplier_id):
            raise InvalidInvoice("supplier_id", "not a valid EU VAT number", ReasonCode.SIRET_ERR)
        if not self.supplier_id.strip():
            raise InvalidInvoice("supplier_id", "missing", ReasonCode.SIRET_ERR)
        if not siret.is_valid(self.recipient_siret):
            raise InvalidInvoice("recipient_siret", "not a valid SIRET", ReasonCode.SIRET_ERR)
        if not self.number.strip() or len(self.number) > 20:
            raise InvalidInvoice("number", "1 to 20 characters required", ReasonCode.REJ_SEMAN)
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise InvalidInvoice("currency", "ISO 4217 code expected", ReasonCode.REJ_SEMAN)
        if len(self.order_reference) > 50:
            raise InvalidInvoice("order_reference", "at most 50 characters", ReasonCode.CMD_ERR)
        for name in ("net_amount", "vat_amount", "gross_amount", "payable_amount"):
            amount: Decimal = getattr(self, name)
            if amount != amount.quantize(CENTS):
                raise InvalidInvoice(name, "at most 2 decimals", ReasonCode.CALCUL_ERR)
        if self.net_amount + self.vat_amount != self.gross_amount:
            raise InvalidInvoice(
                "gross_amount",
                f"net {self.net_amount} + VAT {self.vat_amount} != gross {self.gross_amount}",
                ReasonCode.MONTANTTOTAL_ERR,
            )
        if self.payable_amount > self.gross_amount and self.gross_amount >= 0:
            raise InvalidInvoice(
                "payable_amount", "exceeds the gross amount", ReasonCode.MONTANTTOTAL_ERR
            )
        if self.due_date is not None and self.due_date < self.issue_date:
            raise InvalidInvoice("due_date", "before the issue date", ReasonCode.REJ_SEMAN)


class Invoice(Aggregate):
    """An invoice, from submission (DEPOSEE) to payment (MISE_EN_PAIEMENT) or refusal."""

    @staticmethod
    def create_id(data: InvoiceData, **_: object) -> uuid.UUID:
        key = f"{data.supplier_key}|{data.number}|{data.issue_date.year}"
        return uuid.uuid5(INVOICE_ID_NAMESPACE, key)

    @event("Submitted")
    def __init__(
        self, data: InvoiceData, mode: SubmissionMode, actor: str, correlation_id: str = ""
    ) -> None:
        data.check()
        self.data = data
        self.mode = mode
        self.status = INITIAL_STATUS
        self.documents: list[Document] = list(data.documents)
        self.payment_order_number = ""
        self.paid_amount: Decimal | None = None

    @property
    def status_info(self) -> StatusInfo:
        return STATUS_INFO[self.status]

    def _advance(self, action: Action) -> None:
        self.status = next_status(self.status, action)

    @event("Routed")
    def route(self, actor: str = PLATFORM_ACTOR, correlation_id: str = "") -> None:
        self._advance(Action.ROUTE)

    @event("MadeAvailable")
    def make_available(self, actor: str = PLATFORM_ACTOR, correlation_id: str = "") -> None:
        self._advance(Action.MAKE_AVAILABLE)

    @event("TakenInHand")
    def take_in_hand(self, actor: str, correlation_id: str = "") -> None:
        self._advance(Action.TAKE_IN_HAND)

    @event("Suspended")
    def suspend(
        self, reason: str, actor: str, reason_code: str = "JUSTIF_ABS", correlation_id: str = ""
    ) -> None:
        _require_reason(reason, reason_code)
        self._advance(Action.SUSPEND)

    @event("Completed")
    def complete(
        self,
        comment: str,
        actor: str,
        documents: tuple[Document, ...] = (),
        correlation_id: str = "",
    ) -> None:
        if not comment.strip() and not documents:
            raise InvalidCommand("comment", "say what was added, or attach a document")
        self._advance(Action.COMPLETE)
        self.documents.extend(documents)

    @event("MarkedForRerouting")
    def mark_for_rerouting(
        self, reason: str, actor: str, reason_code: str = "DEST_ERR", correlation_id: str = ""
    ) -> None:
        _require_reason(reason, reason_code)
        self._advance(Action.MARK_FOR_REROUTING)

    @event("Rerouted")
    def reroute(
        self,
        recipient_siret: str,
        service_code: str,
        order_reference: str,
        actor: str,
        correlation_id: str = "",
    ) -> None:
        if not siret.is_valid(recipient_siret):
            raise InvalidCommand("recipient_siret", "not a valid SIRET")
        self._advance(Action.REROUTE)
        # The invoice keeps its number; only the addressing changes.
        self.data = replace(
            self.data,
            recipient_siret=recipient_siret,
            service_code=service_code,
            order_reference=order_reference,
        )

    @event("Rejected")
    def reject(self, reason_code: str, reason: str, actor: str, correlation_id: str = "") -> None:
        _require_reason(reason, reason_code)
        self._advance(Action.REJECT)

    @event("ServiceCertified")
    def certify_service_done(self, actor: str, correlation_id: str = "") -> None:
        self._advance(Action.CERTIFY_SERVICE_DONE)

    @event("PaymentOrdered")
    def order_payment(
        self, payment_order_number: str, actor: str, correlation_id: str = ""
    ) -> None:
        if not payment_order_number.strip():
            raise InvalidCommand("payment_order_number", "required")
        self._advance(Action.ORDER_PAYMENT)
        self.payment_order_number = payment_order_number

    @event("HandedToAccounting")
    def hand_to_accounting(self, actor: str, correlation_id: str = "") -> None:
        self._advance(Action.HAND_TO_ACCOUNTING)

    @event("RecordedInAccounts")
    def record_in_accounts(self, actor: str, correlation_id: str = "") -> None:
        self._advance(Action.RECORD_IN_ACCOUNTS)

    @event("PaymentSent")
    def pay(
        self,
        amount: Decimal,
        payment_date: date,
        payment_reference: str,
        actor: str,
        correlation_id: str = "",
    ) -> None:
        if amount <= 0 or amount != amount.quantize(CENTS):
            raise InvalidCommand("amount", "a positive amount with at most 2 decimals")
        if not payment_reference.strip():
            raise InvalidCommand("payment_reference", "required")
        self._advance(Action.PAY)
        self.paid_amount = amount


def _require_reason(reason: str, reason_code: str) -> None:
    if reason_code not in ReasonCode.__members__:
        raise InvalidCommand("reason_code", f"unknown reason code {reason_code!r}")
    if not reason.strip():
        raise InvalidCommand("reason", "a reason is required")


class InvalidCommand(ValueError):
    """A command's argument is wrong; `field` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


class InvalidInvoice(InvalidCommand):
    """The submitted invoice is wrong; carries the reform reason code."""

    def __init__(self, field_name: str, message: str, reason_code: ReasonCode) -> None:
        super().__init__(field_name, message)
        self.reason_code = reason_code
