"""Validate one submitted invoice file: `validate(content, filename)`.

Cheapest first, each step refusing with coded findings (`Rejection`):

1. type and size, from the length and the first bytes only (`IRR_VIDE_F`, `IRR_TAILLE_F`,
   `IRR_TYPE_F`);
2. XML safety before any other parser sees the XML (no DTD / entities, UTF-8 only), for a PDF
   on every embedded XML before factur-x reads it (`IRR_SYNTAX`);
3. syntax and profile detection (UBL 2.1 Invoice / CreditNote, CII D16B, Factur-X PDF);
4. XSD of the syntax / Factur-X profile (`IRR_SYNTAX`);
5. the official EN 16931 Schematron of the profile (`REJ_SEMAN`).

Steps 4 and 5 both run on a well-formed, detected invoice even when the XSD fails, so the
processing report lists every error at once (a supplier fixes them in one go); only warnings
never reject. The result carries the EN 16931 business terms `facturx.parse_ubl_cii_xml` reads
(BT-1, BT-2, BT-5, BT-115, seller BG-4, buyer BG-7, ...) for the next intake steps (routing,
duplicates), which are not done here.

No exception other than `Rejection` escapes `validate`: an unexpected failure inside a library
is logged and reported as `AUTRE`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import facturx  # type: ignore[import-untyped]

from facturier.domain.model import ReasonCode
from facturier.intake.detect import Container, Detected, Syntax, detect
from facturier.intake.errors import Finding, Rejection, reject
from facturier.intake.safety import DEFAULT_LIMITS, Limits
from facturier.intake.schematron import schematron_findings, xsd_findings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validated:
    """A file that passed every check; `findings` holds its warnings."""

    filename: str
    sha256: str
    size: int
    container: Container
    syntax: Syntax
    guideline_id: str  # BT-24
    profile: str
    known_guideline: bool
    embedded_filename: str | None
    xml: bytes = field(repr=False)
    findings: tuple[Finding, ...]
    terms: Mapping[str, Any] = field(repr=False)  # EN 16931 terms keyed "BT-1", "BG-4", ...

    @property
    def number(self) -> str:
        return str(self.terms.get("BT-1", ""))

    @property
    def issue_date(self) -> date | None:
        value = self.terms.get("BT-2")
        return value if isinstance(value, date) else None

    @property
    def currency(self) -> str:
        return str(self.terms.get("BT-5", ""))

    @property
    def payable_amount(self) -> Decimal | None:
        try:
            return Decimal(str(self.terms["BT-115"]))
        except (KeyError, InvalidOperation):
            return None

    @property
    def seller(self) -> Mapping[str, Any]:
        value = self.terms.get("BG-4")
        return value if isinstance(value, Mapping) else {}

    @property
    def buyer(self) -> Mapping[str, Any]:
        value = self.terms.get("BG-7")
        return value if isinstance(value, Mapping) else {}


def business_terms(detected: Detected) -> dict[str, Any]:
    """EN 16931 business terms of a validated invoice (empty if factur-x cannot read them)."""
    flavor = "factur-x" if detected.syntax is Syntax.CII else detected.syntax.value
    level = "extended" if detected.profile.startswith("extended") else detected.profile
    try:
        terms = facturx.parse_ubl_cii_xml(
            detected.root, flavor=flavor, level=level, check_xsd=False
        )
    except Exception:
        logger.warning("factur-x could not read the business terms", exc_info=True)
        return {}
    return dict(terms)


def check(content: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[Detected, list[Finding]]:
    """Steps 1-5; raises Rejection, else returns the detection and the warnings."""
    detected = detect(content, limits)
    findings = xsd_findings(detected) + schematron_findings(detected)
    if any(f.is_error for f in findings):
        raise Rejection(findings)
    return detected, findings


def validate(content: bytes, filename: str, limits: Limits = DEFAULT_LIMITS) -> Validated:
    """Validate one invoice file; raises `Rejection` (and nothing else) when it is refused."""
    try:
        detected, findings = check(content, limits)
        terms = business_terms(detected)
    except Rejection:
        raise
    except Exception as err:
        logger.exception("unexpected failure validating %r", filename)
        raise reject(
            "INTAKE-INTERNAL",
            "file",
            f"internal error while validating ({type(err).__name__}); the file was not accepted",
            ReasonCode.AUTRE,
        ) from err
    return Validated(
        filename=filename,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        container=detected.container,
        syntax=detected.syntax,
        guideline_id=detected.guideline_id,
        profile=detected.profile,
        known_guideline=detected.known_guideline,
        embedded_filename=detected.embedded_filename,
        xml=detected.xml,
        findings=tuple(findings),
        terms=terms,
    )
