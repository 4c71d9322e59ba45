"""PDF signature verification (`intake.signature`), on PDFs signed here with pyhanko.

Everything is built in the test: a self-made root CA, signer certificates it issues (one valid,
one whose validity ended in the past), a one-page PDF written with pypdf, signed with pyhanko's
`SimpleSigner`. No network, no services.

The expired certificate is used to sign "now" (pyhanko writes the current signing time): the
claimed signing time proves nothing, so validation happens at the current time and the
signature is reported as intact but untrusted (`EXPIRED`), flagged or rejected per option.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from facturier.domain.model import ReasonCode
from facturier.intake.errors import Rejection
from facturier.intake.signature import SignatureVerdict, verify_pdf_signatures
from tests.support.pdfs import FIELD, Pki, blank_pdf, make_pki, sign


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def signed_pdf(pki: Pki) -> bytes:
    return sign(blank_pdf(), pki.signer)


@pytest.fixture(scope="module")
def expired_pdf(pki: Pki) -> bytes:
    return sign(blank_pdf(), pki.expired_signer)


def test_valid_signature_with_its_root_is_trusted(pki: Pki, signed_pdf: bytes) -> None:
    verdict = verify_pdf_signatures(signed_pdf, [pki.root_der])
    assert verdict == SignatureVerdict(
        signed=True,
        intact=True,
        trusted=True,
        signer="Jeanne Fournisseur",
        signing_time=verdict.signing_time,
        findings=(),
    )
    assert verdict.signing_time is not None
    assert abs(verdict.signing_time - datetime.now(UTC)) < timedelta(minutes=10)


def test_pem_root_is_accepted(pki: Pki, signed_pdf: bytes) -> None:
    assert verify_pdf_signatures(signed_pdf, [pki.root_pem]).trusted


def test_valid_signature_without_root_is_flagged(signed_pdf: bytes) -> None:
    verdict = verify_pdf_signatures(signed_pdf, [])
    assert (verdict.signed, verdict.intact, verdict.trusted) == (True, True, False)
    assert verdict.signer == "Jeanne Fournisseur"
    [finding] = verdict.findings
    assert finding.severity == "warning"
    assert finding.rule == "PDF-SIGNATURE-UNTRUSTED"
    assert FIELD in finding.location


def test_valid_signature_without_root_is_rejected_on_request(signed_pdf: bytes) -> None:
    with pytest.raises(Rejection) as caught:
        verify_pdf_signatures(signed_pdf, [], untrusted="reject")
    assert caught.value.rules == {"PDF-SIGNATURE-UNTRUSTED"}
    assert caught.value.reason_code is ReasonCode.NON_CONFORME


def test_bytes_changed_after_signing_are_rejected(pki: Pki, signed_pdf: bytes) -> None:
    # Change one byte of the page's MediaBox inside the signed range: same length, so the
    # byte ranges still line up and only the digest tells.
    assert signed_pdf.count(b"/MediaBox [ 0 0 595 842 ]") == 1
    tampered = signed_pdf.replace(b"/MediaBox [ 0 0 595 842 ]", b"/MediaBox [ 0 0 596 842 ]")
    with pytest.raises(Rejection) as caught:
        verify_pdf_signatures(tampered, [pki.root_der])
    [finding] = caught.value.errors
    assert finding.rule == "PDF-SIGNATURE-BROKEN"
    assert finding.reason_code is ReasonCode.NON_CONFORME
    assert FIELD in finding.location
    assert "modified" in finding.message


def test_content_appended_after_signing_is_rejected(pki: Pki, signed_pdf: bytes) -> None:
    # An incremental update that changes the page: not an allowed post-signature update.
    writer = IncrementalPdfFileWriter(BytesIO(signed_pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Rotate"] = generic.NumberObject(90)
    writer.update_container(page)
    out = BytesIO()
    writer.write(out)
    with pytest.raises(Rejection) as caught:
        verify_pdf_signatures(out.getvalue(), [pki.root_der], untrusted="reject")
    assert caught.value.rules == {"PDF-SIGNATURE-BROKEN"}
    assert FIELD in caught.value.errors[0].location


def test_expired_certificate_is_flagged_or_rejected(pki: Pki, expired_pdf: bytes) -> None:
    verdict = verify_pdf_signatures(expired_pdf, [pki.root_der])
    assert (verdict.signed, verdict.intact, verdict.trusted) == (True, True, False)
    assert verdict.signer == "Ancien Fournisseur"
    [finding] = verdict.findings
    assert finding.rule == "PDF-SIGNATURE-UNTRUSTED"
    assert "expired" in finding.message
    with pytest.raises(Rejection) as caught:
        verify_pdf_signatures(expired_pdf, [pki.root_der], untrusted="reject")
    assert caught.value.rules == {"PDF-SIGNATURE-UNTRUSTED"}


def test_unsigned_pdf_is_not_signed() -> None:
    verdict = verify_pdf_signatures(blank_pdf(), [])
    assert verdict == SignatureVerdict(
        signed=False, intact=False, trusted=False, signer=None, signing_time=None
    )


@pytest.mark.parametrize("content", [b"", b"garbage, not a PDF", b"%PDF-1.7\n%%EOF\n"])
def test_unparsable_pdf_is_rejected_as_syntax(content: bytes) -> None:
    with pytest.raises(Rejection) as caught:
        verify_pdf_signatures(content, [])
    assert caught.value.reason_code is ReasonCode.IRR_SYNTAX


def test_bad_trust_root_is_a_rejection_not_a_crash(signed_pdf: bytes) -> None:
    with pytest.raises(Rejection) as caught:
        verify_pdf_signatures(signed_pdf, [b"not a certificate"])
    assert caught.value.reason_code is ReasonCode.AUTRE


def test_works_inside_a_running_event_loop(pki: Pki, signed_pdf: bytes) -> None:
    async def call() -> SignatureVerdict:
        return verify_pdf_signatures(signed_pdf, [pki.root_der])

    assert asyncio.run(call()).trusted
