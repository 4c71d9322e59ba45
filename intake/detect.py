"""Which syntax a submitted file is in, and its profile (guideline id, BT-24).

Accepted (docs/DOMAIN.md §4, Chorus flows E1/E2):

- UBL 2.1 `Invoice` and `CreditNote` (`IN_DP_E1_UBL_INVOICE`);
- UN/CEFACT CII D16B `CrossIndustryInvoice` (`IN_DP_E1_CII_16B`);
- a Factur-X / ZUGFeRD 2.x PDF: the CII embedded in it (`IN_DP_E2_CII_FACTURX`), extracted with
  `facturx.get_xml_from_pdf(..., check_xsd=False)`.

Refused with `IRR_TYPE_F`: ZUGFeRD 1.0 (`CrossIndustryDocument`), FatturaPA, Order-X, any other
XML root, a PDF without an embedded invoice XML, archives and any other kind of bytes. An empty
file is `IRR_VIDE_F`; a PDF or XML that cannot be read is `IRR_SYNTAX`.

The file's content decides, never its name: `invoice.pdf` holding XML is read as XML.

The profile of a CII invoice is the Factur-X profile whose code list (the `*_codedb.xml` shipped
with the official Factur-X Schematron, list 1) contains its guideline id; failing that, the level
`facturx.get_level` reads from the id (legacy spellings such as
`urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:basic`); failing that, `en16931`: an id no
Factur-X list knows (an XRechnung or other CIUS id, a ZUGFeRD 1.0 id on a CII document) is checked
against the full EN 16931 profile, and `known_guideline` is False (see `schematron` for the
policy). UBL invoices are always checked against EN 16931 (the official UBL Schematron).
"""

from __future__ import annotations

import functools
import importlib.resources
import io
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import facturx  # type: ignore[import-untyped]
from lxml import etree
from pypdf import PdfReader

from facturier.domain.model import ReasonCode
from facturier.intake.errors import Rejection, reject
from facturier.intake.safety import DEFAULT_LIMITS, Limits, check_size, is_unsafe, parse_safely

# A PDF with no XML at all: in an EDI flow a refusal, in a PDF deposit the "plain PDF" case
# where the supplier types the invoice's data.
RULE_PLAIN_PDF: Final = "INTAKE-PDF-NO-XML"


class Syntax(StrEnum):
    UBL_INVOICE = "ubl-2.1-invoice"
    UBL_CREDIT_NOTE = "ubl-2.1-creditnote"
    CII = "cii-d16b"

    @property
    def is_ubl(self) -> bool:
        return self is not Syntax.CII


class Container(StrEnum):
    XML = "xml"
    PDF = "pdf"


UBL_INVOICE_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CII_NS: Final = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM_NS: Final = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
CBC_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

_ROOTS: Final = {
    f"{{{UBL_INVOICE_NS}}}Invoice": Syntax.UBL_INVOICE,
    f"{{{UBL_CREDIT_NOTE_NS}}}CreditNote": Syntax.UBL_CREDIT_NOTE,
    f"{{{CII_NS}}}CrossIndustryInvoice": Syntax.CII,
}
# Known invoice formats that are not accepted, by namespace (prefix) of the root element.
_UNSUPPORTED: Final = (
    (
        "urn:ferd:CrossIndustryDocument:invoice:1p0",
        "ZUGFeRD 1.0 (CrossIndustryDocument) is not accepted; send Factur-X / ZUGFeRD 2.x "
        "(CII D16B CrossIndustryInvoice)",
    ),
    (
        "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/",
        "FatturaPA (Italian e-invoice) is not accepted; send UBL 2.1, CII D16B or Factur-X",
    ),
    (
        "urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:",
        "Order-X is an order, not an invoice",
    ),
)
_CII_GUIDELINE: Final = (
    f"{{{CII_NS}}}ExchangedDocumentContext"
    f"/{{{RAM_NS}}}GuidelineSpecifiedDocumentContextParameter/{{{RAM_NS}}}ID"
)
PROFILES: Final[tuple[str, ...]] = tuple(facturx.facturx.FACTURX_LEVEL2schematron)
UBL_PROFILE: Final = "en16931"
FALLBACK_PROFILE: Final = "en16931"


@dataclass(frozen=True)
class Detected:
    container: Container
    syntax: Syntax
    xml: bytes = field(repr=False)
    root: etree._Element = field(repr=False, compare=False)
    guideline_id: str  # BT-24 (CII guideline id, UBL CustomizationID)
    profile: str  # a key of facturx's FACTURX_LEVEL2schematron ("minimum" ... "extended-ctc-fr")
    known_guideline: bool  # False: no Factur-X code list knows guideline_id (e.g. XRechnung)
    embedded_filename: str | None = None  # name of the XML inside the PDF


def xsd_and_schematron_dir() -> str:
    return str(importlib.resources.files("facturx").joinpath("xsd_and_schematron"))


@functools.cache
def _guideline_ids_by_profile() -> dict[str, frozenset[str]]:
    """Code list 1 (guideline ids) of each Factur-X profile's official code database."""
    base = importlib.resources.files("facturx").joinpath("xsd_and_schematron")
    result: dict[str, frozenset[str]] = {}
    for level, url in facturx.facturx.CODEDB_FACTURX_LEVEL2URL.items():
        stylesheet = str(facturx.facturx.FACTURX_LEVEL2schematron[level])
        folder = stylesheet.rsplit("/", 1)[0]
        codedb = base.joinpath(folder, str(url).rsplit("/", 1)[1]).read_bytes()
        tree = etree.fromstring(codedb, parser=etree.XMLParser(resolve_entities=False))
        result[level] = frozenset(
            str(v) for v in tree.xpath("/codedb/cl[@id='1']/enumeration/@value")
        )
    return result


def cii_profile(root: etree._Element, guideline_id: str) -> tuple[str, bool]:
    """(profile, known_guideline) of a CII invoice; see the module docstring."""
    for level, ids in _guideline_ids_by_profile().items():
        if guideline_id in ids:
            return level, True
    try:
        level = str(facturx.get_level(root, "factur-x"))
    except Exception:  # facturx raises bare Exception/ValueError on unknown ids
        level = ""
    if level in PROFILES:
        return level, level == "extended-ctc-fr"
    return FALLBACK_PROFILE, False


def classify(root: etree._Element) -> tuple[Syntax, str]:
    """(syntax, guideline id) of a parsed document, or Rejection (IRR_TYPE_F)."""
    tag = root.tag if isinstance(root.tag, str) else ""
    syntax = _ROOTS.get(tag)
    if syntax is None:
        qname = etree.QName(root) if tag else None
        namespace = (qname.namespace or "") if qname is not None else ""
        local = qname.localname if qname is not None else "?"
        for prefix, why in _UNSUPPORTED:
            if namespace.startswith(prefix):
                raise reject("INTAKE-TYPE", "/*", why, ReasonCode.IRR_TYPE_F)
        raise reject(
            "INTAKE-TYPE",
            "/*",
            f"root element {local!r} in namespace {namespace!r} is not a UBL 2.1 Invoice or "
            "CreditNote, nor a CII D16B CrossIndustryInvoice",
            ReasonCode.IRR_TYPE_F,
        )
    if syntax is Syntax.CII:
        found = root.find(_CII_GUIDELINE)
    else:
        found = root.find(f"{{{CBC_NS}}}CustomizationID")
    guideline = (found.text or "").strip() if found is not None else ""
    return syntax, guideline


def detect_xml(
    xml: bytes,
    limits: Limits = DEFAULT_LIMITS,
    container: Container = Container.XML,
    embedded_filename: str | None = None,
) -> Detected:
    root = parse_safely(xml, limits)
    syntax, guideline = classify(root)
    if syntax is Syntax.CII:
        profile, known = cii_profile(root, guideline)
    else:
        profile, known = UBL_PROFILE, True
    if container is Container.PDF and syntax is not Syntax.CII:
        raise reject(
            "INTAKE-TYPE",
            f"pdf:{embedded_filename}",
            f"the XML embedded in the PDF is {syntax}; a Factur-X PDF carries CII D16B",
            ReasonCode.IRR_TYPE_F,
        )
    return Detected(container, syntax, xml, root, guideline, profile, known, embedded_filename)


def _xml_attachments(content: bytes) -> list[tuple[str, bytes]]:
    try:
        reader = PdfReader(io.BytesIO(content))
        attachments = [
            (str(a.name), bytes(a.content))
            for a in reader.attachment_list
            if str(a.name).lower().endswith(".xml")
        ]
    except Exception as err:  # pypdf raises many types on damaged files
        raise reject(
            "INTAKE-PDF",
            "pdf",
            f"unreadable PDF: {type(err).__name__}: {err}",
            ReasonCode.IRR_SYNTAX,
        ) from None
    return attachments


def extract_from_pdf(content: bytes, limits: Limits = DEFAULT_LIMITS) -> Detected:
    """The invoice embedded in a Factur-X / ZUGFeRD 2.x PDF."""
    check_size(content, limits.max_pdf_bytes, "PDF")
    attachments = _xml_attachments(content)
    # Safety of every embedded XML first: factur-x parses them with lxml's default parser.
    for name, data in attachments:
        check_size(data, limits.max_xml_bytes, f"embedded file {name!r}")
        why = is_unsafe(data)
        if why is not None:
            raise reject(
                "INTAKE-DTD",
                f"pdf:{name}",
                f"embedded file {name!r}: {why} refused",
                ReasonCode.IRR_SYNTAX,
            )
    try:
        name, xml = facturx.get_xml_from_pdf(content, check_xsd=False)
    except Exception as err:
        raise reject(
            "INTAKE-PDF",
            "pdf",
            f"unreadable PDF: {type(err).__name__}: {err}",
            ReasonCode.IRR_SYNTAX,
        ) from None
    if name and xml:
        return detect_xml(bytes(xml), limits, Container.PDF, str(name))
    if not attachments:
        raise reject(
            RULE_PLAIN_PDF,
            "pdf",
            "PDF without embedded invoice XML (not a Factur-X / ZUGFeRD PDF)",
            ReasonCode.IRR_TYPE_F,
        )
    # factur-x skipped every XML it found: say precisely what the first one is.
    first_name, first = attachments[0]
    try:
        detected = detect_xml(first, limits, Container.PDF, first_name)
    except Rejection as rejection:
        raise Rejection(
            f.__class__(
                f.rule,
                f"pdf:{first_name}:{f.location}",
                f"embedded file {first_name!r}: {f.message}",
                f.reason_code,
                f.severity,
            )
            for f in rejection.findings
        ) from None
    raise reject(
        "INTAKE-TYPE",
        f"pdf:{first_name}",
        f"embedded file {first_name!r} ({detected.syntax}, guideline {detected.guideline_id!r}) "
        "is not a Factur-X invoice under that name",
        ReasonCode.IRR_TYPE_F,
    )


def sniff(content: bytes) -> Container:
    """PDF or XML, from the first bytes; anything else is refused."""
    if not content:
        raise reject("INTAKE-EMPTY", "file", "the file is empty (0 bytes)", ReasonCode.IRR_VIDE_F)
    head = content[:1024]
    if b"%PDF-" in head:  # the PDF header may follow some bytes (ISO 32000 tolerance)
        return Container.PDF
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if stripped.startswith(b"<") or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Container.XML
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x1f\x8b"):
        what = "an archive (zip / gzip): batches are split by the flow intake, not here"
    else:
        what = "neither XML nor PDF"
    raise reject("INTAKE-TYPE", "file", f"the file is {what}", ReasonCode.IRR_TYPE_F)


def detect(content: bytes, limits: Limits = DEFAULT_LIMITS) -> Detected:
    container = sniff(content)
    if container is Container.PDF:
        return extract_from_pdf(content, limits)
    return detect_xml(content, limits)
