"""Authentication and its throttling as use cases, on the in-memory token store and a clock
the test moves. The PostgreSQL store (shared by every API replica) runs the same policy
(`adapters.tokens.after_failure`) in tests/integration/test_tokens.py."""

from __future__ import annotations

import pytest

from facturier.adapters.throttle import Locked, ThrottleLimits
from facturier.adapters.tokens import MemoryTokens
from facturier.services.application.authentication import Refusal, TokenGuard
from facturier.services.application.principals import ApiRole, Principal
from tests.support.data import SUPPLIER

LIMITS = ThrottleLimits(max_failures=3, window_s=60, lockout_s=100, max_lockout_s=300)
HERE, ELSEWHERE = "192.0.2.1", "198.51.100.7"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> MemoryTokens:
    return MemoryTokens(clock)


def test_a_token_is_its_principal_until_revoked_or_expired(
    store: MemoryTokens, clock: Clock
) -> None:
    guard = TokenGuard(store, LIMITS)
    token = store.issue(ApiRole.SUPPLIER, SUPPLIER, "billing software", days=2)
    assert guard.check(token, HERE, "api") == Principal(
        ApiRole.SUPPLIER, SUPPLIER, "billing software"
    )
    assert guard.check("fct_nothing", HERE, "api") is Refusal.UNKNOWN
    clock.now += 3 * 86400
    assert guard.check(token, HERE, "api") is Refusal.EXPIRED
    fresh = store.issue(ApiRole.SUPPLIER, SUPPLIER, "billing software")
    store.revoke(fresh)
    assert guard.check(fresh, ELSEWHERE, "api") is Refusal.REVOKED
    stored_badly = store.issue(ApiRole.BUYER, "not a SIRET", "hand-written row")
    assert guard.check(stored_badly, ELSEWHERE, "api") is Refusal.INVALID_SCOPE


def test_failures_lock_the_address_out_even_for_a_valid_token_and_double_each_time(
    store: MemoryTokens, clock: Clock
) -> None:
    guard = TokenGuard(store, LIMITS)
    valid = store.issue(ApiRole.AUDITOR, "*", "auditor")
    for _ in range(LIMITS.max_failures - 1):
        assert guard.check("fct_guess", HERE, "api") is Refusal.UNKNOWN
    assert guard.check("fct_guess", HERE, "api") is Refusal.UNKNOWN  # the third: locked now
    locked = guard.check(valid, HERE, "api")
    assert locked == Locked(100)  # a right guess is not told apart while locked
    assert isinstance(guard.check(valid, ELSEWHERE, "portal"), Principal)  # per address

    clock.now += 101
    assert isinstance(guard.check(valid, HERE, "api"), Principal)
    for _ in range(LIMITS.max_failures):
        guard.check("fct_guess", HERE, "api")
    assert guard.check(valid, HERE, "api") == Locked(200)  # the same day: twice as long

    clock.now += 201
    for _ in range(LIMITS.max_failures):
        guard.check("fct_guess", HERE, "api")
    assert guard.check(valid, HERE, "api") == Locked(300)  # capped at max_lockout_s

    clock.now += 86400 + 301  # a quiet day forgets the lockouts
    for _ in range(LIMITS.max_failures):
        guard.check("fct_guess", HERE, "api")
    assert guard.check(valid, HERE, "api") == Locked(100)


def test_failures_spread_beyond_the_window_never_lock(store: MemoryTokens, clock: Clock) -> None:
    guard = TokenGuard(store, LIMITS)
    valid = store.issue(ApiRole.ADMIN, "*", "admin")
    for _ in range(10):
        assert guard.check("fct_guess", HERE, "api") is Refusal.UNKNOWN
        clock.now += LIMITS.window_s / 2 + 1  # two failures per window at most
    assert isinstance(guard.check(valid, HERE, "api"), Principal)
