"""The Invoice aggregate: one invoice from submission to payment.

Each command is a method decorated with the event it records; the method body is both the
command's effect and the event's replay (the `eventsourcing` library's declarative style).
Guards come from the one transition table in `lifecycle`; what an invoice is (its data and
value objects) is in `model`.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

from eventsourcing.domain import Aggregate, event

from facturier.domain.lifecycle import (
    INITIAL_STATUS,
    STATUS_INFO,
    Action,
    EventType,
    StatusInfo,
    next_status,
)
from facturier.domain.model import (
    EARLIEST_DATE,
    LATEST_DATE,
    Document,
    InvalidCommand,
    InvoiceData,
    ReasonCode,
    SignatureCheck,
    SubmissionMode,
)
from facturier.domain.money import to_cents, within_bounds
from facturier.domain.text import is_siret, reference_problem, text_problem

# Namespace of invoice ids: an id is derived from (seller, number, year), so a second
# submission of the same invoice collides on the event store's primary key (DOUBLON).
INVOICE_ID_NAMESPACE = uuid.UUID("4f0d1c52-7f7e-4c1b-9d7e-2b8f1a6c0e11")
PLATFORM_ACTOR = "platform"


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
