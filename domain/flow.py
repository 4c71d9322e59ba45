"""The Flow aggregate: one deposit (an EDI file or batch, or a PDF), from upload to report.

A flow records what happened to each of its entries: integrated as an invoice, or rejected
with every problem found. Entries are settled in the same transaction as the invoices they
create, so a flow interrupted by a crash resumes exactly where it stopped: no entry is lost
and none becomes two invoices.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from eventsourcing.domain import Aggregate, event

from facturier.domain.model import Document, Problem, SubmissionMode

# Namespace of flow ids: uuid5(submitter, SHA-256 of the upload), so an upload retried after
# a lost response finds its flow instead of starting a second one.
FLOW_ID_NAMESPACE = uuid.UUID("a1f3e2d4-6b5c-4e7f-8a9b-0c1d2e3f4a5b")


class FlowEventType(StrEnum):
    """The flow's event types, as stored and published (never change a value). Like the
    invoice's `EventType`, the aggregate's decorators take the plain `.value`."""

    RECEIVED = "Received"
    OPENED = "Opened"
    ENTRY_INTEGRATED = "EntryIntegrated"
    ENTRY_REJECTED = "EntryRejected"
    REFUSED = "Refused"
    FINISHED = "Finished"


class FlowStatus(StrEnum):
    """Chorus flow states (docs/DOMAIN.md §4)."""

    RECEIVED = "IN_RECU"
    PROCESSING = "IN_EN_COURS_TRAITEMENT"
    INTEGRATED = "IN_INTEGRE"
    PARTIALLY_INTEGRATED = "IN_INTEGRE_PARTIEL"
    REJECTED = "IN_REJETE"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({FlowStatus.INTEGRATED, FlowStatus.PARTIALLY_INTEGRATED, FlowStatus.REJECTED})


class Flow(Aggregate):
    @staticmethod
    def create_id(submitter: str, upload: Document, **_: object) -> uuid.UUID:
        return uuid.uuid5(FLOW_ID_NAMESPACE, f"{submitter}|{upload.sha256}")

    @event(FlowEventType.RECEIVED.value)
    def __init__(
        self,
        submitter: str,
        upload: Document,
        mode: SubmissionMode,
        scope: tuple[str, ...],
        correlation_id: str = "",
    ) -> None:
        self.submitter = submitter  # the actor who uploaded
        self.upload = upload
        self.mode = SubmissionMode(mode)  # (stored as text: an enum again on replay)
        # Supplier ids the submitter may submit for: a supplier its own, an operator its
        # mandates; ("*",) for an admin.
        self.scope = tuple(scope)
        self.status = FlowStatus.RECEIVED
        self.entries: tuple[str, ...] = ()
        self.integrated: dict[str, uuid.UUID] = {}
        self.rejected: dict[str, tuple[Problem, ...]] = {}
        self.warnings: dict[str, tuple[Problem, ...]] = {}
        self.problems: tuple[Problem, ...] = ()

    @event(FlowEventType.OPENED.value)
    def open(self, entries: tuple[str, ...]) -> None:
        """The upload was unpacked into `entries` (one for a single file)."""
        if self.status is not FlowStatus.RECEIVED:
            raise FlowError(f"flow {self.id} is {self.status}, not {FlowStatus.RECEIVED}")
        self.entries = tuple(entries)
        self.status = FlowStatus.PROCESSING

    @event(FlowEventType.ENTRY_INTEGRATED.value)
    def integrate(
        self, entry: str, invoice_id: uuid.UUID, number: str, warnings: tuple[Problem, ...] = ()
    ) -> None:
        self._settle(entry)
        self.integrated[entry] = invoice_id
        if warnings:
            self.warnings[entry] = tuple(warnings)

    @event(FlowEventType.ENTRY_REJECTED.value)
    def reject_entry(self, entry: str, problems: tuple[Problem, ...]) -> None:
        if not problems:
            raise FlowError("a rejected entry needs at least one problem")
        self._settle(entry)
        self.rejected[entry] = tuple(problems)

    @event(FlowEventType.REFUSED.value)
    def refuse(self, problems: tuple[Problem, ...]) -> None:
        """The upload as a whole cannot be read (corrupt archive, too many entries...)."""
        if self.status is not FlowStatus.RECEIVED:
            raise FlowError(f"flow {self.id} is already {self.status}")
        self.problems = tuple(problems)
        self.status = FlowStatus.REJECTED

    def finish(self) -> None:
        """Close the flow once every entry is settled; its final state follows the counts."""
        if self.pending:
            raise FlowError(f"{len(self.pending)} entries not settled yet")
        if not self.integrated:
            status = FlowStatus.REJECTED
        elif self.rejected:
            status = FlowStatus.PARTIALLY_INTEGRATED
        else:
            status = FlowStatus.INTEGRATED
        self._finished(status, len(self.integrated), len(self.rejected))

    @event(FlowEventType.FINISHED.value)
    def _finished(self, status: FlowStatus, integrated: int, rejected: int) -> None:
        self.status = FlowStatus(status)

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(e for e in self.entries if e not in self.integrated and e not in self.rejected)

    def _settle(self, entry: str) -> None:
        if self.status is not FlowStatus.PROCESSING:
            raise FlowError(f"flow {self.id} is {self.status}: no entry can be settled")
        if entry not in self.entries:
            raise FlowError(f"no entry {entry!r} in flow {self.id}")
        if entry in self.integrated or entry in self.rejected:
            raise FlowError(f"entry {entry!r} of flow {self.id} is already settled")


class FlowError(ValueError):
    """A flow command that its state does not allow."""
