"""What a validation step found, and the exception that rejects a file.

Every finding carries one of the reform's reason codes (`ReasonCode`, docs/DOMAIN.md §5), so a
flow's processing report can list each error with its code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from facturier.domain.model import Problem, ReasonCode

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem found in a file.

    `rule` is the official rule id when an official artefact found it (`BR-CO-10`,
    `FX-SCH-A-000556`, `UBL-SR-48`), `XSD` for a schema violation, else an intake rule id
    (`INTAKE-...`). `location` is an XPath into the invoice XML, or the name of what was
    checked (`file`, `pdf`, `xml`).
    """

    rule: str
    location: str
    message: str
    reason_code: ReasonCode
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        return f"[{self.severity} {self.reason_code} {self.rule}] {self.location}: {self.message}"

    def as_problem(self) -> Problem:
        """The finding as a flow's report records it."""
        return Problem(self.location, self.message, self.reason_code, self.rule)


class Rejection(Exception):
    """The file is refused; `findings` says why (at least one error)."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings: tuple[Finding, ...] = tuple(findings)
        if not any(f.is_error for f in self.findings):
            raise ValueError("a Rejection needs at least one error finding")
        super().__init__("; ".join(str(f) for f in self.errors[:5]))

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_error)

    @property
    def reason_code(self) -> ReasonCode:
        """The code of the first error: the one a processing report shows first."""
        return self.errors[0].reason_code

    @property
    def rules(self) -> frozenset[str]:
        return frozenset(f.rule for f in self.findings)


def reject(rule: str, location: str, message: str, reason_code: ReasonCode) -> Rejection:
    """A rejection with one error finding."""
    return Rejection([Finding(rule, location, message, reason_code)])
