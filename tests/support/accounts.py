"""Accounts through the portal's pages, as the integration tests drive them: sign-up, the
mailed link, the password, the second factor."""

from __future__ import annotations

import re

import httpx

from tests.support.smtp import Inbox
from tests.support.stack import wait_until

PASSWORD = "correct horse battery staple"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found[1]


def mailed_path(inbox: Inbox, address: str, count: int) -> str:
    """The portal path of the link in the `count`-th mail to `address`."""
    wait_until(lambda: len(inbox.to(address)) >= count, 30, f"mail {count} to {address}")
    link = re.findall(r"https://portal\.example(/portal/\S+)", inbox.to(address)[count - 1].text)
    assert link, inbox.to(address)[count - 1].text
    return str(link[-1])


def sign_up(web: httpx.Client, inbox: Inbox, address: str, name: str) -> None:
    page = web.get("/portal/signup")
    assert page.status_code == 200 and 'autocomplete="email"' in page.text
    posted = web.post(
        "/portal/signup",
        data={"csrf": csrf(page.text), "name": name, "login_email": address, "contact_email": ""},
    )
    assert posted.status_code == 200 and address in posted.text
    form = web.get(mailed_path(inbox, address, 1))
    assert form.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token
    data = {"csrf": csrf(form.text), "token": token[1], "password": PASSWORD}
    mismatch = web.post("/portal/activate", data={**data, "confirm": "something else"})
    assert mismatch.status_code == 422
    done = web.post("/portal/activate", data={**data, "confirm": PASSWORD})
    assert done.status_code == 200, done.text
    again = web.post("/portal/activate", data={**data, "confirm": PASSWORD})
    assert again.status_code == 410  # a link works once


def password_step(web: httpx.Client, address: str, password: str = PASSWORD) -> httpx.Response:
    page = web.get("/portal/login")
    return web.post(
        "/portal/login/account",
        data={"csrf": csrf(page.text), "email": address, "password": password},
    )


def signed_in(web: httpx.Client, inbox: Inbox, address: str, name: str) -> None:
    """A new account, active, its second factor the e-mail code, the terms of use accepted,
    signed in on `web`."""
    sign_up(web, inbox, address, name)
    step = password_step(web, address)
    assert step.status_code == 303, step.text[:500]
    choose = web.get("/portal/account/second-factor")
    sent = web.post("/portal/account/second-factor/email", data={"csrf": csrf(choose.text)})
    assert sent.status_code == 200, sent.text[:500]
    wait_until(lambda: len(inbox.to(address)) >= 2, 30, f"the code mailed to {address}")
    code = re.findall(r"\b\d{6}\b", inbox.to(address)[-1].text)[0]
    done = web.post(
        "/portal/account/second-factor/email/confirm", data={"csrf": csrf(sent.text), "code": code}
    )
    assert done.status_code == 303, done.text[:500]
    terms = web.get("/portal", follow_redirects=True)
    assert terms.url.path == "/portal/terms", terms.url
    accepted = web.post("/portal/terms", data={"csrf": csrf(terms.text)})
    assert accepted.status_code == 303
