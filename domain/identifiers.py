"""The identifiers of organisations: SIRET, EU VAT number, a non-EU registration number,
RIDET (New Caledonia), TAHITI (French Polynesia), or none (a private person, a company being
registered); each checked by its own rule (python-stdnum where one exists)."""

from __future__ import annotations

import re
from enum import StrEnum

from stdnum.eu import vat
from stdnum.fr import siret

from facturier.domain.model import InvalidCommand
from facturier.domain.text import is_ascii_digits


class IdentifierKind(StrEnum):
    SIRET = "siret"
    EU_VAT = "eu-vat"  # a company of another EU member state
    NON_EU = "non-eu"  # outside the EU: its own registration number
    RIDET = "ridet"  # New Caledonia
    TAHITI = "tahiti"  # French Polynesia
    PRIVATE = "private"  # a private person: no identifier
    REGISTERING = "registering"  # a company being registered: none yet


# Kinds without an identifier of their own: each creation is a new organisation.
UNIDENTIFIED = frozenset({IdentifierKind.PRIVATE, IdentifierKind.REGISTERING})


def checked_identifier(kind: str, identifier: str) -> tuple[IdentifierKind, str]:
    """The identifier in its compact form, or InvalidCommand("identifier")."""
    try:
        known = IdentifierKind(kind)
    except ValueError:
        raise InvalidCommand("kind", f"one of {', '.join(IdentifierKind)}") from None
    compact = "".join(identifier.split()).upper()
    if known in UNIDENTIFIED:
        return known, ""
    if not _valid(known, compact):
        raise InvalidCommand("identifier", f"not a valid {known} identifier")
    return known, compact


PATTERNS = {
    IdentifierKind.NON_EU: re.compile(r"[A-Z0-9][A-Z0-9./-]{1,39}"),
    IdentifierKind.RIDET: re.compile(r"[0-9]{6,7}[0-9]{3}"),  # company (6-7) + establishment
    IdentifierKind.TAHITI: re.compile(r"[A-Z0-9][0-9]{5}[0-9]{3}"),  # number + establishment
}


def _valid(kind: IdentifierKind, value: str) -> bool:
    if kind is IdentifierKind.SIRET:
        return is_ascii_digits(value, 14) and bool(siret.is_valid(value))
    if kind is IdentifierKind.EU_VAT:
        return not value.startswith("FR") and _eu_vat(value)
    return PATTERNS[kind].fullmatch(value) is not None


def _eu_vat(value: str) -> bool:
    try:
        return bool(vat.is_valid(value)) and value.isascii()
    except Exception:  # stdnum raises on country codes it does not know
        return False
