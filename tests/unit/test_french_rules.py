"""The French BR-FR rules (reform "Flux 2" Schematron) apply to invoices that declare the
French specification in BT-24, and only to them (intake/schematron.py)."""

from __future__ import annotations

import pytest

from facturier.intake.canonical import to_cii
from facturier.intake.errors import Rejection
from facturier.intake.pipeline import validate
from tests.support.data import invoice_data

EN16931 = b"urn:cen.eu:en16931:2017</ram:ID>"
FRENCH = b"urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr</ram:ID>"


def test_an_en16931_invoice_is_not_held_to_the_french_rules() -> None:
    cii = to_cii(invoice_data("BRFR-1"))
    assert EN16931 in cii
    validated = validate(cii, "plain.xml")
    assert not any(f.rule.startswith("BR-FR") for f in validated.findings)


def test_an_invoice_declaring_the_french_specification_is() -> None:
    cii = to_cii(invoice_data("BRFR-2")).replace(EN16931, FRENCH)
    with pytest.raises(Rejection) as refused:
        validate(cii, "french.xml")
    rules = {f.rule for f in refused.value.errors}
    # Reform-only data the generated invoice lacks: notes PMT/PMD/AAB (BR-FR-05), billing
    # framework BT-23 (BR-FR-08), SIREN under scheme 0002 (BR-FR-10), electronic addresses
    # BT-49 / BT-34 (BR-FR-12 / BR-FR-13).
    assert {"BR-FR-08_BT-23", "BR-FR-10_BT-30", "BR-FR-12_BT-49", "BR-FR-13_BT-34"} <= rules
    assert all(f.reason_code == "REJ_SEMAN" for f in refused.value.errors)
