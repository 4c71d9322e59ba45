"""Onboarding in a real browser, in English and in French: a supplier's accountant signs up,
opens the activation link from the mail caught by a real SMTP server, chooses a password,
enrols an authenticator app (the code computed here), accepts the terms, creates the
organisation and signs the billing mandate, then reaches the invoice form; a colleague asks
to join, the principal manager approves, and the colleague sees the organisation's invoices.
"""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.accounts import PASSWORD
from tests.support.browser import check_widths, shot
from tests.support.data import OTHER_SUPPLIER, SUPPLIER, invoice_body
from tests.support.smtp import Inbox
from tests.support.stack import Api, wait_until

pytestmark = pytest.mark.stack


def opened(browser: Browser, api: Api, lang: str) -> Page:
    page = browser.new_page(base_url=api.base, viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: print(f"[page error] {error}"))
    page.goto(f"/portal/language/{lang}?next=/portal/signup")
    return page


def submit(page: Page, form: str) -> None:
    with page.expect_navigation():
        page.click(f"form[action='{form}'] button[type=submit]")


def onboard(page: Page, caught_mail: Inbox, email: str, name: str, lang: str) -> None:
    """Sign-up to signed in with the app enrolled and the terms accepted."""
    page.fill("#name", name)
    page.fill("#login_email", email)
    submit(page, "/portal/signup")
    expect(page.locator("h1")).to_have_text(
        "Check your mailbox" if lang == "en" else "Consultez votre messagerie"
    )
    wait_until(lambda: bool(caught_mail.to(email)), 30, f"the activation mail to {email}")
    link = re.findall(
        r"https://portal\.example(/portal/activate\?token=\S+)", caught_mail.to(email)[0].text
    )
    page.goto(link[0])
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    submit(page, "/portal/activate")
    page.goto("/portal/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    submit(page, "/portal/login/account")
    assert page.url.endswith("/portal/account/second-factor"), page.url
    submit(page, "/portal/account/second-factor/app")
    shot(page, f"accounts-{lang}-enrol")
    expect(page.locator("figure.qr svg")).to_be_visible()
    seed = page.locator("code.seed").inner_text()
    page.fill("#code", pyotp.TOTP(seed).now())
    submit(page, "/portal/account/second-factor/app/confirm")
    expect(page.locator("ul.recovery-codes li")).to_have_count(10)
    with page.expect_navigation():
        page.click("main a[href='/portal']")
    assert page.url.endswith("/portal/terms"), page.url
    submit(page, "/portal/terms")
    assert page.url.endswith("/portal/organisations"), page.url


@pytest.mark.parametrize(("lang", "siret"), [("en", SUPPLIER), ("fr", OTHER_SUPPLIER)])
def test_a_supplier_onboards_and_a_colleague_joins(
    mailing_api: Api, caught_mail: Inbox, chromium: Browser, lang: str, siret: str
) -> None:
    who = "supplier" if siret == SUPPLIER else "other_supplier"
    number = f"BROWSER-{lang.upper()}-1"
    assert (
        mailing_api.call("POST", "/invoices", who, invoice_body(number, siret)).status_code == 201
    )

    principal = opened(chromium, mailing_api, lang)
    onboard(principal, caught_mail, f"manager.{lang}@durand.example", "Marie Durand", lang)
    principal.fill("#new-identifier", siret)
    principal.fill("#new-name", "Durand SARL")
    submit(principal, "/portal/organisations")
    shot(principal, f"accounts-{lang}-organisations")
    with principal.expect_navigation():
        principal.click("table.organisations a")
    organisation = principal.url
    with principal.expect_navigation():
        principal.click("a[href$='/mandate']")
    with principal.expect_navigation():
        principal.click("form[action$='/mandate'] button[type=submit]")
    principal.goto("/portal/invoices/new")
    expect(principal.locator("form[action='/portal/invoices']")).to_be_visible()

    colleague = opened(chromium, mailing_api, lang)
    onboard(colleague, caught_mail, f"colleague.{lang}@durand.example", "Paul Martin", lang)
    colleague.select_option("#join-kind", "siret")
    colleague.fill("#join-identifier", siret)
    submit(colleague, "/portal/organisations/join")

    principal.goto(organisation)
    shot(principal, f"accounts-{lang}-requests")
    principal.locator("input[type=checkbox][name$='-join']").check()
    with principal.expect_navigation():
        principal.click("button[name=decision][value=approve]")
    expect(principal.locator("p.notice")).to_be_visible()

    def sees_the_invoice() -> bool:
        colleague.goto("/portal")
        return number in colleague.content()

    wait_until(sees_the_invoice, 30, f"{number} in the colleague's list")
    shot(colleague, f"accounts-{lang}-colleague-list")
    # A technical account: its secret shown once, on the page that answers its creation.
    own = organisation.removeprefix(mailing_api.base)
    principal.goto(f"{own}/technical-accounts")
    principal.fill("#label", "ERP")
    principal.locator("input[name='space-invoices-issued']").check()
    submit(principal, f"{own}/technical-accounts")
    expect(principal.locator("code.client-secret")).to_be_visible()
    shot(principal, f"accounts-{lang}-technical-account")
    problems = []
    for path, name in (
        ("/portal/account", "account"),
        ("/portal/organisations", "organisations"),
        (own, "organisation"),
        (f"{own}/operators", "operators"),
        (f"{own}/technical-accounts", "technical-accounts"),
        ("/portal/terms", "terms"),
    ):
        problems += check_widths(principal, path, name, lang)
    assert not problems, "\n".join(problems)
    principal.close()
    colleague.close()
