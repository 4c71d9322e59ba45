"""Helpers of the crash tests: build a known event store, read the pipeline's state from the
outside (PostgreSQL tables, the whole Kafka topic) and compute what the read models must be.

Nothing here goes through the relay's or the projection's own code: the topic is read with a
plain kafka-python consumer of no group, the tables with plain SQL."""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from kafka import KafkaConsumer, TopicPartition

from facturier.config.settings import Settings
from facturier.domain.lifecycle import Action, Status
from facturier.domain.model import SubmissionMode
from facturier.events.lifecycle import LifecycleEvent, from_value
from facturier.services.application.invoicing import InvoicingApp
from tests.support.data import invoice_data
from tests.support.stack import Service, wait_until

T = TypeVar("T")
Key = tuple[str, int]  # (invoice id, version)

BUYER_ACTOR = "buyer:crash-test"
ACCOUNTING_ACTOR = "accounting:crash-test"


def _paid(reference: str) -> dict[str, Any]:
    return {
        "amount": Decimal("120.00"),
        "payment_date": date(2026, 4, 15),
        "payment_reference": reference,
        "actor": ACCOUNTING_ACTOR,
    }


@dataclass(frozen=True)
class Route:
    """A route through the lifecycle after the 3 events every submission records."""

    name: str
    steps: tuple[tuple[Action, Callable[[int], dict[str, Any]]], ...]
    final: Status

    @property
    def events(self) -> int:
        return 3 + len(self.steps)


_TAKE = (Action.TAKE_IN_HAND, lambda i: {"actor": BUYER_ACTOR})
_CERTIFY = (Action.CERTIFY_SERVICE_DONE, lambda i: {"actor": BUYER_ACTOR})
_ORDER = (
    Action.ORDER_PAYMENT,
    lambda i: {"payment_order_number": f"MANDAT-{i:06d}", "actor": BUYER_ACTOR},
)
_PAY = (Action.PAY, lambda i: _paid(f"VIR-{i:06d}"))

AVAILABLE = Route("available", (), Status.MISE_A_DISPOSITION)
TAKEN = Route("taken", (_TAKE,), Status.PRISE_EN_COMPTE_DESTINATAIRE)
REJECTED = Route(
    "rejected",
    (
        _TAKE,
        (
            Action.REJECT,
            lambda i: {
                "reason_code": "NON_CONFORME",
                "reason": f"pièce {i} non conforme",
                "actor": BUYER_ACTOR,
            },
        ),
    ),
    Status.REJETEE,
)
PAID = Route("paid", (_TAKE, _CERTIFY, _ORDER, _PAY), Status.MISE_EN_PAIEMENT)
PAID_THROUGH_ACCOUNTS = Route(
    "paid-through-accounts",
    (
        _TAKE,
        _CERTIFY,
        _ORDER,
        (Action.HAND_TO_ACCOUNTING, lambda i: {"actor": ACCOUNTING_ACTOR}),
        (Action.RECORD_IN_ACCOUNTS, lambda i: {"actor": ACCOUNTING_ACTOR}),
        _PAY,
    ),
    Status.MISE_EN_PAIEMENT,
)
SUSPENDED_THEN_COMPLETED = Route(
    "suspended-then-completed",
    (
        (
            Action.SUSPEND,
            lambda i: {"reason": "bon de commande manquant", "actor": BUYER_ACTOR},
        ),
        (Action.COMPLETE, lambda i: {"comment": "bon de commande joint", "actor": "supplier:x"}),
    ),
    Status.COMPLETEE,
)
# Invoice i follows MIX[i % 10]: 51 events per 10 invoices.
MIX = (
    AVAILABLE,
    REJECTED,
    PAID,
    TAKEN,
    PAID_THROUGH_ACCOUNTS,
    AVAILABLE,
    REJECTED,
    SUSPENDED_THEN_COMPLETED,
    PAID,
    AVAILABLE,
)


@dataclass(frozen=True)
class Expected:
    """What the event store holds once `build_invoices` is done."""

    status: dict[str, Status]  # invoice id -> final status
    version: dict[str, int]  # invoice id -> last version

    @property
    def events(self) -> int:
        return sum(self.version.values())


def build_invoices(app: InvoicingApp, count: int, chunk: int = 100) -> Expected:
    """Submit `count` invoices (`submit_many`, `chunk` a transaction), then drive them along
    `MIX` one step per round, so an invoice's events are spread over the notification log.

    A step is exactly `InvoicingApp.act` (load, command, save) except that `chunk` invoices
    are saved per transaction, to keep the setup fast."""
    ids: list[UUID] = []
    paths: dict[UUID, Route] = {}
    for start in range(0, count, chunk):
        batch = [
            (invoice_data(number=f"CRASH-{i:06d}"), SubmissionMode.EDI, "supplier:x", f"c-{i}")
            for i in range(start, min(count, start + chunk))
        ]
        for offset, invoice in enumerate(app.submit_many(batch)):
            ids.append(invoice.id)
            paths[invoice.id] = MIX[(start + offset) % len(MIX)]
    rounds = max(len(p.steps) for p in MIX)
    for step in range(rounds):
        due = [(n, i) for n, i in enumerate(ids) if step < len(paths[i].steps)]
        for start in range(0, len(due), chunk):
            invoices = []
            for n, invoice_id in due[start : start + chunk]:
                action, params = paths[invoice_id].steps[step]
                invoice = app.get(invoice_id)
                getattr(invoice, action.value.replace("-", "_"))(**params(n))
                invoices.append(invoice)
            app.save(*invoices)
    return Expected(
        status={str(i): paths[i].final for i in ids},
        version={str(i): paths[i].events for i in ids},
    )


def store_events(app: InvoicingApp, page: int = 1000) -> dict[Key, int]:
    """Every event of the store: (invoice id, version) -> notification id."""
    found: dict[Key, int] = {}
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start, page)
        if not notifications:
            return found
        for n in notifications:
            found[(str(n.originator_id), n.originator_version)] = n.id
        start = notifications[-1].id + 1


# --- PostgreSQL, read from the outside ------------------------------------------------------


def query(settings: Settings, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of `sql`, or [] while the table does not exist yet (service still starting)."""
    try:
        with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
            return conn.execute(sql, tuple(params)).fetchall()
    except psycopg.errors.UndefinedTable:
        return []


def relay_position(settings: Settings) -> int:
    rows = query(
        settings, "SELECT position FROM relay_position WHERE name = %s", [settings.kafka.topic]
    )
    return int(rows[0][0]) if rows else 0


def stored_offsets(settings: Settings, group: str | None = None) -> dict[int, int]:
    """Offsets stored by consumer group `group` (default: the tracking view's)."""
    rows = query(
        settings,
        "SELECT partition, next_offset FROM consumer_offsets WHERE group_id = %s AND topic = %s",
        [group or settings.tracking.group, settings.kafka.topic],
    )
    return {int(p): int(o) for p, o in rows}


def timeline(settings: Settings) -> list[Key]:
    rows = query(settings, "SELECT invoice_id::text, version FROM tracking_timeline")
    return [(i, int(v)) for i, v in rows]


def tracking_rows(settings: Settings) -> dict[str, tuple[int, str]]:
    """invoice id -> (version, status) of the tracking view."""
    rows = query(settings, "SELECT invoice_id::text, version, status FROM tracking_invoice")
    assert len(rows) == len({r[0] for r in rows})  # primary key, but say it
    return {i: (int(v), s) for i, v, s in rows}


# --- Kafka, read from the outside -----------------------------------------------------------


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes
    value: bytes
    event: LifecycleEvent


def _plain_consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="crash-test-reader",
    )


def _partitions(reader: KafkaConsumer, topic: str, timeout_s: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        partitions = reader.partitions_for_topic(topic)
        if partitions:
            return sorted(partitions)
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {topic} has no partitions")
        time.sleep(0.2)


class EndOffsets:
    """The topic's end offsets, asked again at each call (one client, kept open)."""

    def __init__(self, settings: Settings) -> None:
        self.reader = _plain_consumer(settings)
        partitions = _partitions(self.reader, settings.kafka.topic)
        self.tps = [TopicPartition(settings.kafka.topic, p) for p in partitions]

    def __call__(self) -> dict[int, int]:
        return {tp.partition: int(o) for tp, o in self.reader.end_offsets(self.tps).items()}

    def close(self) -> None:
        self.reader.close()


def read_topic(settings: Settings, timeout_s: float = 60.0) -> tuple[list[Record], dict[int, int]]:
    """Every message of the topic (all partitions, offset 0 to the end offsets taken first),
    decoded; and those end offsets."""
    reader = _plain_consumer(settings)
    try:
        tps = [
            TopicPartition(settings.kafka.topic, p)
            for p in _partitions(reader, settings.kafka.topic)
        ]
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        ends = {tp: int(o) for tp, o in reader.end_offsets(tps).items()}
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while any(reader.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {settings.kafka.topic} to its end in time")
            for tp, batch in reader.poll(timeout_ms=500).items():
                for m in batch:
                    if m.offset < ends[tp]:
                        records.append(
                            Record(tp.partition, m.offset, m.key, m.value, from_value(m.value))
                        )
        records.sort(key=lambda r: (r.partition, r.offset))
        return records, {tp.partition: o for tp, o in ends.items()}
    finally:
        reader.close()


def invoice_events(settings: Settings, invoice_id: str) -> list[LifecycleEvent]:
    """One invoice's events as they are on the topic, in order."""
    records, _ = read_topic(settings)
    return [r.event for r in records if r.event.invoice_id == invoice_id]


def check_topic(records: list[Record], store: dict[Key, int]) -> int:
    """Assert the topic carries the store without gaps and in per-invoice order; return how
    many messages were duplicates (allowed: at-least-once)."""
    by_invoice: dict[str, list[Record]] = defaultdict(list)
    first: dict[Key, Record] = {}
    duplicates = 0
    for r in records:  # sorted by (partition, offset)
        key = (r.event.invoice_id, r.event.version)
        assert r.key == r.event.invoice_id.encode(), f"message key is not the invoice id: {r}"
        by_invoice[r.event.invoice_id].append(r)
        if key in first:
            duplicates += 1
            assert r.value == first[key].value, f"redelivery of {key} differs from the first"
        else:
            first[key] = r
    missing = set(store) - set(first)
    unknown = set(first) - set(store)
    assert not missing, f"{len(missing)} events never reached the topic, e.g. {sorted(missing)[:5]}"
    assert not unknown, f"{len(unknown)} messages not in the event store: {sorted(unknown)[:5]}"
    last = defaultdict(int)
    for invoice_id, version in store:
        last[invoice_id] = max(last[invoice_id], version)
    for invoice_id, messages in by_invoice.items():
        partitions = {r.partition for r in messages}
        assert len(partitions) == 1, f"{invoice_id} spread over partitions {partitions}"
        seen: list[int] = []
        for r in messages:
            if r.event.version not in seen:
                seen.append(r.event.version)
        # First appearances are 1, 2, ..., n: nothing skipped ahead, nothing out of order.
        assert seen == list(range(1, last[invoice_id] + 1)), (
            f"{invoice_id}: versions first appear as {seen} on partition {partitions}"
        )
    return duplicates


def view_after(records: list[Record], offsets: dict[int, int]) -> tuple[set[Key], dict[str, Any]]:
    """The tracking view a projection that consumed each partition up to `offsets` (next
    offset, exclusive) must show: its timeline keys, and invoice id -> (version, status)."""
    keys: set[Key] = set()
    rows: dict[str, tuple[int, str]] = {}
    for r in records:
        if r.offset >= offsets.get(r.partition, 0):
            continue
        e = r.event
        keys.add((e.invoice_id, e.version))
        if e.invoice_id not in rows or rows[e.invoice_id][0] < e.version:
            rows[e.invoice_id] = (e.version, e.status.value)
    return keys, rows


def open_write_transactions(settings: Settings) -> int:
    """Sessions on the test database, other than this one, inside a transaction that has
    written rows, and waiting for their client to send more (ClientRead): nothing more of
    the transaction, its COMMIT included, is on its way. With the client frozen, that is a
    batch caught midway, which can only roll back."""
    rows = query(
        settings,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
        " AND wait_event_type = 'Client' AND wait_event = 'ClientRead'",
    )
    return int(rows[0][0])


def database_quiet(settings: Settings) -> bool:
    """Every client session on the test database, other than this one, waits for its
    client (ClientRead): with the service frozen, nothing it started can still commit."""
    rows = query(
        settings,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        " AND wait_event IS DISTINCT FROM 'ClientRead'",
    )
    return int(rows[0][0]) == 0


def freeze_when(
    service: Service,
    caught: Callable[[], bool],
    timeout_s: float,
    what: str,
    settle_s: float = 0.02,
) -> int:
    """SIGSTOP `service`, let the kernel and the servers settle, ask `caught()`; when true,
    leave the service frozen (for a SIGKILL exactly there) and return the attempts made;
    otherwise SIGCONT it and try again a little later."""
    deadline = time.monotonic() + timeout_s
    attempts = 0
    while True:
        if service.process.poll() is not None:
            raise AssertionError(
                f"the service exited while waiting for {what}:\n" + service.output()[-3000:]
            )
        attempts += 1
        service.process.send_signal(signal.SIGSTOP)
        time.sleep(settle_s)
        if caught():
            return attempts
        service.process.send_signal(signal.SIGCONT)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.004 * (1 + attempts % 5))  # let it run a while, in varying phase


def wait_while_running(
    service: Service, condition: Callable[[], bool], timeout_s: float, what: str
) -> None:
    """`wait_until`, failing at once (with the service's output) if the service exits."""

    def done() -> bool:
        if service.process.poll() is not None:
            raise AssertionError(
                f"the service exited while waiting for {what}:\n" + service.output()[-3000:]
            )
        return condition()

    wait_until(done, timeout_s, what)


def poll_until(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    timeout_s: float,
    what: str,
    interval_s: float = 0.005,
) -> T:
    """Call `probe` until `done(value)`; return that value. Tighter than `wait_until`, for
    catching a service in the middle of its work."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last {value})")
        time.sleep(interval_s)
