"""The sessions of people signed in with an account: in PostgreSQL (`account_session`,
schemas/sql/accounts.sql), or in memory on a clock the caller may move (the tests).

The browser holds a random secret; the store keeps its SHA-256 only. A session is at one
`stage`: the password was right and the second factor is awaited (`second-factor`), or must
be enrolled first (`enrol`), or the person is signed in (`signed-in`). Moving to
`signed-in` replaces the session by a new one (a new secret), so that a secret seen before
the second factor is worth nothing after it. A session ends after `idle` without use or
`lifetime` after it began, whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from psycopg_pool import ConnectionPool

STAGES = ("second-factor", "enrol", "signed-in")
SIGNED_IN = "signed-in"


@dataclass(frozen=True)
class SessionRules:
    lifetime: timedelta = timedelta(hours=8)
    idle: timedelta = timedelta(minutes=30)
    pending: timedelta = timedelta(minutes=10)  # between the password and the second factor


@dataclass(frozen=True)
class AccountSession:
    id_sha256: str
    account_id: UUID
    stage: str
    csrf: str
    address: str
    user_agent: str
    created_at: datetime
    last_seen_at: datetime
    organisation: UUID | None = None  # the organisation the session works for

    @property
    def signed_in(self) -> bool:
        return self.stage == SIGNED_IN


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SessionStore(Protocol):
    def open(
        self, account_id: UUID, stage: str, address: str, user_agent: str
    ) -> tuple[str, AccountSession]: ...
    def find(self, secret: str) -> AccountSession | None: ...
    def promote(self, session: AccountSession) -> tuple[str, AccountSession]: ...
    def of_account(self, account_id: UUID) -> list[AccountSession]: ...
    def end(self, account_id: UUID, id_sha256: str) -> bool: ...
    def end_all(self, account_id: UUID, keep: str = "") -> int: ...
    def work_for(self, session: AccountSession, organisation: UUID | None) -> None: ...


_COLUMNS = (
    "session_sha256, account_id, stage, csrf_token, address, user_agent, created_at,"
    " last_seen_at, organisation"
)


def _session(row: tuple[Any, ...]) -> AccountSession:
    return AccountSession(str(row[0]), row[1], str(row[2]), str(row[3]), *row[4:9])


class PostgresSessions:
    def __init__(self, pool: Callable[[], ConnectionPool], rules: SessionRules) -> None:
        self.pool = pool
        self.rules = rules

    def open(
        self, account_id: UUID, stage: str, address: str, user_agent: str
    ) -> tuple[str, AccountSession]:
        secret = secrets.token_urlsafe(32)
        life = self.rules.lifetime if stage == SIGNED_IN else self.rules.pending
        with self.pool().connection() as conn:
            conn.execute("DELETE FROM account_session WHERE expires_at <= now()")
            row = conn.execute(
                "INSERT INTO account_session (session_sha256, account_id, stage, csrf_token,"
                " address, user_agent, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, now() + %s)"
                f" RETURNING {_COLUMNS}",
                (
                    sha256(secret),
                    account_id,
                    stage,
                    secrets.token_urlsafe(32),
                    address,
                    user_agent[:300],
                    life,
                ),
            ).fetchone()
        assert row is not None
        return secret, _session(row)

    def find(self, secret: str) -> AccountSession | None:
        with self.pool().connection() as conn:
            row = conn.execute(
                "UPDATE account_session SET last_seen_at = now()"
                " WHERE session_sha256 = %s AND expires_at > now()"
                " AND last_seen_at > now() - %s"
                f" RETURNING {_COLUMNS}",
                (sha256(secret), self.rules.idle),
            ).fetchone()
        return _session(row) if row else None

    def promote(self, session: AccountSession) -> tuple[str, AccountSession]:
        with self.pool().connection() as conn:
            conn.execute(
                "DELETE FROM account_session WHERE session_sha256 = %s", (session.id_sha256,)
            )
        return self.open(session.account_id, SIGNED_IN, session.address, session.user_agent)

    def of_account(self, account_id: UUID) -> list[AccountSession]:
        with self.pool().connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM account_session WHERE account_id = %s"
                " AND stage = %s AND expires_at > now() AND last_seen_at > now() - %s"
                " ORDER BY created_at DESC",
                (account_id, SIGNED_IN, self.rules.idle),
            ).fetchall()
        return [_session(row) for row in rows]

    def end(self, account_id: UUID, id_sha256: str) -> bool:
        with self.pool().connection() as conn:
            ended = conn.execute(
                "DELETE FROM account_session WHERE account_id = %s AND session_sha256 = %s",
                (account_id, id_sha256),
            )
            return ended.rowcount > 0

    def work_for(self, session: AccountSession, organisation: UUID | None) -> None:
        with self.pool().connection() as conn:
            conn.execute(
                "UPDATE account_session SET organisation = %s WHERE session_sha256 = %s",
                (organisation, session.id_sha256),
            )

    def end_all(self, account_id: UUID, keep: str = "") -> int:
        with self.pool().connection() as conn:
            ended = conn.execute(
                "DELETE FROM account_session WHERE account_id = %s AND session_sha256 <> %s",
                (account_id, keep),
            )
            return ended.rowcount


@dataclass(frozen=True)
class _Kept:
    session: AccountSession
    expires_at: datetime


class MemorySessions:
    def __init__(
        self, rules: SessionRules, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.rules = rules
        self.clock = clock
        self.kept: dict[str, _Kept] = {}

    def _alive(self, kept: _Kept, now: datetime) -> bool:
        return kept.expires_at > now and kept.session.last_seen_at > now - self.rules.idle

    def open(
        self, account_id: UUID, stage: str, address: str, user_agent: str
    ) -> tuple[str, AccountSession]:
        secret, now = secrets.token_urlsafe(32), self.clock()
        life = self.rules.lifetime if stage == SIGNED_IN else self.rules.pending
        session = AccountSession(
            sha256(secret),
            account_id,
            stage,
            secrets.token_urlsafe(32),
            address,
            user_agent[:300],
            now,
            now,
        )
        self.kept[session.id_sha256] = _Kept(session, now + life)
        return secret, session

    def find(self, secret: str) -> AccountSession | None:
        now = self.clock()
        kept = self.kept.get(sha256(secret))
        if kept is None or not self._alive(kept, now):
            return None
        session = replace(kept.session, last_seen_at=now)
        self.kept[session.id_sha256] = replace(kept, session=session)
        return session

    def promote(self, session: AccountSession) -> tuple[str, AccountSession]:
        self.kept.pop(session.id_sha256, None)
        return self.open(session.account_id, SIGNED_IN, session.address, session.user_agent)

    def of_account(self, account_id: UUID) -> list[AccountSession]:
        now = self.clock()
        found = [
            k.session
            for k in self.kept.values()
            if k.session.account_id == account_id and k.session.signed_in and self._alive(k, now)
        ]
        return sorted(found, key=lambda s: s.created_at, reverse=True)

    def end(self, account_id: UUID, id_sha256: str) -> bool:
        kept = self.kept.get(id_sha256)
        if kept is None or kept.session.account_id != account_id:
            return False
        del self.kept[id_sha256]
        return True

    def work_for(self, session: AccountSession, organisation: UUID | None) -> None:
        kept = self.kept.get(session.id_sha256)
        if kept is not None:
            changed = replace(kept.session, organisation=organisation)
            self.kept[session.id_sha256] = replace(kept, session=changed)

    def end_all(self, account_id: UUID, keep: str = "") -> int:
        ending = [
            key
            for key, k in self.kept.items()
            if k.session.account_id == account_id and key != keep
        ]
        for key in ending:
            del self.kept[key]
        return len(ending)
