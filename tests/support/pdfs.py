"""PDFs for tests: blank, Factur-X, signed by a test PKI built on the spot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO

import facturx  # type: ignore[import-untyped]
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pypdf import PdfWriter

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


def make_pki() -> Pki:
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


def blank_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def sign(pdf: bytes, signer: signers.SimpleSigner) -> bytes:
    meta = signers.PdfSignatureMetadata(field_name=FIELD)
    out = signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(pdf)), meta, signer=signer)
    return bytes(out.getvalue())


def facturx_pdf(xml: bytes, pdf: bytes | None = None) -> bytes:
    """A Factur-X PDF: `pdf` (blank by default) with `xml` embedded as factur-x.xml."""
    return bytes(
        facturx.generate_from_binary(
            pdf or blank_pdf(), xml, flavor="factur-x", level="en16931", check_xsd=False
        )
    )
