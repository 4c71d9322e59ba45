"""The OAuth2 token endpoint (RFC 6749 §4.4, client credentials), on authlib's authorization
server: a technical account trades its client id and secret (HTTP Basic, or the form's
`client_id` / `client_secret`) for a bearer token of a few minutes, whose rights are the space
asked for (`scope`: invoices-issued or invoices-received; the first it holds by default).

Answers are RFC 6749's: 200 with `access_token`, `token_type`, `expires_in`, `scope`; 400
`unsupported_grant_type`, `invalid_request` or `invalid_scope`; 401 `invalid_client` with
`WWW-Authenticate: Basic`. Failed client authentications are throttled per address, like
bearer tokens: past the limit, 429 until the lockout ends, a right secret too.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientCredentialsGrant,
    ClientMixin,
    InvalidScopeError,
    OAuth2Payload,
    OAuth2Request,
)
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from facturier.adapters import metrics
from facturier.adapters.throttle import PostgresThrottle, ThrottleLimits
from facturier.adapters.tokens import store_client_token
from facturier.projections.authorisation.queries import ClientAccess
from facturier.services.application.technical_accounts import (
    TechnicalAccounts,
    principal_of_client,
)
from facturier.services.http.dependencies import Deps
from facturier.services.web_common import client_address

log = logging.getLogger("facturier.auth")
MAX_BODY = 4096  # a token request is a few short fields


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, form: dict[str, str]) -> None:
        self._form = form

    @property
    def data(self) -> dict[str, str]:
        return self._form

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {k: [v] for k, v in self._form.items()}


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self, method: str, uri: str, headers: dict[str, str], form: dict[str, str]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._form = form
        self.payload = _Payload(form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class _Client(ClientMixin):  # type: ignore[misc]
    """A technical account as authlib sees it."""

    def __init__(self, client_id: str, verify: Callable[[str, str], ClientAccess | None]) -> None:
        self.client_id = client_id
        self.verify = verify
        self.access: ClientAccess | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        self.access = self.verify(self.client_id, client_secret)
        return self.access is not None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_grant_type(self, grant_type: str) -> bool:
        return bool(grant_type == ClientCredentialsGrant.GRANT_TYPE)

    def get_allowed_scope(self, scope: str) -> str:
        return scope


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    """RFC 6749 §2.3.1: HTTP Basic, or the credentials in the form."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self, accounts: TechnicalAccounts, store: Callable[..., str], seconds: int
    ) -> None:
        super().__init__(scopes_supported=["invoices-issued", "invoices-received"])
        self.accounts = accounts
        self.store = store
        self.seconds = seconds
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", self._token)

    def query_client(self, client_id: str) -> _Client:
        return _Client(client_id, self.accounts.verify)

    def _token(self, client: _Client, scope: str | None, **_: Any) -> dict[str, Any]:
        assert client.access is not None  # authenticated by check_client_secret
        principal = principal_of_client(client.access, scope or None)
        if principal is None:
            raise InvalidScopeError(description="the technical account does not hold that space")
        token = "fct_" + secrets.token_urlsafe(32)
        granted = scope or sorted(client.access.spaces)[0]
        self.store(token, principal.role.value, principal.scope, client.client_id, self.seconds)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.seconds,
            "scope": granted,
        }

    def create_oauth2_request(self, request: _Request) -> _Request:
        return request  # made by the route, from the Starlette request

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Stored already, by its SHA-256, when it was made (`_token`)."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals."""

    def handle_response(self, status: int, body: Any, headers: Any) -> JSONResponse:
        if status >= 400:
            return refusal(status, body["error"], body.get("error_description", ""), headers)
        return JSONResponse(body, status_code=status, headers=dict(headers))


def refusal(status: int, error: str, description: str, headers: Any = ()) -> JSONResponse:
    """RFC 6749's error body, with the platform's coded `detail` beside it."""
    body = {
        "error": error,
        "error_description": description,
        "detail": {"code": error.upper(), "message": description or error.replace("_", " ")},
    }
    return JSONResponse(body, status_code=status, headers=dict(headers))


router = APIRouter()


@router.post("/oauth/token", tags=["authentication"], response_model=None)
async def token(request: Request, deps: Deps) -> JSONResponse:
    """OAuth2 client credentials: a technical account's bearer token of a few minutes."""
    address = client_address(request)
    throttle = PostgresThrottle(lambda: deps.pool)
    locked_for = await run_in_threadpool(throttle.locked_for, address)
    if locked_for:
        metrics.AUTH_FAILURES.labels("oauth", "locked").inc()
        retry = {"Retry-After": str(locked_for)}
        return refusal(429, "invalid_client", "too many failed attempts: wait", retry)
    body = await request.body()
    if len(body) > MAX_BODY:
        return refusal(400, "invalid_request", f"a token request is at most {MAX_BODY} bytes")
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    headers = {k.title(): v for k, v in request.headers.items()}
    # authlib refuses a plain-HTTP URI; the API is served behind a TLS-terminating proxy
    # as often as not, so transport security is the deployment's to ensure, not a
    # reason to refuse here: the URI is given as https (it serves nothing else).
    uri = str(request.url.replace(scheme="https"))
    oauth = _Request("POST", uri, headers, form)
    server = TokenServer(deps.running.technical_accounts, _store(deps), deps.client_seconds)
    answer: JSONResponse = await run_in_threadpool(server.create_token_response, oauth)
    answer.headers["Cache-Control"] = "no-store"
    if answer.status_code == 401 or b"invalid_client" in bytes(answer.body):
        limits = ThrottleLimits.of(deps.settings.api)
        await run_in_threadpool(throttle.record_failure, address, limits)
        metrics.AUTH_FAILURES.labels("oauth", "unknown").inc()
        log.warning("client authentication failed: address=%s", address)
    return answer


def _store(deps: Any) -> Callable[..., str]:
    def store(token: str, role: str, scope: str, client_id: str, seconds: int) -> str:
        with deps.pool.connection() as conn:
            store_client_token(conn, token, role, scope, client_id, seconds)
        return token

    return store
