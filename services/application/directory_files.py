"""Directory files: what an administrator loads into the directory, read and checked.

`read_json(path)` (`DirectoryApp.load_json`) reads one document::

    {"structures": [
      {"siret": "11000201100044", "name": "Ministère X", "kind": "state",
       "active": true,
       "service_code_required": true, "order_reference_required": false,
       "service_code_or_order_reference_required": false,
       "services": [{"code": "SERV-1", "name": "Service facturier", "active": true}],
       "order_references": ["EJ00000001"]}
    ]}

`read_csv(structures, services=None, order_references=None)` (`DirectoryApp.load_csv`) reads
UTF-8 CSV files with a header row (`,` or `;` separated, detected):

- structures: `siret,name,kind,active,service_code_required,order_reference_required`
  and optionally `service_code_or_order_reference_required`;
- services: `siret,code,name,active`;
- order references (EJs): `siret,order_reference`.

`kind` is one of `state`, `local`, `hospital`, `other`. Booleans are `true/false`,
`yes/no`, `oui/non` or `1/0`; an empty `active` means true, an empty flag means false.
Optional keys default the same way in JSON.

A file describes the structures it names, not the whole directory: structures, services and
EJs it does not mention are left as they are (a structure leaves only by `active: false`).
Loading records only the differences with what the directory holds (`reconcile`: registration,
settings change, (de)activation, service added, renamed or (de)activated, EJ registered), all in
one transaction; loading the same file again records nothing. The whole file is checked before
anything is recorded: one wrong line and nothing is loaded (`DirectoryFileError` names it).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facturier.domain.directory import Structure, StructureKind, compact_siret
from facturier.domain.model import InvalidCommand
from facturier.domain.text import reference_problem, text_problem

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


def reconcile(existing: Structure | None, spec: StructureSpec, actor: str) -> Structure:
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
            reconcile(None, spec, ADMIN_ACTOR)  # the commands' own checks, on a scratch copy
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


class DirectoryFileError(ValueError):
    """A directory file is wrong; the message names the file, line or item, and the field."""
