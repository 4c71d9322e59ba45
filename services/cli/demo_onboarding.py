"""The demo's first chapter: people sign up through the portal's own pages, as a browser
would (forms, CSRF fields, cookies), open the links and codes mailed to them from the local
mail catcher, enrol an authenticator app, accept the terms of use, create their
organisations, and the supplier's manager signs the billing mandate."""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pyotp
from rich.console import Console

from facturier.services.cli import mailbox

PASSWORD = "une phrase de passe pour la démo"


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    siret: str
    organisation: str
    public: bool
    operator: str = ""  # an operator's SIRET: its principal manager mandates it


def mailbox_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", mailbox.port()), timeout=1).close()
    except OSError:
        return False
    return True


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if found is None:
        raise SystemExit("demo: a portal page without its CSRF field")
    return found[1]


def _mailed(email: str, count: int, pattern: str, timeout_s: float = 30) -> str:
    """What `pattern` finds in the `count`-th mail kept for `email`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        messages = mailbox.kept(email)
        if len(messages) >= count:
            found = re.findall(pattern, str(messages[count - 1].get_content()))
            if found:
                return str(found[-1])
        time.sleep(0.2)
    raise SystemExit(f"demo: no mail {count} to {email} in the mailbox ({mailbox.mail_dir()})")


def onboard(base: str, person: Person, console: Console) -> str:
    """One person from nothing to an organisation ready to invoice; returns one of its
    recovery codes (a second factor a reader of the demo can type)."""
    with httpx.Client(base_url=base, timeout=30) as web:
        page = web.get("/portal/signup")
        web.post(
            "/portal/signup",
            data={"csrf": _csrf(page.text), "name": person.name, "login_email": person.email},
        ).raise_for_status()
        link = urlsplit(_mailed(person.email, 1, r"(https?://\S+/portal/activate\?token=\S+)"))
        form = web.get(f"{link.path}?{link.query}")
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        data = {"csrf": _csrf(form.text), "token": token[1] if token else ""}
        web.post("/portal/activate", data={**data, "password": PASSWORD, "confirm": PASSWORD})
        login = web.get("/portal/login")
        web.post(
            "/portal/login/account",
            data={"csrf": _csrf(login.text), "email": person.email, "password": PASSWORD},
        )
        choose = web.get("/portal/account/second-factor")
        app = web.post("/portal/account/second-factor/app", data={"csrf": _csrf(choose.text)})
        seed = re.search(r'<code class="seed">([A-Z2-7]+)</code>', app.text)
        code = pyotp.TOTP(seed[1] if seed else "").now()
        confirmed = web.post(
            "/portal/account/second-factor/app/confirm",
            data={"csrf": _csrf(app.text), "code": code},
        )
        codes = re.findall(r"<code>([a-z2-7-]{29})</code>", confirmed.text)
        terms = web.get("/portal/terms")
        web.post("/portal/terms", data={"csrf": _csrf(terms.text)})
        mine = web.get("/portal/organisations")
        created = web.post(
            "/portal/organisations",
            data={
                "csrf": _csrf(mine.text),
                "kind": "siret",
                "identifier": person.siret,
                "name": person.organisation,
                **({"public": "1"} if person.public else {}),
            },
        )
        outcome = created.headers.get("location", "").rpartition("=")[2]
        said = "principal manager" if outcome == "created" else "asked to join (it exists)"
        console.print(f"  {person.name} <{person.email}>")
        console.print("    activated by its mailed link, app enrolled, terms of use accepted")
        console.print(f"    {person.organisation} (SIRET {person.siret}): {said}")
        if outcome == "created" and not person.public:
            key = re.search(
                r'href="/portal/organisations/([0-9a-f-]{36})"',
                web.get("/portal/organisations").text,
            )
            mandate = web.get(f"/portal/organisations/{key[1] if key else ''}/mandate")
            signed = web.post(
                f"/portal/organisations/{key[1] if key else ''}/mandate",
                data={"csrf": _csrf(mandate.text)},
            )
            if signed.status_code == 303:
                console.print(f"    billing mandate signed for {person.organisation}")
            if person.operator:
                _mandate_operator(web, key[1] if key else "", person, console)
    return codes[0] if codes else ""


def _mandate_operator(web: httpx.Client, key: str, person: Person, console: Console) -> None:
    """The supplier's principal manager lets the operator send its invoices by EDI and PDF."""
    page = web.get(f"/portal/organisations/{key}/operators")
    granted = web.post(
        f"/portal/organisations/{key}/operators",
        data={
            "csrf": _csrf(page.text),
            "kind": "siret",
            "identifier": person.operator,
            "mode-edi": "1",
            "mode-pdf": "1",
        },
    )
    if granted.status_code == 303:
        console.print(f"    operator {person.operator} mandated for EDI flows and PDF deposits")
    else:
        console.print(
            f"    [red]operator {person.operator} not mandated ({granted.status_code})[/]"
        )
