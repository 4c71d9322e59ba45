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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pypdf import PdfWriter

from facturier.domain.invoice import ReasonCode
from facturier.intake.errors import Rejection
from facturier.intake.signature import SignatureVerdict, verify_pdf_signatures

FIELD = "SignatureFournisseur"


@dataclass(frozen=True)
class Pki:
    root_der: bytes
    root_pem: bytes
    signer: signers.SimpleSigner
    expired_signer: signers.SimpleSigner


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fournisseur SAS"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _issue(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not ca:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _simple_signer(
    cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, root: x509.Certificate
) -> signers.SimpleSigner:
    key_der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    root_asn1 = asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([root_asn1]),
    )


@pytest.fixture(scope="module")
def pki() -> Pki:
    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _issue(
        "Racine de test",
        root_key,
        _name("Racine de test"),
        root_key,
        now - timedelta(days=3650),
        now + timedelta(days=3650),
        ca=True,
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = _issue(
        "Jeanne Fournisseur",
        signer_key,
        root.subject,
        root_key,
        now - timedelta(days=30),
        now + timedelta(days=365),
        ca=False,
    )
    expired_key = ec.generate_private_key(ec.SECP256R1())
    expired_cert = _issue(
        "Ancien Fournisseur",
        expired_key,
        root.subject,
        root_key,
        now - timedelta(days=800),
        now - timedelta(days=400),
        ca=False,
    )
    return Pki(
        root_der=root.public_bytes(serialization.Encoding.DER),
        root_pem=root.public_bytes(serialization.Encoding.PEM),
        signer=_simple_signer(signer_cert, signer_key, root),
        expired_signer=_simple_signer(expired_cert, expired_key, root),
    )


def _blank_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _sign(pdf: bytes, signer: signers.SimpleSigner) -> bytes:
    meta = signers.PdfSignatureMetadata(field_name=FIELD)
    out = signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(pdf)), meta, signer=signer)
    return bytes(out.getvalue())


@pytest.fixture(scope="module")
def signed_pdf(pki: Pki) -> bytes:
    return _sign(_blank_pdf(), pki.signer)


@pytest.fixture(scope="module")
def expired_pdf(pki: Pki) -> bytes:
    return _sign(_blank_pdf(), pki.expired_signer)


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
    verdict = verify_pdf_signatures(_blank_pdf(), [])
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
