"""The portal in a real browser: Debian's headless Chromium (`/usr/bin/chromium`, never a
downloaded build) driven by Playwright, against a real `facturier serve`, PostgreSQL and Kafka.

A supplier signs in and opens an invoice; the buyer acts on it over the API; the open page
shows the new status and a new timeline row without being reloaded. A screenshot of each
main page goes to artifacts/screenshots/ (kept by CI as an artefact)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ROOT, Api, invoice_body, wait_until

pytestmark = pytest.mark.stack

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # A failure, not a skip: these tests must run wherever the suite runs.
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Debian's chromium is missing ({CHROMIUM}): `apt-get install -y chromium`"
            " (deploy/local/test.sh installs it)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(browser: Browser, api: Api, who: str, screenshot: str | None = None) -> Page:
    page = browser.new_page(base_url=api.base, viewport={"width": 1280, "height": 900})
    # The browser's console ends up in the test's output when it fails.
    page.on("console", lambda message: print(f"[{who} console] {message.type}: {message.text}"))
    page.on("pageerror", lambda error: print(f"[{who} page error] {error}"))
    page.goto("/portal/login")
    if screenshot:
        shot(page, screenshot)
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
