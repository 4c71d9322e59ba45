"""The supplier portal's invoice form, over HTTP against a real `facturier serve` (API, relay,
projections), PostgreSQL and Kafka. The tests post the form as a browser without JavaScript
does: every field the page holds, with the button pressed as `action`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import psycopg
import pytest

from facturier.config.settings import Settings
from facturier.intake.canonical import to_cii
from facturier.services.application.authentication import create_token
from facturier.services.application.principals import ApiRole
from tests.support.data import BUYER, SUPPLIER, invoice_data
from tests.support.pdfs import blank_pdf, facturx_pdf
from tests.support.pipeline import invoice_events
from tests.support.stack import Api, wait_until

IBAN = "FR76 3000 6000 0112 3456 7890 189"


class Page(HTMLParser):
    """A rendered page as a browser sees its form: the elements by id, and the fields a
    submission posts (inputs and selects outside <template>, buttons excluded)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.by_id: dict[str, tuple[str, dict[str, str]]] = {}
        self.fields: dict[str, str] = {}
        self.labels: set[str] = set()
        self._template = 0
        self._select: str | None = None
        self._text_of: str | None = None
        self.text: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "template":
            self._template += 1
        if self._template:
            return
        if "id" in a:
            assert a["id"] not in self.by_id, f"duplicate id {a['id']}"
            self.by_id[a["id"]] = (tag, a)
            if tag in ("output", "p"):
                self._text_of = a["id"]
                self.text[a["id"]] = ""
        if tag == "label" and "for" in a:
            self.labels.add(a["for"])
        if tag == "input" and "name" in a:
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
        elif (
            tag == "option"
            and self._select is not None
            and ("selected" in a or self._select not in self.fields)
        ):
            self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self._template -= 1
        elif tag == "select":
            self._select = None
        elif tag in ("output", "p"):
            self._text_of = None

    def handle_data(self, data: str) -> None:
        if self._text_of is not None:
            self.text[self._text_of] += data

    def attrs(self, element_id: str) -> dict[str, str]:
        assert element_id in self.by_id, f"no element #{element_id}"
        return self.by_id[element_id][1]

    def invalid(self) -> set[str]:
        return {i for i, (_, a) in self.by_id.items() if a.get("aria-invalid") == "true"}


def browser(api: Api) -> httpx.Client:
    return httpx.Client(base_url=api.base, timeout=60, follow_redirects=False)


def login(client: httpx.Client, token: str, **headers: str) -> httpx.Response:
    form = Page(client.get("/portal/login").text)
    return client.post(
        "/portal/login", data={"csrf": form.fields["csrf"], "token": token}, headers=headers
    )


@pytest.fixture
def supplier(api: Api) -> Iterator[httpx.Client]:
    client = browser(api)
    assert login(client, api.tokens["supplier"]).status_code == 303
    yield client
    client.close()


def new_form(client: httpx.Client) -> Page:
    response = client.get("/portal/invoices/new")
    assert response.status_code == 200, response.text
    return Page(response.text)


def filled(page: Page, number: str, **changes: str) -> dict[str, str]:
    """The form of `page` filled with a valid invoice of two lines, 20 % and 5.5 %."""
    fields = dict(page.fields)
    fields.update(
        supplier_name="Papeterie Durand",
        supplier_address_line1="1 rue de la Paix",
        supplier_address_postcode="75002",
        supplier_address_city="Paris",
        recipient_siret=BUYER,
        service_code="SE-01",
        order_reference="EJ00004242",
        number=number,
        issue_date="2026-04-01",
        due_date="2026-05-01",
        iban=IBAN,
        **{
            "lines-0-name": "Ramettes A4",
            "lines-0-quantity": "12",
            "lines-0-unit": "C62",
            "lines-0-unit_price": "41.25",
            "lines-0-vat": "S:20",
            "lines-1-name": "Dictionnaires",
            "lines-1-quantity": "2,5",  # typed the French way
            "lines-1-unit": "C62",
            "lines-1-unit_price": "10.45",  # 2.5 x 10.45 = 26.125 -> 26.13 (half up)
            "lines-1-vat": "S:5.5",
        },
    )
    fields.update(changes)
    return fields


def post(client: httpx.Client, fields: dict[str, str], action: str) -> httpx.Response:
    return client.post("/portal/invoices", data={**fields, "action": action})


def session_rows(settings: Settings) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.postgres.dsn) as conn:
        return conn.execute("SELECT session_sha256, csrf_token FROM portal_session").fetchall()


# ---------------------------------------------------------------- sessions


def test_login_sets_a_strict_http_only_session_cookie(api: Api) -> None:
    client, settings = api, api.settings
    with browser(client) as web:
        page = web.get("/portal/login")
        assert page.status_code == 200
        assert "default-src 'none'" in page.headers["content-security-policy"]
        form = Page(page.text)
        assert "token" in form.labels and "csrf" in form.fields

        response = login(web, client.tokens["supplier"])
        assert response.status_code == 303
        assert response.headers["location"] == "/portal"
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("facturier_portal=")
        )
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in flags and "samesite=strict" in flags and "path=/portal" in flags
        assert "max-age=28800" in flags
        assert "secure" not in flags  # plain http here
        session_id = cookie.split(";")[0].split("=", 1)[1]
        stored = [row[0] for row in session_rows(settings)]
        assert hashlib.sha256(session_id.encode()).hexdigest() in stored
        assert session_id not in stored  # only its hash is kept

    with browser(client) as web:  # behind a TLS-terminating proxy: Secure
        response = login(web, client.tokens["supplier"], **{"X-Forwarded-Proto": "https"})
        assert response.status_code == 303
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("facturier_portal=")
        )
        assert "secure" in [part.strip().lower() for part in cookie.split(";")]

    with browser(client) as web:
        refused = login(web, "fct_not-a-token")
        assert refused.status_code == 401
        assert Page(refused.text).attrs("token")["aria-invalid"] == "true"
        assert "facturier_portal=" not in refused.headers.get("set-cookie", "")
        # The login form's own CSRF token (double-submit cookie) is required too.
        no_csrf = web.post("/portal/login", data={"token": client.tokens["supplier"]})
        assert no_csrf.status_code == 403
        # Without a session the form's page sends to the login page.
        away = web.get("/portal/invoices/new")
        assert (away.status_code, away.headers["location"]) == (303, "/portal/login")


def test_the_form_is_prefilled_labelled_and_csrf_protected(
    api: Api, supplier: httpx.Client
) -> None:
    page = new_form(supplier)
    assert "<main" in page.html and "<h1>New invoice</h1>" in page.html
    assert page.fields["supplier_id"] == SUPPLIER
    assert "readonly" in page.attrs("supplier_id")
    assert page.fields["kind"] == "380" and page.fields["currency"] == "EUR"
    assert page.fields["lines-0-vat"] == "S:20" and page.fields["lines-0-name"] == ""
    for name, (tag, attrs) in page.by_id.items():
        if tag in ("input", "select") and attrs.get("type") != "hidden":
            assert name in page.labels, f"#{name} has no label"
    assert page.by_id["line-rows"][0] == "tbody"

    fields = filled(page, "WEB-CSRF")
    assert post(
        supplier, {k: v for k, v in fields.items() if k != "csrf"}, "submit"
    ).status_code == (403)
    assert post(supplier, {**fields, "csrf": "forged"}, "submit").status_code == 403
    with browser(api) as stranger:  # no session at all
        assert post(stranger, fields, "submit").status_code == 403
    assert supplier.post("/portal/logout", data={}).status_code == 403

    script = supplier.get("/portal/static/portal.js")
    assert script.status_code == 200 and "BigInt" in script.text
    assert supplier.get("/portal/static/missing.js").status_code == 404


def test_add_and_remove_lines_without_javascript(supplier: httpx.Client) -> None:
    page = new_form(supplier)
    fields = {
        **page.fields,
        "number": "WEB-ADD",
        "lines-0-name": "Ramettes A4",
        "lines-0-quantity": "12",
        "lines-0-unit_price": "41.25",
        "lines-0-vat": "S:10",
    }
    added = post(supplier, fields, "add-line")
    assert added.status_code == 200, added.text
    page = Page(added.text)
    assert page.fields["number"] == "WEB-ADD"
    assert page.fields["lines-0-name"] == "Ramettes A4"
    assert page.fields["lines-0-quantity"] == "12"
    assert page.fields["lines-0-vat"] == "S:10"
    assert (page.fields["lines-1-name"], page.fields["lines-1-vat"]) == ("", "S:20")
    assert "lines-2-name" not in page.fields
    assert page.invalid() == set()  # adding a line is no submission: no error shown
    assert "Remove line 2" in added.text

    fields = {**page.fields, "lines-1-name": "Agrafes", "lines-1-quantity": "3"}
    removed = Page(post(supplier, fields, "remove-0").text)
    assert removed.fields["lines-0-name"] == "Agrafes"
    assert removed.fields["lines-0-quantity"] == "3"
    assert "lines-1-name" not in removed.fields
    # The last line removed leaves an empty one.
    emptied = Page(post(supplier, removed.fields, "remove-0").text)
    assert emptied.fields["lines-0-name"] == "" and "lines-1-name" not in emptied.fields


def test_compute_totals_for_two_vat_rates(supplier: httpx.Client) -> None:
    fields = filled(new_form(supplier), "WEB-TOTALS")
    response = post(supplier, fields, "compute")
    assert response.status_code == 200, response.text
    page = Page(response.text)
    assert page.text["lines-0-net"] == "495.00"  # 12 x 41.25
    assert page.text["lines-1-net"] == "26.13"  # 2.5 x 10.45 = 26.125, half up
    rows = re.findall(
        r"<tr><td>(\w+)</td><td>([\d.]+) %</td><td[^>]*>([\d.]+)</td><td[^>]*>([\d.]+)</td></tr>",
        response.text.split('id="vat-breakdown"')[1].split("</tbody>")[0],
    )
    assert rows == [("S", "20", "495.00", "99.00"), ("S", "5.5", "26.13", "1.44")]
    totals = {k: page.text[f"total-{k}"] for k in ("net", "vat", "gross", "payable")}
    assert totals == {"net": "521.13", "vat": "100.44", "gross": "621.57", "payable": "621.57"}
    assert page.fields["lines-1-quantity"] == "2,5"  # given back as typed

    # A line without a number is left out of the totals, and says why.
    fields["lines-1-unit_price"] = "abc"
    page = Page(post(supplier, fields, "compute").text)
    assert page.text["total-net"] == "495.00" and page.text["lines-1-net"] == "—"
    assert "lines-1-unit_price" in page.invalid()
    assert "line 2" in page.text["totals-note"]


def test_a_valid_submission_is_recorded_tracked_and_published(
    api: Api, supplier: httpx.Client
) -> None:
    client, settings = api, api.settings
    response = post(supplier, filled(new_form(supplier), "WEB-0001"), "submit")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    match = re.fullmatch(r"/portal/invoices/([0-9a-f-]{36})", location)
    assert match, location
    invoice_id = match[1]

    first = supplier.get(location)
    assert first.status_code == 200
    assert "WEB-0001" in first.text  # tracked already, or "being recorded"

    def shown() -> bool:
        return "MISE_A_DISPOSITION" in supplier.get(location).text

    wait_until(shown, 30, "the invoice page to show the tracking view")
    page = supplier.get(location).text
    for text in ("WEB-0001", "621.57", "Submitted", "MadeAvailable", f"supplier:{SUPPLIER}"):
        assert text in page, text

    view = client.call("GET", f"/invoices/{invoice_id}", "supplier")
    assert view.status_code == 200, view.text
    tracked = view.json()
    assert tracked["mode"] == "portal" and tracked["number"] == "WEB-0001"
    assert (tracked["net_amount"], tracked["vat_amount"]) == ("521.13", "100.44")
    assert tracked["gross_amount"] == "621.57"

    submitted = [e for e in invoice_events(settings, invoice_id) if e.version == 1]
    assert [e.event_type for e in submitted] == ["Submitted"]
    payload = submitted[0].payload
    assert payload["mode"] == "portal" and len(payload["lines"]) == 2
    assert [x["net_amount"] for x in payload["lines"]] == ["495.00", "26.13"]
    assert submitted[0].actor == f"supplier:{SUPPLIER}"

    # The same invoice again: DOUBLON, shown in the summary (no single field to blame).
    again = post(supplier, filled(new_form(supplier), "WEB-0001"), "submit")
    assert again.status_code == 409
    summary = again.text.split('id="error-summary"')[1].split("</div>")[0]
    assert "DOUBLON" in summary

    # Another account's session cannot see it.
    with browser(client) as other:
        assert login(other, client.tokens["other_supplier"]).status_code == 303
        assert other.get(location).status_code == 404


def test_errors_are_shown_next_to_their_fields_and_nothing_is_recorded(
    supplier: httpx.Client,
) -> None:
    page = new_form(supplier)
    wrong = filled(
        page,
        "WEB-0002",
        iban="FR76 3000 6000 0112 3456 7890 188",  # wrong check digits
        recipient_siret="11000201100045",  # 14 digits, wrong Luhn key
        **{"lines-0-name": ""},
    )
    response = post(supplier, wrong, "submit")
    assert response.status_code == 422, response.text
    shown = Page(response.text)
    assert shown.invalid() == {"iban", "recipient_siret", "lines-0-name"}
    for field in ("iban", "recipient_siret", "lines-0-name"):
        assert f"{field}-error" in shown.attrs(field)["aria-describedby"].split()
        assert shown.text[f"{field}-error"].strip(), field
    assert "not a valid IBAN" in shown.text["iban-error"]
    assert "not a valid SIRET" in shown.text["recipient_siret-error"]
    assert "Required" in shown.text["lines-0-name-error"]
    # The summary, focused on load, links to each field.
    summary = shown.attrs("error-summary")
    assert summary["tabindex"] == "-1" and "autofocus" in summary
    for field in ("iban", "recipient_siret", "lines-0-name"):
        assert f'href="#{field}"' in response.text
    # What was typed is given back.
    assert shown.fields["iban"] == "FR76 3000 6000 0112 3456 7890 188"
    assert shown.fields["recipient_siret"] == "11000201100045"
    assert shown.fields["lines-1-quantity"] == "2,5"
    assert shown.text["total-gross"] == "621.57"

    # Nothing was recorded: the corrected invoice, same number, is accepted (no DOUBLON).
    fixed = filled(shown, "WEB-0002")
    accepted = post(supplier, fixed, "submit")
    assert accepted.status_code == 303, accepted.text


def test_a_routing_refusal_is_shown_at_the_service_code(supplier: httpx.Client) -> None:
    response = post(supplier, filled(new_form(supplier), "WEB-0003", service_code="NOPE"), "submit")
    assert response.status_code == 422
    page = Page(response.text)
    assert page.invalid() == {"service_code"}
    assert "NOPE" in page.text["service_code-error"]


def test_buyers_cannot_use_the_form(api: Api) -> None:
    client = api
    with browser(client) as buyer:
        assert login(buyer, client.tokens["buyer"]).status_code == 303
        forbidden = buyer.get("/portal/invoices/new")
        assert forbidden.status_code == 403
        assert "cannot submit invoices" in forbidden.text
        csrf = Page(forbidden.text).fields["csrf"]  # the session's own (its sign-out form)
        fields = filled(Page(forbidden.text), "WEB-BUYER", supplier_id=SUPPLIER)
        assert post(buyer, {**fields, "csrf": csrf}, "submit").status_code == 403
        assert post(buyer, {**fields, "csrf": csrf}, "add-line").status_code == 403


def test_logout_expiry_and_revocation_end_the_session(api: Api) -> None:
    client, settings = api, api.settings
    with browser(client) as web:
        assert login(web, client.tokens["supplier"]).status_code == 303
        session_id = web.cookies["facturier_portal"]
        csrf = new_form(web).fields["csrf"]
        out = web.post("/portal/logout", data={"csrf": csrf})
        assert (out.status_code, out.headers["location"]) == (303, "/portal/login")
        assert "facturier_portal" not in web.cookies
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        assert digest not in [row[0] for row in session_rows(settings)]
    with browser(client) as replay:  # the old cookie, sent again, opens nothing
        replay.cookies.set("facturier_portal", session_id, path="/portal")
        assert replay.get("/portal/invoices/new").headers["location"] == "/portal/login"
        assert post(replay, {"csrf": csrf}, "compute").status_code == 403

    with browser(client) as web:  # 8 hours later
        assert login(web, client.tokens["supplier"]).status_code == 303
        csrf = new_form(web).fields["csrf"]
        digest = hashlib.sha256(web.cookies["facturier_portal"].encode()).hexdigest()
        with psycopg.connect(settings.postgres.dsn) as conn:
            conn.execute(
                "UPDATE portal_session SET expires_at = now() - interval '1 second'"
                " WHERE session_sha256 = %s",
                (digest,),
            )
        assert web.get("/portal/invoices/new").status_code == 303
        assert post(web, {"csrf": csrf}, "compute").status_code == 403

    with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
        token = create_token(conn, ApiRole.SUPPLIER, SUPPLIER, "revoked soon")
    with browser(client) as web:
        assert login(web, token).status_code == 303
        assert web.get("/portal/invoices/new").status_code == 200
        with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
            conn.execute(
                "UPDATE api_token SET revoked_at = now() WHERE token_sha256 = %s",
                (hashlib.sha256(token.encode()).hexdigest(),),
            )
        assert web.get("/portal/invoices/new").status_code == 303


def test_a_typed_invoice_with_its_own_pdf_keeps_the_pdf_as_the_legal_document(
    api: Api, supplier: httpx.Client
) -> None:
    fields = {**filled(new_form(supplier), "WEB-PDF-1"), "action": "submit"}
    pdf = blank_pdf()
    answer = supplier.post(
        "/portal/invoices", data=fields, files={"pdf": ("web-pdf-1.pdf", pdf, "application/pdf")}
    )
    assert answer.status_code == 303, answer.text[:2000]
    invoice_id = answer.headers["location"].rpartition("/")[2]
    submitted = next(e for e in invoice_events(api.settings, invoice_id) if e.version == 1)
    assert submitted.payload["mode"] == "pdf"
    roles = {d["role"]: d for d in submitted.payload["documents"]}
    assert set(roles) == {"invoice", "data"}
    assert roles["invoice"]["media_type"] == "application/pdf"
    assert roles["invoice"]["sha256"] == hashlib.sha256(pdf).hexdigest()

    # A Factur-X PDF brings its own data: typed data beside it is refused, nothing recorded.
    facturx = facturx_pdf(to_cii(invoice_data("WEB-PDF-2")))
    fields = {**filled(new_form(supplier), "WEB-PDF-2"), "action": "submit"}
    refused = supplier.post(
        "/portal/invoices", data=fields, files={"pdf": ("fx.pdf", facturx, "application/pdf")}
    )
    assert refused.status_code == 422 and "error-summary" in refused.text
