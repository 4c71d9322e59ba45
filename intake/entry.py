"""Check one entry of a flow, start to finish, in whichever process runs it.

`check_entry` validates the bytes (`pipeline.validate`), reads the canonical invoice from the
EN 16931 terms (`canonical.from_terms`) and runs the domain's own checks (identifiers,
arithmetic). It returns a plain, picklable result, never raises: the flow processor fans
entries out to one process per core and settles each from its result. Routing against the
directory and duplicates need the database and are decided afterwards, in the flow processor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from facturier.domain.model import Document, InvoiceData, Problem, ReasonCode
from facturier.intake.canonical import from_terms
from facturier.intake.detect import Container
from facturier.intake.errors import Rejection
from facturier.intake.pipeline import validate
from facturier.intake.safety import DEFAULT_LIMITS, Limits

logger = logging.getLogger(__name__)
MEDIA_TYPES = {Container.PDF: "application/pdf", Container.XML: "application/xml"}


@dataclass(frozen=True)
class Checked:
    """An entry's verdict: `data` when it may be submitted (then `problems` are warnings),
    else `problems` says why not."""

    entry: str
    data: InvoiceData | None
    problems: tuple[Problem, ...]

    @property
    def accepted(self) -> bool:
        return self.data is not None


def check_entry(entry: str, content: bytes, limits: Limits = DEFAULT_LIMITS) -> Checked:
    try:
        validated = validate(content, entry, limits)
    except Rejection as rejection:
        return Checked(entry, None, tuple(f.as_problem() for f in rejection.errors))
    document = Document(
        sha256=validated.sha256,
        filename=entry.rsplit("/", 1)[-1],
        media_type=MEDIA_TYPES[validated.container],
        size=validated.size,
    )
    try:
        data = from_terms(validated.terms, documents=(document,))
    except Exception as error:  # a library or mapping bug must not stop the flow
        logger.exception("could not read the canonical invoice of %r", entry)
        problem = Problem(
            "file",
            f"internal error while reading the invoice ({type(error).__name__})",
            ReasonCode.AUTRE,
            "INTAKE-INTERNAL",
        )
        return Checked(entry, None, (problem,))
    problems = data.problems()
    if problems:
        return Checked(entry, None, tuple(problems))
    return Checked(entry, data, tuple(f.as_problem() for f in validated.findings))
