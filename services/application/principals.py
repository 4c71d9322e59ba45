"""Who calls: an API role bound to a scope, and the one rule of which invoices it sees.

A token (JSON API) and a portal session both stand for a `Principal`; every route, page and
list applies `Principal.invoices` so that single invoices and lists agree. An operator's
scope names its own organisation; the suppliers it acts for are its mandates in force
(`acting_for`, from the authorisation projection: `authorisation.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from stdnum.fr import siret

from facturier.domain.text import is_siret


class ApiRole(StrEnum):
    SUPPLIER = "supplier"  # scope: the supplier identifier (e.g. its SIRET)
    BUYER = "buyer"  # scope: the buyer structure's SIRET (its services and accounting)
    OPERATOR = "operator"  # scope: its own organisation's identifier; acts by mandates
    AUDITOR = "auditor"  # scope: '*', read-only
    ADMIN = "admin"  # scope: '*'


class InvalidScope(ValueError):
    """A scope that does not fit its role; the message is one line."""


_SIRET = re.compile(r"[0-9]{14}")  # ASCII digits only: no fullwidth or Arabic-Indic ones
_PRINTABLE = re.compile(r"[\x20-\x7e]+")


def _supplier_id(value: str, role: ApiRole) -> str:
    found = value.strip()
    if not found:
        raise InvalidScope(f"a {role} scope has an empty supplier identifier")
    if len(found) > 40:
        raise InvalidScope(f"supplier identifier {found[:40]!r}... is longer than 40 characters")
    if "*" in found:
        raise InvalidScope(f"'*' (every supplier) is for admins: a {role} token names its own")
    if not _PRINTABLE.fullmatch(found):
        raise InvalidScope(f"supplier identifier {found!r}: printable ASCII characters only")
    if found.isdigit() and len(found) == 14 and not siret.is_valid(found):
        raise InvalidScope(f"{found} is not a valid SIRET")
    return found


def parse_scope(role: ApiRole, scope: str) -> tuple[str, ...]:
    """The suppliers a scope names, checked against its role: one supplier id for a supplier,
    none for an operator (its scope is its organisation's identifier; its mandates say for
    whom it acts) or for a buyer (its scope is a SIRET), and '*' only for auditors and admins
    (`("*",)` for an admin, who submits for everyone). Raises InvalidScope otherwise."""
    if role in (ApiRole.AUDITOR, ApiRole.ADMIN):
        if scope != "*":
            raise InvalidScope(f"an {role} token's scope is '*' (all), not {scope!r}")
        return ("*",) if role is ApiRole.ADMIN else ()
    if role is ApiRole.BUYER:
        if not _SIRET.fullmatch(scope) or not siret.is_valid(scope):
            raise InvalidScope(f"a buyer's scope is its structure's SIRET (14 digits): {scope!r}")
        return ()
    if "," in scope:
        raise InvalidScope(f"a {role} token has one organisation identifier (no comma)")
    found = _supplier_id(scope, role)
    return (found,) if role is ApiRole.SUPPLIER else ()


def normal_scope(role: ApiRole, scope: str) -> str:
    """The scope as stored: checked, without surrounding blanks."""
    parse_scope(role, scope)
    return scope.strip()


@dataclass(frozen=True)
class Principal:
    role: ApiRole
    scope: str
    label: str
    # An operator's mandates in force: supplier id -> the submission modes it may use.
    mandates: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False)
    # Parsed once, when the principal is made: a scope that does not parse is refused here.
    suppliers: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        suppliers = parse_scope(self.role, self.scope)
        if self.role is ApiRole.OPERATOR:
            suppliers = tuple(sorted(self.mandates))
        object.__setattr__(self, "suppliers", suppliers)

    def acting_for(self, mandates: Mapping[str, frozenset[str]]) -> Principal:
        """The same operator, with the mandates in force now."""
        return replace(self, mandates=dict(mandates))

    @property
    def actor(self) -> str:
        """How the principal appears in the timeline."""
        return f"{self.role}:{self.scope}" if self.scope != "*" else f"{self.role}:{self.label}"

    def submits_for(self, supplier_id: str, mode: str | None = None) -> bool:
        """Whether it submits that supplier's invoices (in `mode`, for an operator whose
        mandate names its modes)."""
        if self.role is ApiRole.OPERATOR and mode is not None:
            return mode in self.mandates.get(supplier_id, frozenset())
        return "*" in self.suppliers or supplier_id in self.suppliers

    def suppliers_for(self, mode: str) -> tuple[str, ...]:
        """The suppliers it submits for in `mode`."""
        return tuple(s for s in self.suppliers if self.submits_for(s, mode))

    @property
    def invoices(self) -> InvoiceScope:
        """Which invoices the principal sees: the one rule every route and page applies, to
        single invoices (`sees`) and to lists alike. An operator follows the invoices of the
        suppliers whose mandate is in force."""
        if self.role in (ApiRole.AUDITOR, ApiRole.ADMIN):
            return InvoiceScope(None, None)
        if self.role is ApiRole.BUYER:
            return InvoiceScope(None, self.scope)
        return InvoiceScope(self.suppliers, None)

    def sees(self, supplier_id: str, recipient_siret: str) -> bool:
        return self.invoices.holds(supplier_id, recipient_siret)

    def reads_structure(self, siret: str) -> bool:
        """A structure's own books (its FEC, its payment terms): its buyer, auditors, admins."""
        if self.role in (ApiRole.AUDITOR, ApiRole.ADMIN):
            return True
        return self.role is ApiRole.BUYER and self.scope == siret


@dataclass(frozen=True)
class InvoiceScope:
    """The invoices of `suppliers` (None: of any supplier) addressed to `recipient` (None: to
    any structure). An operator without a valid mandate has `suppliers == ()`: nothing."""

    suppliers: tuple[str, ...] | None
    recipient: str | None

    def holds(self, supplier_id: str, recipient_siret: str) -> bool:
        return (self.suppliers is None or supplier_id in self.suppliers) and (
            self.recipient is None or recipient_siret == self.recipient
        )


def principal_of(role: str, scope: str, label: str) -> Principal | None:
    """The principal of a stored row, or None when the row does not hold a valid one (a
    scope written before scopes were checked, or by hand)."""
    try:
        return Principal(ApiRole(role), scope, label)
    except ValueError:
        return None


class StructureForbidden(PermissionError):
    pass


class NotASiret(ValueError):
    def __init__(self, siret: str) -> None:
        super().__init__(f"{siret} is not a valid SIRET")


def structure_reader(caller: Principal, siret: str) -> None:
    """StructureForbidden unless `caller` reads the structure's books; NotASiret for a
    SIRET that is not one."""
    if not caller.reads_structure(siret):
        raise StructureForbidden(f"only structure {siret}, auditors and admins")
    if not is_siret(siret):
        raise NotASiret(siret)
