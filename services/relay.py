"""The relay: event store notification log -> Avro -> Kafka, at least once, never skipping.

Loop: read the next notifications after the saved position, send them all, wait until the
broker acknowledged every one, then save the new position. A crash between send and save
re-sends that batch on restart (duplicates at the topic, never gaps); consumers de-duplicate
on (invoice id, version). One relay runs at a time: a PostgreSQL advisory lock elects it,
so a second instance is a hot standby. The relay also extends each invoice's hash chain
(`events/chain.py`) and publishes each link with its message. Invoice events go to the
lifecycle topic, flow events to the flow topic (each aggregate keeps its own chain).
`AccessRelay` does the same for the accounts' store: account and organisation events to the
access topic, their chain heads in a table of their own.
"""

from __future__ import annotations

import logging
import threading
import zlib
from typing import Any, ClassVar
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from kafka import KafkaProducer
from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from kafka.producer.future import FutureRecordMetadata

from facturier.adapters import metrics
from facturier.adapters.kafka import ensure_topic, producer
from facturier.adapters.postgres import apply_schema, connect
from facturier.config.settings import KafkaSettings, PostgresSettings, RelaySettings
from facturier.domain.flow import Flow
from facturier.events import access
from facturier.events.chain import GENESIS, link
from facturier.events.flows import to_message as flow_message
from facturier.events.lifecycle import Message, to_message

log = logging.getLogger("facturier.relay")
# What the broker answers about one message itself, not about the broker or the network.
_RECORD_ERRORS = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidRecordError,
    CorruptRecordError,
)


class Relay:
    chain_table: ClassVar[str] = "event_chain"  # each aggregate's newest link, as relayed

    def __init__(
        self,
        app: Application[UUID],
        postgres: PostgresSettings,
        kafka: KafkaSettings,
        relay: RelaySettings,
        name: str | None = None,
    ) -> None:
        self.app = app
        self.postgres = postgres
        self.kafka = kafka
        self.name = name or kafka.topic
        self.batch = relay.batch
        self.idle_s = relay.idle_ms / 1000
        self._producer: KafkaProducer | None = None
        # Every insert into the event store NOTIFYs this channel (eventsourcing recorder).
        self.channel = f"{app.name.lower()}_events"

    def prepare(self) -> None:
        apply_schema(self.postgres, "relay")
        for topic in self.topics():
            ensure_topic(self.kafka, topic)
        with connect(self.postgres) as conn:
            conn.execute(
                "INSERT INTO relay_position (name, position) VALUES (%s, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (self.name,),
            )

    def topics(self) -> tuple[str, ...]:
        return (self.kafka.topic, self.kafka.flow_topic)

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = producer(self.kafka)
        return self._producer

    def position(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(
            "SELECT position FROM relay_position WHERE name = %s", (self.name,)
        ).fetchone()
        return int(row[0]) if row else 0

    def publish_next(self, conn: psycopg.Connection[Any]) -> int:
        """Publish one batch after the saved position; return how many were handled (sent,
        or set aside as dead letters)."""
        start = self.position(conn) + 1
        conn.commit()  # no transaction left open while idle
        notifications = self.app.recorder.select_notifications(start, self.batch)
        if not notifications:
            return 0
        heads = self._chain_heads(conn, {n.originator_id for n in notifications})
        sent: list[tuple[Notification, FutureRecordMetadata]] = []
        dead: list[tuple[Notification, Exception]] = []
        for notification in notifications:
            invoice_id = notification.originator_id  # a UUID, as PostgreSQL returns it
            version, previous = heads.get(invoice_id, (0, GENESIS))
            if notification.originator_version != version + 1:
                previous = self._head_before(invoice_id, notification.originator_version)
            # The chain links the stored event, published or not: a dead letter leaves no gap
            # in it, and `audit verify --topic` reports the message the topic lacks.
            heads[invoice_id] = (notification.originator_version, link(previous, notification))
            try:
                topic, message = self._message(
                    self.app.mapper.to_domain_event(notification), heads[invoice_id][1]
                )
                future = self.producer.send(
                    topic, key=message.key, value=message.value, headers=message.headers
                )
            except KafkaError as error:
                if not isinstance(error, _RECORD_ERRORS):
                    raise  # the broker or the network: retried, nothing saved
                dead.append((notification, error))
            except Exception as error:  # this one event cannot be encoded
                dead.append((notification, error))
            else:
                sent.append((notification, future))
        self.producer.flush()
        acknowledged = 0
        for notification, future in sent:
            try:
                future.get(timeout=0)  # raises if the broker refused the message
                acknowledged += 1
            except _RECORD_ERRORS as error:
                dead.append((notification, error))
        last = notifications[-1].id
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {self.chain_table} (invoice_id, version, chain_hash)"
                " VALUES (%s, %s, %s) ON CONFLICT (invoice_id) DO UPDATE SET"
                " version = EXCLUDED.version, chain_hash = EXCLUDED.chain_hash"
                f" WHERE {self.chain_table}.version < EXCLUDED.version",
                [(i, v, h) for i, (v, h) in heads.items()],
            )
            if dead:
                self._dead_letters(cur, dead)
            cur.execute(
                "UPDATE relay_position SET position = %s, updated_at = now() WHERE name = %s",
                (last, self.name),
            )
        conn.commit()
        metrics.EVENTS_RELAYED.inc(acknowledged)
        metrics.RELAY_POSITION.set(last)
        return len(notifications)

    def _dead_letters(self, cur: psycopg.Cursor[Any], dead: list[tuple[Any, Exception]]) -> None:
        """Events the contract cannot carry or the broker refuses one by one (too large...):
        kept with their error, counted, and passed; the relay goes on with the next ones."""
        for notification, error in dead:
            log.error(
                "dead letter: event %s v%s (notification %s) not published: %s",
                notification.originator_id,
                notification.originator_version,
                notification.id,
                error,
            )
        metrics.RELAY_DEAD_LETTERS.inc(len(dead))
        cur.executemany(
            "INSERT INTO relay_dead_letters (name, notification_id, originator_id,"
            " originator_version, topic, error) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (name, notification_id) DO NOTHING",
            [
                (
                    self.name,
                    n.id,
                    str(n.originator_id),
                    n.originator_version,
                    n.topic,
                    f"{type(error).__name__}: {error}"[:2000],
                )
                for n, error in dead
            ],
        )

    def _message(self, domain_event: Any, chain_hash: bytes) -> tuple[str, Message]:
        """The topic and message of an event: flows have their own topic and schema."""
        if isinstance(domain_event, Flow.Event):
            return self.kafka.flow_topic, flow_message(domain_event, chain_hash)
        return self.kafka.topic, to_message(domain_event, chain_hash=chain_hash)

    def _chain_heads(
        self, conn: psycopg.Connection[Any], invoice_ids: set[UUID | str]
    ) -> dict[UUID | str, tuple[int, bytes]]:
        rows = conn.execute(
            f"SELECT invoice_id, version, chain_hash FROM {self.chain_table}"
            " WHERE invoice_id = ANY(%s)",
            (list(invoice_ids),),
        ).fetchall()
        return {i: (int(v), bytes(h)) for i, v, h in rows}

    def _head_before(self, invoice_id: UUID | str, version: int) -> bytes:
        """Recompute an invoice's chain up to `version - 1` from the event store (events
        relayed before their head was kept, or a head ahead of a re-sent batch)."""
        head = GENESIS
        for event in self.app.recorder.select_events(invoice_id, lte=version - 1):
            head = link(head, event)
        return head

    def run(self, stop: threading.Event) -> None:
        self.prepare()
        lock_key = zlib.crc32(f"facturier-relay:{self.name}".encode())
        with (
            connect(self.postgres, autocommit=True) as listen,
            connect(self.postgres) as conn,
        ):
            while not stop.is_set():
                row = listen.execute("SELECT pg_try_advisory_lock(%s)", (lock_key,)).fetchone()
                if row and row[0]:
                    break
                log.info("another relay holds the lock; standing by")
                stop.wait(2.0)
            listen.execute(f'LISTEN "{self.channel}"')
            log.info("relay %s publishing to %s", self.name, ", ".join(self.topics()))
            # Its lag is measured from outside, by the process's monitor (services/health.py).
            while not stop.is_set():
                sent = self.publish_next(conn)
                if sent < self.batch:
                    # Sleep until the event store announces new events (or a short timeout,
                    # so a missed notification only costs that much).
                    for _ in listen.notifies(timeout=self.idle_s, stop_after=1):
                        pass
        if self._producer is not None:
            self._producer.close()


class AccessRelay(Relay):
    """The accounts' store (accounts and organisations) to the access topic, which the
    authorisation projection reads. Their chains are kept apart from the invoices'."""

    chain_table = "access_chain"

    def topics(self) -> tuple[str, ...]:
        return (self.kafka.access_topic,)

    def _message(self, domain_event: Any, chain_hash: bytes) -> tuple[str, Message]:
        return self.kafka.access_topic, access.to_message(domain_event, chain_hash)
