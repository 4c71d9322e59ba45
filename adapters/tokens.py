"""The token store and the throttling of failed authentications, in PostgreSQL.

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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from facturier.config.settings import ApiSettings

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


@dataclass(frozen=True)
class TokenRecord:
    """A stored token as authentication reads it."""

    role: str
    scope: str
    label: str
    revoked: bool
    expired: bool
    stale_use: bool  # last_used_at is more than an hour old (or never set): refresh it


_LOOKUP = (
    "SELECT role, scope, label, revoked_at IS NOT NULL, expires_at <= now(),"
    " last_used_at IS NULL OR last_used_at < now() - interval '1 hour'"
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


def find_token_unless_locked(
    conn: psycopg.Connection[Any], token: str, client: str
) -> TokenRecord | Locked | None:
    """One query, both by primary key: `client`'s lock if it has one (the token then left
    unread), else the token's row (None: no such token)."""
    row = conn.execute(
        "SELECT t.role, t.scope, t.label, t.revoked_at IS NOT NULL,"
        " t.expires_at <= now(),"
        " t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 hour',"
        " ceil(extract(epoch FROM l.locked_until - now()))::int"
        " FROM (SELECT %s::text AS client) c"
        " LEFT JOIN auth_throttle l ON l.client = c.client AND l.locked_until > now()"
        " LEFT JOIN api_token t ON t.token_sha256 = %s",
        (client, digest(token)),
    ).fetchone()
    assert row is not None  # the outer side is one row
    if row[6] is not None:
        return Locked(max(1, int(row[6])))
    return None if row[0] is None else TokenRecord(*row[:6])


def mark_used(conn: psycopg.Connection[Any], token: str) -> None:
    conn.execute(
        "UPDATE api_token SET last_used_at = now() WHERE token_sha256 = %s", (digest(token),)
    )


def record_failure(conn: psycopg.Connection[Any], client: str, limits: ThrottleLimits) -> int:
    """Count a failure of `client`; the seconds it is now locked for, 0 if not. The address
    that reaches `max_failures` within `window_s` is locked out `lockout_s`, doubled at each
    new lockout until a day passes without failure."""
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
