"""Authentication: a bearer token's principal, or why it is refused; tokens created with a
checked scope; failed attempts throttled per client address (`TokenGuard`). The rows come
from the token store (`adapters/tokens.py`); what they mean is decided here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import psycopg

from facturier.adapters import metrics, tokens

# The token store's own operations and answers, as the entry points use them.
from facturier.adapters.throttle import Locked as Locked
from facturier.adapters.throttle import ThrottleLimits
from facturier.adapters.tokens import (
    ID_DIGITS,
    ThrottledTokens,
    TokenRecord,
    digest,
)
from facturier.adapters.tokens import TokenNotFound as TokenNotFound
from facturier.adapters.tokens import TokenRow as TokenRow
from facturier.adapters.tokens import list_tokens as list_tokens
from facturier.adapters.tokens import revoke_token as revoke_token
from facturier.services.application.principals import (
    ApiRole,
    Principal,
    normal_scope,
    principal_of,
)

log = logging.getLogger("facturier.auth")


def create_token(
    conn: psycopg.Connection[Any], role: ApiRole, scope: str, label: str, days: int = 365
) -> str:
    """A new token valid `days` days; raises InvalidScope (a ValueError) for a scope that
    does not fit the role."""
    return tokens.insert_token(conn, role.value, normal_scope(role, scope), label, days)


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


def verdict(record: TokenRecord | None) -> Principal | Refusal:
    if record is None:
        return Refusal.UNKNOWN
    if record.revoked:
        return Refusal.REVOKED
    if record.expired:
        return Refusal.EXPIRED
    found = principal_of(record.role, record.scope, record.label)
    return Refusal.INVALID_SCOPE if found is None else found


def check_token(conn: psycopg.Connection[Any], token: str) -> Principal | Refusal:
    """The token's principal, or why it is refused. Reads one row; writes nothing."""
    return verdict(tokens.find_token(conn, token))


def authenticate(conn: psycopg.Connection[Any], token: str) -> Principal | None:
    found = check_token(conn, token)
    return found if isinstance(found, Principal) else None


class TokenGuard:
    """Authentication with failed attempts throttled per client address.

    A success costs one query (the token row and the address's lock, both by primary key)
    and writes nothing, but for `last_used_at`, refreshed at most once an hour. A failure is
    logged, counted (`facturier_auth_failures_total`) and recorded in `auth_throttle`; the
    address that reaches `max_failures` within `window_s` is locked out `lockout_s`, doubled
    at each new lockout until a day passes without failure. While locked, every token it
    presents is answered 429 unread, a valid one too: else the lockout would still let a
    guesser learn that a guess was right."""

    def __init__(
        self,
        store: ThrottledTokens,
        limits: ThrottleLimits,
        complete: Callable[[Principal, str | None], Principal | None] = lambda found, _: found,
    ) -> None:
        self.store = store
        self.limits = limits
        # An operator's mandates; a technical account still valid (Authorisation.complete).
        self.complete = complete

    def check(self, token: str, client: str, channel: str) -> Principal | Refusal | Locked:
        record = self.store.find_unless_locked(token, client)
        if isinstance(record, Locked):
            metrics.AUTH_FAILURES.labels(channel, "locked").inc()
            return record
        found = verdict(record)
        if isinstance(found, Principal) and record is not None:
            completed = self.complete(found, record.client_id)
            if completed is not None:
                return self._accepted(token, record, completed)
        # Otherwise refused; a valid row whose technical account is revoked or expired too.
        refusal = found if isinstance(found, Refusal) else Refusal.REVOKED
        locked_for = self.store.record_failure(client, self.limits)
        metrics.AUTH_FAILURES.labels(channel, refusal.value).inc()
        log.warning(
            "authentication failed: address=%s channel=%s reason=%s token_id=%s%s",
            client,
            channel,
            refusal.value,
            digest(token)[:ID_DIGITS],
            f" locked_for={locked_for}s" if locked_for else "",
        )
        return refusal

    def _accepted(self, token: str, record: TokenRecord, principal: Principal) -> Principal:
        if record.stale_use:
            self.store.mark_used(token)
        return principal
