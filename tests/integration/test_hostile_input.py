"""What a hostile or careless client sends gets a clear, coded 4xx — never a 5xx, never a
record the pipeline then chokes on — and what is right is accepted. Every case was a bug."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.data import BUYER, arabic_indic, fullwidth, invoice_body
from tests.support.pdfs import blank_pdf
from tests.support.stack import Api, wait_until

pytestmark = pytest.mark.stack


def raw(api: Api, method: str, path: str, who: str | None, content: bytes | str) -> httpx.Response:
    """A request whose body is sent as given (what `json=` could not even write)."""
    headers = {"Content-Type": "application/json"}
    if who:
        headers["Authorization"] = f"Bearer {api.tokens[who]}"
    body = content.encode() if isinstance(content, str) else content
    return httpx.request(method, api.base + path, content=body, headers=headers, timeout=30)


def events_of(api: Api, invoice_id: str) -> int:
    answer = api.call("GET", f"/invoices/{invoice_id}/events", "auditor")
    assert answer.status_code == 200, answer.text
    return len(answer.json()["events"])


def made_available(api: Api, number: str) -> str:
    created = api.call("POST", "/invoices", "supplier", invoice_body(number))
    assert created.status_code == 201, created.text
    return str(created.json()["invoice_id"])


def assert_refused(answer: httpx.Response, code: str | None = None, status: int = 422) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text)
    detail = answer.json()["detail"]
    assert detail["message"], detail
    if code is not None:
        assert detail["code"] == code, detail


# ---------------------------------------------------------------- 1. texts with NUL & co


@pytest.mark.parametrize(
    "reason",
    ["x\x00y", "bell\x07", "esc\x1b[31m", "\x7f", "\x85next", "a\ufffeb", "a\uffff"],
)
def test_a_forbidden_character_in_an_action_text_is_refused_and_nothing_recorded(
    api: Api, reason: str
) -> None:
    invoice_id = made_available(api, f"NUL-{ord(reason[-1]):04x}-{len(reason)}")
    before = events_of(api, invoice_id)
    answer = api.call(
        "POST",
        f"/invoices/{invoice_id}/suspend",
        "buyer",
        {"reason": reason, "reason_code": "AUTRE"},
    )
    assert_refused(answer, "IRR_SYNTAX")
    assert events_of(api, invoice_id) == before


def test_a_lone_surrogate_sent_as_a_json_escape_is_refused(api: Api) -> None:
    invoice_id = made_available(api, "SURROGATE-1")
    body = '{"reason": "x\\ud800y", "reason_code": "AUTRE"}'
    assert_refused(raw(api, "POST", f"/invoices/{invoice_id}/suspend", "buyer", body))
    assert events_of(api, invoice_id) == 3


def test_texts_of_every_action_and_of_a_completion_are_checked(api: Api) -> None:
    invoice_id = made_available(api, "TEXTS-1")
    for action, body in (
        ("reject", {"reason": "ok", "reason_code": "AUTRE\x00"}),
        ("mark-for-rerouting", {"reason": "\x00", "reason_code": "DEST_ERR"}),
        ("reroute", {"recipient_siret": fullwidth(BUYER)}),
        ("reroute", {"recipient_siret": BUYER, "service_code": "SE\u202e-01"}),
    ):
        assert api.call("POST", f"/invoices/{invoice_id}/{action}", "buyer", body).status_code in (
            403,
            409,
            422,
        )
    done = api.call(
        "POST", f"/invoices/{invoice_id}/suspend", "buyer", {"reason": "PJ", "reason_code": "AUTRE"}
    )
    assert done.status_code == 200, done.text
    completion = api.call(
        "POST", f"/invoices/{invoice_id}/complete", "supplier", {"comment": "joint\x00"}
    )
    assert_refused(completion, "IRR_SYNTAX")
    # A comment over several lines is a comment.
    completed = api.call(
        "POST", f"/invoices/{invoice_id}/complete", "supplier", {"comment": "Bon joint\r\n\tp. 2"}
    )
    assert completed.status_code == 200, completed.text


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("number", "F-\u202e0001", "IRR_SYNTAX"),  # right-to-left override
        ("number", "F-\u200b0001", "IRR_SYNTAX"),  # zero-width space
        ("number", "F-0001\n", None),
        ("order_reference", "EJ\u2066001", "IRR_SYNTAX"),
        ("recipient_siret", fullwidth(BUYER), "SIRET_ERR"),
        ("recipient_siret", arabic_indic(BUYER), "SIRET_ERR"),
        ("recipient_name", "Mairie\x00", "IRR_SYNTAX"),
        ("currency", "XXX", "REJ_SEMAN"),
        ("issue_date", "0001-01-01", "REJ_SEMAN"),
        ("issue_date", "1899-12-31", "REJ_SEMAN"),
        ("due_date", "9999-12-31", "REJ_SEMAN"),
        ("prepaid_amount", "5000.00", "MONTANTTOTAL_ERR"),  # more than the total
    ],
)
def test_an_invoice_field_that_is_wrong_is_refused_with_its_code(
    api: Api, field: str, value: str, code: str | None
) -> None:
    body = invoice_body("WRONG-1")
    body[field] = value
    answer = api.call("POST", "/invoices", "supplier", body)
    assert_refused(answer, code)


def test_supplier_fields_and_line_fields_are_checked_too(api: Api) -> None:
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({"supplier": {"scheme": "SIRET", "id": fullwidth("73282932000074"), "name": "D"}}, None),
        ({"supplier": {"scheme": "SIRET", "id": "73282932000074", "name": "D\tx"}}, None),
        ({"lines": [{"name": "x", "quantity": "1_000", "unit_price": "5"}]}, None),
        ({"lines": [{"name": "x", "quantity": " 1 ", "unit_price": "5"}]}, None),
        ({"lines": [{"name": "x", "quantity": "1e3", "unit_price": "5"}]}, None),
        ({"lines": [{"name": "x", "quantity": "１", "unit_price": "5"}]}, None),  # noqa: RUF001
        ({"lines": [{"name": "x", "quantity": "1", "unit_price": "5", "unit": ""}]}, None),
        ({"lines": [{"name": "x", "quantity": "1", "unit_price": "5", "colour": "red"}]}, None),
        ({"lines": [{"name": "x", "quantity": True, "unit_price": "5"}]}, None),
        ({"payment": {"iban": "FR76\x003000"}}, None),
    ]
    for changes, code in cases:
        answer = api.call("POST", "/invoices", "supplier", invoice_body("FIELDS-1", **changes))
        assert_refused(answer, code)
        assert answer.json()["detail"]["field"], answer.text


@pytest.mark.parametrize(
    ("quantity", "price", "vat"),
    [
        ("200", "50000000000000", "20"),  # the reported case: the totals overflow
        ("99999999999999", "9999999999999", "20"),  # the product overflows 28 digits
        ("-1", "100", "20"),  # a negative invoice (kind 380)
        ("0", "100", "20"),  # an invoice of zero
    ],
)
def test_amounts_the_contract_cannot_hold_or_that_owe_nothing_are_refused(
    api: Api, quantity: str, price: str, vat: str
) -> None:
    body = invoice_body(
        f"AMOUNT-{quantity[:6]}-{price[:6]}",
        lines=[{"name": "Lot", "quantity": quantity, "unit_price": price, "vat_rate": vat}],
    )
    del body["net_amount"], body["vat_amount"]
    answer = api.call("POST", "/invoices", "supplier", body)
    assert_refused(answer, "MONTANTTOTAL_ERR")


def test_a_due_date_before_the_issue_date_is_accepted(api: Api) -> None:
    """Paid in advance: EN 16931 and its Schematron accept it."""
    body = invoice_body("ADVANCE-1", issue_date="2026-04-01", due_date="2026-03-15")
    answer = api.call("POST", "/invoices", "supplier", body)
    assert answer.status_code == 201, answer.text


# ---------------------------------------------------------------- 6. malformed requests


@pytest.mark.parametrize(
    "body",
    [
        '{"lines": [{"quantity": NaN}]}',
        '{"lines": [{"quantity": Infinity}]}',
        '{"lines": [{"quantity": -Infinity}]}',
        '{"lines": [{"quantity": 1e309}]}',
        '{"number": 1' + "0" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 50 + "1" + "}" * 50,
        b'{"number": "\xff\xfe"}',
        "not json",
        '{"number": "x", "number": "y"',
    ],
)
def test_malformed_json_is_a_4xx_with_a_problem_body(api: Api, body: str | bytes) -> None:
    answer = raw(api, "POST", "/invoices", "supplier", body)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert answer.json()["detail"]["code"], answer.text[:300]


@pytest.mark.parametrize(
    "query",
    [
        "status=a%00b",
        "supplier_id=%00",
        "recipient_siret=%01",
        "status=%ED%A0%80",  # a surrogate, UTF-8 encoded
        "status=%FF",
        "limit=1e3",
        "limit=NaN",
        "before_submitted_at=0000-00-00&before_id=x",
    ],
)
def test_malformed_query_parameters_are_a_4xx(api: Api, query: str) -> None:
    answer = httpx.get(
        f"{api.base}/invoices?{query}",
        headers={"Authorization": f"Bearer {api.tokens['supplier']}"},
    )
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert answer.json()["detail"]["code"]


@pytest.mark.parametrize(
    "path",
    [
        "/invoices/%00",
        "/directory/structures/1100020110004%00",
        "/directory/structures/%EF%BC%91%EF%BC%91%EF%BC%90",  # fullwidth digits
        "/structures/%00/fec?year=2026",
        "/flows/%01/report",
        "/portal/invoices/%00",
    ],
)
def test_malformed_path_parameters_are_a_4xx(api: Api, path: str) -> None:
    answer = httpx.get(
        api.base + path, headers={"Authorization": f"Bearer {api.tokens['auditor']}"}
    )
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])


def test_deeply_nested_or_non_finite_typed_data_of_a_deposit_is_a_4xx(api: Api) -> None:
    for typed in ('{"a": ' * 10_000 + "1" + "}" * 10_000, '{"lines": [{"quantity": NaN}]}'):
        answer = httpx.post(
            f"{api.base}/deposits",
            files={"file": ("f.pdf", blank_pdf(), "application/pdf")},
            data={"invoice": typed},
            headers={"Authorization": f"Bearer {api.tokens['supplier']}"},
            timeout=60,
        )
        assert answer.status_code == 422, answer.text[:300]
        assert answer.json()["detail"]["field"].startswith("invoice")


def test_a_file_name_with_control_characters_is_refused(api: Api) -> None:
    # Written by hand: httpx would percent-encode these characters in a file name.
    for name in ("fac\x00ture.pdf", "a\x1bb.pdf", "a\rb.xml", "x" * 300 + ".pdf"):
        body = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="'
            + name.encode()
            + b'"\r\nContent-Type: application/xml\r\n\r\n<x/>\r\n--b--\r\n'
        )
        answer = httpx.post(
            f"{api.base}/flows",
            content=body,
            headers={
                "Authorization": f"Bearer {api.tokens['supplier']}",
                "Content-Type": "multipart/form-data; boundary=b",
            },
        )
        # (A CR breaks the part's header: the multipart parser refuses the request, 400.)
        assert answer.status_code in ((400,) if "\r" in name else (422,)), (name[:20], answer.text)
        assert answer.json()["detail"]["code"] in ("IRR_SYNTAX", "INVALID")


def test_a_correlation_id_that_is_not_a_short_ascii_text_is_refused(api: Api) -> None:
    answer = httpx.post(
        f"{api.base}/invoices",
        json=invoice_body("CORR-1"),
        headers={
            "Authorization": f"Bearer {api.tokens['supplier']}",
            "X-Correlation-ID": "x" * 500,
        },
    )
    assert_refused(answer)


# ---------------------------------------------------------------- 5. non-Latin-1 file names


def test_a_document_named_in_any_script_can_be_downloaded(api: Api) -> None:
    name = "facture-€-請求書.pdf"
    typed = invoice_body("UNICODE-NAME-1")
    created = httpx.post(
        f"{api.base}/deposits",
        files={"file": (name, blank_pdf(), "application/pdf")},
        data={"invoice": json.dumps(typed)},
        headers={"Authorization": f"Bearer {api.tokens['supplier']}"},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    invoice_id = created.json()["invoice_id"]
    history = api.call("GET", f"/invoices/{invoice_id}/events", "supplier").json()
    documents = history["events"][0]["attributes"]["data"]["documents"]
    pdf = next(d for d in documents if d["filename"] == name)
    download = api.call("GET", f"/invoices/{invoice_id}/documents/{pdf['sha256']}", "supplier")
    assert download.status_code == 200
    disposition = download.headers["content-disposition"]
    assert "filename*=UTF-8''facture-%E2%82%AC-%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf" in disposition
    assert disposition.isascii()
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in download.headers["content-security-policy"]
    assert download.headers["cache-control"] == "no-store"


# ---------------------------------------------------------------- 10. headers


def test_json_with_invoice_data_is_never_cached_and_the_api_sets_its_headers(api: Api) -> None:
    invoice_id = made_available(api, "HEADERS-1")
    wait_until(
        lambda: api.call("GET", f"/invoices/{invoice_id}", "supplier").status_code == 200,
        30,
        "the tracking view",
    )
    for path in (f"/invoices/{invoice_id}", "/invoices", f"/invoices/{invoice_id}/events"):
        answer = api.call("GET", path, "supplier")
        assert answer.headers["cache-control"] == "no-store", path
        assert answer.headers["x-frame-options"] == "DENY", path
        assert answer.headers["x-content-type-options"] == "nosniff", path


def test_the_api_flow_report_page_runs_no_script_and_is_never_framed(api: Api) -> None:
    uploaded = httpx.post(
        f"{api.base}/flows",
        files={"file": ("report.xml", b"<not-an-invoice/>", "application/xml")},
        headers={"Authorization": f"Bearer {api.tokens['supplier']}"},
    )
    assert uploaded.status_code == 202, uploaded.text
    page = api.call("GET", f"/flows/{uploaded.json()['flow_id']}/report", "supplier")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"


def test_the_portal_404_is_a_portal_page(api: Api) -> None:
    for path in ("/portal/nowhere", "/portal/invoices/not-a-uuid", "/portal/x/y/z"):
        answer = httpx.get(api.base + path, headers={"Accept-Language": "fr"})
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "Page introuvable" in answer.text, path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_the_pipeline_still_moves_after_all_this(api: Api) -> None:
    invoice_id = made_available(api, "STILL-MOVING-1")
    wait_until(
        lambda: api.call("GET", f"/invoices/{invoice_id}", "supplier").status_code == 200,
        30,
        "the tracking view",
    )
    health = httpx.get(f"{api.base}/health")
    assert health.status_code == 200, health.text
    assert health.json()["dead_letters"] == {}
