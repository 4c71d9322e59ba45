"""Bearer tokens bound to a role and a scope. Only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg


class ApiRole(StrEnum):
    SUPPLIER = "supplier"  # scope: the supplier identifier (e.g. its SIRET)
    BUYER = "buyer"  # scope: the buyer structure's SIRET (its services and accounting)
    OPERATOR = "operator"  # scope: the supplier ids it holds a mandate for, comma-separated
    AUDITOR = "auditor"  # scope: '*', read-only
    ADMIN = "admin"  # scope: '*'


@dataclass(frozen=True)
class Principal:
    role: ApiRole
    scope: str
    label: str

    @property
    def actor(self) -> str:
        """How the principal appears in the timeline."""
        return f"{self.role}:{self.scope}" if self.scope != "*" else f"{self.role}:{self.label}"

    @property
    def suppliers(self) -> tuple[str, ...]:
        """The suppliers this principal submits for: ("*",) for all."""
        if self.role is ApiRole.ADMIN:
            return ("*",)
        if self.role is ApiRole.SUPPLIER:
            return (self.scope,)
        if self.role is ApiRole.OPERATOR:  # "*" is never a mandate
            return tuple(
                s for s in (s.strip() for s in self.scope.split(",")) if s not in ("", "*")
            )
        return ()

    def submits_for(self, supplier_id: str) -> bool:
        return "*" in self.suppliers or supplier_id in self.suppliers

    @property
    def invoices(self) -> InvoiceScope:
        """Which invoices the principal sees: the one rule every route and page applies, to
        single invoices (`sees`) and to lists alike."""
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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: psycopg.Connection[Any], role: ApiRole, scope: str, label: str) -> str:
    if role in (ApiRole.AUDITOR, ApiRole.ADMIN):
        scope = "*"
    elif not scope or scope == "*":
        raise ValueError(
            f"a {role} token needs a scope (supplier id, buyer SIRET, or mandated supplier ids)"
        )
    token = "fct_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_token (token_sha256, role, scope, label) VALUES (%s, %s, %s, %s)",
        (_digest(token), role.value, scope, label),
    )
    return token


def authenticate(conn: psycopg.Connection[Any], token: str) -> Principal | None:
    row = conn.execute(
        "SELECT role, scope, label FROM api_token WHERE token_sha256 = %s AND revoked_at IS NULL",
        (_digest(token),),
    ).fetchone()
    if row is None:
        return None
    return Principal(ApiRole(row[0]), str(row[1]), str(row[2]))
