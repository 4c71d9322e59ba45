"""The throttling of failed authentications, by key (a client address, a login): the
policy (`after_failure`, pure), its state in PostgreSQL (`auth_throttle`, shared by every API
replica) and the same in memory on a clock the caller may move (the application tests)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool

from facturier.config.settings import ApiSettings

log = logging.getLogger("facturier.auth")


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


@dataclass(frozen=True)
class FailureCount:
    """An address's throttling state after one more failure."""

    failures: int  # in the current window
    lockouts: int  # today's
    window_restarts: bool
    locked_for: int  # seconds; 0: not locked


def after_failure(
    failures_in_window: int | None, lockouts_today: int, limits: ThrottleLimits
) -> FailureCount:
    """The throttling policy, one failure at a time (`failures_in_window`: None when the
    window has run out): the address that reaches `max_failures` within the window is locked
    out `lockout_s`, doubled at each lockout of the same day, up to `max_lockout_s`."""
    failures = (failures_in_window or 0) + 1
    if failures < limits.max_failures:
        return FailureCount(failures, lockouts_today, failures_in_window is None, 0)
    locked_for = min(limits.lockout_s * 2 ** min(lockouts_today, 30), limits.max_lockout_s)
    return FailureCount(0, lockouts_today + 1, True, locked_for)


def record_failure(conn: psycopg.Connection[Any], client: str, limits: ThrottleLimits) -> int:
    """Count a failure of `client` (policy: `after_failure`); the seconds it is now locked
    for, 0 if not. A day without failure forgets the address's lockouts."""
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
    count = after_failure(row[0] if row[1] else None, row[2] if row[3] else 0, limits)
    locked_for = count.locked_for
    conn.execute(
        "UPDATE auth_throttle SET failures = %s, lockouts = %s,"
        " window_start = CASE WHEN %s THEN now() ELSE window_start END,"
        " locked_until = CASE WHEN %s > 0 THEN now() + make_interval(secs => %s)"
        " ELSE locked_until END,"
        " total_failures = total_failures + 1, last_failure_at = now()"
        " WHERE client = %s",
        (count.failures, count.lockouts, count.window_restarts, locked_for, locked_for, client),
    )
    if locked_for:
        log.warning(
            "address %s locked out for %s s after %s failed authentications",
            client,
            locked_for,
            limits.max_failures,
        )
    return locked_for


def lock_remaining(conn: psycopg.Connection[Any], key: str) -> int:
    """The seconds `key` stays locked out; 0 if it is not."""
    row = conn.execute(
        "SELECT ceil(extract(epoch FROM locked_until - now()))::int FROM auth_throttle"
        " WHERE client = %s AND locked_until > now()",
        (key,),
    ).fetchone()
    return max(1, int(row[0])) if row else 0


def clear_failures(conn: psycopg.Connection[Any], key: str) -> None:
    """A success forgets the failures of the current window (not the day's lockouts)."""
    conn.execute("UPDATE auth_throttle SET failures = 0 WHERE client = %s", (key,))


class Throttle(Protocol):
    def locked_for(self, key: str) -> int: ...
    def record_failure(self, key: str, limits: ThrottleLimits) -> int: ...
    def clear(self, key: str) -> None: ...


class PostgresThrottle:
    def __init__(self, pool: Callable[[], ConnectionPool]) -> None:
        self.pool = pool

    def locked_for(self, key: str) -> int:
        with self.pool().connection() as conn:
            return lock_remaining(conn, key)

    def record_failure(self, key: str, limits: ThrottleLimits) -> int:
        with self.pool().connection() as conn:
            return record_failure(conn, key, limits)

    def clear(self, key: str) -> None:
        with self.pool().connection() as conn:
            clear_failures(conn, key)


@dataclass
class _Throttle:
    failures: int = 0
    window_start: float = 0.0
    lockouts: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


class MemoryThrottle:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.state: dict[str, _Throttle] = {}

    def locked_for(self, key: str) -> int:
        now = self.clock()
        state = self.state.get(key)
        if state is None or state.locked_until <= now:
            return 0
        return max(1, math.ceil(state.locked_until - now))

    def record_failure(self, key: str, limits: ThrottleLimits) -> int:
        now = self.clock()
        state = self.state.setdefault(key, _Throttle(window_start=now))
        in_window = state.window_start > now - limits.window_s
        recent = state.last_failure > now - 86400
        count = after_failure(
            state.failures if in_window else None, state.lockouts if recent else 0, limits
        )
        state.failures, state.lockouts = count.failures, count.lockouts
        if count.window_restarts:
            state.window_start = now
        if count.locked_for:
            state.locked_until = now + count.locked_for
        state.last_failure = now
        return count.locked_for

    def clear(self, key: str) -> None:
        if key in self.state:
            self.state[key].failures = 0
