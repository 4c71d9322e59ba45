"""Every route, for every role, against resources of others: nothing of another supplier or
another buyer is ever read or changed.

The routes are taken from the application itself, so a new route is walked the day it is
added; the few that are public or read no one's data say why below. Each call is built to
pass validation (a valid body, valid parameters), so that a refusal proves the scope, not a
typo: the answer must be 401, 403 or 404 — or, for a list, a list without the others'."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from facturier.config.settings import Settings
from facturier.intake.canonical import to_cii
from facturier.services.application.authentication import create_token
from facturier.services.application.principals import ApiRole
from facturier.services.bootstrap import api as create_app
from tests.integration.test_flows import final_report, upload
from tests.integration.test_portal_form import Page, browser, login
from tests.support.data import (
    BUYER,
    OPERATOR,
    OTHER_BUYER,
    OTHER_SUPPLIER,
    SUPPLIER,
    invoice_body,
    invoice_data,
)
from tests.support.mandates import mandate
from tests.support.pdfs import blank_pdf
from tests.support.stack import Api, running_api, wait_until

pytestmark = pytest.mark.stack

# Routes that read or change no one's invoices, flows, books or settings.
PUBLIC = {
    ("GET", "/health"): "operations, no invoice data",
    ("GET", "/health/live"): "operations, no invoice data",
    ("GET", "/metrics"): "operations, counts only",
    ("GET", "/openapi.json"): "the contract",
    ("GET", "/docs"): "the contract",
    ("GET", "/docs/oauth2-redirect"): "the contract",
    ("GET", "/redoc"): "the contract",
    ("GET", "/portal/login"): "the sign-in form",
    ("POST", "/portal/login"): "signing in",
    ("GET", "/portal/language/{code}"): "a language cookie",
    ("GET", "/portal/static/{name}"): "style sheet and scripts",
    # Structures are addressed by every supplier: the directory is public to signed-in callers.
    ("GET", "/directory/structures/{siret}"): "the public directory of buyers",
    ("GET", "/portal/directory/search"): "the public directory of buyers",
}
# Before an account signs in (tests/integration/test_portal_accounts.py): no invoice data.
BEFORE_SIGN_IN = (
    "/portal/signup",
    "/portal/activate",
    "/portal/activate/resend",
    "/portal/password/forgot",
    "/portal/password/reset",
)
PUBLIC |= {
    (method, path): "an account's sign-up, links and password"
    for path in BEFORE_SIGN_IN
    for method in ("GET", "POST")
}
PUBLIC[("POST", "/portal/login/account")] = "signing in with an account"
# A technical account's credentials, not a bearer token (tests/integration/test_oauth.py).
PUBLIC[("POST", "/oauth/token")] = "a technical account's tokens"
# The signed-in account's own pages (its cookie, not a token's session): no invoice data.
PUBLIC |= {
    (method, path): "the account's own second factor, sessions and password"
    for method, path in (
        ("GET", "/portal/login/code"),
        ("POST", "/portal/login/code"),
        ("POST", "/portal/login/code/resend"),
        ("GET", "/portal/account"),
        ("GET", "/portal/account/second-factor"),
        ("POST", "/portal/account/second-factor/app"),
        ("POST", "/portal/account/second-factor/app/confirm"),
        ("POST", "/portal/account/second-factor/email"),
        ("POST", "/portal/account/second-factor/email/confirm"),
        ("POST", "/portal/account/password"),
        ("POST", "/portal/account/contact"),
        ("POST", "/portal/account/sessions/end"),
        ("POST", "/portal/account/logout"),
        ("GET", "/portal/terms"),
        ("POST", "/portal/terms"),
    )
}
# The account's organisations: their pages answer their members only (404 to anyone else,
# tests/integration/test_portal_organisations.py); a token's session has none.
PUBLIC |= {
    (method, path): "the account's own organisations"
    for method, path in (
        ("GET", "/portal/organisations"),
        ("POST", "/portal/organisations"),
        ("POST", "/portal/organisations/join"),
        ("GET", "/portal/organisations/{key}"),
        ("GET", "/portal/organisations/{key}/mandate"),
        ("POST", "/portal/organisations/{key}/use"),
        ("POST", "/portal/organisations/{key}/leave"),
        ("POST", "/portal/organisations/{key}/{what}"),
        ("GET", "/portal/organisations/{key}/operators"),
        ("POST", "/portal/organisations/{key}/operators"),
        ("POST", "/portal/organisations/{key}/operators/{operator}/revoke"),
        ("GET", "/portal/organisations/{key}/technical-accounts"),
        ("POST", "/portal/organisations/{key}/technical-accounts"),
        ("POST", "/portal/organisations/{key}/technical-accounts/{client_id}/{what}"),
    )
}
# The forms of a new submission, and their posts: the caller's own, nothing of anyone else's.
NEW_SUBMISSION_PAGES = {
    ("GET", "/portal"),
    ("GET", "/portal/invoices/new"),
    ("GET", "/portal/deposits/new"),
}
NEW_SUBMISSIONS = {
    ("POST", "/portal/invoices"),
    ("POST", "/portal/deposits"),
    ("POST", "/portal/flows"),
}
# Long-lived event streams: scoped per event, proven by tests/integration/test_live.py.
STREAMS = {("GET", "/live"), ("GET", "/portal/live")}


@dataclass
class Others:
    """Resources of OTHER_SUPPLIER, addressed to OTHER_BUYER."""

    invoice_id: str
    number: str
    sha256: str
    flow_id: str


def _routes(settings: Settings) -> list[tuple[str, str]]:
    """(method, path) of every route the application serves, included routers' too."""
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI's lazy include
            if included is not None:
                walk(included.routes, prefix + route.include_context.prefix)
                continue
            methods: set[str] = getattr(route, "methods", None) or set()
            found.extend((m, prefix + route.path) for m in sorted(methods - {"HEAD"}))

    walk(create_app(settings).routes, "")
    # Would the walk miss a kind of route one day, this says so.
    assert {("POST", "/deposits"), ("GET", "/portal"), ("GET", "/invoices")} <= set(found)
    return found


@pytest.fixture(scope="module")
def world(
    make_settings: Callable[[], Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Api, Others]]:
    # The walk presents a refused token on every route: no lockout of the test's address.
    settings = make_settings().replaced(auth_max_failures=1_000_000)
    with running_api(settings, Path(tmp_path_factory.mktemp("scopes")) / "serve.log") as api:
        with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
            api.tokens["operator"] = create_token(conn, ApiRole.OPERATOR, OPERATOR, "op")
            # A scope no command creates any more (tokens of older versions): "*" is no mandate.
            api.tokens["sneaky_operator"] = "fct_sneaky-operator-token"
            conn.execute(
                "INSERT INTO api_token (token_sha256, role, scope, label, expires_at)"
                " VALUES (%s, %s, %s, %s, now() + interval '1 day')",
                (
                    hashlib.sha256(b"fct_sneaky-operator-token").hexdigest(),
                    "operator",
                    f"{SUPPLIER},*",
                    "old",
                ),
            )
        mandate(settings, OPERATOR, {SUPPLIER: ["portal", "pdf", "edi"]})
        body = invoice_body("OTHERS-1", supplier=OTHER_SUPPLIER)
        body.update(recipient_siret=OTHER_BUYER, service_code="", order_reference="")
        created = httpx.post(
            f"{api.base}/deposits",
            files={"file": ("autre.pdf", blank_pdf(), "application/pdf")},
            data={"invoice": json.dumps(body)},
            headers={"Authorization": f"Bearer {api.tokens['other_supplier']}"},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        invoice_id = created.json()["invoice_id"]
        wait_until(
            lambda: api.call("GET", f"/invoices/{invoice_id}", "other_supplier").status_code == 200,
            60,
            "the other supplier's invoice in the tracking view",
        )
        history = api.call("GET", f"/invoices/{invoice_id}/events", "auditor").json()
        sha256 = history["events"][0]["attributes"]["data"]["documents"][0]["sha256"]
        flow = upload(
            api,
            "other_supplier",
            "autre.xml",
            to_cii(invoice_data("OTHERS-FLOW", supplier=OTHER_SUPPLIER, buyer=OTHER_BUYER)),
        )
        assert flow.status_code == 202, flow.text
        final_report(api, "other_supplier", flow.json()["flow_id"])
        subscribed = api.call(
            "PUT",
            f"/suppliers/{OTHER_SUPPLIER}/notifications",
            "other_supplier",
            {"email": "autre@example.org", "statuses": ["paid"], "language": "fr"},
        )
        assert subscribed.status_code == 200, subscribed.text
        yield api, Others(invoice_id, "OTHERS-1", sha256, flow.json()["flow_id"])


def _fill(path: str, others: Others) -> str:
    return (
        path.replace("{invoice_id}", others.invoice_id)
        .replace("{flow_id}", others.flow_id)
        .replace("{sha256}", others.sha256)
        .replace("{siret}", OTHER_BUYER)
        .replace("{supplier_id}", OTHER_SUPPLIER)
        .replace("{name}", "reject")
    )


ACTION_BODIES: dict[str, dict[str, Any]] = {
    "suspend": {"reason": "x", "reason_code": "AUTRE"},
    "mark-for-rerouting": {"reason": "x", "reason_code": "DEST_ERR"},
    "reject": {"reason": "x", "reason_code": "AUTRE"},
    "complete": {"comment": "x"},
    "reroute": {"recipient_siret": BUYER},
    "order-payment": {"payment_order_number": "M-1"},
    "pay": {"amount": "1.00", "payment_date": "2026-05-01", "payment_reference": "R"},
}


def _api_call(api: Api, who: str, method: str, path: str, others: Others) -> httpx.Response:
    """A call that passes validation, aimed at the others' resources."""
    url = api.base + _fill(path, others)
    headers = {"Authorization": f"Bearer {api.tokens[who]}"}
    kwargs: dict[str, Any] = {}
    last = path.rsplit("/", 1)[-1]
    if path.startswith("/invoices/{invoice_id}/") and last in ACTION_BODIES:
        kwargs["json"] = ACTION_BODIES[last]
    elif (method, path) == ("POST", "/invoices"):
        kwargs["json"] = invoice_body("MINE-NOT", supplier=OTHER_SUPPLIER)
    elif (method, path) == ("POST", "/deposits"):
        typed = invoice_body("MINE-NOT-PDF", supplier=OTHER_SUPPLIER)
        kwargs["files"] = {"file": ("f.pdf", blank_pdf(), "application/pdf")}
        kwargs["data"] = {"invoice": json.dumps(typed)}
    elif path == "/structures/{siret}/payment-terms" and method == "PUT":
        kwargs["json"] = {"payment_days": 30}
    elif path == "/structures/{siret}/fec":
        kwargs["params"] = {"year": "2026"}
    elif path == "/invoices/{invoice_id}/as-of":
        kwargs["params"] = {"at": "2030-01-01T00:00:00+00:00"}
    elif (method, path) == ("POST", "/flows"):
        xml = to_cii(invoice_data("MINE-NOT-FLOW", supplier=OTHER_SUPPLIER, buyer=OTHER_BUYER))
        kwargs["files"] = {"file": ("x.xml", xml, "application/xml")}
    elif path == "/suppliers/{supplier_id}/notifications" and method == "PUT":
        kwargs["json"] = {"email": "x@example.org", "statuses": ["paid"], "language": "fr"}
    elif (method, path) == ("POST", "/directory"):
        kwargs["json"] = {"structures": []}
    return httpx.request(method, url, headers=headers, timeout=60, **kwargs)


SCOPED = ("supplier", "operator", "sneaky_operator", "buyer")


def test_every_api_route_refuses_every_scoped_role_the_resources_of_others(
    world: tuple[Api, Others],
) -> None:
    api, others = world
    walked = 0
    for method, path in _routes(api.settings):
        if (method, path) in PUBLIC or (method, path) in STREAMS or path.startswith("/portal"):
            continue
        for who in SCOPED:
            answer = _api_call(api, who, method, path, others)
            text = answer.text
            where = (who, method, path, answer.status_code, text[:200])
            assert answer.status_code < 500, where
            # (A refusal may repeat the id it was asked for; nothing else of it.)
            ids = others.invoice_id in text or others.flow_id in text
            assert others.number not in text and not (ids and answer.status_code < 400), where
            if who == "sneaky_operator":  # its stored scope does not parse: no access at all
                assert answer.status_code == 401, where
            elif (method, path) in (("GET", "/invoices"), ("POST", "/flows")):
                # A list (the caller's own, none of the others'); an upload of one's own.
                assert answer.status_code in (200, 202, 403), where
            else:
                assert answer.status_code in (401, 403, 404), where
            walked += 1
    assert walked >= 4 * 30


def test_lists_never_hold_the_invoices_of_others_whatever_the_filters(
    world: tuple[Api, Others],
) -> None:
    api, others = world
    for who in SCOPED:
        if who == "sneaky_operator":
            assert api.call("GET", "/invoices", who).status_code == 401
            continue
        for params in (
            {},
            {"supplier_id": OTHER_SUPPLIER},
            {"recipient_siret": OTHER_BUYER},
            {"supplier_id": OTHER_SUPPLIER, "recipient_siret": OTHER_BUYER},
            {"limit": "500"},
        ):
            answer = api.call("GET", "/invoices", who, params=params)
            assert answer.status_code == 200, (who, params, answer.text)
            ids = [row["invoice_id"] for row in answer.json()["invoices"]]
            assert others.invoice_id not in ids, (who, params)
    # ... while auditors and admins see it, and its own supplier and buyer do.
    for who in ("auditor", "admin", "other_supplier", "other_buyer"):
        ids = [r["invoice_id"] for r in api.call("GET", "/invoices", who).json()["invoices"]]
        assert others.invoice_id in ids, who


def test_auditors_read_everything_and_change_nothing(world: tuple[Api, Others]) -> None:
    api, others = world
    for method, path in _routes(api.settings):
        if (method, path) in PUBLIC or (method, path) in STREAMS or path.startswith("/portal"):
            continue
        answer = _api_call(api, "auditor", method, path, others)
        where = (method, path, answer.status_code, answer.text[:200])
        assert answer.status_code < 500, where
        if method == "GET" and "/notifications" not in path:  # e-mail settings: their own
            assert answer.status_code == 200, where
        elif method != "GET":
            assert answer.status_code == 403, where


def test_every_portal_page_refuses_the_resources_of_others(world: tuple[Api, Others]) -> None:
    api, others = world
    routes = [
        (m, p)
        for m, p in _routes(api.settings)
        if p.startswith("/portal") and (m, p) not in PUBLIC and (m, p) not in STREAMS
    ]
    assert len(routes) >= 8, routes
    own = {"/portal/logout", "/portal/notifications", "/portal/notifications/delete"}
    for who in SCOPED:
        client = browser(api)
        signed_in = login(client, api.tokens[who])
        if who == "sneaky_operator":  # a stored scope that does not parse opens no session
            assert signed_in.status_code == 401, signed_in.text[:300]
            continue
        assert signed_in.status_code == 303, who
        home = client.get("/portal")
        assert home.status_code == 200, (who, home.text[:300])
        csrf = Page(home.text).fields.get("csrf", "")
        for method, path in routes:
            if path in own:
                continue  # the caller's own session and e-mail settings, no one else's
            url = _fill(path, others)
            if method == "GET":
                answer = client.get(url)
            else:
                answer = client.post(
                    url, data={"csrf": csrf, "reason": "x", "reason_code": "AUTRE"}
                )
            where = (who, method, path, answer.status_code)
            assert answer.status_code < 500, where
            # (The language switch links back to the address asked for: the id may appear in a
            # refusal, the invoice's number never.)
            assert others.number not in answer.text, where
            assert answer.status_code >= 400 or others.invoice_id not in answer.text, where
            if (method, path) in NEW_SUBMISSION_PAGES:
                assert answer.status_code in (200, 403), where
            elif (method, path) in NEW_SUBMISSIONS:
                # The entry form of a new invoice, shown again, or a deposit without its file:
                # nothing of anyone else's.
                assert answer.status_code in (200, 403, 422), where
            else:
                assert answer.status_code in (403, 404), where
        client.close()
