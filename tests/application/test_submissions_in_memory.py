"""The three submission modes as use cases, in memory: the event store is the library's
plain-object one and the documents are kept by the in-memory document store. What is
checked here is the service layer's part (one canonical invoice, documents stored with the
invoice that references them, refusals before anything is recorded); the intake checks
themselves have their own unit tests, and the same modes over HTTP, PostgreSQL and Kafka
run in tests/integration."""

from __future__ import annotations

import io
import zipfile

import pytest

from facturier.adapters.documents import MemoryDocumentStore
from facturier.config.settings import Settings
from facturier.domain.flow import FlowStatus
from facturier.domain.lifecycle import Status
from facturier.domain.model import SubmissionMode
from facturier.intake.canonical import to_cii
from facturier.services.application.flows import FlowIntake
from facturier.services.application.invoicing import InvoicingApp
from facturier.services.application.submissions import SubmissionRefused, Submissions
from tests.support.data import SUPPLIER, invoice_data
from tests.support.pdfs import blank_pdf, facturx_pdf

ACTOR = f"supplier:{SUPPLIER}"


@pytest.fixture
def documents() -> MemoryDocumentStore:
    return MemoryDocumentStore()


@pytest.fixture
def submissions(documents: MemoryDocumentStore) -> Submissions:
    # Intake limits and signature policy as configured by default; one worker: no pool.
    intake = Settings.from_env(intake_workers=1).intake
    return Submissions(InvoicingApp(), documents, intake)


def test_a_typed_invoice_becomes_an_invoice_with_its_generated_cii_kept(
    submissions: Submissions, documents: MemoryDocumentStore
) -> None:
    invoice = submissions.portal(invoice_data("P-1"), ACTOR)
    assert (invoice.status, invoice.mode) == (Status.MISE_A_DISPOSITION, SubmissionMode.PORTAL)
    (data_document,) = invoice.data.documents
    stored = documents.get(data_document.sha256)
    assert b"CrossIndustryInvoice" in stored and b"P-1" in stored


def test_a_factur_x_pdf_brings_its_own_data_and_is_kept_as_deposited(
    submissions: Submissions, documents: MemoryDocumentStore
) -> None:
    pdf = facturx_pdf(to_cii(invoice_data("X-1")))
    invoice = submissions.pdf(pdf, "X-1.pdf", None, ACTOR)
    assert (invoice.data.number, invoice.mode) == ("X-1", SubmissionMode.PDF)
    assert documents.get(invoice.data.documents[0].sha256) == pdf


def test_a_plain_pdf_needs_typed_data_and_nothing_is_recorded_without(
    submissions: Submissions, documents: MemoryDocumentStore
) -> None:
    with pytest.raises(SubmissionRefused) as refused:
        submissions.pdf(blank_pdf(), "scan.pdf", None, ACTOR)
    assert refused.value.problems[0].rule == "DEPOSIT-PLAIN-PDF-DATA"
    assert documents.count() == 0
    invoice = submissions.pdf(blank_pdf(), "scan.pdf", invoice_data("S-1"), ACTOR)
    assert [d.role for d in invoice.data.documents] == ["invoice", "data"]
    assert documents.count() == 2


def test_an_edi_flow_integrates_the_good_entries_and_reports_the_bad(
    documents: MemoryDocumentStore,
) -> None:
    intake = FlowIntake(InvoicingApp(), documents, Settings.from_env(intake_workers=1).intake)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good.xml", to_cii(invoice_data("E-1")))
        archive.writestr("bad.xml", b"<not-an-invoice/>")
    try:
        received = intake.receive(buffer.getvalue(), "batch.zip", ACTOR, (SUPPLIER,))
        assert received.created and received.flow.status == FlowStatus.RECEIVED
        again = intake.receive(buffer.getvalue(), "batch.zip", ACTOR, (SUPPLIER,))
        assert not again.created  # the same upload is the same flow
        done = intake.process(received.flow.id)
    finally:
        intake.close()
    assert done.status == FlowStatus.PARTIALLY_INTEGRATED
    assert set(done.integrated) == {"good.xml"} and set(done.rejected) == {"bad.xml"}
