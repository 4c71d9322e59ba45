"""The token store, in PostgreSQL (its throttling of failed authentications:
`adapters/throttle.py`).

Bearer tokens are stored by their SHA-256 only. A token is known by its *id*, the first 12
hex digits of that SHA-256: `facturier admin list-tokens` shows it, `revoke-token` takes it,
the logs name a presented token by it. It is derived from the hash, not the token, so it
tells nothing of the secret.

This module returns plain rows; what a row means (a principal, or why it is refused) is the
application's (`services/application/authentication.py`). The throttling state is in
PostgreSQL so that every API replica shares it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool

from facturier.adapters.throttle import Locked, MemoryThrottle, ThrottleLimits, record_failure

log = logging.getLogger("facturier.auth")

ID_DIGITS = 12
MAX_DAYS = 3650


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """What names a token in lists and logs: a prefix of its SHA-256, never of itself."""
    return digest(token)[:ID_DIGITS]


def insert_token(
    conn: psycopg.Connection[Any], role: str, scope: str, label: str, days: int
) -> str:
    """Store a new token valid `days` days (the scope already checked); the token itself."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a token lives 1 to {MAX_DAYS} days, not {days}")
    token = "fct_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_token (token_sha256, role, scope, label, expires_at)"
        " VALUES (%s, %s, %s, %s, now() + make_interval(days => %s))",
        (digest(token), role, scope, label, days),
    )
    return token


def store_client_token(
    conn: psycopg.Connection[Any], token: str, role: str, scope: str, client_id: str, seconds: int
) -> None:
    """Store a token issued to a technical account (OAuth2 client credentials), valid
    `seconds`."""
    conn.execute(
        "INSERT INTO api_token (token_sha256, role, scope, label, expires_at, client_id)"
        " VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s), %s)",
        (digest(token), role, scope, f"technical account {client_id}", seconds, client_id),
    )


@dataclass(frozen=True)
class TokenRecord:
    """A stored token as authentication reads it."""

    role: str
    scope: str
    label: str
    revoked: bool
    expired: bool
    stale_use: bool  # last_used_at is more than an hour old (or never set): refresh it
    client_id: str | None = None  # issued to a technical account (OAuth2)


_LOOKUP = (
    "SELECT role, scope, label, revoked_at IS NOT NULL, expires_at <= now(),"
    " last_used_at IS NULL OR last_used_at < now() - interval '1 hour', client_id"
    " FROM api_token WHERE token_sha256 = %s"
)


def find_token(conn: psycopg.Connection[Any], token: str) -> TokenRecord | None:
    """The token's row; reads one row, writes nothing."""
    row = conn.execute(_LOOKUP, (digest(token),)).fetchone()
    return None if row is None else TokenRecord(*row)


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


def find_token_unless_locked(
    conn: psycopg.Connection[Any], token: str, client: str
) -> TokenRecord | Locked | None:
    """One query, both by primary key: `client`'s lock if it has one (the token then left
    unread), else the token's row (None: no such token)."""
    row = conn.execute(
        "SELECT t.role, t.scope, t.label, t.revoked_at IS NOT NULL,"
        " t.expires_at <= now(),"
        " t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 hour',"
        " ceil(extract(epoch FROM l.locked_until - now()))::int, t.client_id"
        " FROM (SELECT %s::text AS client) c"
        " LEFT JOIN auth_throttle l ON l.client = c.client AND l.locked_until > now()"
        " LEFT JOIN api_token t ON t.token_sha256 = %s",
        (client, digest(token)),
    ).fetchone()
    assert row is not None  # the outer side is one row
    if row[6] is not None:
        return Locked(max(1, int(row[6])))
    if row[0] is None:
        return None
    role, scope, label, revoked, expired, stale = row[:6]
    return TokenRecord(role, scope, label, revoked, expired, stale, client_id=row[7])


def mark_used(conn: psycopg.Connection[Any], token: str) -> None:
    conn.execute(
        "UPDATE api_token SET last_used_at = now() WHERE token_sha256 = %s", (digest(token),)
    )


# ---------------------------------------------------------------- the stores authentication uses


class ThrottledTokens(Protocol):
    """What authentication asks of the token store (services/application/authentication.py)."""

    def find_unless_locked(self, token: str, client: str) -> TokenRecord | Locked | None: ...

    def mark_used(self, token: str) -> None: ...

    def record_failure(self, client: str, limits: ThrottleLimits) -> int: ...


class PostgresTokens:
    """The tokens and the throttling state in PostgreSQL, shared by every API replica."""

    def __init__(self, pool: Callable[[], ConnectionPool]) -> None:
        self.pool = pool

    def find_unless_locked(self, token: str, client: str) -> TokenRecord | Locked | None:
        with self.pool().connection() as conn:
            return find_token_unless_locked(conn, token, client)

    def mark_used(self, token: str) -> None:
        with self.pool().connection() as conn:
            mark_used(conn, token)

    def record_failure(self, client: str, limits: ThrottleLimits) -> int:
        with self.pool().connection() as conn:
            return record_failure(conn, client, limits)


@dataclass
class _Stored:
    role: str
    scope: str
    label: str
    expires_at: float
    revoked: bool = False
    last_used: float | None = None


class MemoryTokens:
    """The same store in memory, on a clock the caller may move (the application tests)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tokens: dict[str, _Stored] = {}
        self.throttle = MemoryThrottle(clock)

    def issue(self, role: str, scope: str, label: str, days: int = 365) -> str:
        token = "fct_" + secrets.token_urlsafe(32)
        self._tokens[digest(token)] = _Stored(role, scope, label, self.clock() + days * 86400)
        return token

    def revoke(self, token: str) -> None:
        self._tokens[digest(token)].revoked = True

    def find_unless_locked(self, token: str, client: str) -> TokenRecord | Locked | None:
        now = self.clock()
        locked_for = self.throttle.locked_for(client)
        if locked_for:
            return Locked(locked_for)
        found = self._tokens.get(digest(token))
        if found is None:
            return None
        stale = found.last_used is None or found.last_used < now - 3600
        return TokenRecord(
            found.role, found.scope, found.label, found.revoked, found.expires_at <= now, stale
        )

    def mark_used(self, token: str) -> None:
        self._tokens[digest(token)].last_used = self.clock()

    def record_failure(self, client: str, limits: ThrottleLimits) -> int:
        return self.throttle.record_failure(client, limits)
