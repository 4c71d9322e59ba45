"""The directory of public buyers: who may receive invoices, through which services.

A `Structure` is one public buyer (destinataire, docs/DOMAIN.md §2), identified by its SIRET. Its
settings say what routing data an invoice must carry: a service code (code service
exécutant), an order reference (engagement juridique, EJ), or at least one of the two. It has
services, each with a code, and may keep a list of known EJs. Every change is an event, as for
invoices; the id is derived from the SIRET, so a structure is registered once.

`check_routing` is the pure routing check of a submission against a structure (docs/DOMAIN.md §6,
"Identifiers"); each problem carries its reform reason code:

| problem | reason code | field |
|---|---|---|
| recipient SIRET not a valid SIRET | SIRET_ERR | recipient_siret |
| no structure with that SIRET | DEST_INC | recipient_siret |
| structure inactive | DEST_INC | recipient_siret |
| service code unknown, inactive, or missing when required | CODE_ROUTAGE_ERR | service_code |
| EJ missing when required (or both missing when either is) | REF_CT_ABSENT | order_reference |
| EJ not among the structure's known EJs, when it keeps a list | CMD_ERR | order_reference |

An inactive structure is DEST_INC, not DEST_ERR: for the platform it is not a recipient that
can receive anything (the directory knows no *reachable* recipient at that SIRET). DEST_ERR
stays the buyer's code for "this reached an existing recipient, but the wrong one" (the
default reason of `Invoice.mark_for_rerouting`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple, Protocol

from eventsourcing.domain import Aggregate, event

from facturier.domain.model import InvalidCommand, ReasonCode
from facturier.domain.text import is_siret

# Namespace of structure ids: id = uuid5(namespace, compact SIRET).
STRUCTURE_ID_NAMESPACE = uuid.UUID("9b3c7e1a-4d2f-4a8b-8c61-0f5e2d7a9c34")
MAX_ORDER_REFERENCE = 50  # 10 for State orders; some clients allow up to 50 (docs/DOMAIN.md §3)
MAX_CODE = 100


class StructureKind(StrEnum):
    STATE = "state"  # State services
    LOCAL = "local"  # local authorities
    HOSPITAL = "hospital"  # public hospitals
    OTHER = "other"  # other public bodies


@dataclass(frozen=True)
class Service:
    """A service of a structure: the *code service exécutant* an invoice is routed to."""

    code: str
    name: str
    active: bool = True


def compact_siret(value: str) -> str:
    """The SIRET without spaces or dots. (Not python-stdnum's compact(), which also turns
    fullwidth and other scripts' digits into ASCII ones: an invoice addressed so would be
    routed, then never found under the SIRET its buyer knows.)"""
    return value.replace(" ", "").replace(".", "")


def structure_id(siret: str) -> uuid.UUID:
    return uuid.uuid5(STRUCTURE_ID_NAMESPACE, compact_siret(siret))


def _require_siret(value: str) -> str:
    compacted = compact_siret(value)
    if not is_siret(compacted):
        raise InvalidCommand("siret", f"{value!r} is not a valid SIRET (14 digits 0-9)")
    return compacted


def _require_text(field_name: str, value: str, max_length: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidCommand(field_name, "required")
    if len(value) > max_length:
        raise InvalidCommand(field_name, f"at most {max_length} characters")
    return value


class Structure(Aggregate):
    """A public buyer structure of the directory."""

    @staticmethod
    def create_id(siret: str, **_: object) -> uuid.UUID:
        return structure_id(siret)

    @event("Registered")
    def __init__(
        self,
        siret: str,
        name: str,
        kind: str,
        actor: str,
        service_code_required: bool = False,
        order_reference_required: bool = False,
        service_code_or_order_reference_required: bool = False,
    ) -> None:
        self.siret = _require_siret(siret)
        self.active = True
        self.services: dict[str, Service] = {}
        self.order_references: set[str] = set()
        self._apply_settings(
            name,
            kind,
            service_code_required,
            order_reference_required,
            service_code_or_order_reference_required,
        )

    def _apply_settings(
        self,
        name: str,
        kind: str,
        service_code_required: bool,
        order_reference_required: bool,
        service_code_or_order_reference_required: bool,
    ) -> None:
        self.name = _require_text("name", name, 200)
        try:
            self.kind = StructureKind(kind)
        except ValueError:
            choices = ", ".join(StructureKind)
            raise InvalidCommand("kind", f"{kind!r} is not one of {choices}") from None
        self.service_code_required = bool(service_code_required)
        self.order_reference_required = bool(order_reference_required)
        self.service_code_or_order_reference_required = bool(
            service_code_or_order_reference_required
        )

    @event("SettingsChanged")
    def change_settings(
        self,
        name: str,
        kind: str,
        service_code_required: bool,
        order_reference_required: bool,
        service_code_or_order_reference_required: bool,
        actor: str,
    ) -> None:
        self._apply_settings(
            name,
            kind,
            service_code_required,
            order_reference_required,
            service_code_or_order_reference_required,
        )

    @event("Deactivated")
    def deactivate(self, actor: str, reason: str = "") -> None:
        if not self.active:
            raise InvalidCommand("active", "the structure is already inactive")
        self.active = False

    @event("Activated")
    def activate(self, actor: str) -> None:
        if self.active:
            raise InvalidCommand("active", "the structure is already active")
        self.active = True

    @event("ServiceAdded")
    def add_service(self, code: str, name: str, actor: str) -> None:
        code = _require_text("code", code, MAX_CODE)
        if code in self.services:
            raise InvalidCommand("code", f"service {code!r} already exists")
        self.services[code] = Service(code, _require_text("name", name, 200))

    @event("ServiceRenamed")
    def rename_service(self, code: str, name: str, actor: str) -> None:
        service = self._service(code)
        self.services[code] = replace(service, name=_require_text("name", name, 200))

    @event("ServiceDeactivated")
    def deactivate_service(self, code: str, actor: str) -> None:
        service = self._service(code)
        if not service.active:
            raise InvalidCommand("code", f"service {code!r} is already inactive")
        self.services[code] = replace(service, active=False)

    @event("ServiceActivated")
    def activate_service(self, code: str, actor: str) -> None:
        service = self._service(code)
        if service.active:
            raise InvalidCommand("code", f"service {code!r} is already active")
        self.services[code] = replace(service, active=True)

    @event("OrderReferenceRegistered")
    def register_order_reference(self, order_reference: str, actor: str) -> None:
        order_reference = _require_text("order_reference", order_reference, MAX_ORDER_REFERENCE)
        if order_reference in self.order_references:
            raise InvalidCommand("order_reference", f"{order_reference!r} is already known")
        self.order_references.add(order_reference)

    def _service(self, code: str) -> Service:
        try:
            return self.services[code]
        except KeyError:
            raise InvalidCommand("code", f"no service {code!r}") from None

    @property
    def keeps_order_references(self) -> bool:
        """A structure keeps a list of known EJs as soon as one is registered."""
        return bool(self.order_references)


class RoutingFinding(NamedTuple):
    """One reason a submission cannot be routed."""

    reason_code: ReasonCode
    field: str
    message: str

    def __str__(self) -> str:
        return f"[{self.reason_code}] {self.field}: {self.message}"


class StructureLookup(Protocol):
    """Anything that finds a structure by SIRET (the directory application, a test double)."""

    def find(self, siret: str) -> Structure | None: ...


def check_routing(
    structure: Structure | None,
    recipient_siret: str,
    service_code: str,
    order_reference: str,
) -> list[RoutingFinding]:
    """Why an invoice addressed so cannot be routed to `structure` (empty: it can).

    `structure` is what the directory holds at `recipient_siret` (None: nothing)."""
    if not is_siret(recipient_siret):
        return [
            RoutingFinding(ReasonCode.SIRET_ERR, "recipient_siret", "not a valid SIRET"),
        ]
    siret = compact_siret(recipient_siret)
    if structure is None:
        return [
            RoutingFinding(
                ReasonCode.DEST_INC,
                "recipient_siret",
                f"no public buyer with SIRET {siret} in the directory",
            )
        ]
    if structure.siret != siret:
        raise ValueError(f"structure {structure.siret} looked up for SIRET {siret}")
    if not structure.active:
        return [
            RoutingFinding(
                ReasonCode.DEST_INC,
                "recipient_siret",
                f"the public buyer {siret} ({structure.name}) is inactive",
            )
        ]
    code = service_code.strip()
    return _service_code_findings(structure, code) + _order_reference_findings(
        structure, order_reference.strip(), code
    )


def _service_code_findings(structure: Structure, code: str) -> list[RoutingFinding]:
    if code:
        service = structure.services.get(code)
        if service is None:
            return [
                RoutingFinding(
                    ReasonCode.CODE_ROUTAGE_ERR,
                    "service_code",
                    f"{structure.name} has no service {code!r}",
                )
            ]
        if not service.active:
            return [
                RoutingFinding(
                    ReasonCode.CODE_ROUTAGE_ERR,
                    "service_code",
                    f"the service {code!r} of {structure.name} is inactive",
                )
            ]
        return []
    if structure.service_code_required:
        return [
            RoutingFinding(
                ReasonCode.CODE_ROUTAGE_ERR,
                "service_code",
                f"{structure.name} requires a service code",
            )
        ]
    return []


def _order_reference_findings(
    structure: Structure, reference: str, code: str
) -> list[RoutingFinding]:
    if reference:
        if structure.keeps_order_references and reference not in structure.order_references:
            return [
                RoutingFinding(
                    ReasonCode.CMD_ERR,
                    "order_reference",
                    f"{structure.name} knows no order reference (EJ) {reference!r}",
                )
            ]
        return []
    if structure.order_reference_required:
        return [
            RoutingFinding(
                ReasonCode.REF_CT_ABSENT,
                "order_reference",
                f"{structure.name} requires an order reference (EJ)",
            )
        ]
    if structure.service_code_or_order_reference_required and not code:
        return [
            RoutingFinding(
                ReasonCode.REF_CT_ABSENT,
                "order_reference",
                f"{structure.name} requires an order reference (EJ) or a service code",
            )
        ]
    return []
