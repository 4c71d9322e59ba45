"""The directory application: public buyer structures as event-sourced aggregates.

Its events go to their own table (`directory_events`, from the application's name) in the
same PostgreSQL database as the invoices; the relay does not publish them.

Loading files
-------------
`load_json(path)` reads one document::

    {"structures": [
      {"siret": "11000201100044", "name": "Ministère X", "kind": "state",
       "active": true,
       "service_code_required": true, "order_reference_required": false,
       "service_code_or_order_reference_required": false,
       "services": [{"code": "SERV-1", "name": "Service facturier", "active": true}],
       "order_references": ["EJ00000001"]}
    ]}

`load_csv(structures, services=None, order_references=None)` reads UTF-8 CSV files with a
header row (`,` or `;` separated, detected):

- structures: `siret,name,kind,active,service_code_required,order_reference_required`
  and optionally `service_code_or_order_reference_required`;
- services: `siret,code,name,active`;
- order references (EJs): `siret,order_reference`.

`kind` is one of `state`, `local`, `hospital`, `other`. Booleans are `true/false`,
`yes/no`, `oui/non` or `1/0`; an empty `active` means true, an empty flag means false.
Optional keys default the same way in JSON.

A file describes the structures it names, not the whole directory: structures, services and
EJs it does not mention are left as they are (a structure leaves only by `active: false`).
Loading records only the differences with what the directory holds (registration, settings
change, (de)activation, service added, renamed or (de)activated, EJ registered), all in one
transaction; loading the same file again records nothing. The whole file is checked before
anything is recorded: one wrong line and nothing is loaded (`DirectoryFileError` names it).

Read side
---------
The portal shows buyers by name and searches them (`schemas/sql/directory.sql`): tables
derived from the events, caught up from the notification log after every save and when the
application starts, so a process killed between the two leaves them behind only until the
next start or save. `names`, `service_names` and `search` read them with a connection of the
caller's pool; every query is an index lookup, and a search reads a bounded number of rows
whatever the directory's size.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Recording

from facturier.adapters.postgres import apply_schema, ddl_lock
from facturier.domain.directory import (
    RoutingFinding,
    Service,
    Structure,
    StructureKind,
    check_routing,
    compact_siret,
    structure_id,
)
from facturier.domain.model import InvalidCommand
from facturier.domain.text import reference_problem, text_problem

if TYPE_CHECKING:
    from facturier.config.settings import Settings

ADMIN_ACTOR = "directory-admin"


@dataclass(frozen=True)
class ServiceSpec:
    code: str
    name: str
    active: bool = True


@dataclass(frozen=True)
class StructureSpec:
    """What a directory file says about one structure."""

    siret: str
    name: str
    kind: str
    active: bool = True
    service_code_required: bool = False
    order_reference_required: bool = False
    service_code_or_order_reference_required: bool = False
    services: tuple[ServiceSpec, ...] = ()
    order_references: tuple[str, ...] = ()


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

    def __init__(self, settings: Settings | None = None, env: dict[str, str] | None = None) -> None:
        merged = settings.eventsourcing_env() if settings else {}
        merged.update(env or {})
        with ddl_lock(settings):
            super().__init__(merged)
        # The read side lives in the same database; without settings (an in-memory store)
        # there is none.
        self._dsn = settings.dsn if settings else None
        if settings is not None:
            apply_schema(settings, "directory")
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

        One transaction, the position row locked: two processes catching up at once take
        turns. The event store's inserts lock its table, so notification ids are committed
        in order and none can appear below the position later."""
        known = known or {}
        if self._dsn is None:
            return 0
        indexed = 0
        with psycopg.connect(self._dsn) as conn:
            conn.execute(
                "INSERT INTO directory_index_position (one, notification_id) VALUES (true, 0)"
                " ON CONFLICT DO NOTHING"
            )
            row = conn.execute(
                "SELECT notification_id FROM directory_index_position FOR UPDATE"
            ).fetchone()
            position = int(row[0]) if row else 0
            while True:
                batch = self.recorder.select_notifications(
                    start=position, limit=INDEX_BATCH, inclusive_of_start=False
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
                    index_structure(conn, structure)
                    indexed += 1
                position = batch[-1].id
            conn.execute("UPDATE directory_index_position SET notification_id = %s", (position,))
        return indexed

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
                structure = _reconcile(existing, spec, actor)
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


def _reconcile(existing: Structure | None, spec: StructureSpec, actor: str) -> Structure:
    """`existing` with the commands that make it say what `spec` says (nothing if it does)."""
    settings = (
        spec.name.strip(),
        spec.kind,
        spec.service_code_required,
        spec.order_reference_required,
        spec.service_code_or_order_reference_required,
    )
    if existing is None:
        structure = Structure(
            siret=spec.siret,
            name=spec.name,
            kind=spec.kind,
            actor=actor,
            service_code_required=spec.service_code_required,
            order_reference_required=spec.order_reference_required,
            service_code_or_order_reference_required=spec.service_code_or_order_reference_required,
        )
    else:
        structure = existing
        current = (
            structure.name,
            structure.kind.value,
            structure.service_code_required,
            structure.order_reference_required,
            structure.service_code_or_order_reference_required,
        )
        if current != settings:
            structure.change_settings(
                name=spec.name,
                kind=spec.kind,
                service_code_required=spec.service_code_required,
                order_reference_required=spec.order_reference_required,
                service_code_or_order_reference_required=(
                    spec.service_code_or_order_reference_required
                ),
                actor=actor,
            )
    if spec.active and not structure.active:
        structure.activate(actor=actor)
    elif not spec.active and structure.active:
        structure.deactivate(actor=actor, reason="directory file")
    for service in spec.services:
        code = service.code.strip()
        known = structure.services.get(code)
        if known is None:
            structure.add_service(code=code, name=service.name, actor=actor)
            known = structure.services[code]
        elif known.name != service.name.strip():
            structure.rename_service(code=code, name=service.name, actor=actor)
        if service.active and not known.active:
            structure.activate_service(code=code, actor=actor)
        elif not service.active and known.active:
            structure.deactivate_service(code=code, actor=actor)
    for reference in spec.order_references:
        if reference.strip() not in structure.order_references:
            structure.register_order_reference(order_reference=reference, actor=actor)
    return structure


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


# The read side: names and search


INDEX_BATCH = 500
SEARCH_LIMIT = 20
MAX_QUERY_WORDS = 6
MAX_TERM = 100
# Rows a search reads at most before it sorts and cuts: a short query on a large directory
# stays bounded (its first matches, in the order of the terms, are shown).
SEARCH_CANDIDATES = 1000


def words(text: str) -> list[str]:
    """The words of `text` as the search compares them: accents dropped, lower case, split
    on whatever is not a letter or a digit."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [w[:MAX_TERM] for w in re.split(r"[\W_]+", plain) if w]


def entry_terms(structure: Structure, service: Service | None) -> set[str]:
    terms = set(words(structure.name)) | {structure.siret}
    if service is not None:
        terms |= set(words(service.code)) | set(words(service.name))
        compact = "".join(words(service.code))
        if compact:
            terms.add(compact[:MAX_TERM])  # "SE-FACT-01" found by "sefact01" too
    return terms


def index_structure(conn: psycopg.Connection[Any], structure: Structure) -> None:
    """The structure's rows of the read side, as it is now (replacing what they said)."""
    conn.execute("DELETE FROM directory_structure WHERE siret = %s", (structure.siret,))
    conn.execute(
        "INSERT INTO directory_structure (siret, name, kind, active, service_code_required,"
        " order_reference_required, service_code_or_order_reference_required)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            structure.siret,
            structure.name,
            structure.kind.value,
            structure.active,
            structure.service_code_required,
            structure.order_reference_required,
            structure.service_code_or_order_reference_required,
        ),
    )
    services = sorted(structure.services.values(), key=lambda s: s.code)
    with conn.cursor() as cur:
        if services:
            cur.executemany(
                "INSERT INTO directory_service (siret, code, name, active) VALUES (%s, %s, %s, %s)",
                [(structure.siret, s.code, s.name, s.active) for s in services],
            )
        if not structure.active:
            return  # shown by name on its old invoices, never offered
        entries: list[Service | None] = [s for s in services if s.active]
        if not structure.service_code_required or not entries:
            entries.insert(0, None)  # the structure itself, no particular service
        rows = [
            (term, structure.siret, service.code if service else "")
            for service in entries
            for term in sorted(entry_terms(structure, service))
        ]
        cur.executemany(
            "INSERT INTO directory_search_term (term, siret, service_code) VALUES (%s, %s, %s)",
            rows,
        )


def names(conn: psycopg.Connection[Any], sirets: Iterable[str]) -> dict[str, str]:
    """The directory's name of each structure it knows among `sirets`."""
    wanted = sorted(set(sirets))
    if not wanted:
        return {}
    found = conn.execute(
        "SELECT siret, name FROM directory_structure WHERE siret = ANY(%s)", (wanted,)
    ).fetchall()
    return {str(siret): str(name) for siret, name in found}


def service_names(
    conn: psycopg.Connection[Any], services: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The directory's name of each (structure SIRET, service code) it knows."""
    wanted = sorted({(siret, code) for siret, code in services if code})
    if not wanted:
        return {}
    found = conn.execute(
        "SELECT s.siret, s.code, s.name FROM directory_service s"
        " JOIN unnest(%s::text[], %s::text[]) AS w(siret, code)"
        " ON s.siret = w.siret AND s.code = w.code",
        ([w[0] for w in wanted], [w[1] for w in wanted]),
    ).fetchall()
    return {(str(siret), str(code)): str(name) for siret, code, name in found}


@dataclass(frozen=True)
class BuyerMatch:
    """One place an invoice can be addressed to: a structure, and one of its services."""

    siret: str
    name: str
    service_code: str  # "": the structure itself
    service_name: str
    order_reference_required: bool


def query_words(text: str) -> list[str]:
    """The words of a search, the longest (most selective) first; a SIRET typed with
    spaces is one word."""
    compact = "".join(text.split())
    if compact.isdigit():
        return [compact[:14]]
    found = list(dict.fromkeys(words(text)))[:MAX_QUERY_WORDS]
    return sorted(found, key=len, reverse=True)


def search_query(terms: list[str], limit: int = SEARCH_LIMIT) -> tuple[str, list[Any]]:
    """The SQL of a search: every word a prefix of one of an entry's terms. The longest word
    drives an index range read of at most SEARCH_CANDIDATES rows; each other word is one
    index probe per candidate."""
    if not terms:
        raise ValueError("a search needs at least one word")
    prefixes = [_like_prefix(term) for term in terms]
    others = "".join(
        " AND EXISTS (SELECT 1 FROM directory_search_term o WHERE o.siret = t.siret"
        " AND o.service_code = t.service_code AND o.term LIKE %s)"
        for _ in prefixes[1:]
    )
    sql = (
        "SELECT s.siret, s.name, e.service_code, coalesce(v.name, ''),"
        " s.order_reference_required"
        " FROM (SELECT DISTINCT siret, service_code FROM ("
        f"SELECT t.siret, t.service_code FROM directory_search_term t WHERE t.term LIKE %s{others}"
        " LIMIT %s) AS hit) AS e"
        " JOIN directory_structure s ON s.siret = e.siret"
        " LEFT JOIN directory_service v ON v.siret = e.siret AND v.code = e.service_code"
        " ORDER BY s.name, s.siret, e.service_code LIMIT %s"
    )
    return sql, [*prefixes, SEARCH_CANDIDATES, limit]


def _like_prefix(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def search(conn: psycopg.Connection[Any], text: str, limit: int = SEARCH_LIMIT) -> list[BuyerMatch]:
    """The buyers and services matching `text` (by name, SIRET, service code or name), by
    name; nothing for fewer than 2 characters."""
    terms = query_words(text)
    if sum(len(t) for t in terms) < 2:
        return []
    sql, params = search_query(terms, max(1, min(limit, SEARCH_LIMIT)))
    return [
        BuyerMatch(str(siret), str(name), str(code), str(service), bool(needs_ej))
        for siret, name, code, service, needs_ej in conn.execute(sql, params).fetchall()
    ]


# Reading files


def read_json(path: Path) -> list[StructureSpec]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DirectoryFileError(f"{path.name}: {error}") from None
    return read_document(document, path.name)


def read_document(document: Any, source: str) -> list[StructureSpec]:
    """The structures of a JSON document (a file's content, or an API request body)."""
    if not isinstance(document, dict) or not isinstance(document.get("structures"), list):
        raise DirectoryFileError(f'{source}: expected {{"structures": [...]}}')
    specs: list[StructureSpec] = []
    for index, item in enumerate(document["structures"]):
        where = f"{source}: structures[{index}]"
        if not isinstance(item, dict):
            raise DirectoryFileError(f"{where}: an object expected")
        services: list[ServiceSpec] = []
        for s_index, service in enumerate(item.get("services", [])):
            if not isinstance(service, dict):
                raise DirectoryFileError(f"{where}.services[{s_index}]: an object expected")
            services.append(
                ServiceSpec(
                    code=_text(service, "code", f"{where}.services[{s_index}]"),
                    name=_text(service, "name", f"{where}.services[{s_index}]"),
                    active=_flag(service, "active", True, f"{where}.services[{s_index}]"),
                )
            )
        references = item.get("order_references", [])
        if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
            raise DirectoryFileError(f"{where}.order_references: a list of strings expected")
        for reference in references:
            problem = reference_problem(reference)
            if problem:
                raise DirectoryFileError(f"{where}.order_references: {reference!r} {problem}")
        specs.append(_structure_spec(item, where, tuple(services), tuple(references)))
    return _checked(specs, source)


def read_csv(
    structures: Path, services: Path | None = None, order_references: Path | None = None
) -> list[StructureSpec]:
    rows = list(_csv_rows(structures, ("siret", "name", "kind")))
    services_of: dict[str, list[ServiceSpec]] = {}
    for where, row in _csv_rows(services, ("siret", "code", "name")):
        services_of.setdefault(_siret_key(row, where), []).append(
            ServiceSpec(
                code=_text(row, "code", where),
                name=_text(row, "name", where),
                active=_flag(row, "active", True, where),
            )
        )
    references_of: dict[str, list[str]] = {}
    for where, row in _csv_rows(order_references, ("siret", "order_reference")):
        references_of.setdefault(_siret_key(row, where), []).append(
            _text(row, "order_reference", where)
        )
    specs = []
    for where, row in rows:
        key = _siret_key(row, where)
        specs.append(
            _structure_spec(
                row,
                where,
                tuple(services_of.pop(key, [])),
                tuple(references_of.pop(key, [])),
            )
        )
    orphans = sorted(set(services_of) | set(references_of))
    if orphans:
        raise DirectoryFileError(
            f"services or EJs for structures not in {structures.name}: {', '.join(orphans)}"
        )
    return _checked(specs, structures.name)


def _csv_rows(path: Path | None, required: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    if path is None:
        return
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DirectoryFileError(f"{path.name}: {error}") from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [column for column in required if column not in header]
    if missing:
        raise DirectoryFileError(f"{path.name}: missing column(s) {', '.join(missing)}")
    for row in reader:
        values = {
            (k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str)
        }
        if any(values.values()):
            yield f"{path.name}:{reader.line_num}", values


def _siret_key(row: Mapping[str, Any], where: str) -> str:
    return compact_siret(_text(row, "siret", where))


def _structure_spec(
    item: Mapping[str, Any],
    where: str,
    services: tuple[ServiceSpec, ...],
    order_references: tuple[str, ...],
) -> StructureSpec:
    kind = _text(item, "kind", where)
    if kind not in StructureKind.__members__.values():
        raise DirectoryFileError(f"{where}: kind {kind!r} is not one of {', '.join(StructureKind)}")
    return StructureSpec(
        siret=_text(item, "siret", where),
        name=_text(item, "name", where),
        kind=kind,
        active=_flag(item, "active", True, where),
        service_code_required=_flag(item, "service_code_required", False, where),
        order_reference_required=_flag(item, "order_reference_required", False, where),
        service_code_or_order_reference_required=_flag(
            item, "service_code_or_order_reference_required", False, where
        ),
        services=services,
        order_references=order_references,
    )


def _checked(specs: list[StructureSpec], source: str) -> list[StructureSpec]:
    """Each structure valid and named once; else DirectoryFileError before anything is saved."""
    seen: set[str] = set()
    for spec in specs:
        try:
            _reconcile(None, spec, ADMIN_ACTOR)  # the commands' own checks, on a scratch copy
        except InvalidCommand as error:
            raise DirectoryFileError(f"{source}: structure {spec.siret}: {error}") from None
        key = compact_siret(spec.siret)
        if key in seen:
            raise DirectoryFileError(f"{source}: structure {key} appears twice")
        seen.add(key)
    return specs


_TRUE = {"true", "yes", "oui", "1", "y", "o"}
_FALSE = {"false", "no", "non", "0", "n"}


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DirectoryFileError(f"{where}: {key} is required (a string)")
    problem = text_problem(value) if key == "name" else reference_problem(value)
    if problem:
        raise DirectoryFileError(f"{where}: {key} {problem}")
    return value.strip()


def _flag(item: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = item.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise DirectoryFileError(f"{where}: {key} must be true or false, not {value!r}")


class StructureNotFound(LookupError):
    def __init__(self, siret: str) -> None:
        self.siret = siret
        super().__init__(f"no public buyer with SIRET {siret} in the directory")


class StructureAlreadyRegistered(ValueError):
    def __init__(self, siret: str) -> None:
        self.siret = siret
        super().__init__(f"a public buyer with SIRET {siret} is already registered")


class DirectoryFileError(ValueError):
    """A directory file is wrong; the message names the file, line or item, and the field."""
