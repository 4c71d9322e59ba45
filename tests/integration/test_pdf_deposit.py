"""PDF deposit over HTTP: Factur-X, plain PDF with typed data, signed PDFs (trusted,
untrusted, broken), each ending in the tracking view and on Kafka, or refused with a code."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from facturier.config.settings import Settings
from facturier.events.lifecycle import LifecycleEvent
from facturier.intake.canonical import to_cii
from tests.support.data import OTHER_SUPPLIER, invoice_data
from tests.support.pdfs import Pki, blank_pdf, facturx_pdf, make_pki, sign
from tests.support.pipeline import invoice_events
from tests.support.stack import Api, running_api, wait_until


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def api(
    make_settings: Callable[[], Settings],
    tmp_path_factory: pytest.TempPathFactory,
    pki: Pki,
) -> Iterator[Api]:
    folder = Path(tmp_path_factory.mktemp("deposit"))
    roots = folder / "roots.pem"
    roots.write_bytes(pki.root_pem)
    settings = make_settings().replaced(
        signature_trust_roots=str(roots), signature_untrusted="flag"
    )
    with running_api(settings, folder / "serve.log") as client:
        yield client


def deposit(
    api: Api, content: bytes, invoice: dict[str, Any] | None = None, who: str = "supplier"
) -> httpx.Response:
    form = {"invoice": json.dumps(invoice)} if invoice is not None else None
    return httpx.post(
        f"{api.base}/deposits",
        files={"file": ("facture.pdf", content, "application/pdf")},
        data=form,
        headers={"Authorization": f"Bearer {api.tokens[who]}"},
        timeout=60,
    )


def typed(number: str) -> dict[str, Any]:
    return {
        "supplier": {"scheme": "SIRET", "id": "73282932000074", "name": "Papeterie Durand"},
        "recipient_siret": "11000201100044",
        "service_code": "SE-01",
        "number": number,
        "issue_date": "2026-04-01",
        "lines": [
            {"name": "Ramettes A4", "quantity": "100", "unit_price": "4.50", "vat_rate": "20"},
            {"name": "Livres", "quantity": "3", "unit_price": "20.00", "vat_rate": "5.5"},
        ],
        "payment": {"iban": "FR7630006000011234567890189"},
    }


def submitted(api: Api, invoice_id: str) -> LifecycleEvent:
    """The invoice's Submitted event, read back from the lifecycle topic."""
    for event in invoice_events(api.settings, invoice_id):
        if event.event_type == "Submitted":
            return event
    raise AssertionError(f"no Submitted event for {invoice_id} on {api.settings.kafka.topic}")


def tracked(api: Api, invoice_id: str) -> dict[str, Any]:
    wait_until(
        lambda: api.call("GET", f"/invoices/{invoice_id}", "supplier").status_code == 200,
        30,
        "the tracking view",
    )
    found: dict[str, Any] = api.call("GET", f"/invoices/{invoice_id}", "supplier").json()
    return found


def test_facturx_pdf_is_read_from_its_xml_and_kept_as_the_legal_document(api: Api) -> None:
    pdf = facturx_pdf(to_cii(invoice_data("PDF-FX-1")))
    answer = deposit(api, pdf)
    assert answer.status_code == 201, answer.text
    invoice_id = answer.json()["invoice_id"]
    assert answer.json()["signature"] is None
    assert tracked(api, invoice_id)["mode"] == "pdf"
    event = submitted(api, invoice_id)
    assert event.payload["mode"] == "pdf" and event.payload["number"] == "PDF-FX-1"
    assert event.payload["lines"][0]["net_amount"] == "100.00"
    (document,) = event.payload["documents"]
    assert document["media_type"] == "application/pdf" and document["role"] == "invoice"
    served = api.call("GET", f"/invoices/{invoice_id}/documents/{document['sha256']}", "buyer")
    assert served.content == pdf


def test_plain_pdf_with_typed_data_keeps_the_pdf_and_a_generated_cii(api: Api) -> None:
    pdf = blank_pdf()
    answer = deposit(api, pdf, typed("PDF-PLAIN-1"))
    assert answer.status_code == 201, answer.text
    invoice_id = answer.json()["invoice_id"]
    view = tracked(api, invoice_id)
    assert view["mode"] == "pdf" and view["net_amount"] == "510.00"
    event = submitted(api, invoice_id)
    assert str(event.payload["vat_amount"]) == "93.30"  # 450 x 20 % + 60 x 5.5 %
    roles = {d["role"]: d for d in event.payload["documents"]}
    assert set(roles) == {"invoice", "data"}
    assert roles["invoice"]["media_type"] == "application/pdf"
    cii = api.call("GET", f"/invoices/{invoice_id}/documents/{roles['data']['sha256']}", "supplier")
    assert b"CrossIndustryInvoice" in cii.content and b"PDF-PLAIN-1" in cii.content


def test_plain_pdf_without_data_and_facturx_with_data_are_refused(api: Api) -> None:
    alone = deposit(api, blank_pdf())
    assert alone.status_code == 422
    assert alone.json()["detail"]["code"] == "IRR_TYPE_F"
    assert alone.json()["detail"]["errors"][0]["rule"] == "DEPOSIT-PLAIN-PDF-DATA"
    both = deposit(api, facturx_pdf(to_cii(invoice_data("PDF-FX-2"))), typed("PDF-FX-2"))
    assert both.status_code == 422 and "Factur-X" in both.text
    not_pdf = deposit(api, b"GIF89a not a pdf at all")
    assert not_pdf.status_code == 422 and not_pdf.json()["detail"]["code"] == "IRR_TYPE_F"


def test_signed_pdf_verdict_is_recorded_on_the_invoice(api: Api, pki: Pki) -> None:
    trusted = sign(facturx_pdf(to_cii(invoice_data("PDF-SIG-1"))), pki.signer)
    answer = deposit(api, trusted)
    assert answer.status_code == 201, answer.text
    signature = answer.json()["signature"]
    assert signature["signed"] and signature["intact"] and signature["trusted"]
    assert signature["signer"] == "Jeanne Fournisseur"
    event = submitted(api, answer.json()["invoice_id"])
    assert event.payload["signature"]["trusted"] is True

    expired = sign(blank_pdf(), pki.expired_signer)
    flagged = deposit(api, expired, typed("PDF-SIG-2"))
    assert flagged.status_code == 201, flagged.text
    verdict = flagged.json()["signature"]
    assert verdict["intact"] and not verdict["trusted"] and verdict["note"]


def test_broken_signature_is_refused_and_nothing_is_recorded(api: Api, pki: Pki) -> None:
    signed = sign(facturx_pdf(to_cii(invoice_data("PDF-SIG-3"))), pki.signer)
    tampered = signed.replace(b" 595 ", b" 596 ", 1)
    assert tampered != signed
    answer = deposit(api, tampered)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]["code"] == "NON_CONFORME"
    assert answer.json()["detail"]["errors"][0]["rule"] == "PDF-SIGNATURE-BROKEN"
    # The same invoice, intact, is then accepted: the refusal recorded nothing.
    assert deposit(api, signed).status_code == 201


def test_a_supplier_cannot_deposit_another_suppliers_invoice(api: Api) -> None:
    pdf = facturx_pdf(to_cii(invoice_data("PDF-OTHER-1", supplier=OTHER_SUPPLIER)))
    assert deposit(api, pdf).status_code == 403
    assert deposit(api, pdf, who="other_supplier").status_code == 201


# ---------------------------------------------------------------- the portal's deposit page


def portal(api: Api, who: str) -> httpx.Client:
    """A portal session of `who`, signed in with its token."""
    web = httpx.Client(base_url=api.base, timeout=60)
    page = web.get("/portal/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    signed_in = web.post("/portal/login", data={"csrf": csrf[1], "token": api.tokens[who]})
    assert signed_in.status_code == 303, signed_in.text[:300]
    return web


def test_the_portal_deposits_a_signed_facturx_pdf_and_sends_an_edi_flow(api: Api, pki: Pki) -> None:
    web = portal(api, "supplier")
    page = web.get("/portal/deposits/new")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    csrf = {"csrf": re.findall(r'name="csrf" value="([^"]+)"', page.text)[-1]}
    signed = sign(facturx_pdf(to_cii(invoice_data("PORTAL-SIG-1"))), pki.signer)
    done = web.post(
        "/portal/deposits", data=csrf, files={"file": ("f.pdf", signed, "application/pdf")}
    )
    assert done.status_code == 201, done.text[:1000]
    assert "PORTAL-SIG-1" in done.text and "from a trusted signer" in done.text
    invoice_id = re.search(r'href="/portal/invoices/([0-9a-f-]{36})"', done.text)
    assert invoice_id and tracked(api, invoice_id[1])["number"] == "PORTAL-SIG-1"

    plain = web.post(
        "/portal/deposits", data=csrf, files={"file": ("p.pdf", blank_pdf(), "application/pdf")}
    )
    assert plain.status_code == 422 and 'class="code"' in plain.text
    forged = web.post(
        "/portal/deposits", data={"csrf": "x"}, files={"file": ("f.pdf", signed, "application/pdf")}
    )
    assert forged.status_code == 403
    empty = web.post("/portal/deposits", data=csrf, files={"file": ("", b"", "application/pdf")})
    assert empty.status_code == 422

    xml = to_cii(invoice_data("PORTAL-EDI-1"))
    sent = web.post("/portal/flows", data=csrf, files={"file": ("f.xml", xml, "application/xml")})
    assert sent.status_code == 303 and sent.headers["location"].endswith("/report")
    report = web.get(sent.headers["location"])
    assert report.status_code == 200 and "f.xml" in report.text
    web.close()

    buyer = portal(api, "buyer")
    assert buyer.get("/portal/deposits/new").status_code == 403
    closed = buyer.post(
        "/portal/deposits", data=csrf, files={"file": ("f.pdf", signed, "application/pdf")}
    )
    assert closed.status_code == 403
    buyer.close()
