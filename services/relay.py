"""The relay: event store notification log -> Avro -> Kafka, at least once, never skipping.

Loop: read the next notifications after the saved position, send them all, wait until the
broker acknowledged every one, then save the new position. A crash between send and save
re-sends that batch on restart (duplicates at the topic, never gaps); consumers de-duplicate
on (invoice id, version). One relay runs at a time: a PostgreSQL advisory lock elects it,
so a second instance is a hot standby.
"""

from __future__ import annotations

import logging
import threading
import zlib
from typing import TYPE_CHECKING, Any

import psycopg
from kafka import KafkaProducer

from facturier.events.lifecycle import to_message
from facturier.services import metrics
from facturier.services.db import apply_schema, connect
from facturier.services.kafka_clients import ensure_topic, producer
from facturier.services.settings import Settings

if TYPE_CHECKING:
    from facturier.services.invoicing import InvoicingApp

log = logging.getLogger("facturier.relay")


class Relay:
    def __init__(self, app: InvoicingApp, settings: Settings, name: str | None = None) -> None:
        self.app = app
        self.settings = settings
        self.name = name or settings.topic
        self.batch = settings.relay_batch
        self._producer: KafkaProducer | None = None
        # Every insert into the event store NOTIFYs this channel (eventsourcing recorder).
        self.channel = f"{app.name.lower()}_events"

    def prepare(self) -> None:
        apply_schema(self.settings, "relay")
        ensure_topic(self.settings)
        with connect(self.settings) as conn:
            conn.execute(
                "INSERT INTO relay_position (name, position) VALUES (%s, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (self.name,),
            )

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = producer(self.settings)
        return self._producer

    def position(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(
            "SELECT position FROM relay_position WHERE name = %s", (self.name,)
        ).fetchone()
        return int(row[0]) if row else 0

    def publish_next(self, conn: psycopg.Connection[Any]) -> int:
        """Publish one batch after the saved position; return how many were sent."""
        start = self.position(conn) + 1
        notifications = self.app.recorder.select_notifications(start, self.batch)
        if not notifications:
            return 0
        futures = []
        for notification in notifications:
            message = to_message(self.app.mapper.to_domain_event(notification))
            futures.append(
                self.producer.send(
                    self.settings.topic,
                    key=message.key,
                    value=message.value,
                    headers=message.headers,
                )
            )
        self.producer.flush()
        for future in futures:
            future.get(timeout=0)  # raises if the broker refused any message: no save
        last = notifications[-1].id
        conn.execute(
            "UPDATE relay_position SET position = %s, updated_at = now() WHERE name = %s",
            (last, self.name),
        )
        conn.commit()
        metrics.EVENTS_RELAYED.inc(len(notifications))
        metrics.RELAY_POSITION.set(last)
        return len(notifications)

    def run(self, stop: threading.Event) -> None:
        self.prepare()
        lock_key = zlib.crc32(f"facturier-relay:{self.name}".encode())
        with connect(self.settings, autocommit=True) as listen, connect(self.settings) as conn:
            while not stop.is_set():
                row = listen.execute("SELECT pg_try_advisory_lock(%s)", (lock_key,)).fetchone()
                if row and row[0]:
                    break
                log.info("another relay holds the lock; standing by")
                stop.wait(2.0)
            listen.execute(f'LISTEN "{self.channel}"')
            log.info("relay %s publishing to %s", self.name, self.settings.topic)
            while not stop.is_set():
                sent = self.publish_next(conn)
                self._update_lag(conn)
                if sent < self.batch:
                    # Sleep until the event store announces new events (or a short timeout,
                    # so a missed notification only costs that much).
                    for _ in listen.notifies(
                        timeout=self.settings.relay_idle_ms / 1000, stop_after=1
                    ):
                        pass
        if self._producer is not None:
            self._producer.close()

    def _update_lag(self, conn: psycopg.Connection[Any]) -> None:
        newest = self.app.recorder.max_notification_id() or 0
        metrics.RELAY_LAG.set(max(0, newest - self.position(conn)))
        conn.commit()
