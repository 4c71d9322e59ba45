"""The invoicing application: the service layer over Invoice aggregates.

One method per use case: load the aggregate, call the command, save. The event store
(PostgreSQL, through `eventsourcing`) records each save atomically and numbers every event
in one gap-free notification log, which the relay tails: the event store is the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording

from facturier.adapters import metrics, transcodings
from facturier.adapters.postgres import ddl_lock
from facturier.domain.directory import RoutingFinding, Structure, StructureLookup, check_routing
from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import Action, LifecycleError
from facturier.domain.model import InvoiceData, ReasonCode, SignatureCheck, SubmissionMode

if TYPE_CHECKING:
    from eventsourcing.persistence import JSONTranscoder

    from facturier.config.settings import PostgresSettings


class InvoicingApp(Application[UUID]):
    name = "invoicing"

    def __init__(
        self,
        postgres: PostgresSettings | None = None,
        env: dict[str, str] | None = None,
        directory: StructureLookup | None = None,
    ) -> None:
        merged = postgres.eventsourcing_env() if postgres else {}
        merged.update(env or {})
        with ddl_lock(postgres):
            super().__init__(merged)
        # The buyers' directory (services.directory.DirectoryApp); None: no routing checks.
        self.directory = directory

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcodings.register(transcoder)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        recordings = super().save(*objs, **kwargs)
        for recording in recordings:
            metrics.EVENTS_APPENDED.labels(type(recording.domain_event).__name__).inc()
        return recordings

    def submit(
        self,
        data: InvoiceData,
        mode: SubmissionMode,
        actor: str,
        correlation_id: str = "",
        signature: SignatureCheck | None = None,
    ) -> Invoice:
        """Record a submission and the platform's delivery to the recipient service.

        The three events are saved in one transaction: an accepted invoice is never left
        half-delivered."""
        invoice = self.new_invoice(data, mode, actor, correlation_id, signature)
        self._check_routing([data])
        try:
            self.save(invoice)
        except IntegrityError:
            raise DuplicateInvoice(data) from None
        return invoice

    def submit_many(
        self, batch: list[tuple[InvoiceData, SubmissionMode, str, str]]
    ) -> list[Invoice]:
        """Submit several invoices in one transaction (bulk loads)."""
        invoices = [self.new_invoice(*submission) for submission in batch]
        self._check_routing([data for data, _, _, _ in batch])
        try:
            self.save(*invoices)
        except IntegrityError:
            raise DuplicateInvoice(batch[0][0]) from None
        return invoices

    def new_invoice(
        self,
        data: InvoiceData,
        mode: SubmissionMode,
        actor: str,
        correlation_id: str = "",
        signature: SignatureCheck | None = None,
    ) -> Invoice:
        """An invoice submitted and delivered, not saved yet (InvalidInvoice if wrong)."""
        invoice = Invoice.submit(data, mode, actor, correlation_id, signature)
        self._deliver(invoice, correlation_id)
        return invoice

    def routing_findings(
        self, data: InvoiceData, structures: dict[str, Structure | None] | None = None
    ) -> list[RoutingFinding]:
        """Why the directory cannot route `data` (empty: it can, or no directory).
        `structures` caches the lookups of a batch (one per recipient)."""
        if self.directory is None:
            return []
        cache = {} if structures is None else structures
        siret = data.recipient_siret
        if siret not in cache:
            cache[siret] = self.directory.find(siret)
        return check_routing(cache[siret], siret, data.service_code, data.order_reference)

    def _check_routing(self, batch: Sequence[InvoiceData]) -> None:
        """RoutingRefused if the directory cannot route one of `batch` (before any save)."""
        structures: dict[str, Structure | None] = {}
        refusals = [
            (data, findings)
            for data in batch
            if (findings := self.routing_findings(data, structures))
        ]
        if refusals:
            raise RoutingRefused(refusals)

    @staticmethod
    def _deliver(invoice: Invoice, correlation_id: str) -> None:
        invoice.route(correlation_id=correlation_id)
        invoice.make_available(correlation_id=correlation_id)

    def act(self, invoice_id: UUID, action: Action, **params: Any) -> Invoice:
        """Apply one lifecycle action (`params` are the command's arguments)."""
        invoice = self.get(invoice_id)
        getattr(invoice, action.value.replace("-", "_"))(**params)
        if action is Action.REROUTE:  # the platform delivers to the new address at once
            self._check_routing([invoice.data])
            invoice.make_available(correlation_id=params.get("correlation_id", ""))
        try:
            self.save(invoice)
        except IntegrityError:  # the event store's (id, version) key: someone acted first
            raise ConcurrentChange(invoice_id) from None
        return invoice

    def get(self, invoice_id: UUID) -> Invoice:
        try:
            invoice: Invoice = self.repository.get(invoice_id)
        except AggregateNotFoundError:
            raise InvoiceNotFound(invoice_id) from None
        assert isinstance(invoice, Invoice)
        return invoice

    def as_of(self, invoice_id: UUID, instant: datetime) -> Invoice:
        """The invoice as it was at `instant`, rebuilt from its events (for auditors)."""
        versions = [
            e.originator_version for e in self.history(invoice_id) if e.timestamp <= instant
        ]
        if not versions:
            raise InvoiceNotFound(invoice_id)
        invoice: Invoice = self.repository.get(invoice_id, version=versions[-1])
        return invoice

    def history(self, invoice_id: UUID) -> list[Invoice.Event]:
        """Every recorded event of one invoice, oldest first (the auditor's raw trace)."""
        events = [cast(Invoice.Event, e) for e in self.events.get(invoice_id)]
        if not events:
            raise InvoiceNotFound(invoice_id)
        return events


class ConcurrentChange(LifecycleError):
    """Another action on the invoice was recorded between reading it and saving this one;
    nothing of this one was saved. Not retried: the action was chosen on a stale status."""

    def __init__(self, invoice_id: UUID) -> None:
        super().__init__(f"invoice {invoice_id} changed meanwhile: reload it and try again")


class InvoiceNotFound(LookupError):
    def __init__(self, invoice_id: UUID) -> None:
        super().__init__(f"no invoice {invoice_id}")
        self.invoice_id = invoice_id


class DuplicateInvoice(ValueError):
    reason_code = ReasonCode.DOUBLON

    def __init__(self, data: InvoiceData) -> None:
        super().__init__(
            f"invoice {data.number!r} of {data.supplier_key} for {data.issue_date.year} "
            "was already submitted"
        )


class RoutingRefused(ValueError):
    """The directory cannot route these invoices; nothing was recorded.

    `refusals` pairs each refused invoice with its findings (reason code, field, message)."""

    def __init__(self, refusals: Sequence[tuple[InvoiceData, Sequence[RoutingFinding]]]) -> None:
        self.refusals: tuple[tuple[InvoiceData, tuple[RoutingFinding, ...]], ...] = tuple(
            (data, tuple(findings)) for data, findings in refusals
        )
        if not self.findings:
            raise ValueError("a RoutingRefused needs at least one finding")
        super().__init__(
            "; ".join(
                f"invoice {data.number!r}: " + "; ".join(str(f) for f in findings)
                for data, findings in self.refusals[:5]
            )
        )

    @property
    def findings(self) -> tuple[RoutingFinding, ...]:
        return tuple(f for _, findings in self.refusals for f in findings)

    @property
    def reason_code(self) -> ReasonCode:
        """The code of the first finding: the one a report shows first."""
        return self.findings[0].reason_code
