"""EDI flows and PDF deposits: receive an upload at once, process it in the background.

`receive` stores the uploaded bytes (document store) and records the flow (`Received`); the
upload's HTTP request ends there. The flow processor, a consumer of the flow topic, takes
each received flow: unpacks it (`intake.archive`), checks its entries on every core
(`intake.entry.check_entry`), then settles them in chunks: routing against the directory,
duplicates, and for each chunk ONE transaction saving the flow's settlements together with
the invoices they create. A crash anywhere resumes from the flow's own record: settled entries
are skipped, the others are checked again; nothing is lost, nothing is submitted twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from multiprocessing import get_context
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from facturier.adapters import metrics
from facturier.adapters.documents import DocumentStorage, describe
from facturier.config.settings import IntakeSettings
from facturier.domain.directory import Structure
from facturier.domain.flow import Flow, FlowEventType, FlowStatus
from facturier.domain.invoice import Invoice
from facturier.domain.model import InvoiceData, Problem, ReasonCode, SubmissionMode
from facturier.events.flows import FlowEvent
from facturier.events.flows import from_value as flow_from_value
from facturier.intake.archive import unpack
from facturier.intake.entry import Checked, check_entry
from facturier.intake.errors import Rejection
from facturier.services.application.invoicing import InvoicingApp

log = logging.getLogger("facturier.flows")

# Entries settled per transaction: big enough to amortise the commit, small enough that a
# crash repeats little work.
CHUNK = 100
UPLOAD_MEDIA_TYPES = {b"%PDF": "application/pdf", b"PK\x03\x04": "application/zip"}


def media_type(content: bytes) -> str:
    for magic, name in UPLOAD_MEDIA_TYPES.items():
        if content.startswith(magic):
            return name
    if content.startswith(b"\x1f\x8b"):
        return "application/gzip"
    return "application/xml" if content.lstrip()[:1] == b"<" else "application/octet-stream"


def routing_problem(finding: Any) -> Problem:
    return Problem(finding.field, finding.message, finding.reason_code, "FR-ROUTING")


def mandate_problem(data: InvoiceData) -> Problem:
    return Problem(
        "supplier_id",
        f"the submitter holds no mandate for supplier {data.supplier_id or '(none)'}",
        ReasonCode.SIRET_ERR,
        "FLOW-MANDATE",
    )


def duplicate_problem(data: InvoiceData) -> Problem:
    return Problem(
        "number",
        f"invoice {data.number!r} of {data.supplier_key} for {data.issue_date.year} "
        "was already submitted",
        ReasonCode.DOUBLON,
        "FR-DOUBLON",
    )


@dataclass(frozen=True)
class Received:
    flow: Flow
    created: bool  # False: the same upload by the same submitter was already received


class FlowIntake:
    def __init__(
        self, app: InvoicingApp, documents: DocumentStorage, intake: IntakeSettings
    ) -> None:
        self.app = app
        self.documents = documents
        self.intake = intake
        self.limits = intake.limits
        self._executor: Executor | None = None

    # ------------------------------------------------------------------ receiving

    def receive(
        self,
        content: bytes,
        filename: str,
        submitter: str,
        scope: Sequence[str],
        mode: SubmissionMode = SubmissionMode.EDI,
        correlation_id: str = "",
    ) -> Received:
        """Keep the upload and record the flow; processing happens later (`process`)."""
        upload = self.documents.put(content, filename, media_type(content), role="upload")
        flow = Flow(
            submitter=submitter,
            upload=upload,
            mode=mode,
            scope=tuple(scope),
            correlation_id=correlation_id,
        )
        try:
            self.app.save(flow)
        except IntegrityError:  # uploaded before: its flow, not a second one
            return Received(self.get(flow.id), created=False)
        metrics.FLOWS_RECEIVED.inc()
        return Received(flow, created=True)

    def get(self, flow_id: UUID) -> Flow:
        try:
            flow: Any = self.app.repository.get(flow_id)
        except AggregateNotFoundError:
            flow = None
        if not isinstance(flow, Flow):
            raise LookupError(f"no flow {flow_id}")
        return flow

    # ------------------------------------------------------------------ processing

    def process(self, flow_id: UUID) -> Flow:
        """Process a received flow to its end, or resume one a crash interrupted."""
        flow = self.get(flow_id)
        if flow.status.is_final:
            return flow
        content = self.documents.get(flow.upload.sha256)
        try:
            unpacked = unpack(content, flow.upload.filename, self.limits)
        except Rejection as rejection:
            if flow.status is FlowStatus.RECEIVED:
                flow.refuse(tuple(f.as_problem() for f in rejection.errors))
                self.app.save(flow)
                metrics.FLOWS_FINISHED.labels(flow.status.value).inc()
            return flow
        if flow.status is FlowStatus.RECEIVED:
            flow.open(tuple(e.name for e in unpacked.entries + unpacked.refused))
            for refused in unpacked.refused:
                flow.reject_entry(refused.name, (refused.finding.as_problem(),))
            self.app.save(flow)
        pending = set(flow.pending)
        todo = [(e.name, e.content) for e in unpacked.entries if e.name in pending]
        contents = dict(todo)
        for chunk in _chunks(self._check_all(todo), CHUNK):
            flow = self._settle(flow, chunk, contents)
        flow.finish()
        self.app.save(flow)
        metrics.FLOWS_FINISHED.labels(flow.status.value).inc()
        log.info(
            "flow %s %s: %d integrated, %d rejected",
            flow.id,
            flow.status,
            len(flow.integrated),
            len(flow.rejected),
        )
        return flow

    def _check_all(self, todo: list[tuple[str, bytes]]) -> Iterator[Checked]:
        """Check entries in order, on every core when there are several."""
        if len(todo) <= 1 or self.workers == 1:
            for name, content in todo:
                yield check_entry(name, content, self.limits)
            return
        names, contents = zip(*todo, strict=True)
        limits = repeat(self.limits)
        yield from self.executor.map(check_entry, names, contents, limits, chunksize=4)

    def _settle(
        self, flow: Flow, chunk: list[Checked], contents: dict[str, bytes], retry: bool = True
    ) -> Flow:
        """Settle a chunk of checked entries in one transaction with their invoices."""
        invoices: list[Invoice] = []
        seen: set[UUID] = set()
        structures: dict[str, Structure | None] = {}  # directory lookups of the chunk
        for checked in chunk:
            invoice, problems = self._admit(flow, checked, seen, structures)
            if invoice is None:
                flow.reject_entry(checked.entry, problems)
                metrics.INVOICES_REJECTED.labels(problems[0].reason_code).inc()
            else:
                flow.integrate(checked.entry, invoice.id, invoice.data.number, problems)
                invoices.append(invoice)
                seen.add(invoice.id)
        self.documents.put_many(
            (document, contents[c.entry])
            for c in chunk
            if c.data is not None
            for document in c.data.documents
        )
        try:
            self.app.save(flow, *invoices)
        except IntegrityError:
            if not retry:
                raise
            # One of these invoices was submitted meanwhile by another channel: nothing of
            # the chunk was saved. Settle its entries again one at a time from the record.
            log.warning("flow %s: conflict saving a chunk; settling one by one", flow.id)
            flow = self.get(flow.id)
            for checked in chunk:
                if checked.entry in flow.pending:
                    flow = self._settle_alone(flow, checked, contents)
            return flow
        metrics.INVOICES_INTEGRATED.inc(len(invoices))
        return flow

    def _settle_alone(self, flow: Flow, checked: Checked, contents: dict[str, bytes]) -> Flow:
        try:
            return self._settle(flow, [checked], contents, retry=False)
        except IntegrityError:
            flow = self.get(flow.id)  # its invoice collided: a duplicate after all
        if checked.entry in flow.pending and checked.data is not None:
            flow.reject_entry(checked.entry, (duplicate_problem(checked.data),))
            self.app.save(flow)  # a conflict here means another processor: let it raise
        return flow

    def _admit(
        self,
        flow: Flow,
        checked: Checked,
        seen: set[UUID],
        structures: dict[str, Structure | None],
    ) -> tuple[Invoice | None, tuple[Problem, ...]]:
        """The invoice an accepted entry becomes, or the problems that refuse it. A duplicate
        of an invoice recorded earlier is caught by the event store when the chunk is saved
        (`_settle`); one repeated within the chunk, here."""
        data = checked.data
        if data is None:
            return None, checked.problems
        if "*" not in flow.scope and data.supplier_id not in flow.scope:
            return None, (mandate_problem(data),)
        routing = self.app.routing_findings(data, structures)
        if routing:
            return None, tuple(routing_problem(f) for f in routing)
        invoice = self.app.new_invoice(data, flow.mode, flow.submitter, str(flow.id))
        if invoice.id in seen:
            return None, (duplicate_problem(data),)
        return invoice, checked.problems

    # ------------------------------------------------------------------ workers

    @property
    def workers(self) -> int:
        return self.intake.workers or os.cpu_count() or 1

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            # Spawned, not forked: this process runs Kafka and database threads.
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)


def _exit_with_parent(parent: int) -> None:
    """In a validating worker: exit when the process that started it is gone. A killed
    parent (SIGKILL, OOM) runs no shutdown, and its orphans would hold memory forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _chunks(items: Iterator[Checked], size: int) -> Iterator[list[Checked]]:
    chunk: list[Checked] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class FlowProcessor:
    """The flow topic's consumer: processes each flow when its `Received` event arrives
    (through the shared consumer mechanism, offsets kept in PostgreSQL)."""

    schemas: tuple[str, ...] = ()

    def __init__(self, intake: FlowIntake, group_id: str, topic: str) -> None:
        self.intake = intake
        self.group_id = group_id
        self.topic = topic

    @staticmethod
    def decode(value: bytes) -> FlowEvent:
        return flow_from_value(value)

    def apply(self, cur: Any, events: list[FlowEvent]) -> None:
        for event in events:
            if event.event_type == FlowEventType.RECEIVED:
                self.intake.process(UUID(event.flow_id))


__all__ = ["FlowIntake", "FlowProcessor", "Received", "describe"]
