"""The directory application: public buyer structures as event-sourced aggregates.

Its events go to their own table (`directory_events`, from the application's name) in the
same PostgreSQL database as the invoices; the relay does not publish them.

Loading a file (`load_json`, `load_csv`; the formats: `directory_files`) records only the
differences with what the directory holds, in one transaction.

Read side
---------
The portal shows buyers by name and searches them: tables derived from the events
(`adapters/directory_index.py`; in memory without PostgreSQL), caught up from the
notification log after every save and when the application starts, so a process killed
between the two leaves them behind only until the next start or save.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Recording

from facturier.adapters.directory_index import (
    INDEX_BATCH,
    SEARCH_CANDIDATES,
    SEARCH_LIMIT,
    BuyerMatch,
    DirectoryIndex,
    MemoryDirectoryIndex,
    PostgresDirectoryIndex,
    names,
    query_words,
    search,
    search_query,
    service_names,
    words,
)
from facturier.adapters.postgres import apply_schema, ddl_lock
from facturier.domain.directory import RoutingFinding, Structure, check_routing, structure_id
from facturier.domain.model import InvalidCommand
from facturier.services.application.directory_files import (
    ADMIN_ACTOR,
    DirectoryFileError,
    ServiceSpec,
    StructureSpec,
    read_csv,
    read_document,
    read_json,
    reconcile,
)

if TYPE_CHECKING:
    from facturier.config.settings import PostgresSettings

# The entry points reach the directory, its files and its read side through this module.
__all__ = [
    "ADMIN_ACTOR",
    "SEARCH_CANDIDATES",
    "SEARCH_LIMIT",
    "BuyerMatch",
    "DirectoryApp",
    "DirectoryFileError",
    "LoadReport",
    "ServiceSpec",
    "StructureAlreadyRegistered",
    "StructureNotFound",
    "StructureSpec",
    "names",
    "query_words",
    "read_document",
    "search",
    "search_query",
    "service_names",
    "structure_view",
    "words",
]


@dataclass
class LoadReport:
    """What a load recorded."""

    registered: int = 0
    changed: int = 0
    unchanged: int = 0
    events: int = 0
    sirets: list[str] = field(default_factory=list)


class DirectoryApp(Application[UUID]):
    name = "directory"

    def __init__(
        self,
        postgres: PostgresSettings | None = None,
        env: dict[str, str] | None = None,
        index: DirectoryIndex | None = None,
    ) -> None:
        """Without `postgres`, the library's in-memory store and an in-memory read side."""
        merged = postgres.eventsourcing_env() if postgres else {}
        merged.update(env or {})
        with ddl_lock(postgres):
            super().__init__(merged)
        if postgres is not None:
            apply_schema(postgres, "directory")
        self.index: DirectoryIndex = index or (
            PostgresDirectoryIndex(postgres) if postgres else MemoryDirectoryIndex()
        )
        self.catch_up_index()

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        recordings = super().save(*objs, **kwargs)
        # The structures just saved are as the store now has them: no need to read them back.
        self.catch_up_index({s.id: s for s in objs if isinstance(s, Structure)})
        return recordings

    def catch_up_index(self, known: Mapping[UUID, Structure] | None = None) -> int:
        """Bring the read side up to the newest event; returns the structures re-indexed
        (`known`: structures in their saved state, read from the store otherwise).

        The event store's inserts lock its table, so notification ids are committed in order
        and none can appear below the position later."""
        known = known or {}
        indexed = 0
        with self.index.catching_up() as update:
            while True:
                batch = self.recorder.select_notifications(
                    start=update.position, limit=INDEX_BATCH, inclusive_of_start=False
                )
                if not batch:
                    break
                latest: dict[UUID, int] = {}
                for n in batch:
                    key = UUID(str(n.originator_id))
                    latest[key] = max(latest.get(key, 0), int(n.originator_version or 0))
                for originator_id, version in latest.items():
                    # A structure saved here is used only if no other process saved it since.
                    saved = known.get(originator_id)
                    structure: Structure = (
                        saved
                        if saved is not None and saved.version == version
                        else self.repository.get(originator_id)
                    )
                    update.put(structure)
                    indexed += 1
                update.position = batch[-1].id
        return indexed

    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[BuyerMatch]:
        """The buyers and services matching `text` (by name, SIRET, service code or name),
        by name; nothing for fewer than 2 characters."""
        return self.index.search(text, limit)

    # Queries

    def find(self, siret: str) -> Structure | None:
        """The structure registered at `siret`, or None."""
        try:
            structure: Structure = self.repository.get(structure_id(siret))
        except AggregateNotFoundError:
            return None
        return structure

    def get(self, siret: str) -> Structure:
        structure = self.find(siret)
        if structure is None:
            raise StructureNotFound(siret)
        return structure

    def check(self, siret: str, service_code: str, order_reference: str) -> list[RoutingFinding]:
        """Why an invoice so addressed cannot be routed (empty: it can)."""
        return check_routing(self.find(siret), siret, service_code, order_reference)

    # Commands (the admin API's)

    def register(
        self,
        siret: str,
        name: str,
        kind: str,
        actor: str = ADMIN_ACTOR,
        service_code_required: bool = False,
        order_reference_required: bool = False,
        service_code_or_order_reference_required: bool = False,
    ) -> Structure:
        structure = Structure(
            siret=siret,
            name=name,
            kind=kind,
            actor=actor,
            service_code_required=service_code_required,
            order_reference_required=order_reference_required,
            service_code_or_order_reference_required=service_code_or_order_reference_required,
        )
        try:
            self.save(structure)
        except IntegrityError:
            raise StructureAlreadyRegistered(siret) from None
        return structure

    def change_settings(
        self,
        siret: str,
        name: str,
        kind: str,
        service_code_required: bool,
        order_reference_required: bool,
        service_code_or_order_reference_required: bool = False,
        actor: str = ADMIN_ACTOR,
    ) -> Structure:
        structure = self.get(siret)
        structure.change_settings(
            name=name,
            kind=kind,
            service_code_required=service_code_required,
            order_reference_required=order_reference_required,
            service_code_or_order_reference_required=service_code_or_order_reference_required,
            actor=actor,
        )
        self.save(structure)
        return structure

    def deactivate(self, siret: str, actor: str = ADMIN_ACTOR, reason: str = "") -> Structure:
        structure = self.get(siret)
        structure.deactivate(actor=actor, reason=reason)
        self.save(structure)
        return structure

    def activate(self, siret: str, actor: str = ADMIN_ACTOR) -> Structure:
        structure = self.get(siret)
        structure.activate(actor=actor)
        self.save(structure)
        return structure

    def add_service(self, siret: str, code: str, name: str, actor: str = ADMIN_ACTOR) -> Structure:
        structure = self.get(siret)
        structure.add_service(code=code, name=name, actor=actor)
        self.save(structure)
        return structure

    def deactivate_service(self, siret: str, code: str, actor: str = ADMIN_ACTOR) -> Structure:
        structure = self.get(siret)
        structure.deactivate_service(code=code, actor=actor)
        self.save(structure)
        return structure

    def activate_service(self, siret: str, code: str, actor: str = ADMIN_ACTOR) -> Structure:
        structure = self.get(siret)
        structure.activate_service(code=code, actor=actor)
        self.save(structure)
        return structure

    def register_order_reference(
        self, siret: str, order_reference: str, actor: str = ADMIN_ACTOR
    ) -> Structure:
        structure = self.get(siret)
        structure.register_order_reference(order_reference=order_reference, actor=actor)
        self.save(structure)
        return structure

    # Loading

    def load_json(self, path: Path, actor: str = ADMIN_ACTOR) -> LoadReport:
        return self.load(read_json(path), actor)

    def load_csv(
        self,
        structures: Path,
        services: Path | None = None,
        order_references: Path | None = None,
        actor: str = ADMIN_ACTOR,
    ) -> LoadReport:
        return self.load(read_csv(structures, services, order_references), actor)

    def load(self, specs: Iterable[StructureSpec], actor: str = ADMIN_ACTOR) -> LoadReport:
        """Record what differs between `specs` and the directory, in one transaction."""
        report = LoadReport()
        pending: list[Structure] = []
        for spec in specs:
            existing = self.find(spec.siret)
            try:
                structure = reconcile(existing, spec, actor)
            except InvalidCommand as error:
                raise DirectoryFileError(f"structure {spec.siret}: {error}") from None
            new_events = len(structure.pending_events)
            if new_events == 0:
                report.unchanged += 1
                continue
            if existing is None:
                report.registered += 1
            else:
                report.changed += 1
            report.events += new_events
            report.sirets.append(structure.siret)
            pending.append(structure)
        if pending:
            try:
                self.save(*pending)
            except IntegrityError:  # registered concurrently: load again to reconcile
                raise DirectoryFileError("the directory changed during the load; retry") from None
        return report


def structure_view(structure: Structure) -> dict[str, Any]:
    """A structure as the API and CLI show it (the JSON load format, plus state)."""
    return {
        "siret": structure.siret,
        "name": structure.name,
        "kind": structure.kind.value,
        "active": structure.active,
        "service_code_required": structure.service_code_required,
        "order_reference_required": structure.order_reference_required,
        "service_code_or_order_reference_required": (
            structure.service_code_or_order_reference_required
        ),
        "services": [
            {"code": s.code, "name": s.name, "active": s.active}
            for s in sorted(structure.services.values(), key=lambda s: s.code)
        ],
        "order_references": sorted(structure.order_references),
    }


class StructureNotFound(LookupError):
    def __init__(self, siret: str) -> None:
        self.siret = siret
        super().__init__(f"no public buyer with SIRET {siret} in the directory")


class StructureAlreadyRegistered(ValueError):
    def __init__(self, siret: str) -> None:
        self.siret = siret
        super().__init__(f"a public buyer with SIRET {siret} is already registered")
