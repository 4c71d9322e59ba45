"""XML safety, checked before any other parser sees the bytes.

Refused, each with a coded finding (never a bare exception):

- empty file (`IRR_VIDE_F`) and file over the size limit (`IRR_TAILLE_F`), checked on the
  length alone, before anything is parsed;
- any non-UTF-8 document (`IRR_SYNTAX`): UBL 2.1, CII D16B and Factur-X are exchanged in UTF-8
  (Factur-X and Peppol mandate it), so a UTF-16 byte order mark, an XML declaration naming
  another encoding, or bytes that do not decode as UTF-8 are refused with the byte offset;
- any document type declaration (`IRR_SYNTAX`): an invoice never needs one, and a DTD is how
  external entities (XXE) and entity expansion ("billion laughs") come in. Detected by
  `defusedxml` (expat, `forbid_dtd=True`, `forbid_entities=True`, `forbid_external=True`), so no
  entity is ever declared, let alone expanded or fetched.

Only then is the document parsed with lxml, with a parser that could not resolve entities, load
a DTD or reach the network even if it were asked to (`resolve_entities=False`, `load_dtd=False`,
`no_network=True`, `huge_tree=False`, which also keeps libxml2's depth and text-size limits).

Size limits (`Limits`, configurable): 10 MB per XML file and per PDF. 10 MB is Chorus Pro's
per-file figure (docs/DOMAIN.md §6: attachments ≤ 10 MB each); an invoice XML is a few hundred
kilobytes at most (the largest sample here is well under 1 MB), so the limit bounds parsing time
and memory without refusing real invoices. A PDF deposit carrying its own attachments may need
more: raise `max_pdf_bytes` toward the 120 MB per-invoice figure if so.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree
from lxml import etree

from facturier.domain.model import ReasonCode
from facturier.intake.errors import reject

MB = 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass(frozen=True)
class Limits:
    max_xml_bytes: int = 10 * MB
    max_pdf_bytes: int = 10 * MB
    # Flow uploads and their archives (intake/archive.py). Chorus Pro-like figures: an upload
    # of at most 120 MB, at most 500 invoices per flow, 10 MB per file inside an archive.
    max_upload_bytes: int = 120 * MB
    max_file_bytes: int = 10 * MB  # per file extracted from an archive
    max_archive_entries: int = 500  # files in one archive (directories and macOS junk aside)
    # Records of any kind (directories, __MACOSX copies included), counted before the archive's
    # directory is even parsed, so a zip of millions of empty records costs nothing.
    max_archive_records: int = 2000
    max_archive_total_bytes: int = 250 * MB  # all extracted files together
    max_compression_ratio: int = 100  # uncompressed / compressed, per member and overall


DEFAULT_LIMITS = Limits()


def check_size(content: bytes, limit: int, what: str) -> None:
    """Refuse an empty file or one over `limit` bytes, looking at its length only."""
    if not content:
        raise reject(
            "INTAKE-EMPTY", "file", f"the {what} is empty (0 bytes)", ReasonCode.IRR_VIDE_F
        )
    if len(content) > limit:
        raise reject(
            "INTAKE-SIZE",
            "file",
            f"the {what} is {len(content):,} bytes; the limit is {limit:,} bytes",
            ReasonCode.IRR_TAILLE_F,
        )


def check_encoding(content: bytes) -> None:
    """Refuse a document that is not UTF-8."""
    if content.startswith(_OTHER_BOMS):
        raise reject(
            "INTAKE-ENCODING",
            "xml",
            "UTF-16/UTF-32 byte order mark: the invoice XML must be encoded in UTF-8",
            ReasonCode.IRR_SYNTAX,
        )
    body = content.removeprefix(_UTF8_BOM)
    declared = _DECLARED_ENCODING.match(body[:512])
    if declared is not None:
        name = declared.group(1).decode("ascii").lower()
        if name not in ("utf-8", "utf8"):
            raise reject(
                "INTAKE-ENCODING",
                "xml",
                f"declared encoding {name!r}: the invoice XML must be encoded in UTF-8",
                ReasonCode.IRR_SYNTAX,
            )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as err:
        line = body.count(b"\n", 0, err.start) + 1
        raise reject(
            "INTAKE-ENCODING",
            f"xml byte {err.start} (line {line})",
            f"not valid UTF-8: byte 0x{body[err.start]:02x} at offset {err.start}",
            ReasonCode.IRR_SYNTAX,
        ) from None


def check_no_dtd(content: bytes) -> None:
    """Refuse a DOCTYPE, entity declarations and external references; refuse malformed XML."""
    try:
        defusedxml.ElementTree.fromstring(
            content, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden:
        raise reject(
            "INTAKE-DTD",
            "xml",
            "document type declaration (DOCTYPE) refused: DTDs and entities are not accepted",
            ReasonCode.IRR_SYNTAX,
        ) from None
    except defusedxml.EntitiesForbidden as err:
        raise reject(
            "INTAKE-ENTITY",
            "xml",
            f"entity declaration {err.name!r} refused",
            ReasonCode.IRR_SYNTAX,
        ) from None
    except defusedxml.ExternalReferenceForbidden:
        raise reject(
            "INTAKE-ENTITY",
            "xml",
            "external reference refused",
            ReasonCode.IRR_SYNTAX,
        ) from None
    except ParseError as err:
        raise reject(
            "INTAKE-WELLFORMED", "xml", f"not well-formed XML: {err}", ReasonCode.IRR_SYNTAX
        ) from None


@functools.lru_cache(maxsize=2048)
def _compiled_xpath(path: str, namespaces: tuple[tuple[str, str], ...]) -> etree.XPath:
    return etree.XPath(path, namespaces=dict(namespaces))


class InvoiceElement(etree.ElementBase):
    """The elements of a parsed invoice: `xpath()` reuses compiled expressions. Reading the
    business terms (`facturx.parse_ubl_cii_xml`) evaluates some 280 expressions per invoice,
    the same ones every time, and lxml would compile each at every call (half the cost)."""

    def xpath(  # type: ignore[override]
        self, _path: str, namespaces: dict[str, str] | None = None, **variables: Any
    ) -> Any:
        if variables:
            return super().xpath(_path, namespaces=namespaces, **variables)
        return _compiled_xpath(_path, tuple(sorted((namespaces or {}).items())))(self)


def _safe_parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=False,
    )
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(element=InvoiceElement))
    return parser


def parse_safely(content: bytes, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """Check `content` (size, UTF-8, no DTD) and return the root of the parsed document."""
    check_size(content, limits.max_xml_bytes, "XML document")
    check_encoding(content)
    check_no_dtd(content)
    try:
        root = etree.fromstring(content, parser=_safe_parser())
    except etree.XMLSyntaxError as err:
        raise reject(
            "INTAKE-WELLFORMED", "xml", f"not well-formed XML: {err}", ReasonCode.IRR_SYNTAX
        ) from None
    if root.getroottree().docinfo.doctype:  # belt and braces: check_no_dtd refused it already
        raise reject("INTAKE-DTD", "xml", "DOCTYPE refused", ReasonCode.IRR_SYNTAX)
    return root


def is_unsafe(content: bytes) -> str | None:
    """Why an XML found inside a container (a PDF attachment) is unsafe, or None.

    Only the dangers count here (DOCTYPE, entities, external references): an attachment that is
    merely not XML is left to the extraction step to skip.
    """
    try:
        defusedxml.ElementTree.fromstring(
            content, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden:
        return "document type declaration (DOCTYPE)"
    except defusedxml.EntitiesForbidden as err:
        return f"entity declaration {err.name!r}"
    except defusedxml.ExternalReferenceForbidden:
        return "external reference"
    except (ParseError, ValueError):
        return None
    return None
