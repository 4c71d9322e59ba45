"""Synchronous submission of one invoice: portal entry (JSON or web form) and PDF deposit.

Every mode ends in the same canonical invoice, checked by the same official rules:

- portal entry: the typed invoice becomes an EN 16931 CII document (`canonical.to_cii`),
  validated by the intake pipeline like any EDI file (XSD + official Schematron), and kept as
  the invoice's document;
- Factur-X PDF: the embedded CII is the data, the PDF is the legal document;
- plain PDF: the supplier types the data the PDF does not carry (as after an OCR step); the
  PDF is the legal document, a generated CII is kept beside it (role `data`);
- signed PDF (either kind): the signatures are verified first (`intake.signature`); a broken
  signature refuses the deposit, an untrusted one is flagged or refused by configuration, and
  the verdict is recorded on the invoice (Submitted event).

Documents are stored before the events that reference them are saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal, cast

from facturier.adapters.documents import DocumentStorage, describe
from facturier.config.settings import IntakeSettings
from facturier.domain.invoice import Invoice
from facturier.domain.model import (
    Document,
    InvoiceData,
    Problem,
    ReasonCode,
    SignatureCheck,
    SubmissionMode,
)
from facturier.intake.canonical import to_cii
from facturier.intake.detect import RULE_PLAIN_PDF, Container, sniff
from facturier.intake.entry import check_entry
from facturier.intake.errors import Rejection, reject
from facturier.intake.pipeline import validate
from facturier.intake.signature import verify_pdf_signatures
from facturier.services.application.flows import routing_problem
from facturier.services.application.invoicing import InvoicingApp


class SubmissionRefused(ValueError):
    """The invoice is not accepted; `problems` lists every reason (at least one)."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        if not problems:
            raise ValueError("a refusal needs at least one problem")
        self.problems = problems
        super().__init__("; ".join(f"[{p.reason_code}] {p.field}: {p.message}" for p in problems))

    @property
    def reason_code(self) -> ReasonCode:
        return self.problems[0].reason_code


class NotMandated(PermissionError):
    """The submitter may not submit for the invoice's supplier; nothing was recorded."""


Allowed = Callable[[InvoiceData], bool]


class Submissions:
    def __init__(
        self, app: InvoicingApp, documents: DocumentStorage, intake: IntakeSettings
    ) -> None:
        self.app = app
        self.documents = documents
        self.trust_roots = tuple(
            Path(path).read_bytes() for path in intake.signature_trust_roots.split(":") if path
        )
        self.untrusted = cast(Literal["flag", "reject"], intake.signature_untrusted)
        self.limits = intake.limits

    def portal(
        self,
        data: InvoiceData,
        actor: str,
        correlation_id: str = "",
        allowed: Allowed | None = None,
    ) -> Invoice:
        """An invoice typed by the supplier: checked, turned into a CII document, submitted."""
        data = self.with_recipient_name(data)
        cii = self._structured(data)
        document = describe(cii, f"{_safe(data.number)}.xml", "application/xml")
        return self._submit(
            replace(data, documents=(document,)),
            [(document, cii)],
            SubmissionMode.PORTAL,
            actor,
            correlation_id,
            allowed=allowed,
        )

    def pdf(
        self,
        content: bytes,
        filename: str,
        typed: InvoiceData | None,
        actor: str,
        correlation_id: str = "",
        allowed: Allowed | None = None,
    ) -> Invoice:
        """A deposited PDF: Factur-X (its own data) or plain (`typed` gives the data)."""
        signature = self._signature(content)
        checked = check_entry(filename, content, self.limits)
        plain = any(p.rule == RULE_PLAIN_PDF for p in checked.problems)
        pdf = describe(content, filename, "application/pdf")
        if checked.data is not None:
            if typed is not None:
                raise SubmissionRefused(
                    (
                        Problem(
                            "invoice",
                            "this PDF carries its own invoice data (Factur-X): send it alone",
                            ReasonCode.REJ_SEMAN,
                            "DEPOSIT-FACTURX-TYPED",
                        ),
                    )
                )
            return self._submit(
                checked.data,
                [(pdf, content)],
                SubmissionMode.PDF,
                actor,
                correlation_id,
                signature,
                allowed,
            )
        if not plain:
            raise SubmissionRefused(checked.problems)
        if typed is None:
            raise SubmissionRefused(
                (
                    Problem(
                        "invoice",
                        "a PDF without invoice XML needs the invoice's data typed with it",
                        ReasonCode.IRR_TYPE_F,
                        "DEPOSIT-PLAIN-PDF-DATA",
                    ),
                )
            )
        typed = self.with_recipient_name(typed)
        cii = self._structured(typed)
        data_document = describe(cii, f"{_safe(typed.number)}.xml", "application/xml", "data")
        return self._submit(
            replace(typed, documents=(pdf, data_document)),
            [(pdf, content), (data_document, cii)],
            SubmissionMode.PDF,
            actor,
            correlation_id,
            signature,
            allowed,
        )

    def _signature(self, content: bytes) -> SignatureCheck | None:
        """The verdict on a deposit's signatures (None: not signed); SubmissionRefused when
        the file is not one PDF or its signatures cannot be read."""
        try:
            if sniff(content) is not Container.PDF:
                raise reject(
                    "DEPOSIT-NOT-PDF", "file", "a deposit is one PDF file", ReasonCode.IRR_TYPE_F
                )
            verdict = verify_pdf_signatures(content, self.trust_roots, self.untrusted)
        except Rejection as rejection:
            raise SubmissionRefused(tuple(f.as_problem() for f in rejection.errors)) from None
        if not verdict.signed:
            return None
        return SignatureCheck(
            signed=True,
            intact=verdict.intact,
            trusted=verdict.trusted,
            signer=verdict.signer or "",
            signing_time=verdict.signing_time.isoformat() if verdict.signing_time else "",
            note="; ".join(f.message for f in verdict.findings),
        )

    def with_recipient_name(self, data: InvoiceData) -> InvoiceData:
        """A typed invoice names its buyer (BR-07): the directory's name when left empty."""
        if data.recipient_name or self.app.directory is None:
            return data
        structure = self.app.directory.find(data.recipient_siret)
        return replace(data, recipient_name=structure.name) if structure else data

    def _structured(self, data: InvoiceData) -> bytes:
        """The CII document of a typed invoice, after the same checks as any EDI file."""
        problems = data.problems()
        if problems:
            raise SubmissionRefused(tuple(problems))
        routing = self.app.routing_findings(data)  # before the costlier Schematron
        if routing:
            raise SubmissionRefused(tuple(routing_problem(f) for f in routing))
        cii = to_cii(data)
        try:
            validate(cii, f"{data.number}.xml", self.limits)
        except Rejection as rejection:
            raise SubmissionRefused(tuple(f.as_problem() for f in rejection.errors)) from None
        return cii

    def _submit(
        self,
        data: InvoiceData,
        documents: list[tuple[Document, bytes]],
        mode: SubmissionMode,
        actor: str,
        correlation_id: str,
        signature: SignatureCheck | None = None,
        allowed: Allowed | None = None,
    ) -> Invoice:
        if allowed is not None and not allowed(data):
            raise NotMandated(f"this token does not submit for supplier {data.supplier_id}")
        self.documents.put_many(documents)  # before the events that reference them
        return self.app.submit(data, mode, actor, correlation_id, signature)


def _safe(number: str) -> str:
    """An invoice number as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in number) or "invoice"
