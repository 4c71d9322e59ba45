"""E-mail notifications: which lifecycle events deserve an e-mail to the supplier, recorded in
an outbox in the same transaction as the consumer's offsets (projections/notifications/sender.py
delivers them).

- A supplier subscribes (domain/subscriptions.py, kept by adapters/subscriptions.py): one
  address, a language and the statuses it wants. The subscription in force when an event is
  projected decides.
- Each event whose status the supplier's subscription names adds one outbox row keyed by
  (event id, recipient): a redelivered event adds nothing, and the projection also skips
  versions of an invoice it already applied.
- Events older than `max_age` when projected (a new consumer group reading the topic from
  its start, a long outage) are not mailed: a status change of last month is news to nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from facturier.adapters.subscriptions import subscriptions_of
from facturier.domain.lifecycle import STATUS_WORDS, EventType
from facturier.domain.subscriptions import Subscription
from facturier.events.lifecycle import LifecycleEvent
from facturier.projections import folding
from facturier.projections.runner import Cursor, StateTable

log = logging.getLogger("facturier.notifications")

FINAL_STATES = ("sent", "unknown", "undeliverable")


def purge_outbox(conn: psycopg.Connection[Any], keep: timedelta, chunk: int = 10_000) -> int:
    """Delete the outbox rows done (a final state) longer than `keep` ago, by chunks so that
    no transaction grows with the table; pending and claimed rows are never touched. Returns
    how many rows went."""
    purged = 0
    while True:
        with conn.transaction():
            deleted = conn.execute(
                "DELETE FROM notification_outbox WHERE ctid IN (SELECT ctid FROM"
                " notification_outbox WHERE state = ANY(%s) AND done_at < now() - %s"
                " LIMIT %s)",
                (list(FINAL_STATES), keep, chunk),
            ).rowcount
        purged += deleted
        if deleted < chunk:
            return purged


def retention(days: int, max_age_hours: int) -> timedelta:
    """How long done rows are kept: `days`, but never less than a day past the projection's
    max age. A redelivered event older than that max age is not mailed, so a purged row can
    never let an e-mail go twice."""
    return max(timedelta(days=days), timedelta(hours=max_age_hours + 24))


@dataclass
class InvoiceFacts:
    """A row of `notification_invoice`."""

    invoice_id: str
    version: int
    supplier_id: str
    number: str
    recipient_siret: str
    recipient_name: str

    @classmethod
    def submitted(cls, e: LifecycleEvent) -> InvoiceFacts:
        p = e.payload
        return cls(
            e.invoice_id,
            e.version,
            p["supplier_id"],
            p["number"],
            p["recipient_siret"],
            p.get("recipient_name") or "",
        )


@dataclass(frozen=True)
class Notification:
    """An outbox row: what one e-mail will say, and to whom."""

    event_id: str
    recipient: str
    invoice_id: str
    version: int
    supplier_id: str
    status: str
    language: str
    number: str
    recipient_siret: str
    recipient_name: str
    reform_code: int
    reason_code: str | None
    reason: str | None
    occurred_at: datetime


@dataclass
class NotificationRules:
    """The pure part: fold events over the invoices' facts, say which e-mails are due."""

    subscriptions: dict[str, Subscription]
    max_age: timedelta
    now: datetime
    stale: int = 0  # subscribed changes too old to mail

    def apply(self, facts: InvoiceFacts, e: LifecycleEvent) -> Notification | None:
        facts.version = e.version
        if e.event_type == EventType.REROUTED:
            facts.recipient_siret = e.payload["recipient_siret"]
            facts.recipient_name = ""
        word = STATUS_WORDS.get(e.status)
        sub = self.subscriptions.get(facts.supplier_id)
        if word is None or sub is None or word not in sub.statuses:
            return None
        if self.now - e.occurred_at > self.max_age:
            self.stale += 1
            return None
        return Notification(
            event_id=e.event_id,
            recipient=sub.email,
            invoice_id=e.invoice_id,
            version=e.version,
            supplier_id=facts.supplier_id,
            status=word,
            language=sub.language,
            number=facts.number,
            recipient_siret=facts.recipient_siret,
            recipient_name=facts.recipient_name,
            reform_code=e.reform_code,
            reason_code=e.payload.get("reason_code"),
            reason=e.payload.get("reason"),
            occurred_at=e.occurred_at,
        )

    def fold(
        self, known: dict[str, InvoiceFacts], events: list[LifecycleEvent]
    ) -> tuple[dict[str, InvoiceFacts], list[Notification]]:
        """The facts changed and the e-mails due; `known` is updated in place."""
        return folding.fold(known, events, InvoiceFacts.submitted, self.apply)


class NotificationsProjection:
    group_id = "notifications"
    schemas: tuple[str, ...] = ("notifications",)

    def __init__(
        self,
        group_id: str | None = None,
        max_age_hours: int = 48,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if group_id:
            self.group_id = group_id
        self.max_age = timedelta(hours=max_age_hours)
        self.clock = clock

    def apply(self, cur: Cursor, events: list[LifecycleEvent]) -> None:
        if not events:
            return
        known = _FACTS.load(cur, (e.invoice_id for e in events))
        suppliers = {f.supplier_id for f in known.values()} | {
            e.payload["supplier_id"] for e in events if e.event_type == EventType.SUBMITTED
        }
        # A cursor of its own (conn.execute): in pipeline mode `cur` may still be owed results.
        subscriptions = subscriptions_of(cur.connection, suppliers)
        rules = NotificationRules(subscriptions, self.max_age, self.clock())
        changed, due = rules.fold(known, events)
        _FACTS.save(cur, changed.values())
        if due:
            cur.executemany(
                _INSERT_OUTBOX, [tuple(getattr(n, c) for c in _OUTBOX_COLUMNS) for n in due]
            )
        if rules.stale:
            log.info("%d status changes older than %s not mailed", rules.stale, self.max_age)


_FACTS = StateTable("notification_invoice", InvoiceFacts)
_OUTBOX_COLUMNS = tuple(f.name for f in fields(Notification))
_INSERT_OUTBOX = (
    f"INSERT INTO notification_outbox ({', '.join(_OUTBOX_COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * len(_OUTBOX_COLUMNS))})"
    " ON CONFLICT (event_id, recipient) DO NOTHING"
)
