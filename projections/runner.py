"""One mechanism for every projection: a Kafka consumer group whose offsets live in
PostgreSQL, written in the same transaction as the projection's rows.

A crash before the commit loses nothing (the batch is consumed again from the stored
offsets); a crash after it double-counts nothing (the offsets moved with the rows). Kafka's
own committed offsets are updated afterwards only so that standard tools show the lag.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, fields
from typing import Any, Generic, Protocol, TypeVar

import psycopg
from eventsourcing import persistence
from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition

from facturier.adapters import metrics
from facturier.adapters.kafka import consumer, ensure_topic
from facturier.adapters.postgres import apply_schema, connect
from facturier.config.settings import KafkaSettings, PostgresSettings
from facturier.events.lifecycle import from_value

log = logging.getLogger("facturier.projection")
# Errors of the database, its connection or its schema (a missing table, a revoked right), not
# of the event being applied: never a reason to set events aside. The batch fails, the service
# is restarted and says so in /health, and the batch is consumed again once the cause is gone.
_NOT_THE_EVENTS_FAULT = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.ProgrammingError,
    # The same, raised through the event store (the flow intake records invoices there).
    persistence.OperationalError,
    persistence.InterfaceError,
    persistence.ProgrammingError,
)
Cursor = psycopg.Cursor[Any]
S = TypeVar("S")


class Projection(Protocol):
    """A read model built from lifecycle events.

    A consumer of another topic also has `topic` (its name) and `decode` (bytes -> event);
    by default the lifecycle topic and `events.lifecycle.from_value`."""

    group_id: str  # Kafka consumer group, also the key of its stored offsets
    schemas: tuple[str, ...]  # `schemas/sql/<name>.sql` files it needs

    def apply(self, cur: Cursor, events: list[Any]) -> None:
        """Apply a batch, in order. Must be idempotent on (aggregate id, version)."""


@contextmanager
def batch_transaction(conn: psycopg.Connection[Any], projection: Projection) -> Iterator[Cursor]:
    """The transaction a batch is applied in, with its cursor. Pipeline mode by default: the
    projection's statements go out without waiting for each result, and errors still surface
    before the commit, which they abort. A projection that writes by COPY, which pipeline
    mode does not allow, says `pipelined = False`."""
    pipeline = conn.pipeline() if getattr(projection, "pipelined", True) else nullcontext()
    with pipeline, conn.transaction(), conn.cursor() as cur:
        yield cur


class StateTable(Generic[S]):
    """A projection's state per invoice: a table whose rows are the dataclass `kind`
    (`invoice_id` first, then `version`). A batch reads and locks the rows of its invoices
    once, folds its events over them, and upserts the changed ones; an upsert never moves a
    row back to a lower version, so a redelivered batch changes nothing."""

    def __init__(self, table: str, kind: type[S], updated: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.columns = tuple(f.name for f in fields(kind))  # type: ignore[arg-type]
        self.select = (
            f"SELECT invoice_id::text, {', '.join(self.columns[1:])} FROM {table}"
            " WHERE invoice_id = ANY(%s::uuid[]) FOR UPDATE"
        )
        changed = updated or self.columns[1:]  # default: every column
        self.upsert = (
            f"INSERT INTO {table} ({', '.join(self.columns)})"
            f" VALUES ({', '.join(['%s'] * len(self.columns))})"
            f" ON CONFLICT (invoice_id) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in changed)
            + f" WHERE {table}.version < EXCLUDED.version"
        )

    def load(self, cur: Cursor, invoice_ids: Iterable[str]) -> dict[str, S]:
        """The rows of these invoices, locked until the batch commits."""
        # A cursor of its own: in pipeline mode `cur` may still be owed earlier results,
        # which a fetch would read instead (psycopg issue #604).
        with cur.connection.cursor() as query:
            rows = query.execute(self.select, (list(set(invoice_ids)),)).fetchall()
        return {row[0]: self.kind(*row) for row in rows}

    def save(self, cur: Cursor, states: Iterable[S]) -> None:
        rows = [tuple(getattr(s, c) for c in self.columns) for s in states]
        if rows:
            cur.executemany(self.upsert, rows)


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ProjectionRunner) -> None:
        self.runner = runner

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.runner.wait_in_flight()  # hand the partitions over with their batch committed

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.runner.wait_in_flight()  # so that the stored offsets include it
        self.runner.seek_to_stored_offsets(list(assigned))


@dataclass
class _Batch:
    """One poll, decoded: what the applying thread writes in one transaction."""

    events: list[Any] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)  # the record of each event, in order
    undecodable: list[tuple[Any, Exception]] = field(default_factory=list)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    count: int = 0


class ProjectionRunner:
    """Polls in the calling thread (kafka-python's consumer is not thread-safe) and applies
    in a thread of its own: while PostgreSQL executes one batch, the next one is fetched and
    decoded. At most one batch is in flight; it is committed before the next is handed over,
    so batches are applied in order, and a crash loses only uncommitted ones, which the
    stored offsets make the next run read again."""

    def __init__(
        self, projection: Projection, postgres: PostgresSettings, kafka: KafkaSettings
    ) -> None:
        self.projection = projection
        self.postgres = postgres
        self.kafka = kafka
        self.group_id = projection.group_id
        self.topic: str = getattr(projection, "topic", kafka.topic)
        self.decode: Callable[[bytes], Any] = getattr(projection, "decode", from_value)
        self.conn = connect(postgres)
        self.consumer: KafkaConsumer | None = None
        self.consumed = metrics.EVENTS_CONSUMED.labels(self.group_id)
        self.dead = metrics.DEAD_LETTERS.labels(self.group_id)
        self._applier = ThreadPoolExecutor(1, thread_name_prefix=f"{self.group_id}-apply")
        self._in_flight: tuple[Future[None], _Batch] | None = None

    def prepare(self) -> None:
        apply_schema(self.postgres, "consumer_offsets", *self.projection.schemas)
        ensure_topic(self.kafka, self.topic)
        self.consumer = consumer(self.kafka, self.group_id)
        self.consumer.subscribe([self.topic], listener=_SeekToStoredOffsets(self))
        # Learn the topic's partitions before the first join. Otherwise the first assignment
        # is empty ("No partition metadata") and the next metadata update triggers a second
        # rebalance; kafka-python 3.0.12 forgets that rebalance if a poll() times out while
        # it is in flight (need_rejoin() turns false once the leader has assigned), leaving
        # the consumer with no partitions and no heartbeats, for good.
        self.consumer.partitions_for_topic(self.topic)

    def stored_offsets(self) -> dict[int, int]:
        # Its own connection: rebalance callbacks may run outside the polling thread.
        with connect(self.postgres) as conn:
            rows: list[tuple[int, int]] = conn.execute(
                "SELECT partition, next_offset FROM consumer_offsets "
                "WHERE group_id = %s AND topic = %s",
                (self.group_id, self.topic),
            ).fetchall()
        return dict(rows)

    def seek_to_stored_offsets(self, partitions: list[TopicPartition]) -> None:
        assert self.consumer is not None
        stored = self.stored_offsets()
        for tp in partitions:
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition])
            else:  # never applied anything from it: the whole partition is new to us
                self.consumer.seek_to_beginning(tp)

    @property
    def in_flight(self) -> bool:
        return self._in_flight is not None

    def poll_once(self, timeout_ms: int = 200) -> int:
        """Poll a batch and hand it to the applying thread. Returns how many messages were
        committed during the call: those of the previous batch, waited for here."""
        assert self.consumer is not None
        polled = self.consumer.poll(timeout_ms=timeout_ms)
        batch = self._decode(polled)
        committed = self.finish_in_flight()
        if batch.count:
            self._in_flight = (self._applier.submit(self._apply, batch), batch)
        return committed

    def wait_in_flight(self) -> None:
        """Wait until the batch in flight, if any, is committed or has failed."""
        if self._in_flight is not None:
            wait([self._in_flight[0]])

    def finish_in_flight(self) -> int:
        """Wait for the batch in flight (its error is raised here) and return its size."""
        if self._in_flight is None:
            return 0
        (future, batch), self._in_flight = self._in_flight, None
        future.result()
        self.consumed.inc(batch.count)
        assert self.consumer is not None
        # Only so that standard tools show the lag: the offsets that count are stored.
        self.consumer.commit_async(
            {tp: OffsetAndMetadata(o, "", -1) for tp, o in batch.next_offsets.items()}
        )
        return batch.count

    def _decode(self, polled: dict[TopicPartition, list[Any]]) -> _Batch:
        batch = _Batch()
        for tp, records in polled.items():
            for record in records:
                try:
                    batch.events.append(self.decode(record.value))
                    batch.records.append(record)
                except Exception as error:  # undecodable: kept as a dead letter, said, skipped
                    batch.undecodable.append((record, error))
            batch.next_offsets[tp] = records[-1].offset + 1
            batch.count += len(records)
        return batch

    def _apply(self, batch: _Batch) -> None:
        """One batch in one transaction, with the offsets after it."""
        with batch_transaction(self.conn, self.projection) as cur:
            for record, error in batch.undecodable:
                self._dead_letter(cur, record, error)
            self._apply_events(cur, batch)
            cur.executemany(
                "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (group_id, topic, partition) "
                "DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
                [
                    (self.group_id, tp.topic, tp.partition, o)
                    for tp, o in batch.next_offsets.items()
                ],
            )

    def _apply_events(self, cur: Cursor, batch: _Batch) -> None:
        """One apply for the whole poll, every partition's events together: an invoice's
        events are all in one partition (keyed by invoice id), so they keep their order, and
        the projection's per-batch queries run once instead of once per partition.

        In a savepoint: if the batch fails, it is applied again event by event, each in a
        savepoint of its own, and an event that still fails is set aside as a dead letter
        with its error; the others, and the stage, go on. A lost connection or a conflict
        between transactions is no fault of an event: that error stops the batch, which is
        consumed again from the stored offsets (`_NOT_THE_EVENTS_FAULT`)."""
        try:
            with cur.connection.transaction():
                self.projection.apply(cur, batch.events)
            return
        except _NOT_THE_EVENTS_FAULT:
            raise
        except Exception as error:
            log.warning(
                "batch of %d failed (%s); applying its events one by one", len(batch.events), error
            )
        for record, event in zip(batch.records, batch.events, strict=True):
            try:
                with cur.connection.transaction():
                    self.projection.apply(cur, [event])
            except _NOT_THE_EVENTS_FAULT:
                raise
            except Exception as error:
                self._dead_letter(cur, record, error)

    def _dead_letter(self, cur: Cursor, record: Any, error: Exception) -> None:
        log.error("dead letter %s/%s@%s: %s", record.topic, record.partition, record.offset, error)
        self.dead.inc()
        cur.execute(
            'INSERT INTO dead_letters (group_id, topic, partition, "offset", key, value, error)'
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                self.group_id,
                record.topic,
                record.partition,
                record.offset,
                record.key,
                record.value,
                f"{type(error).__name__}: {error}",
            ),
        )

    def run(self, stop: threading.Event) -> None:
        self.prepare()
        log.info("projection %s consuming %s", self.group_id, self.topic)
        try:  # its lag is measured from outside, by the process's monitor (services/health.py)
            while not stop.is_set():
                self.poll_once()
            self.finish_in_flight()
        finally:
            self.close()

    def close(self) -> None:
        self._applier.shutdown(wait=True)  # a batch being applied commits or fails first
        if self.consumer is not None:
            self.consumer.close(autocommit=False)
        self.conn.close()
