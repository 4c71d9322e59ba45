"""Bearer tokens bound to a role and a scope, with an expiry; only their SHA-256 is stored.

A token is known by its *id*, the first 12 hex digits of that SHA-256: `facturier admin
list-tokens` shows it, `revoke-token` takes it, the logs name a presented token by it. It is
derived from the hash, not the token, so it tells nothing of the secret.

Failed authentications are throttled per client address (`TokenGuard`), the state in
PostgreSQL so that every API replica shares it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from starlette.requests import Request
from stdnum.fr import siret

from facturier.adapters import metrics
from facturier.config.settings import ApiSettings

log = logging.getLogger("facturier.auth")

ID_DIGITS = 12
MAX_DAYS = 3650


class ApiRole(StrEnum):
    SUPPLIER = "supplier"  # scope: the supplier identifier (e.g. its SIRET)
    BUYER = "buyer"  # scope: the buyer structure's SIRET (its services and accounting)
    OPERATOR = "operator"  # scope: the supplier ids it holds a mandate for, comma-separated
    AUDITOR = "auditor"  # scope: '*', read-only
    ADMIN = "admin"  # scope: '*'


class InvalidScope(ValueError):
    """A scope that does not fit its role; the message is one line."""


_SIRET = re.compile(r"[0-9]{14}")  # ASCII digits only: no fullwidth or Arabic-Indic ones
_PRINTABLE = re.compile(r"[\x20-\x7e]+")


def _supplier_id(value: str, role: ApiRole) -> str:
    found = value.strip()
    if not found:
        raise InvalidScope(f"a {role} scope has an empty supplier identifier")
    if len(found) > 40:
        raise InvalidScope(f"supplier identifier {found[:40]!r}... is longer than 40 characters")
    if "*" in found:
        raise InvalidScope(f"'*' (every supplier) is for admins: a {role} token names its own")
    if not _PRINTABLE.fullmatch(found):
        raise InvalidScope(f"supplier identifier {found!r}: printable ASCII characters only")
    if found.isdigit() and len(found) == 14 and not siret.is_valid(found):
        raise InvalidScope(f"{found} is not a valid SIRET")
    return found


def parse_scope(role: ApiRole, scope: str) -> tuple[str, ...]:
    """The suppliers a scope names, checked against its role: one supplier id for a supplier,
    at least one (comma-separated, distinct) for an operator, none for a buyer (its scope is
    a SIRET) and '*' only for auditors and admins (`("*",)` for an admin, who submits for
    everyone). Raises InvalidScope otherwise."""
    if role in (ApiRole.AUDITOR, ApiRole.ADMIN):
        if scope != "*":
            raise InvalidScope(f"an {role} token's scope is '*' (all), not {scope!r}")
        return ("*",) if role is ApiRole.ADMIN else ()
    if role is ApiRole.BUYER:
        if not _SIRET.fullmatch(scope) or not siret.is_valid(scope):
            raise InvalidScope(f"a buyer's scope is its structure's SIRET (14 digits): {scope!r}")
        return ()
    if role is ApiRole.SUPPLIER:
        if "," in scope:
            raise InvalidScope("a supplier token has one supplier identifier (no comma)")
        return (_supplier_id(scope, role),)
    suppliers = tuple(_supplier_id(part, role) for part in scope.split(","))
    if len(set(suppliers)) != len(suppliers):
        raise InvalidScope("an operator's scope names a supplier twice")
    return suppliers


def normal_scope(role: ApiRole, scope: str) -> str:
    """The scope as stored: checked, an operator's list without blanks."""
    suppliers = parse_scope(role, scope)
    return ",".join(suppliers) if role is ApiRole.OPERATOR else scope.strip()


@dataclass(frozen=True)
class Principal:
    role: ApiRole
    scope: str
    label: str
    # Parsed once, when the principal is made: a scope that does not parse is refused here.
    suppliers: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "suppliers", parse_scope(self.role, self.scope))

    @property
    def actor(self) -> str:
        """How the principal appears in the timeline."""
        return f"{self.role}:{self.scope}" if self.scope != "*" else f"{self.role}:{self.label}"

    def submits_for(self, supplier_id: str) -> bool:
        return "*" in self.suppliers or supplier_id in self.suppliers

    @property
    def invoices(self) -> InvoiceScope:
        """Which invoices the principal sees: the one rule every route and page applies, to
        single invoices (`sees`) and to lists alike."""
        if self.role in (ApiRole.AUDITOR, ApiRole.ADMIN):
            return InvoiceScope(None, None)
        if self.role is ApiRole.BUYER:
            return InvoiceScope(None, self.scope)
        return InvoiceScope(self.suppliers, None)

    def sees(self, supplier_id: str, recipient_siret: str) -> bool:
        return self.invoices.holds(supplier_id, recipient_siret)

    def reads_structure(self, siret: str) -> bool:
        """A structure's own books (its FEC, its payment terms): its buyer, auditors, admins."""
        if self.role in (ApiRole.AUDITOR, ApiRole.ADMIN):
            return True
        return self.role is ApiRole.BUYER and self.scope == siret


@dataclass(frozen=True)
class InvoiceScope:
    """The invoices of `suppliers` (None: of any supplier) addressed to `recipient` (None: to
    any structure). An operator without a valid mandate has `suppliers == ()`: nothing."""

    suppliers: tuple[str, ...] | None
    recipient: str | None

    def holds(self, supplier_id: str, recipient_siret: str) -> bool:
        return (self.suppliers is None or supplier_id in self.suppliers) and (
            self.recipient is None or recipient_siret == self.recipient
        )


def principal_of(role: str, scope: str, label: str) -> Principal | None:
    """The principal of a stored row, or None when the row does not hold a valid one (a
    scope written before scopes were checked, or by hand)."""
    try:
        return Principal(ApiRole(role), scope, label)
    except ValueError:
        return None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """What names a token in lists and logs: a prefix of its SHA-256, never of itself."""
    return digest(token)[:ID_DIGITS]


def create_token(
    conn: psycopg.Connection[Any], role: ApiRole, scope: str, label: str, days: int = 365
) -> str:
    """A new token valid `days` days; raises InvalidScope (a ValueError) for a scope that
    does not fit the role."""
    stored = normal_scope(role, scope)
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a token lives 1 to {MAX_DAYS} days, not {days}")
    token = "fct_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_token (token_sha256, role, scope, label, expires_at)"
        " VALUES (%s, %s, %s, %s, now() + make_interval(days => %s))",
        (digest(token), role.value, stored, label, days),
    )
    return token


class Refusal(StrEnum):
    """Why a token was refused. Saying revoked or expired tells its holder nothing new: only
    someone who held the token can present it."""

    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"
    INVALID_SCOPE = "invalid_scope"

    @property
    def text(self) -> str:
        return {
            Refusal.UNKNOWN: "unknown token",
            Refusal.REVOKED: "revoked token",
            Refusal.EXPIRED: "expired token",
            Refusal.INVALID_SCOPE: "token refused: its stored scope is not valid",
        }[self]


_LOOKUP = (
    "SELECT role, scope, label, revoked_at IS NOT NULL, expires_at <= now(),"
    " last_used_at IS NULL OR last_used_at < now() - interval '1 hour'"
    " FROM api_token WHERE token_sha256 = %s"
)


def _verdict(row: tuple[Any, ...] | None) -> Principal | Refusal:
    if row is None:
        return Refusal.UNKNOWN
    if row[3]:
        return Refusal.REVOKED
    if row[4]:
        return Refusal.EXPIRED
    found = principal_of(row[0], row[1], row[2])
    return Refusal.INVALID_SCOPE if found is None else found


def check_token(conn: psycopg.Connection[Any], token: str) -> Principal | Refusal:
    """The token's principal, or why it is refused. Reads one row; writes nothing."""
    return _verdict(conn.execute(_LOOKUP, (digest(token),)).fetchone())


def authenticate(conn: psycopg.Connection[Any], token: str) -> Principal | None:
    found = check_token(conn, token)
    return found if isinstance(found, Principal) else None


@dataclass(frozen=True)
class TokenRow:
    id: str
    role: str
    scope: str
    label: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_tokens(conn: psycopg.Connection[Any]) -> list[TokenRow]:
    rows = conn.execute(
        "SELECT left(token_sha256, %s), role, scope, label, created_at, expires_at,"
        " last_used_at, revoked_at FROM api_token ORDER BY created_at DESC, token_sha256",
        (ID_DIGITS,),
    ).fetchall()
    return [TokenRow(*row) for row in rows]


class TokenNotFound(LookupError):
    pass


def revoke_token(conn: psycopg.Connection[Any], id_or_token: str) -> tuple[str, datetime, bool]:
    """Revoke by the id `list-tokens` shows (or a longer prefix of the SHA-256), or by the
    token itself. Returns (id, revoked at, whether it was revoked just now)."""
    given = id_or_token.strip()
    if given.startswith("fct_"):
        wanted = digest(given)
    elif re.fullmatch(r"[0-9a-f]{8,64}", given):
        wanted = given
    else:
        raise TokenNotFound(
            f"{given[:20]!r} is neither a token id (8 to 64 hex digits) nor a token (fct_...)"
        )
    rows = conn.execute(
        # starts_with: a prefix match with no LIKE wildcard to escape.
        "SELECT token_sha256 FROM api_token WHERE starts_with(token_sha256, %s) FOR UPDATE",
        (wanted,),
    ).fetchall()
    if not rows:
        raise TokenNotFound(f"no token with id {wanted[:ID_DIGITS]}")
    if len(rows) > 1:
        raise TokenNotFound(f"{len(rows)} tokens have an id starting with {wanted}: give more")
    (sha,) = rows[0]
    row = conn.execute(
        "UPDATE api_token SET revoked_at = coalesce(revoked_at, now()) WHERE token_sha256 = %s"
        " RETURNING revoked_at, revoked_at = now()",
        (sha,),
    ).fetchone()
    assert row is not None
    return sha[:ID_DIGITS], row[0], bool(row[1])


# ---------------------------------------------------------------- throttling


@dataclass(frozen=True)
class ThrottleLimits:
    max_failures: int  # failed authentications of one address within the window...
    window_s: int
    lockout_s: int  # ...lock it this long, doubled at each lockout of the same day
    max_lockout_s: int = 24 * 3600

    @classmethod
    def of(cls, api: ApiSettings) -> ThrottleLimits:
        return cls(api.auth_max_failures, api.auth_window_s, api.auth_lockout_s)


@dataclass(frozen=True)
class Locked:
    """The client address is locked out: answer 429 with Retry-After."""

    retry_after_s: int

    @property
    def text(self) -> str:
        return f"too many failed authentications from this address: retry in {self.retry_after_s} s"


def client_address(request: Request) -> str:
    """The client's IP address as the server sees it: behind a reverse proxy, the one its
    X-Forwarded-For names when the proxy is trusted (uvicorn's FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


class TokenGuard:
    """Authentication with failed attempts throttled per client address.

    A success costs one query (the token row and the address's lock, both by primary key)
    and writes nothing, but for `last_used_at`, refreshed at most once an hour. A failure is
    logged, counted (`facturier_auth_failures_total`) and recorded in `auth_throttle`; the
    address that reaches `max_failures` within `window_s` is locked out `lockout_s`, doubled
    at each new lockout until a day passes without failure. While locked, every token it
    presents is answered 429 unread, a valid one too: else the lockout would still let a
    guesser learn that a guess was right."""

    def __init__(self, pool: Callable[[], ConnectionPool], limits: ThrottleLimits) -> None:
        self.pool = pool
        self.limits = limits

    def check(self, token: str, client: str, channel: str) -> Principal | Refusal | Locked:
        sha = digest(token)
        with self.pool().connection() as conn:
            row = conn.execute(
                "SELECT t.role, t.scope, t.label, t.revoked_at IS NOT NULL,"
                " t.expires_at <= now(),"
                " t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 hour',"
                " ceil(extract(epoch FROM l.locked_until - now()))::int"
                " FROM (SELECT %s::text AS client) c"
                " LEFT JOIN auth_throttle l ON l.client = c.client AND l.locked_until > now()"
                " LEFT JOIN api_token t ON t.token_sha256 = %s",
                (client, sha),
            ).fetchone()
            assert row is not None  # the outer side is one row
            if row[6] is not None:
                metrics.AUTH_FAILURES.labels(channel, "locked").inc()
                return Locked(max(1, int(row[6])))
            found = _verdict(None if row[0] is None else row)
            if isinstance(found, Principal):
                if row[5]:
                    conn.execute(
                        "UPDATE api_token SET last_used_at = now() WHERE token_sha256 = %s",
                        (sha,),
                    )
                return found
            locked_for = self._failed(conn, client)
        metrics.AUTH_FAILURES.labels(channel, found.value).inc()
        log.warning(
            "authentication failed: address=%s channel=%s reason=%s token_id=%s%s",
            client,
            channel,
            found.value,
            sha[:ID_DIGITS],
            f" locked_for={locked_for}s" if locked_for else "",
        )
        return found

    def _failed(self, conn: psycopg.Connection[Any], client: str) -> int:
        """Count a failure of `client`; the seconds it is now locked for, 0 if not."""
        limits = self.limits
        created = conn.execute(
            "INSERT INTO auth_throttle (client) VALUES (%s) ON CONFLICT DO NOTHING", (client,)
        ).rowcount
        if created:  # a new address: the moment to forget those quiet for a day
            conn.execute(
                "DELETE FROM auth_throttle WHERE last_failure_at < now() - interval '1 day'"
                " AND (locked_until IS NULL OR locked_until < now())"
            )
        row = conn.execute(
            "SELECT failures, window_start > now() - make_interval(secs => %s),"
            " lockouts, last_failure_at > now() - interval '1 day'"
            " FROM auth_throttle WHERE client = %s FOR UPDATE",
            (limits.window_s, client),
        ).fetchone()
        assert row is not None
        failures = (row[0] if row[1] else 0) + 1
        lockouts = row[2] if row[3] else 0
        window_restarts = not row[1]
        locked_for = 0
        if failures >= limits.max_failures:
            locked_for = min(limits.lockout_s * 2 ** min(lockouts, 30), limits.max_lockout_s)
            failures, lockouts, window_restarts = 0, lockouts + 1, True
        conn.execute(
            "UPDATE auth_throttle SET failures = %s, lockouts = %s,"
            " window_start = CASE WHEN %s THEN now() ELSE window_start END,"
            " locked_until = CASE WHEN %s > 0 THEN now() + make_interval(secs => %s)"
            " ELSE locked_until END,"
            " total_failures = total_failures + 1, last_failure_at = now()"
            " WHERE client = %s",
            (failures, lockouts, window_restarts, locked_for, locked_for, client),
        )
        if locked_for:
            log.warning(
                "address %s locked out for %s s after %s failed authentications",
                client,
                locked_for,
                limits.max_failures,
            )
        return locked_for
