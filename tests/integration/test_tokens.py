"""API tokens: expiry, listing and revocation from the CLI, scopes checked when a token is
issued and when it is used, failed authentications throttled per client address (the JSON
API and the portal's sign-in share the state, kept in PostgreSQL), logged and counted.

A real `facturier serve --api` answers; tokens are issued and revoked with the real
`facturier` executable. The API trusts X-Forwarded-For from 127.0.0.1 (uvicorn's default),
so each test speaks from an address of its own (documentation ranges: nothing is sent there).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from facturier.config.settings import Settings
from facturier.services.application.authentication import create_token
from facturier.services.application.principals import ApiRole, InvalidScope
from tests.integration.test_portal_form import Page
from tests.support.data import BUYER, OTHER_SUPPLIER, SUPPLIER
from tests.support.stack import Api, Service, free_port, running_api, wait_until

MAX_FAILURES = 3
FULLWIDTH = "".join(chr(0xFF10 + int(d)) for d in BUYER)
ARABIC_INDIC = "".join(chr(0x0660 + int(d)) for d in BUYER)
LOCKOUT_S = 40


@pytest.fixture(scope="module")
def served(
    make_settings: Callable[[], Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Api, Path]]:
    settings = make_settings().replaced(
        auth_max_failures=MAX_FAILURES, auth_window_s=120, auth_lockout_s=LOCKOUT_S
    )
    log = Path(tmp_path_factory.mktemp("tokens")) / "serve.log"
    with running_api(settings, log, "--api") as client:
        yield client, log


@pytest.fixture
def api(served: tuple[Api, Path]) -> Api:
    return served[0]


def facturier(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facturier.services.cli.main", *args],
        env={**os.environ, **settings.to_env(), "FACTURIER_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def issue(settings: Settings, *args: str) -> str:
    done = facturier(settings, "admin", "create-token", "--label", "issued by test", *args)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("fct_"), done.stdout
    return token


def get(api: Api, token: str, address: str, path: str = "/invoices") -> httpx.Response:
    return httpx.get(
        api.base + path,
        headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": address},
        timeout=30,
    )


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def failures(api: Api, channel: str, reason: str) -> float:
    """facturier_auth_failures_total{channel, reason} as the API exposes it now."""
    text = httpx.get(api.base + "/metrics", timeout=10).text
    pattern = rf'^facturier_auth_failures_total\{{channel="{channel}",reason="{reason}"\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def portal_login(api: Api, token: str, address: str) -> httpx.Response:
    with httpx.Client(base_url=api.base, timeout=30, headers={"X-Forwarded-For": address}) as web:
        form = Page(web.get("/portal/login").text)
        return web.post("/portal/login", data={"csrf": form.fields["csrf"], "token": token})


# ---------------------------------------------------------------- revocation, expiry, list


def test_a_revoked_token_is_refused_with_401_and_says_so(api: Api) -> None:
    settings = api.settings
    by_id = issue(settings, "--role", "supplier", "--scope", SUPPLIER)
    by_token = issue(settings, "--role", "buyer", "--scope", BUYER)
    for token in (by_id, by_token):
        assert get(api, token, "192.0.2.11").status_code == 200

    done = facturier(settings, "admin", "revoke-token", token_id(by_id))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"token {token_id(by_id)} revoked")
    # The token itself revokes too (whoever holds it can give it up), and again is harmless.
    assert facturier(settings, "admin", "revoke-token", by_token).returncode == 0
    again = facturier(settings, "admin", "revoke-token", by_token)
    assert again.returncode == 0 and "already revoked" in again.stdout

    for token in (by_id, by_token):
        refused = get(api, token, "192.0.2.12")
        assert refused.status_code == 401
        assert refused.json()["detail"] == {"code": "UNAUTHENTICATED", "message": "revoked token"}
    # The portal says why at sign-in.
    page = portal_login(api, by_id, "192.0.2.12")
    assert page.status_code == 401 and "has been revoked" in page.text

    unknown = facturier(settings, "admin", "revoke-token", "0123456789ab")
    assert unknown.returncode == 1
    assert unknown.stderr == "facturier: no token with id 0123456789ab\n"


def test_an_expired_token_is_refused_with_401_and_says_so(api: Api) -> None:
    settings = api.settings
    token = issue(settings, "--role", "supplier", "--scope", SUPPLIER, "--days", "2")
    with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
        (left,) = conn.execute(
            "SELECT expires_at - now() FROM api_token WHERE token_sha256 = %s",
            (hashlib.sha256(token.encode()).hexdigest(),),
        ).fetchone() or (None,)
    assert left is not None and 47 * 3600 < left.total_seconds() <= 48 * 3600
    assert get(api, token, "192.0.2.21").status_code == 200
    with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE api_token SET expires_at = now() - interval '1 second' WHERE token_sha256 = %s",
            (hashlib.sha256(token.encode()).hexdigest(),),
        )
    refused = get(api, token, "192.0.2.22")
    assert refused.status_code == 401
    assert refused.json()["detail"]["message"] == "expired token"
    page = portal_login(api, token, "192.0.2.22")
    assert page.status_code == 401 and "has expired" in page.text
    # Every token expires: the default lifetime is a setting, and there is a ceiling.
    default = issue(settings, "--role", "supplier", "--scope", OTHER_SUPPLIER)
    with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
        (days,) = conn.execute(
            "SELECT extract(day FROM expires_at - created_at) FROM api_token"
            " WHERE token_sha256 = %s",
            (hashlib.sha256(default.encode()).hexdigest(),),
        ).fetchone() or (None,)
    assert days == settings.api.token_days == 365
    for days_arg in ("0", "3651", "x"):
        bad = facturier(settings, "admin", "create-token", "--role", "admin", "--label", "l",
                        "--days", days_arg)  # fmt: skip
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr


def test_list_tokens_shows_ids_roles_scopes_and_dates_never_the_secret(api: Api) -> None:
    settings = api.settings
    token = issue(settings, "--role", "operator", "--scope", f" {OTHER_SUPPLIER} ")
    get(api, token, "192.0.2.31")
    done = facturier(settings, "admin", "list-tokens")
    assert done.returncode == 0, done.stderr
    header, *rows = (re.split(r"\s{2,}", line, maxsplit=7) for line in done.stdout.splitlines())
    assert header == ["ID", "ROLE", "STATE", "CREATED", "EXPIRES", "LAST USED", "SCOPE", "LABEL"]
    (mine,) = [row for row in rows if row[0] == token_id(token)]
    _, role, state, created, expires, last_used, scope, label = mine
    assert (role, state, label) == ("operator", "valid", "issued by test")
    assert scope == OTHER_SUPPLIER  # as stored: checked, without blanks
    for moment in (created, expires, last_used):
        assert re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d", moment), mine
    assert int(expires[:4]) == int(created[:4]) + 1 or expires[5:] < created[5:]
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert token not in done.stdout and token[4:20] not in done.stdout
    assert digest not in done.stdout and digest[:13] not in done.stdout
    # The fixture's six tokens and this one; --valid leaves out the revoked.
    assert len(rows) >= 7
    facturier(settings, "admin", "revoke-token", token_id(token))
    valid = facturier(settings, "admin", "list-tokens", "--valid").stdout
    assert token_id(token) not in valid
    assert "revoked" in facturier(settings, "admin", "list-tokens").stdout


# ---------------------------------------------------------------- scopes


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("operator", f"{SUPPLIER},*"),  # would act for every supplier
        ("operator", "*"),
        ("operator", f"{SUPPLIER},,{OTHER_SUPPLIER}"),
        ("operator", f"{SUPPLIER},{OTHER_SUPPLIER}"),  # its own organisation: one identifier
        ("operator", ""),
        ("supplier", ""),
        ("supplier", "*"),
        ("supplier", f"{SUPPLIER},{OTHER_SUPPLIER}"),
        ("supplier", "73282932000075"),  # 14 digits, not a SIRET
        ("supplier", "x" * 41),
        ("supplier", "Durand\tSARL"),
        ("supplier", "Société"),
        ("buyer", FULLWIDTH),  # python-stdnum alone would take it for a valid SIRET
        ("buyer", ARABIC_INDIC),
        ("buyer", "11000201100045"),
        ("buyer", ""),
        ("buyer", "*"),
        ("auditor", BUYER),
        ("admin", SUPPLIER),
    ],
)
def test_a_scope_that_does_not_fit_its_role_is_refused_at_creation(
    api: Api, role: str, scope: str
) -> None:
    with psycopg.connect(api.settings.postgres.dsn, autocommit=True) as conn:
        before = conn.execute("SELECT count(*) FROM api_token").fetchone()
        with pytest.raises(InvalidScope):
            create_token(conn, ApiRole(role), scope, "refused")
        done = facturier(api.settings, "admin", "create-token", "--role", role, "--scope", scope,
                         "--label", "refused")  # fmt: skip
        assert done.returncode == 2
        assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("facturier: ") and "Traceback" not in done.stderr
        assert conn.execute("SELECT count(*) FROM api_token").fetchone() == before


def test_a_stored_scope_that_does_not_parse_is_refused_at_use(api: Api) -> None:
    """Rows written before scopes were checked (or by hand) are not trusted either."""
    token = "fct_written-by-hand-" + os.urandom(8).hex()
    with psycopg.connect(api.settings.postgres.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_token (token_sha256, role, scope, label, expires_at)"
            " VALUES (%s, 'operator', %s, 'legacy', now() + interval '1 day')",
            (hashlib.sha256(token.encode()).hexdigest(), f"{SUPPLIER},*"),
        )
    refused = get(api, token, "192.0.2.41")
    assert refused.status_code == 401
    assert "scope" in refused.json()["detail"]["message"]
    assert portal_login(api, token, "192.0.2.41").status_code == 401


def test_valid_scopes_are_kept_and_parsed_once(api: Api) -> None:
    with psycopg.connect(api.settings.postgres.dsn, autocommit=True) as conn:
        for role, scope in (
            (ApiRole.SUPPLIER, " RCS-PARIS-B-123 "),
            (ApiRole.OPERATOR, " FR40303265045"),
            (ApiRole.BUYER, BUYER),
            (ApiRole.AUDITOR, "*"),
        ):
            create_token(conn, role, scope, "kept")
        stored = conn.execute(
            "SELECT role, scope FROM api_token WHERE label = 'kept' ORDER BY role"
        ).fetchall()
    assert stored == [
        ("auditor", "*"),
        ("buyer", BUYER),
        ("operator", "FR40303265045"),
        ("supplier", "RCS-PARIS-B-123"),
    ]


# ---------------------------------------------------------------- throttling


def test_failed_authentications_lock_the_address_out_with_429(
    served: tuple[Api, Path], tmp_path: Path
) -> None:
    api, log = served
    attacker, neighbour = "198.51.100.7", "198.51.100.8"
    good = api.tokens["supplier"]
    unknown_before = failures(api, "api", "unknown")
    locked_before = failures(api, "api", "locked")
    guesses = [f"fct_guess-{n}-" + os.urandom(8).hex() for n in range(MAX_FAILURES + 1)]

    for guess in guesses[:MAX_FAILURES]:
        refused = get(api, guess, attacker)
        assert refused.status_code == 401
        assert refused.json()["detail"]["message"] == "unknown token"
    throttled = get(api, guesses[-1], attacker)
    assert throttled.status_code == 429
    assert throttled.json()["detail"]["code"] == "TOO_MANY_ATTEMPTS"
    assert "too many failed authentications" in throttled.json()["detail"]["message"]
    assert 0 < int(throttled.headers["Retry-After"]) <= LOCKOUT_S
    # While locked, a valid token from that address is refused unread too: the lockout must
    # not tell a guesser which guess was right. Other addresses are not affected.
    assert get(api, good, attacker).status_code == 429
    assert get(api, good, neighbour).status_code == 200
    assert get(api, guesses[0], neighbour).status_code == 401

    # Logged with the address, the reason and the token's id, never the token; counted.
    wait_until(lambda: "locked out" in log.read_text(), 10, "the lockout in the log")
    text = log.read_text()
    for guess in guesses[:MAX_FAILURES]:
        assert (
            f"authentication failed: address={attacker} channel=api reason=unknown"
            f" token_id={token_id(guess)}"
        ) in text
        assert guess not in text and guess[4:16] not in text
    assert f"address {attacker} locked out for {LOCKOUT_S} s" in text
    assert failures(api, "api", "unknown") == unknown_before + MAX_FAILURES + 1  # + neighbour
    assert failures(api, "api", "locked") == locked_before + 2
    with psycopg.connect(api.settings.postgres.dsn) as conn:
        row = conn.execute(
            "SELECT total_failures, locked_until > now(), lockouts FROM auth_throttle"
            " WHERE client = %s",
            (attacker,),
        ).fetchone()
    assert row == (MAX_FAILURES, True, 1)

    # The state is in PostgreSQL: another replica of the API refuses the address as well.
    replica_settings = api.settings.replaced(api_port=free_port())
    replica = Service(replica_settings, "--api", log=tmp_path / "replica.log")
    try:
        other = Api(replica_settings, {})
        wait_until(other.healthy, 60, "the replica to answer")
        assert get(other, good, attacker).status_code == 429
        assert get(other, good, neighbour).status_code == 200
    finally:
        replica.stop()

    # Once the lockout is over the address may try again; locked again, for twice as long.
    with psycopg.connect(api.settings.postgres.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE auth_throttle SET locked_until = now() - interval '1 second' WHERE client = %s",
            (attacker,),
        )
    assert get(api, good, attacker).status_code == 200
    for guess in guesses[:MAX_FAILURES]:
        assert get(api, guess, attacker).status_code == 401
    again = get(api, good, attacker)
    assert again.status_code == 429
    assert LOCKOUT_S < int(again.headers["Retry-After"]) <= 2 * LOCKOUT_S


def test_the_portal_sign_in_is_throttled_too(api: Api) -> None:
    address = "203.0.113.9"
    before = failures(api, "portal", "unknown")
    for n in range(MAX_FAILURES):
        page = portal_login(api, f"fct_not-a-token-{n}", address)
        assert page.status_code == 401 and "Unknown or revoked token" in page.text
    page = portal_login(api, api.tokens["supplier"], address)
    assert page.status_code == 429
    assert "Too many failed sign-ins from your address" in page.text
    assert 0 < int(page.headers["Retry-After"]) <= LOCKOUT_S
    assert failures(api, "portal", "unknown") == before + MAX_FAILURES
    # One state for both doors: the API refuses the address as well.
    assert get(api, api.tokens["supplier"], address).status_code == 429
    # In French too.
    with httpx.Client(
        base_url=api.base,
        timeout=30,
        headers={"X-Forwarded-For": address, "Accept-Language": "fr"},
    ) as web:
        form = Page(web.get("/portal/login").text)
        french = web.post("/portal/login", data={"csrf": form.fields["csrf"], "token": "x"})
    assert french.status_code == 429 and "Trop de connexions" in french.text
    # Another address signs in.
    assert portal_login(api, api.tokens["supplier"], "203.0.113.10").status_code == 303
