"""The portal in a real browser: Debian's headless Chromium (`/usr/bin/chromium`, never a
downloaded build) driven by Playwright, against a real `facturier serve`, PostgreSQL and Kafka.

A supplier signs in and opens an invoice; the buyer acts on it over the API; the open page
shows the new status and a new timeline row without being reloaded. A screenshot of each
main page goes to artifacts/screenshots/ (kept by CI as an artefact)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import check_widths, shot
from tests.support.data import SUPPLIER, invoice_body
from tests.support.stack import Api, wait_until

pytestmark = pytest.mark.stack


def sign_in(browser: Browser, api: Api, who: str, screenshot: str | None = None) -> Page:
    page = browser.new_page(base_url=api.base, viewport={"width": 1280, "height": 900})
    # The browser's console ends up in the test's output when it fails.
    page.on("console", lambda message: print(f"[{who} console] {message.type}: {message.text}"))
    page.on("pageerror", lambda error: print(f"[{who} page error] {error}"))
    page.goto("/portal/login")
    if screenshot:
        shot(page, screenshot)
    page.click("details summary")  # the token form, for operations, below the account's
    page.fill("#token", api.tokens[who])
    with page.expect_navigation():
        page.click("form[action='/portal/login'] button[type=submit]")
    assert "/portal/login" not in page.url, page.content()[:2000]
    return page


def received(api: Api, invoice_id: str) -> bool:
    found = api.call("GET", f"/invoices/{invoice_id}", "supplier")
    return found.status_code == 200 and found.json().get("summary") == "received"


def test_an_open_invoice_page_shows_a_buyer_action_live(api: Api, chromium: Browser) -> None:
    created = api.call("POST", "/invoices", "supplier", invoice_body("BROWSER-1"))
    assert created.status_code == 201, created.text
    invoice_id = str(created.json()["invoice_id"])
    wait_until(lambda: received(api, invoice_id), 60, "the invoice in the tracking view")

    page = sign_in(chromium, api, "supplier", screenshot="01-login")
    page.goto("/portal")
    shot(page, "02-supplier-home")
    page.goto("/portal/invoices/new")
    shot(page, "03-invoice-form")
    page.goto("/portal/notifications")
    expect(page.get_by_label("E-mail address")).to_have_count(1)
    shot(page, "08-e-mail-notifications")

    page.goto(f"/portal/invoices/{invoice_id}")
    status = page.locator(f'[data-live-status="{invoice_id}"]')
    code = page.locator(f'[data-live-code="{invoice_id}"]')
    timeline = page.locator(f'[data-live-timeline="{invoice_id}"] tr')
    expect(status).to_have_count(1)
    expect(code).to_contain_text("MISE_A_DISPOSITION")
    expect(timeline).to_have_count(3)  # Submitted, Routed, MadeAvailable
    # live.js marks the page once its stream is open (the server has subscribed it).
    expect(page.locator("html[data-live='on']")).to_have_count(1, timeout=10_000)
    before = status.inner_text()
    page.evaluate("window.notReloaded = true")
    shot(page, "04-invoice")

    acted = time.monotonic()
    taken = api.call("POST", f"/invoices/{invoice_id}/take-in-hand", "buyer")
    assert taken.status_code == 200, taken.text
    expect(code).to_contain_text("PRISE_EN_COMPTE_DESTINATAIRE", timeout=5_000)
    print(f"page updated {time.monotonic() - acted:.3f} s after the buyer's action")
    expect(status).not_to_have_text(before)
    expect(timeline).to_have_count(4)
    assert page.evaluate("window.notReloaded === true"), "the page was reloaded"
    shot(page, "05-invoice-updated-live")

    # What the push wrote is what the server renders for the same state.
    live = (status.inner_text(), code.inner_text(), timeline.nth(3).inner_text())
    page.reload()
    rendered = (status.inner_text(), code.inner_text(), timeline.nth(3).inner_text())
    assert [" ".join(x.split()) for x in live] == [" ".join(x.split()) for x in rendered]
    page.close()


def test_screenshots_of_the_buyer_pages(api: Api, chromium: Browser) -> None:
    page = sign_in(chromium, api, "buyer")
    page.goto("/portal")
    assert page.locator("h1").count() >= 1
    shot(page, "06-buyer-home")
    page.close()


def test_a_french_page_gets_the_french_label_live(api: Api, chromium: Browser) -> None:
    created = api.call("POST", "/invoices", "supplier", invoice_body("BROWSER-FR-1"))
    assert created.status_code == 201, created.text
    invoice_id = str(created.json()["invoice_id"])
    wait_until(lambda: received(api, invoice_id), 60, "the invoice in the tracking view")
    page = sign_in(chromium, api, "supplier")
    page.goto(f"/portal/language/fr?next=/portal/invoices/{invoice_id}")
    page.goto(f"/portal/invoices/{invoice_id}")
    assert page.locator("html").get_attribute("lang") == "fr"
    status = page.locator(f'[data-live-status="{invoice_id}"]')
    expect(status).to_have_text("reçue")
    expect(page.locator("html[data-live='on']")).to_have_count(1, timeout=10_000)
    suspended = api.call(
        "POST",
        f"/invoices/{invoice_id}/suspend",
        "buyer",
        {"reason": "bon de commande manquant", "reason_code": "JUSTIF_ABS"},
    )
    assert suspended.status_code == 200, suspended.text
    expect(status).to_have_text("action requise", timeout=5_000)
    expect(page.locator(f'[data-live-timeline="{invoice_id}"] tr').last).to_contain_text(
        "bon de commande manquant"
    )
    shot(page, "07-invoice-fr-updated-live")
    page.close()


# ---------------------------------------------------------------- every page, 1280 and 375 px

LONG_SUPPLIER = {
    "scheme": "SIRET",
    "id": SUPPLIER,
    "name": "Papeterie Durand et Fils, fournitures de bureau, reprographie et consommables",
}


def new_session(browser: Browser, api: Api, who: str | None, lang: str) -> Page:
    """A page signed in as `who` (None: signed out), its language chosen with the switch."""
    page = browser.new_page(base_url=api.base, viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: print(f"[{who} page error] {error}"))
    if who is not None:
        page.goto("/portal/login")
        page.click("details summary")
        page.fill("#token", api.tokens[who])
        with page.expect_navigation():
            page.click("form[action='/portal/login'] button[type=submit]")
    page.goto(f"/portal/language/{lang}?next=/portal/login")
    return page


def test_every_page_fits_1280_and_375_pixels_in_english_and_french(
    api: Api, chromium: Browser
) -> None:
    ids = []
    for n in range(4):
        body = {**invoice_body(f"LAYOUT-{n}-2026-REF"), "supplier": LONG_SUPPLIER}
        created = api.call("POST", "/invoices", "supplier", body)
        assert created.status_code == 201, created.text
        ids.append(str(created.json()["invoice_id"]))
    wait_until(lambda: all(received(api, i) for i in ids), 60, "the invoices in the view")
    suspended = api.call(
        "POST",
        f"/invoices/{ids[0]}/suspend",
        "buyer",
        {"reason": "bon de livraison signé manquant", "reason_code": "JUSTIF_ABS"},
    )
    assert suspended.status_code == 200, suspended.text
    problems = []
    for lang in ("en", "fr"):
        supplier = new_session(chromium, api, "supplier", lang)
        problems += check_widths(supplier, "/portal", "supplier-list", lang)
        problems += check_widths(supplier, "/portal/invoices/new", "invoice-form", lang)
        problems += check_widths(supplier, "/portal/notifications", "notifications", lang)
        problems += check_widths(supplier, "/portal/deposits/new", "deposit", lang)
        problems += check_widths(supplier, f"/portal/invoices/{ids[0]}", "invoice-supplier", lang)
        supplier.close()
        buyer = new_session(chromium, api, "buyer", lang)
        problems += check_widths(buyer, "/portal", "buyer-queue", lang)
        problems += check_widths(buyer, f"/portal/invoices/{ids[1]}", "invoice-buyer", lang)
        buyer.close()
        signed_out = new_session(chromium, api, None, lang)
        problems += check_widths(signed_out, "/portal/login", "login", lang)
        problems += check_widths(signed_out, "/portal/signup", "signup", lang)
        problems += check_widths(signed_out, "/portal/password/forgot", "forgot", lang)
        signed_out.close()
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- forms follow the status live


def test_an_open_invoice_page_updates_its_action_forms_live(api: Api, chromium: Browser) -> None:
    created = api.call("POST", "/invoices", "supplier", invoice_body("BROWSER-FORMS-1"))
    assert created.status_code == 201, created.text
    invoice_id = str(created.json()["invoice_id"])
    wait_until(lambda: received(api, invoice_id), 60, "the invoice in the tracking view")

    page = sign_in(chromium, api, "buyer")
    page.goto(f"/portal/invoices/{invoice_id}")
    expect(page.locator("#action-take-in-hand")).to_have_count(1)
    expect(page.locator("#action-certify-service-done")).to_have_count(0)
    expect(page.locator("html[data-live='on']")).to_have_count(1, timeout=10_000)
    page.evaluate("window.notReloaded = true")
    page.fill("#reject-reason", "prices to check")  # typed, not sent: kept across the update

    taken = api.call("POST", f"/invoices/{invoice_id}/take-in-hand", "buyer")
    assert taken.status_code == 200, taken.text
    # The forms are those of the new status, the status and the timeline agree with them.
    expect(page.locator("#action-take-in-hand")).to_have_count(0, timeout=5_000)
    expect(page.locator("#action-certify-service-done")).to_have_count(1)
    expect(page.locator(f'[data-live-status="{invoice_id}"]')).to_have_text("in processing")
    timeline = page.locator(f'[data-live-timeline="{invoice_id}"] tr')
    expect(timeline).to_have_count(4)
    expect(timeline.last).to_contain_text("Taken in hand by the buyer's invoicing service")
    expect(page.locator("#reject-reason")).to_have_value("prices to check")
    expect(page.locator("#live-announce")).to_contain_text("in processing")
    assert page.evaluate("window.notReloaded === true"), "the page was reloaded"
    shot(page, "09-invoice-forms-updated-live")

    # The buyer's queue: a row's buttons follow its status too.
    other = api.call("POST", "/invoices", "supplier", invoice_body("BROWSER-FORMS-2"))
    assert other.status_code == 201, other.text
    other_id = str(other.json()["invoice_id"])
    wait_until(lambda: received(api, other_id), 60, "the invoice in the tracking view")
    page.goto("/portal")
    row = page.locator(f"#row-{other_id}")
    expect(row.get_by_role("button", name="Take in hand")).to_have_count(1)
    expect(page.locator("html[data-live='on']")).to_have_count(1, timeout=10_000)
    taken = api.call("POST", f"/invoices/{other_id}/take-in-hand", "buyer")
    assert taken.status_code == 200, taken.text
    expect(row.get_by_role("button", name="Take in hand")).to_have_count(0, timeout=5_000)
    expect(row.locator(f'[data-live-status="{other_id}"]')).to_have_text("in processing")
    page.close()


# ---------------------------------------------------------------- the buyer search, typeahead


def test_the_invoice_form_finds_a_buyer_as_one_types(api: Api, chromium: Browser) -> None:
    page = sign_in(chromium, api, "supplier")
    page.goto("/portal/invoices/new")
    search = page.locator("#buyer_q")
    expect(search).to_have_attribute("role", "combobox")
    search.press_sequentially("mairie compta", delay=20)
    options = page.locator("#buyer-listbox [role=option]")
    expect(options).to_have_count(1, timeout=5_000)
    expect(options.first).to_contain_text("Mairie (demo)")
    expect(options.first).to_contain_text("Comptabilité")
    expect(search).to_have_attribute("aria-expanded", "true")
    search.press("ArrowDown")
    expect(search).to_have_attribute("aria-activedescendant", "buyer-listbox-0")
    search.press("Enter")
    expect(page.locator("#recipient_siret")).to_have_value("21750001600019")
    expect(page.locator("#service_code")).to_have_value("MAIRIE-COMPTA")
    expect(page.locator("#buyer-picked")).to_contain_text("Mairie (demo)")
    expect(options).to_have_count(0)
    assert "/portal/invoices/new" in page.url  # chosen in the page: nothing was posted
    shot(page, "10-invoice-form-buyer-found")

    # By SIRET, in French.
    page.goto("/portal/language/fr?next=/portal/invoices/new")
    search = page.locator("#buyer_q")
    search.press_sequentially("110 002 011", delay=20)
    expect(page.locator("#buyer-listbox [role=option]")).to_have_count(3, timeout=5_000)
    page.locator("#buyer-listbox [role=option]", has_text="SE-FACT-01").click()
    expect(page.locator("#recipient_siret")).to_have_value("11000201100044")
    expect(page.locator("#service_code")).to_have_value("SE-FACT-01")
    expect(page.locator("#buyer-picked")).to_contain_text("Destinataire rempli")
    page.close()
