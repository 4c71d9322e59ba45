"""Organisations through the mailing_api, on a real `facturier serve` and SMTP server: a supplier
creates its organisation and sees its invoices without any token; a colleague asks to join,
the principal manager approves it with the others ticked at once, and the colleague then
sees the organisation's invoices; nobody reaches an organisation it is not a member of."""

from __future__ import annotations

import re

import httpx
import psycopg
import pytest

from facturier.services.application.authentication import create_token
from facturier.services.application.principals import ApiRole
from tests.support.accounts import csrf, signed_in
from tests.support.data import BUYER, OPERATOR, OTHER_SUPPLIER, SUPPLIER, invoice_body
from tests.support.smtp import Inbox
from tests.support.stack import Api, wait_until

pytestmark = pytest.mark.stack


def test_members_of_an_organisation_reach_its_invoices_and_nothing_else(
    mailing_api: Api, caught_mail: Inbox
) -> None:
    submitted = mailing_api.call("POST", "/invoices", "supplier", invoice_body("ORG-1", SUPPLIER))
    assert submitted.status_code == 201, submitted.text
    other = mailing_api.call(
        "POST", "/invoices", "other_supplier", invoice_body("OTHER-1", OTHER_SUPPLIER)
    )
    assert other.status_code == 201, other.text
    marie = httpx.Client(base_url=mailing_api.base, timeout=60)
    paul = httpx.Client(base_url=mailing_api.base, timeout=60)
    try:
        signed_in(marie, caught_mail, "marie@durand.example", "Marie Durand")
        # Signed in, in no organisation yet: the invoices lead to the organisations page.
        assert marie.get("/portal", follow_redirects=True).url.path == "/portal/organisations"
        page = marie.get("/portal/organisations")
        created = marie.post(
            "/portal/organisations",
            data={
                "csrf": csrf(page.text),
                "kind": "siret",
                "identifier": SUPPLIER,
                "name": "Durand SARL",
            },
        )
        assert created.status_code == 303 and created.headers["location"].endswith("created")
        invalid = marie.post(
            "/portal/organisations",
            data={"csrf": csrf(page.text), "kind": "siret", "identifier": "123", "name": "X"},
        )
        assert invalid.status_code == 422

        def listed(client: httpx.Client, number: str) -> bool:
            return number in client.get("/portal").text

        wait_until(lambda: listed(marie, "ORG-1"), 30, "ORG-1 in Marie's list")
        assert not listed(marie, "OTHER-1")
        # Typing invoices needs the organisation's billing mandate.
        refused = marie.get("/portal/invoices/new")
        assert refused.status_code == 403 and "/mandate" in refused.text
        mandate_path = re.search(
            r'href="(/portal/organisations/[0-9a-f-]{36}/mandate)"', refused.text
        )
        assert mandate_path
        mandate = marie.get(mandate_path[1])
        assert mandate.status_code == 200 and "SHA-256" in mandate.text
        signed = marie.post(mandate_path[1], data={"csrf": csrf(mandate.text)})
        assert signed.status_code == 303
        assert marie.get("/portal/invoices/new").status_code == 200
        # Revoked: typing is refused again (the projection says it too), until signed anew.
        mandate = marie.get(mandate_path[1])
        revoke = mandate_path[1].replace("/mandate", "/revoke-mandate")
        assert f'action="{revoke}"' in mandate.text
        revoked = marie.post(revoke, data={"csrf": csrf(mandate.text)})
        assert revoked.status_code == 303 and revoked.headers["location"].endswith("revoked")
        assert marie.get("/portal/invoices/new").status_code == 403
        again = marie.post(revoke, data={"csrf": csrf(mandate.text)})
        assert again.status_code == 422  # nothing left to revoke
        signed = marie.post(mandate_path[1], data={"csrf": csrf(mandate.text)})
        assert signed.status_code == 303
        assert marie.get("/portal/invoices/new").status_code == 200

        signed_in(paul, caught_mail, "paul@durand.example", "Paul Martin")
        page = paul.get("/portal/organisations")
        asked = paul.post(
            "/portal/organisations/join",
            data={
                "csrf": csrf(page.text),
                "kind": "siret",
                "identifier": SUPPLIER,
                "note": "compta",
            },
        )
        assert asked.status_code == 303
        wait_until(
            lambda: any("Paul Martin" in m.text for m in caught_mail.to("marie@durand.example")),
            30,
            "the request's mail to the principal manager",
        )
        # Same SIRET created again: a request to join, not a second organisation.
        again = paul.post(
            "/portal/organisations",
            data={"csrf": csrf(page.text), "kind": "siret", "identifier": SUPPLIER, "name": "X"},
        )
        assert again.status_code == 303 and again.headers["location"].endswith("requested")
        assert paul.get("/portal").headers.get("location") == "/portal/login"  # not yet

        key = re.search(
            r'href="/portal/organisations/([0-9a-f-]{36})"', marie.get("/portal/organisations").text
        )
        assert key
        durand = marie.get(f"/portal/organisations/{key[1]}")
        assert "Paul Martin" in durand.text and "compta" in durand.text
        assert paul.get(f"/portal/organisations/{key[1]}").status_code == 404  # not a member
        tick = re.search(r'name="(pick-[0-9a-f-]{36}-join)"', durand.text)
        assert tick
        decided = marie.post(
            f"/portal/organisations/{key[1]}/decide",
            data={"csrf": csrf(durand.text), tick[1]: "1", "decision": "approve"},
        )
        assert decided.status_code == 303, decided.text[:500]
        wait_until(lambda: listed(paul, "ORG-1"), 30, "ORG-1 in Paul's list")
        assert not listed(paul, "OTHER-1")

        # Paul is a member, not a manager: deciding, granting or signing is refused.
        durand = paul.get(f"/portal/organisations/{key[1]}")
        assert (
            paul.post(
                f"/portal/organisations/{key[1]}/mandate", data={"csrf": csrf(durand.text)}
            ).status_code
            == 403
        )
        refused = paul.post(
            f"/portal/organisations/{key[1]}/spaces",
            data={"csrf": csrf(durand.text), "account": "x", "space": "manager", "change": "grant"},
        )
        assert refused.status_code == 403
        for guessed in ("00000000-0000-0000-0000-000000000000", "not-an-id"):
            assert paul.get(f"/portal/organisations/{guessed}").status_code == 404
            for step in ("use", "leave"):
                posted = paul.post(
                    f"/portal/organisations/{guessed}/{step}", data={"csrf": csrf(durand.text)}
                )
                assert posted.status_code == 404

        # Paul works for it, then leaves it: its invoices are out of his reach again.
        used = paul.post(f"/portal/organisations/{key[1]}/use", data={"csrf": csrf(durand.text)})
        assert used.status_code == 303 and used.headers["location"] == "/portal"
        left = paul.post(f"/portal/organisations/{key[1]}/leave", data={"csrf": csrf(durand.text)})
        assert left.status_code == 303 and left.headers["location"].endswith("done=left")
        assert paul.get(f"/portal/organisations/{key[1]}").status_code == 404
        assert not listed(paul, "ORG-1")
    finally:
        marie.close()
        paul.close()


def _create(client: httpx.Client, identifier: str, name: str) -> str:
    """The new organisation's id (the account is its principal manager)."""
    page = client.get("/portal/organisations")
    created = client.post(
        "/portal/organisations",
        data={"csrf": csrf(page.text), "kind": "siret", "identifier": identifier, "name": name},
    )
    assert created.status_code == 303 and created.headers["location"].endswith("created")
    key = re.search(
        rf'href="/portal/organisations/([0-9a-f-]{{36}})">{name}<',
        client.get("/portal/organisations").text,
    )
    assert key
    return key[1]


def test_a_supplier_mandates_an_operator_on_its_page_and_revokes_it(
    mailing_api: Api, caught_mail: Inbox
) -> None:
    """Only the supplier's principal manager grants and revokes; the operator's token acts
    in the modes granted, follows the supplier's invoices while the mandate stands, and
    nothing after its revocation."""
    claire = httpx.Client(base_url=mailing_api.base, timeout=60)
    olivier = httpx.Client(base_url=mailing_api.base, timeout=60)
    try:
        signed_in(olivier, caught_mail, "olivier@express.example", "Olivier Lemoine")
        express = _create(olivier, OPERATOR, "Express")
        signed_in(claire, caught_mail, "claire@martin.example", "Claire Martin")
        martin = _create(claire, OTHER_SUPPLIER, "Martin")
        path = f"/portal/organisations/{martin}/operators"
        page = claire.get(path)
        assert page.status_code == 200 and "Mandate an operator" in page.text
        assert olivier.get(path).status_code == 404  # not a member of Martin
        form = {"csrf": csrf(page.text), "kind": "siret", "identifier": OPERATOR}
        assert (
            claire.post(path, data={**form, "csrf": "forged", "mode-edi": "1"}).status_code == 403
        )
        no_mode = claire.post(path, data=form)
        assert no_mode.status_code == 422 and "Tick at least one mode" in no_mode.text
        unknown = claire.post(path, data={**form, "identifier": BUYER, "mode-edi": "1"})
        assert unknown.status_code == 422 and "No organisation has this identifier" in unknown.text
        past = claire.post(path, data={**form, "mode-edi": "1", "starts": "2020-01-01"})
        assert past.status_code == 422
        granted = claire.post(path, data={**form, "mode-edi": "1", "mode-pdf": "1"})
        assert granted.status_code == 303, granted.text[:500]
        listed = claire.get(path).text
        assert "Express" in listed and "EDI flows" in listed and "in force" in listed
        wait_until(
            lambda: (
                OTHER_SUPPLIER in olivier.get(f"/portal/organisations/{express}/operators").text
            ),
            30,
            "Martin among the suppliers Express acts for",
        )

        submitted = mailing_api.call(
            "POST", "/invoices", "other_supplier", invoice_body("MANDATED-1", OTHER_SUPPLIER)
        )
        assert submitted.status_code == 201, submitted.text
        with psycopg.connect(mailing_api.settings.postgres.dsn, autocommit=True) as conn:
            mailing_api.tokens["express"] = create_token(conn, ApiRole.OPERATOR, OPERATOR, "t")
        typed = mailing_api.call(
            "POST", "/invoices", "express", invoice_body("TYPED-1", OTHER_SUPPLIER)
        )
        assert typed.status_code == 403  # typing was not among the modes granted

        def follows() -> bool:
            found = mailing_api.call("GET", "/invoices", "express").json()["invoices"]
            return "MANDATED-1" in {i["number"] for i in found}

        wait_until(follows, 30, "the operator following Martin's invoice")
        revoke = re.search(r'action="(/portal/organisations/[^"]+/operators/[^"]+/revoke)"', listed)
        assert revoke
        revoked = claire.post(revoke[1], data={"csrf": csrf(listed)})
        assert revoked.status_code == 303
        assert "revoked" in claire.get(path).text
        wait_until(lambda: not follows(), 30, "the operator losing Martin's invoices")
        again = claire.post(revoke[1], data={"csrf": csrf(listed)})
        assert again.status_code == 404
    finally:
        claire.close()
        olivier.close()
