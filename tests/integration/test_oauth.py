"""Technical accounts on a real `facturier serve`: OAuth2 client credentials at /oauth/token
(RFC 6749's answers, both ways of authenticating the client), the token's rights are the
space asked for, and nothing works after the technical account's revocation."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from psycopg_pool import ConnectionPool

from facturier.adapters.mail import MemoryMailer
from facturier.domain.accounts import Account
from facturier.domain.model import InvalidCommand
from facturier.domain.organisations import NotAllowed
from facturier.projections.authorisation.queries import PostgresAccess
from facturier.services.application.accounts import AccountsApp
from facturier.services.application.authorisation import Authorisation
from facturier.services.application.organisations import Organisations
from facturier.services.application.technical_accounts import Credentials, TechnicalAccounts
from tests.support.data import OTHER_SUPPLIER, SUPPLIER, invoice_body
from tests.support.stack import Api, wait_until

pytestmark = pytest.mark.stack


class Held:
    """A technical account of the supplier's organisation, made through the use case."""

    def __init__(self, api: Api) -> None:
        self.app = AccountsApp(api.settings.postgres)
        self.pool = ConnectionPool(api.settings.postgres.dsn, min_size=1, max_size=2, open=True)
        organisations = Organisations(self.app, MemoryMailer(), "https://portal.example")
        self.accounts = TechnicalAccounts(
            organisations, Authorisation(PostgresAccess(lambda: self.pool))
        )
        now = datetime.now(UTC)
        self.claire = Account.register("claire@oauth.example", "", "Claire", "fr", "0" * 64, now)
        self.claire.activate("0" * 64, "unused", now)
        self.app.save(self.claire)
        self.organisation = organisations.create(
            self.claire, "siret", SUPPLIER, "Durand"
        ).organisation

    def close(self) -> None:
        self.pool.close()
        self.app.close()


@pytest.fixture(scope="module")
def held(api: Api) -> Iterator[Held]:
    found = Held(api)
    yield found
    found.close()


def token(api: Api, creds: Credentials, **form: str) -> httpx.Response:
    basic = base64.b64encode(f"{creds.client_id}:{creds.secret}".encode()).decode()
    return httpx.post(
        f"{api.base}/oauth/token",
        data={"grant_type": "client_credentials", **form},
        headers={"Authorization": f"Basic {basic}"},
        timeout=30,
    )


def bearer(api: Api, access_token: str, method: str, path: str, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {access_token}"}
    return httpx.request(method, f"{api.base}{path}", headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


def test_a_technical_account_gets_short_lived_tokens_with_its_spaces_rights(
    api: Api, held: Held
) -> None:
    creds = held.accounts.create(held.claire, held.organisation.id, "ERP", ["invoices-issued"])
    wait_until(lambda: token(api, creds).status_code == 200, 30, "the projection to know it")
    answer = token(api, creds)
    body = answer.json()
    assert answer.headers["cache-control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["scope"] == "invoices-issued"
    posted = bearer(api, body["access_token"], "POST", "/invoices", json=invoice_body("TA-1"))
    assert posted.status_code == 201, posted.text

    def listed() -> dict[str, str]:
        found = bearer(api, body["access_token"], "GET", "/invoices").json()["invoices"]
        return {i["number"]: i["supplier_id"] for i in found}

    wait_until(lambda: "TA-1" in listed(), 30, "TA-1 in the technical account's list")
    assert set(listed().values()) == {SUPPLIER}  # the supplier's own, nobody else's
    other = bearer(
        api, body["access_token"], "POST", "/invoices", json=invoice_body("TA-2", OTHER_SUPPLIER)
    )
    assert other.status_code == 403

    # The secret in the form instead of HTTP Basic (client_secret_post).
    posted_form = httpx.post(
        f"{api.base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.secret,
        },
        timeout=30,
    )
    assert posted_form.status_code == 200, posted_form.text

    refusals = {
        "wrong secret": (token(api, Credentials(creds.client_id, "x", creds.expires_at)), 401),
        "unknown client": (token(api, Credentials("fcc_nobody", "x", creds.expires_at)), 401),
        "another grant": (token(api, creds, grant_type="password"), 400),
        "a space it lacks": (token(api, creds, scope="invoices-received"), 400),
        "no such space": (token(api, creds, scope="everything"), 400),
    }
    for why, (refused, status) in refusals.items():
        assert refused.status_code == status, (why, refused.text)
        assert refused.json()["error"] in (
            "invalid_client",
            "unsupported_grant_type",
            "invalid_scope",
        ), why
    assert "basic" in refusals["wrong secret"][0].headers["www-authenticate"].lower()
    bare = httpx.post(f"{api.base}/oauth/token", data={"grant_type": "client_credentials"})
    assert bare.status_code in (400, 401) and bare.json()["error"] == "invalid_client"

    held.accounts.revoke(held.claire, held.organisation.id, creds.client_id)

    def refused() -> bool:
        return bearer(api, body["access_token"], "GET", "/invoices").status_code == 401

    wait_until(refused, 30, "the token of a revoked technical account to be refused")
    assert token(api, creds).status_code == 401


def test_only_the_principal_manager_creates_them_and_only_with_spaces_it_has(
    api: Api, held: Held
) -> None:
    paul = Account.register("paul@oauth.example", "", "Paul", "fr", "0" * 64, datetime.now(UTC))
    held.app.save(paul)
    with pytest.raises(NotAllowed):
        held.accounts.create(paul, held.organisation.id, "ERP", ["invoices-issued"])
    with pytest.raises(InvalidCommand):
        held.accounts.create(held.claire, held.organisation.id, "ERP", ["invoices-received"])


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"Authorization": "Basic !!!not-base64"}, b"grant_type=client_credentials"),
        ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, b"grant_type=x"),
        ({"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode()}, b""),
        ({"Authorization": "Bearer fct_x"}, b"grant_type=client_credentials"),
        ({"Content-Type": "application/json"}, b'{"grant_type": "client_credentials"}'),
        ({}, b"grant_type=client_credentials&client_id=%00&client_secret=x"),
        ({}, b"grant_type=client_credentials&client_id=" + b"a" * 5000),
        ({}, b"\xff\xfe\xfd"),
        ({}, b"grant_type=client_credentials&grant_type=password"),
    ],
)
def test_a_hostile_token_request_gets_a_coded_4xx(
    api: Api, headers: dict[str, str], content: bytes
) -> None:
    sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    answer = httpx.post(f"{api.base}/oauth/token", content=content, headers=sent, timeout=30)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["detail"]["code"], answer.text
