"""Accounts through the portal's pages, on a real `facturier serve` and a real SMTP server:
sign-up, the mailed link, the password, the authenticator app, recovery codes, the account's
page, and the refusals a hostile visitor meets."""

from __future__ import annotations

import re

import httpx
import pyotp
import pytest

from tests.support.accounts import PASSWORD, csrf, mailed_path, password_step, sign_up
from tests.support.smtp import Inbox
from tests.support.stack import Api

pytestmark = pytest.mark.stack


def test_a_supplier_signs_up_enrols_its_app_and_signs_in_with_a_recovery_code(
    mailing_api: Api, caught_mail: Inbox
) -> None:
    address = "marie@durand.example"
    with httpx.Client(base_url=mailing_api.base, timeout=60) as web:
        sign_up(web, caught_mail, address, "Marie Durand")
        step = password_step(web, address)
        assert step.status_code == 303
        assert step.headers["location"] == "/portal/account/second-factor"
        cookie = web.cookies["facturier_account"]
        choose = web.get("/portal/account/second-factor")
        app = web.post("/portal/account/second-factor/app", data={"csrf": csrf(choose.text)})
        seed = re.search(r'<code class="seed">([A-Z2-7]+)</code>', app.text)
        assert seed and "<svg" in app.text
        wrong = web.post(
            "/portal/account/second-factor/app/confirm",
            data={"csrf": csrf(app.text), "code": "000000"},
        )
        assert wrong.status_code == 401
        codes_page = web.post(
            "/portal/account/second-factor/app/confirm",
            data={"csrf": csrf(app.text), "code": pyotp.TOTP(seed[1]).now()},
        )
        assert codes_page.status_code == 200
        codes = re.findall(r"<code>((?:[a-z2-7]{4}-){5}[a-z2-7]{4})</code>", codes_page.text)
        assert len(codes) == 10
        assert web.cookies["facturier_account"] != cookie  # a new session once signed in
        mine = web.get("/portal/account")
        assert mine.status_code == 200 and "Marie Durand" in mine.text
        contact = {"csrf": csrf(mine.text), "contact_email": "compta@durand.example"}
        assert web.post("/portal/account/contact", data=contact).status_code == 303
        bad = web.post("/portal/account/contact", data={**contact, "contact_email": "x"})
        assert bad.status_code == 422
        mine = web.get("/portal/account")
        assert "compta@durand.example" in mine.text
        out = web.post("/portal/account/logout", data={"csrf": csrf(mine.text)})
        assert out.status_code == 303 and web.get("/portal/account").status_code == 303

        step = password_step(web, address)
        assert step.headers["location"] == "/portal/login/code"
        code_page = web.get("/portal/login/code")
        signed = web.post(
            "/portal/login/code", data={"csrf": csrf(code_page.text), "code": codes[0]}
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/portal"
        assert "Marie Durand" in web.get("/portal/account").text


def test_a_hostile_visitor_learns_nothing_and_forges_nothing(
    mailing_api: Api, caught_mail: Inbox
) -> None:
    address = "lou@durand.example"
    with httpx.Client(base_url=mailing_api.base, timeout=60) as web:
        sign_up(web, caught_mail, address, "Lou Durand")
        unknown = password_step(web, "nobody@durand.example")
        wrong = password_step(web, address, "not the password at all")
        assert unknown.status_code == wrong.status_code == 401
        error = re.compile(r'<p class="error" id="email-error">(.*?)</p>', re.S)
        assert error.findall(unknown.text) == error.findall(wrong.text) != []

        # Without the form's nonce, nothing is recorded.
        for path, data in (
            ("/portal/signup", {"name": "X", "login_email": "x@durand.example"}),
            ("/portal/login/account", {"email": address, "password": PASSWORD}),
            ("/portal/password/forgot", {"email": address}),
        ):
            with httpx.Client(base_url=mailing_api.base, timeout=60) as bare:
                assert bare.post(path, data=data).status_code == 403, path
        forgot = web.get("/portal/password/forgot")
        for email in (address, "nobody@durand.example"):
            answer = web.post(
                "/portal/password/forgot", data={"csrf": csrf(forgot.text), "email": email}
            )
            assert answer.status_code == 200
        reset = web.get(mailed_path(caught_mail, address, 2))
        assert "password/reset" in str(reset.url) or reset.status_code == 200
        assert web.post("/portal/account/logout", data={"csrf": "x"}).status_code == 303
        for token in ("", "garbage", "0" * 32 + "." + "x" * 43):
            page = web.get("/portal/activate", params={"token": token})
            refused = web.post(
                "/portal/activate",
                data={
                    "csrf": csrf(page.text),
                    "token": token,
                    "password": PASSWORD,
                    "confirm": PASSWORD,
                },
            )
            assert refused.status_code == 410
