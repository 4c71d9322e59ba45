"""Verify the PDF (PAdES / PDF) signatures of a deposited PDF: `verify_pdf_signatures`.

A supplier deposits either a signed PDF or an unsigned PDF backed by a reliable audit trail
(the two ways of guaranteeing authenticity and integrity). This step tells which, with
`pyhanko` doing the cryptography:

- unparsable PDF: refused, `IRR_SYNTAX` (rule `PDF-SYNTAX`);
- no signature: `signed=False`, nothing refused (the "unsigned PDF + audit trail" path);
- a broken signature, i.e. the signed bytes no longer match their digest, the CMS signature does
  not verify, the signature does not cover its revision, or the file was modified after signing
  beyond the incremental updates the signature allows (pyhanko's difference analysis:
  validation info, form filling / annotations as permitted by a certification signature):
  refused, `NON_CONFORME` (rule `PDF-SIGNATURE-BROKEN`, the message names the signature field);
- a signature that is intact but whose certificate does not chain to a configured root, or is
  expired / revoked / not yet valid: a warning (rule `PDF-SIGNATURE-UNTRUSTED`) with
  `untrusted="flag"`, a refusal (`NON_CONFORME`) with `untrusted="reject"`.

Trust is decided by `pyhanko_certvalidator` at validation time (now), against the given roots
only (no system store), without fetching anything over the network (`allow_fetching=False`,
revocation "soft-fail"): the signing time the signer writes in the signature is only a claim,
so a certificate that has expired since is reported as untrusted (`EXPIRED`) unless the
signature's own evidence (an embedded trusted timestamp / validation info pyhanko accepts)
proves it was valid when signed. `signing_time` is the trusted timestamp when there is one,
else the signer's claim.

With several signatures every one is checked; `signer` and `signing_time` are those of the
first (the original author's), `intact` and `trusted` hold for all of them. Document timestamps
(PAdES-LTA) are not signatures of the supplier: they only count as allowed updates.

No exception other than `Rejection` escapes: an unexpected failure inside a library is logged
and reported as `AUTRE`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Literal

from asn1crypto import pem, x509  # type: ignore[import-untyped]
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from facturier.domain.model import ReasonCode
from facturier.intake.errors import Finding, Rejection, reject

logger = logging.getLogger(__name__)

Untrusted = Literal["flag", "reject"]

RULE_SYNTAX = "PDF-SYNTAX"
RULE_BROKEN = "PDF-SIGNATURE-BROKEN"
RULE_UNTRUSTED = "PDF-SIGNATURE-UNTRUSTED"
RULE_LENIENT = "PDF-SYNTAX-LENIENT"

# pyhanko's AdES sub-indications, in words.
_TRUST_PROBLEMS = {
    "NO_CERTIFICATE_CHAIN_FOUND": "no chain to a configured trust root",
    "OUT_OF_BOUNDS_NO_POE": "certificate expired or not yet valid, and no proof (trusted "
    "timestamp) that the signature was made while it was valid",
    "OUT_OF_BOUNDS_NOT_REVOKED": "certificate expired or not yet valid",
    "EXPIRED": "certificate expired",
    "NOT_YET_VALID": "certificate not yet valid",
    "REVOKED": "certificate revoked",
    "REVOKED_NO_POE": "certificate revoked",
    "REVOKED_CA_NO_POE": "an issuing CA certificate is revoked",
    "CHAIN_CONSTRAINTS_FAILURE": "certification path constraints not met",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "algorithm or key size no longer accepted",
    "SIG_CONSTRAINTS_FAILURE": "certificate key usage does not allow signing",
    "TRY_LATER": "revocation status not available yet",
}

# What pyhanko (and asn1crypto underneath it) raises on a malformed or invalid signature.
_SIGNATURE_ERRORS = (SignatureValidationError, SigningError, PdfError, ValueError, TypeError)


@dataclass(frozen=True)
class SignatureVerdict:
    """What the signatures of a PDF prove; `findings` holds warnings only."""

    signed: bool
    intact: bool  # every signature verifies and covers the file, or allowed updates only
    trusted: bool  # every signer chains to a configured root and is valid (see module doc)
    signer: str | None  # subject common name of the first signature's certificate
    signing_time: datetime | None
    findings: tuple[Finding, ...] = ()


def verify_pdf_signatures(
    content: bytes,
    trust_roots: Sequence[bytes],
    untrusted: Untrusted = "flag",
) -> SignatureVerdict:
    """Verify every signature of the PDF `content` against `trust_roots` (DER or PEM certs)."""
    try:
        return _verify(content, trust_roots, untrusted)
    except Rejection:
        raise
    except Exception:
        logger.exception("unexpected failure while verifying PDF signatures")
        raise reject(
            "INTAKE-INTERNAL",
            "pdf",
            "the PDF signatures could not be verified (internal error)",
            ReasonCode.AUTRE,
        ) from None


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from DER or PEM bytes; ValueError if it is neither."""
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    cert = x509.Certificate.load(data)
    cert.native  # noqa: B018 - asn1crypto parses lazily: force it to fail here
    return cert


def _verify(content: bytes, trust_roots: Sequence[bytes], untrusted: Untrusted) -> SignatureVerdict:
    roots = _load_roots(trust_roots)
    reader, warnings = _read(content)
    try:
        embedded = list(reader.embedded_regular_signatures)  # document timestamps aside
    except _SIGNATURE_ERRORS as err:
        raise reject(
            RULE_SYNTAX, "pdf", f"unreadable signature form fields: {err}", ReasonCode.IRR_SYNTAX
        ) from None
    if not embedded:
        return SignatureVerdict(
            signed=False,
            intact=False,
            trusted=False,
            signer=None,
            signing_time=None,
            findings=tuple(warnings),
        )

    broken: list[Finding] = []
    distrust: list[Finding] = []
    signers: list[tuple[str | None, datetime | None]] = []
    for sig in embedded:
        name = _field_name(sig)
        try:
            status = _validate(sig, roots)
        except _SIGNATURE_ERRORS as err:
            broken.append(_broken(name, f"cannot be verified: {err}"))
            signers.append((None, None))
            continue
        signers.append((_common_name(status), _signing_time(status)))
        problem = _integrity_problem(status)
        if problem is not None:
            broken.append(_broken(name, problem))
        elif not status.trusted:
            distrust.append(_untrusted(name, status, untrusted))

    if broken:
        raise Rejection([*broken, *distrust, *warnings])
    if untrusted == "reject" and distrust:
        raise Rejection([*distrust, *warnings])
    signer, signing_time = signers[0]
    return SignatureVerdict(
        signed=True,
        intact=True,
        trusted=not distrust,
        signer=signer,
        signing_time=signing_time,
        findings=(*distrust, *warnings),
    )


def _load_roots(trust_roots: Sequence[bytes]) -> list[x509.Certificate]:
    roots = []
    for index, data in enumerate(trust_roots):
        try:
            roots.append(load_certificate(data))
        except (ValueError, TypeError, OSError) as err:
            logger.error("trust root #%d is not a DER or PEM certificate: %s", index, err)
            raise reject(
                "INTAKE-CONFIG",
                "pdf",
                f"trust root #{index} is not a certificate: signatures cannot be verified",
                ReasonCode.AUTRE,
            ) from None
    return roots


def _read(content: bytes) -> tuple[PdfFileReader, list[Finding]]:
    """The pyhanko reader: strict first, lenient (with a warning) for a sloppy but usable PDF."""
    try:
        return PdfFileReader(BytesIO(content), strict=True), []
    except Exception as strict_err:
        try:
            reader = PdfFileReader(BytesIO(content), strict=False)
        except Exception:
            raise reject(
                RULE_SYNTAX, "pdf", f"not a readable PDF: {strict_err}", ReasonCode.IRR_SYNTAX
            ) from None
        warning = Finding(
            RULE_LENIENT,
            "pdf",
            f"the PDF is not strictly well-formed ({strict_err}); read leniently",
            ReasonCode.IRR_SYNTAX,
            severity="warning",
        )
        return reader, [warning]


def _validate(sig: EmbeddedPdfSignature, roots: list[x509.Certificate]) -> PdfSignatureStatus:
    """pyhanko's verdict on one signature; off the caller's event loop if there is one."""

    def run() -> PdfSignatureStatus:
        # A fresh context per signature: a context caches what it validated.
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        return validate_pdf_signature(sig, signer_validation_context=context)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()  # validate_pdf_signature calls asyncio.run: fine without a running loop
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _integrity_problem(status: PdfSignatureStatus) -> str | None:
    """Why the signed content is not intact, or None."""
    if not status.intact:
        return "the signed bytes were modified after signing (digest mismatch)"
    if not status.valid:
        return "the cryptographic signature is invalid"
    level = status.modification_level
    if level is None or level == ModificationLevel.OTHER:
        return f"the document was modified after signing (coverage {_coverage(status)})"
    if status.docmdp_ok is False:
        return f"modifications after signing ({level.name}) exceed what the signature permits"
    return None


def _coverage(status: PdfSignatureStatus) -> str:
    coverage = status.coverage
    return "unknown" if coverage is None else str(coverage.name)


def _broken(field: str, problem: str) -> Finding:
    return Finding(RULE_BROKEN, f"pdf signature {field!r}", problem, ReasonCode.NON_CONFORME)


def _untrusted(field: str, status: PdfSignatureStatus, untrusted: Untrusted) -> Finding:
    indic = status.trust_problem_indic
    code = "NO_CERTIFICATE_CHAIN_FOUND" if indic is None else str(getattr(indic, "name", indic))
    why = _TRUST_PROBLEMS.get(code, "no valid chain to a configured root")
    message = (
        f"the signer's certificate ({_common_name(status) or 'no common name'}) is not trusted: "
        f"{why} ({code})"
    )
    return Finding(
        RULE_UNTRUSTED,
        f"pdf signature {field!r}",
        message,
        ReasonCode.NON_CONFORME,
        severity="error" if untrusted == "reject" else "warning",
    )


def _field_name(sig: EmbeddedPdfSignature) -> str:
    try:
        return str(sig.field_name)
    except Exception:
        return "?"


def _common_name(status: PdfSignatureStatus) -> str | None:
    name = status.signing_cert.subject.native.get("common_name")
    if isinstance(name, list):  # several CNs: the first
        name = name[0] if name else None
    return None if name is None else str(name)


def _signing_time(status: PdfSignatureStatus) -> datetime | None:
    timestamp = status.timestamp_validity
    if timestamp is not None and timestamp.trusted:
        return timestamp.timestamp
    return status.signer_reported_dt
