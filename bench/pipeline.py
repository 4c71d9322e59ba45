"""End-to-end benchmark of the facturier pipeline (not a test; see bench/README.md).

    .venv/bin/python bench/pipeline.py            # default run, ~2-3 minutes
    .venv/bin/python bench/pipeline.py --quick    # smaller run, ~1 minute

Service layer -> PostgreSQL event store -> relay -> Kafka -> tracking projection, each run on
a fresh database and a fresh topic (dropped afterwards), with the relay and the projection as
separate `facturier serve` child processes. Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaAdminClient
from rich.console import Console
from rich.table import Table

from facturier.adapters.kafka import ensure_topic
from facturier.adapters.postgres import apply_schema
from facturier.config.settings import Settings
from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import TRANSITION_BY_ACTION, Action, Role
from facturier.domain.model import InvoiceData, InvoiceKind, SubmissionMode
from facturier.domain.model import SupplierScheme as Scheme
from facturier.services.application.invoicing import InvoicingApp

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
WARMUP_EVENTS = 3  # one submitted invoice

TARGET_E2E_EVENTS_S = 3000.0
TARGET_P99_MS = 500.0

SUPPLIER = "73282932000074"  # valid SIRETs (Luhn), as in tests/support/data.py
BUYER = "11000201100044"
BUYER_ACTOR = f"buyer:{BUYER}"
SUPPLIER_ACTOR = f"supplier:{SUPPLIER}"
ACCOUNTING_ACTOR = "accounting:DGFIP"

console = Console()


# --------------------------------------------------------------------------- workload


def invoice_data(i: int, prefix: str = "B") -> InvoiceData:
    net = Decimal(100 + i % 900) + Decimal("0.50")
    vat = (net * Decimal("0.20")).quantize(Decimal("0.01"))
    return InvoiceData(
        supplier_scheme=Scheme.SIRET,
        supplier_id=SUPPLIER,
        supplier_name="ACME Bench",
        recipient_siret=BUYER,
        service_code="SERV-1",
        order_reference=f"EJ{i:08d}",
        number=f"{prefix}-{i:09d}",
        kind=InvoiceKind.INVOICE,
        issue_date=date(2026, 3, 2),
        due_date=date(2026, 4, 1),
        currency="EUR",
        net_amount=net,
        vat_amount=vat,
        gross_amount=net + vat,
        payable_amount=net + vat,
    )


_HAPPY = (
    Action.TAKE_IN_HAND,
    Action.CERTIFY_SERVICE_DONE,
    Action.ORDER_PAYMENT,
    Action.HAND_TO_ACCOUNTING,
    Action.RECORD_IN_ACCOUNTS,
    Action.PAY,
)
# One invoice in five is suspended for a missing document, then completed by the supplier.
_DETOUR = (Action.TAKE_IN_HAND, Action.SUSPEND, Action.COMPLETE, *_HAPPY[1:])


def plan(i: int) -> tuple[Action, ...]:
    """Lifecycle actions applied to invoice `i` after its submission (3 events)."""
    return _DETOUR if i % 5 == 4 else _HAPPY


_ACTORS = {
    Role.BUYER: BUYER_ACTOR,
    Role.SUPPLIER: SUPPLIER_ACTOR,
    Role.ACCOUNTING: ACCOUNTING_ACTOR,
}


def params(action: Action, i: int) -> dict[str, Any]:
    """The command's arguments, by the role the transition table gives the action."""
    args: dict[str, Any] = {
        "actor": _ACTORS[TRANSITION_BY_ACTION[action].by],
        "correlation_id": f"bench-{i}",
    }
    if action is Action.SUSPEND:
        args["reason"] = "purchase order missing"
    elif action is Action.COMPLETE:
        args["comment"] = "purchase order attached"
    elif action is Action.ORDER_PAYMENT:
        args["payment_order_number"] = f"MP{i:010d}"
    elif action is Action.PAY:
        args["amount"] = invoice_data(i).payable_amount
        args["payment_date"] = date(2026, 4, 1)
        args["payment_reference"] = f"VIR-{i}"
    return args


def events_for(n: int) -> int:
    return sum(3 + len(plan(i)) for i in range(n))


def _method(action: Action) -> str:
    return action.value.replace("-", "_")  # as InvoicingApp.act does


@dataclass
class Progress:
    events: int = 0


def write_batched(app: InvoicingApp, n: int, batch: int, progress: Progress) -> int:
    """The optimised writer: `submit_many` per batch of invoices (one transaction), then each
    lifecycle step applied to the batch's aggregates (kept in memory, as a batch job would)
    and recorded with one `save(*invoices)` (one transaction per step)."""
    for start in range(0, n, batch):
        numbers = range(start, min(n, start + batch))
        invoices = app.submit_many(
            [(invoice_data(i), SubmissionMode.EDI, SUPPLIER_ACTOR, f"bench-{i}") for i in numbers]
        )
        progress.events += 3 * len(invoices)
        plans = [plan(i) for i in numbers]
        for step in range(max(len(p) for p in plans)):
            touched: list[Invoice] = []
            for i, invoice, steps in zip(numbers, invoices, plans, strict=True):
                if step < len(steps):
                    getattr(invoice, _method(steps[step]))(**params(steps[step], i))
                    touched.append(invoice)
            progress.events += len(app.save(*touched))
    return progress.events


def write_naive(app: InvoicingApp, n: int, batch: int, progress: Progress) -> int:
    """The baseline writer: `app.submit` one invoice at a time (one save each), then every
    action through `app.act` (load the aggregate, apply, one save per event)."""
    for start in range(0, n, batch):
        numbers = range(start, min(n, start + batch))
        ids = []
        for i in numbers:
            ids.append(app.submit(invoice_data(i), SubmissionMode.EDI, SUPPLIER_ACTOR).id)
            progress.events += 3
        plans = [plan(i) for i in numbers]
        for step in range(max(len(p) for p in plans)):
            for i, invoice_id, steps in zip(numbers, ids, plans, strict=True):
                if step < len(steps):
                    app.act(invoice_id, steps[step], **params(steps[step], i))
                    progress.events += 1
    return progress.events


# --------------------------------------------------------------------------- processes


def proc_hwm_kib(pid: int | str) -> int | None:
    """Peak resident set size (VmHWM) of a live process, KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_s(pid: int | str) -> float | None:
    """User + system CPU seconds used so far by a live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[int, int, int]:
    """(busy, total, stolen) jiffies of the whole machine, from /proc/stat. Stolen: time the
    hypervisor gave another guest while this one had work; it is in neither busy nor idle."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    steal = values[7]
    return sum(values) - idle - steal, sum(values), steal


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """A child process (`facturier serve --relay`, `--projection`, or the naive relay)."""

    def __init__(self, role: str, argv: list[str], settings: Settings, log: Path) -> None:
        self.role = role
        self.argv = argv
        self.env = {**os.environ, **settings.to_env(), "FACTURIER_LOG_LEVEL": "WARNING"}
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._out = log.open("ab")
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv, env=self.env, stdout=self._out, stderr=subprocess.STDOUT, cwd=ROOT
        )

    def restart(self) -> None:
        self.process.terminate()
        self.process.wait(15)
        self.process = self._start()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.role} exited ({self.process.returncode}):\n{tail}")

    def hwm_kib(self) -> int | None:
        return proc_hwm_kib(self.process.pid)

    def cpu_s(self) -> float | None:
        return proc_cpu_s(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._out.close()


def serve(role: str, flag: str, settings: Settings, logs: Path) -> Child:
    argv = [sys.executable, "-m", "facturier.services.cli.main", "serve", flag]
    return Child(role, argv, settings, logs / f"{role}.log")


def naive_relay(settings: Settings, logs: Path) -> Child:
    argv = [sys.executable, str(BENCH / "naive_relay.py")]
    return Child("relay", argv, settings, logs / "relay.log")


# --------------------------------------------------------------------------- sandboxes


@contextmanager
def sandbox(base: Settings, label: str, run_tag: str) -> Iterator[Settings]:
    """A fresh database and topic, as tests/conftest.py makes them; dropped afterwards."""
    tag = f"{run_tag}_{label}"
    settings = base.replaced(
        pg_db=f"facturier_bench_{tag}",
        topic=f"invoice-lifecycle-bench-{tag}".replace("_", "-"),
        tracking_group=f"tracking-bench-{tag}",
        api_port=free_port(),
        relay_metrics_port=free_port(),
        projection_metrics_port=free_port(),
    )
    with psycopg.connect(base.postgres.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{settings.postgres.db}"')
    try:
        ensure_topic(settings.kafka)
        wait_topic_ready(settings)
        yield settings
    finally:
        drop_database(base, settings.postgres.db)
        admin = KafkaAdminClient(bootstrap_servers=base.kafka.bootstrap)
        try:
            if settings.kafka.topic in set(admin.list_topics()):
                admin.delete_topics([settings.kafka.topic])
        finally:
            admin.close()


def drop_database(base: Settings, name: str) -> None:
    """DROP ... WITH (FORCE), retried: FORCE refuses to terminate an autovacuum worker
    (InsufficientPrivilege), and the event store's table asks for an ANALYZE every 1,000
    rows, so one is often busy right after a run. Never fatal: the figures are kept."""
    for _ in range(40):
        try:
            with psycopg.connect(base.postgres.dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            time.sleep(0.5)
        except psycopg.Error as error:
            console.log(f"[yellow]could not drop database {name}: {error}")
            return
    console.log(f"[yellow]could not drop database {name} (autovacuum busy): drop it by hand")


def wait_topic_ready(settings: Settings, timeout_s: float = 30.0) -> None:
    """Until the broker reports every partition of the new topic with a leader: a consumer
    that joins its group before that is assigned nothing (kafka-python logs "No partition
    metadata for topic") and may sit idle until its next metadata refresh."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            topics = admin.describe_topics([settings.kafka.topic])
            partitions = topics[0]["partitions"] if topics and not topics[0]["error_code"] else []
            ready = [p for p in partitions if p["leader_id"] >= 0]
            if len(ready) == settings.kafka.topic_partitions:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"topic {settings.kafka.topic} has no leaders after {timeout_s} s"
                )
            time.sleep(0.1)
    finally:
        admin.close()


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, children: list[Child]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for child in children:
            child.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)


def count_rows(settings: Settings, table: str) -> int:
    with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
        try:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


def warm_up(app: InvoicingApp, settings: Settings, children: dict[str, Child]) -> int:
    """One invoice through the whole pipeline before the clock starts: the children are
    up, the consumer group has its partitions, every connection is open. Returns how many
    times the projection had to be restarted to get there (see README: a consumer that
    joins its group without the topic's metadata is assigned nothing)."""
    app.submit(invoice_data(0, prefix="WARMUP"), SubmissionMode.EDI, SUPPLIER_ACTOR)
    if not children:
        return 0
    restarts = 0
    while True:
        try:
            wait_until(
                lambda: count_rows(settings, "tracking_timeline") >= WARMUP_EVENTS,
                45,
                "the warm-up invoice in the tracking view",
                list(children.values()),
            )
            return restarts
        except TimeoutError:
            if restarts:
                raise
            console.log("[yellow]warm-up invoice not visible after 45 s: restarting the projection")
            children["projection"].restart()
            restarts += 1


class Monitor(threading.Thread):
    """Samples (time, events written, relay position, events applied) every `poll_s`.

    "Applied" is the sum of the projection's stored next offsets: written in the same
    transaction as its rows, so it equals the tracking_timeline rows (checked at the end)
    while costing one index scan of a handful of rows instead of a count(*)."""

    def __init__(self, settings: Settings, progress: Progress, poll_s: float) -> None:
        super().__init__(name="monitor", daemon=True)
        self.settings = settings
        self.progress = progress
        self.poll_s = poll_s
        self.samples: list[tuple[float, int, int, int]] = []
        self.target: int | None = None
        self.reached = threading.Event()
        self.reached_at: float | None = None
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.settings.postgres.dsn, autocommit=True) as conn:
                query = (
                    "SELECT coalesce((SELECT max(position) FROM relay_position), 0),"
                    " coalesce((SELECT sum(next_offset) FROM consumer_offsets"
                    " WHERE group_id = %s), 0)"
                )
                args = (self.settings.tracking.group,)
                while not self.stopping.is_set():
                    t = time.monotonic()  # the query's snapshot is taken after this instant
                    row = conn.execute(query, args, prepare=True).fetchone()
                    assert row is not None
                    relayed, applied = int(row[0]), int(row[1])
                    self.samples.append((t, self.progress.events, relayed, applied))
                    if self.target is not None and applied >= self.target and not self.reached_at:
                        self.reached_at = t
                        self.reached.set()
                    time.sleep(self.poll_s)
        except BaseException as error:
            self.error = error
            self.reached.set()

    def first_time(self, column: int, at_least: int) -> float | None:
        return next((s[0] for s in self.samples if s[column] >= at_least), None)


# --------------------------------------------------------------------------- scenarios


def kafka_broker_pid() -> int | None:
    """The local Kafka broker's pid, if it runs on this machine (for its CPU time)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"kafka.Kafka\x00" in cmdline or cmdline.endswith(b"kafka.Kafka"):
            return int(entry.name)
    return None


class Usage:
    """CPU used between construction and `report()`, per process: the writer (this process),
    the children, this database's PostgreSQL backends, the Kafka broker (shared with anything
    else using it), and how busy the whole machine was."""

    def __init__(self, settings: Settings, children: dict[str, Child]) -> None:
        self.settings = settings
        self.children = children
        self.kafka_pid = kafka_broker_pid()
        self.before = self._snapshot()
        self.backends_before = self._backends()
        self.machine_before = machine_cpu()

    def _snapshot(self) -> dict[str, float | None]:
        snap: dict[str, float | None] = {"writer": proc_cpu_s("self")}
        snap.update({role: child.cpu_s() for role, child in self.children.items()})
        snap["kafka broker"] = proc_cpu_s(self.kafka_pid) if self.kafka_pid else None
        return snap

    def _backends(self) -> dict[int, float]:
        with psycopg.connect(self.settings.postgres.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.settings.postgres.db,),
            ).fetchall()
        cpu = {int(pid): proc_cpu_s(pid) for (pid,) in rows}
        return {pid: used for pid, used in cpu.items() if used is not None}

    def report(self, events: int, wall: float) -> dict[str, Any]:
        after = self._snapshot()
        backends_after = self._backends()
        busy1, total1, steal1 = machine_cpu()
        busy0, total0, steal0 = self.machine_before
        used: dict[str, float] = {}
        for role, start in self.before.items():
            end = after.get(role)
            if start is not None and end is not None:
                used[role] = end - start
        used["postgres backends"] = sum(
            end - self.backends_before.get(pid, 0.0) for pid, end in backends_after.items()
        )
        # The rest of the machine's busy time: other users' work, PostgreSQL's shared
        # background processes (WAL writer, checkpointer...), the kernel's own threads.
        used["everything else"] = max(0.0, (busy1 - busy0) / CLK_TCK - sum(used.values()))
        cpu = {
            role: {
                "cpu_s": round(seconds, 3),
                "cpu_share_of_wall": round(seconds / wall, 3),
                "cpu_us_per_event": round(seconds / events * 1e6, 1),
            }
            for role, seconds in used.items()
        }
        return {
            "cpu": cpu,
            "machine_cpu_busy": round((busy1 - busy0) / max(1, total1 - total0), 3),
            # A share of the machine's CPU time over the run (1 = both cores).
            "machine_cpu_stolen": round((steal1 - steal0) / max(1, total1 - total0), 3),
        }


def rss_report(children: dict[str, Child]) -> dict[str, int | None]:
    return {role: child.hwm_kib() for role, child in children.items()}


def scenario_write_only(base: Settings, run_tag: str, invoices: int, batch: int) -> dict:
    """The writer with nothing else of the pipeline running: the write stage's ceiling."""
    with sandbox(base, "write", run_tag) as settings:
        app = InvoicingApp(settings.postgres)
        try:
            warm_up(app, settings, {})
            usage = Usage(settings, {})
            t0 = time.monotonic()
            events = write_batched(app, invoices, batch, Progress())
            wall = time.monotonic() - t0
            cpu = usage.report(events, wall)
        finally:
            app.close()
    return {
        "invoices": invoices,
        "events": events,
        "seconds": round(wall, 3),
        "events_per_s": round(events / wall, 1),
        **cpu,
    }


def scenario_pipeline(
    base: Settings,
    run_tag: str,
    label: str,
    invoices: int,
    batch: int,
    naive: bool,
    logs: Path,
    timeout_s: float,
) -> dict:
    """Writer as fast as it goes, relay and projection as child processes; the clock runs
    from the first write to the moment the tracking view holds the last event."""
    with sandbox(base, label, run_tag) as settings:
        app = InvoicingApp(settings.postgres)
        children: dict[str, Child] = {}
        try:
            if naive:
                children["relay"] = naive_relay(settings, logs / label)
            else:
                children["relay"] = serve("relay", "--relay", settings, logs / label)
            children["projection"] = serve("projection", "--projection", settings, logs / label)
            restarts = warm_up(app, settings, children)
            planned = events_for(invoices)
            progress = Progress()
            monitor = Monitor(settings, progress, poll_s=0.02)
            monitor.target = WARMUP_EVENTS + planned
            monitor.start()
            usage = Usage(settings, children)
            writer = write_naive if naive else write_batched
            t0 = time.monotonic()
            written = writer(app, invoices, batch, progress)
            t_written = time.monotonic()
            assert written == planned, (written, planned)
            last_id = app.recorder.max_notification_id() or 0
            deadline = t_written + timeout_s
            while not monitor.reached.wait(0.2):
                for child in children.values():
                    child.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{label}: the tracking view did not catch up")
            if monitor.error:
                raise monitor.error
            t_applied = monitor.reached_at
            assert t_applied is not None
            cpu = usage.report(planned, t_applied - t0)
            rss = rss_report(children)  # before stopping the children
            monitor.stopping.set()
            monitor.join(5)
            rows = count_rows(settings, "tracking_timeline")
            invoice_rows = count_rows(settings, "tracking_invoice")
            if rows != WARMUP_EVENTS + planned or invoice_rows != 1 + invoices:
                raise AssertionError(
                    f"{label}: {rows} timeline rows and {invoice_rows} invoices, expected "
                    f"{WARMUP_EVENTS + planned} and {1 + invoices}"
                )
            t_relayed = monitor.first_time(2, last_id)
        finally:
            for child in children.values():
                child.stop()
            app.close()
    e2e = t_applied - t0
    write_s = t_written - t0
    return {
        "invoices": invoices,
        "events": planned,
        "writer": "naive: submit + act" if naive else "batched: submit_many + save(*batch)",
        "relay": "bench/naive_relay.py" if naive else "facturier serve --relay",
        "write_seconds": round(write_s, 3),
        "write_events_per_s": round(planned / write_s, 1),
        "relay_caught_up_seconds": round(t_relayed - t0, 3) if t_relayed else None,
        "end_to_end_seconds": round(e2e, 3),
        "end_to_end_events_per_s": round(planned / e2e, 1),
        "drain_after_last_write_seconds": round(t_applied - t_written, 3),
        "tracking_timeline_rows": rows,
        "tracking_invoice_rows": invoice_rows,
        "warmup_projection_restarts": restarts,
        "peak_rss_kib": rss,
        **cpu,
        "progress_samples_s_written_relayed_applied": [
            (round(t - t0, 3), w, r - (last_id - planned), a - WARMUP_EVENTS)
            for t, w, r, a in monitor.samples[::10]
            if t >= t0
        ],
    }


# Both triggers live only in the latency scenario's own database. A notification is delivered
# once its transaction has committed, never before: "committed" fires when the writer's
# transaction holding the invoice's first event commits in the event store, "visible" when
# the projection's transaction inserting its tracking_invoice row commits.
_TRIGGERS_SQL = """
CREATE FUNCTION bench_notify_committed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_committed', NEW.originator_id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_committed AFTER INSERT ON {events_table}
    FOR EACH ROW WHEN (NEW.originator_version = 1)
    EXECUTE FUNCTION bench_notify_committed();
CREATE FUNCTION bench_notify_visible() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_visible', NEW.invoice_id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_visible AFTER INSERT ON tracking_invoice
    FOR EACH ROW EXECUTE FUNCTION bench_notify_visible();
"""
_CHANNELS = ("bench_committed", "bench_visible")


def _listen(dsn: str, conn_out: Connection, stop: Event) -> None:
    """Body of the listener process (see Listener)."""
    seen: dict[str, dict[str, float]] = {channel: {} for channel in _CHANNELS}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for channel in _CHANNELS:
            conn.execute(f"LISTEN {channel}")
        conn_out.send("listening")
        while not stop.is_set():
            for notify in conn.notifies(timeout=0.1):
                seen[notify.channel].setdefault(notify.payload, time.monotonic())
    conn_out.send(seen)


class Listener:
    """A separate process LISTENing on both channels of _TRIGGERS_SQL and timestamping each
    notification as it arrives. Commit and visibility are therefore observed the same way,
    by the same process, on the same connection. Each notification's delivery delay
    cancels the other's. The writer threads' GIL and the bench's own work never delay a
    timestamp, and nothing polls."""

    def __init__(self, settings: Settings) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._recv, send = ctx.Pipe(duplex=False)
        self._stop = ctx.Event()
        self.process = ctx.Process(target=_listen, args=(settings.postgres.dsn, send, self._stop))
        self.process.daemon = True
        self.process.start()
        if not self._recv.poll(60) or self._recv.recv() != "listening":
            raise RuntimeError("the notification listener did not start")

    def collect(self) -> dict[str, dict[str, float]]:
        """Stop listening; channel -> invoice id -> arrival time (time.monotonic)."""
        self._stop.set()
        seen: dict[str, dict[str, float]] = {channel: {} for channel in _CHANNELS}
        if self._recv.poll(30):
            seen = self._recv.recv()
        self.process.join(10)
        return seen


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 50), 2),
        "p90": round(percentile(ordered, 90), 2),
        "p99": round(percentile(ordered, 99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
        "min": round(ordered[0], 2),
    }


class PacedWriter:
    """Submits invoice i at t0 + i * interval (an open-loop schedule: a slow submit does not
    push the next ones back), from `threads` threads so that one slow commit does not stall
    the schedule. Each submit is one `app.submit` = one transaction of 3 events."""

    def __init__(self, app: InvoicingApp, n: int, interval: float, threads: int) -> None:
        self.app = app
        self.n = n
        self.interval = interval
        self.threads = threads
        self.started: dict[str, float] = {}
        self.returned: dict[str, float] = {}
        self.late = 0
        self._next = 0
        self._lock = threading.Lock()
        self.t0 = 0.0
        self.errors: list[BaseException] = []

    def run(self) -> None:
        self.t0 = time.monotonic() + 0.05
        workers = [
            threading.Thread(target=self._work, name=f"paced-{k}") for k in range(self.threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if self.errors:
            raise self.errors[0]

    def _work(self) -> None:
        try:
            while True:
                with self._lock:
                    i = self._next
                    self._next += 1
                if i >= self.n:
                    return
                due = self.t0 + i * self.interval
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                start = time.monotonic()
                if start - due > self.interval:
                    with self._lock:
                        self.late += 1
                data = invoice_data(i)
                invoice = self.app.submit(data, SubmissionMode.PORTAL, SUPPLIER_ACTOR)
                done = time.monotonic()
                key = str(invoice.id)
                self.started[key] = start
                self.returned[key] = done
        except BaseException as error:
            self.errors.append(error)


def scenario_latency(
    base: Settings, run_tag: str, rate: float, seconds: float, threads: int, logs: Path
) -> dict:
    """Submit-to-visible latency at a steady `rate` events/s (see PacedWriter): from the
    commit of the invoice's submission in the event store to the commit of its row in
    tracking_invoice, both observed by the Listener process."""
    label = "latency"
    with sandbox(base, label, run_tag) as settings:
        app = InvoicingApp(settings.postgres)  # creates the event store's table
        children: dict[str, Child] = {}
        listener: Listener | None = None
        try:
            apply_schema(settings.postgres, "consumer_offsets", "tracking")
            events_table = f"{app.name.lower()}_events"
            with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
                conn.execute(_TRIGGERS_SQL.format(events_table=events_table).encode())
            listener = Listener(settings)
            children["relay"] = serve("relay", "--relay", settings, logs / label)
            children["projection"] = serve("projection", "--projection", settings, logs / label)
            restarts = warm_up(app, settings, children)
            interval = 3 / rate
            writer = PacedWriter(app, max(1, int(seconds / interval)), interval, threads)
            usage = Usage(settings, children)
            writer.run()
            t_end = max(writer.returned.values())
            wait_until(
                lambda: count_rows(settings, "tracking_invoice") >= writer.n + 1,
                60,
                "every paced invoice in the tracking view",
                list(children.values()),
            )
            cpu = usage.report(3 * writer.n, t_end - writer.t0)
            rss = rss_report(children)
        finally:
            for child in children.values():
                child.stop()
            seen = listener.collect() if listener else {}
            app.close()
    committed, visible = seen["bench_committed"], seen["bench_visible"]
    missing = [k for k in writer.returned if k not in committed or k not in visible]
    if missing:
        raise AssertionError(f"{len(missing)} paced invoices without both notifications")
    ids = list(writer.returned)
    return {
        "target_events_per_s": rate,
        "achieved_events_per_s": round(3 * writer.n / (t_end - writer.t0), 1),
        "writer_threads": threads,
        "invoices": writer.n,
        "events": 3 * writer.n,
        "seconds": round(t_end - writer.t0, 3),
        "submits_started_late_by_more_than_one_interval": writer.late,
        "warmup_projection_restarts": restarts,
        "commit_to_visible_ms": _stats([(visible[k] - committed[k]) * 1000 for k in ids]),
        "submit_call_to_visible_ms": _stats([(visible[k] - writer.started[k]) * 1000 for k in ids]),
        "submit_call_ms": _stats([(writer.returned[k] - writer.started[k]) * 1000 for k in ids]),
        "peak_rss_kib": rss,
        **cpu,
    }


# --------------------------------------------------------------------------- report


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {
        "commit": run("rev-parse", "HEAD"),
        "dirty_files": len(run("status", "--porcelain").splitlines()),
    }


@dataclass
class BenchRun:
    """One run of a bench: its settings, tag and log folder, and the JSON result that its
    scenarios fill and `save` writes to bench/results/<name>-<date>-<tag>.json."""

    name: str
    base: Settings
    tag: str
    started: datetime
    logs: Path
    result: dict[str, Any]

    @classmethod
    def start(cls, name: str, argv: list[str] | None, targets: dict[str, Any]) -> BenchRun:
        tag = uuid.uuid4().hex[:8]
        started = datetime.now()
        logs = RESULTS / f"logs-{started:%Y%m%d-%H%M%S}-{tag}"
        result: dict[str, Any] = {
            "started": started.isoformat(timespec="seconds"),
            "argv": sys.argv[1:] if argv is None else argv,
            "git": _git(),
            "host": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "loadavg_before": [round(v, 2) for v in os.getloadavg()],
            },
            "targets": targets,
            "logs": str(logs.relative_to(ROOT)),
        }
        return cls(name, Settings.from_env(), tag, started, logs, result)

    def save(self) -> None:
        self.result["host"]["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
        self.result["seconds"] = round((datetime.now() - self.started).total_seconds(), 1)
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}-{self.started:%Y%m%d-%H%M%S}-{self.tag}.json"
        self.result["path"] = str(path.relative_to(ROOT))
        path.write_text(json.dumps(self.result, indent=2, default=str) + "\n")


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f} MiB"


def _ok(passed: bool) -> str:
    return "[green]yes[/]" if passed else "[red]NO[/]"


def _rate(value: float) -> str:
    return f"{value:,.0f} ev/s"


def render(result: dict) -> None:
    s = result["scenarios"]
    table = Table(title="facturier pipeline benchmark (measured now, on this machine)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met", justify="center")
    for name, scenario in s.items():
        if "error" in scenario:
            table.add_row(f"[red]{name} failed[/]", scenario["error"][:60], "", "")
    if "events_per_s" in s.get("write_only", {}):
        w = s["write_only"]
        table.add_row(
            f"write only, no relay/projection ({w['events']:,} events)",
            _rate(w["events_per_s"]),
            "",
            "",
        )
    if "end_to_end_events_per_s" in s.get("optimized", {}):
        o = s["optimized"]
        e2e = o["end_to_end_events_per_s"]
        table.add_row(
            f"write stage, relay + projection running ({o['events']:,} events)",
            _rate(o["write_events_per_s"]),
            "",
            "",
        )
        table.add_row(
            "end to end: first write -> last event in tracking view",
            _rate(e2e),
            f">= {_rate(TARGET_E2E_EVENTS_S)}",
            _ok(e2e >= TARGET_E2E_EVENTS_S),
        )
        table.add_row(
            "  tracking view caught up after the last write",
            f"{o['drain_after_last_write_seconds']:.2f} s",
            "",
            "",
        )
    if "commit_to_visible_ms" in s.get("latency", {}):
        lat = s["latency"]
        ms = lat["commit_to_visible_ms"]
        rate = f"{lat['achieved_events_per_s']:.0f} ev/s"
        table.add_row(
            f"submit commit -> visible, p50 (paced at {rate})", f"{ms['p50']:.1f} ms", "", ""
        )
        table.add_row(
            f"submit commit -> visible, p99 (paced at {rate})",
            f"{ms['p99']:.1f} ms",
            f"< {TARGET_P99_MS:.0f} ms",
            _ok(ms["p99"] < TARGET_P99_MS),
        )
        table.add_row(
            "  max; p99 from the submit call",
            f"{ms['max']:.1f} ms; {lat['submit_call_to_visible_ms']['p99']:.1f} ms",
            "",
            "",
        )
    if "end_to_end_events_per_s" in s.get("baseline", {}):
        b = s["baseline"]
        table.add_row(
            f"baseline write stage ({b['events']:,} events)", _rate(b["write_events_per_s"]), "", ""
        )
        table.add_row("baseline end to end", _rate(b["end_to_end_events_per_s"]), "", "")
    if "ratio_end_to_end" in result:
        table.add_row(
            "optimized / baseline, end to end", f"x{result['ratio_end_to_end']:.1f}", "", ""
        )
        table.add_row("optimized / baseline, write stage", f"x{result['ratio_write']:.1f}", "", "")
    console.print(table)

    usage = Table(title="peak RSS (VmHWM) and CPU, per process and scenario")
    usage.add_column("scenario")
    usage.add_column("process")
    usage.add_column("peak RSS", justify="right")
    usage.add_column("CPU µs/event", justify="right")
    usage.add_column("CPU / wall", justify="right")
    for name in ("optimized", "latency", "baseline"):
        scenario = s.get(name, {})
        if "cpu" not in scenario:
            continue
        for role, cpu in scenario["cpu"].items():
            usage.add_row(
                name,
                role,
                _mib(scenario["peak_rss_kib"].get(role)),
                f"{cpu['cpu_us_per_event']:,.0f}",
                f"{cpu['cpu_share_of_wall'] * 100:.0f} %",
            )
        usage.add_row(
            name,
            "[dim]whole machine busy / stolen by the hypervisor[/]",
            "",
            "",
            f"{scenario['machine_cpu_busy'] * 100:.0f} % / "
            f"{scenario.get('machine_cpu_stolen', 0) * 100:.0f} %",
            end_section=True,
        )
    console.print(usage)
    host = result["host"]
    console.print(
        f"{host['cpus']} CPUs; load average before {host['loadavg_before']}, after "
        f"{host['loadavg_after']} (other work on the machine skews every figure). Writer RSS "
        f"is the bench process's peak so far. {result['seconds']:.0f} s. JSON: {result['path']}"
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run, about a minute")
    parser.add_argument("--invoices", type=int, help="invoices of the optimized run")
    parser.add_argument("--baseline-invoices", type=int, help="invoices of the baseline run")
    parser.add_argument("--batch", type=int, default=100, help="invoices per writer batch")
    parser.add_argument("--latency-rate", type=float, default=500.0, help="paced events/s")
    parser.add_argument("--latency-seconds", type=float, help="duration of the paced run")
    parser.add_argument("--latency-threads", type=int, default=4, help="paced writer threads")
    parser.add_argument(
        "--only",
        choices=["write", "optimized", "latency", "baseline"],
        action="append",
        help="run only these scenarios (repeatable)",
    )
    args = parser.parse_args(argv)
    invoices = args.invoices or (1500 if args.quick else 5000)
    write_invoices = max(100, invoices // 3)
    baseline_invoices = args.baseline_invoices or (150 if args.quick else 300)
    latency_seconds = args.latency_seconds or (8.0 if args.quick else 20.0)
    chosen = set(args.only or ["write", "optimized", "latency", "baseline"])

    bench = BenchRun.start(
        "pipeline",
        argv,
        {"end_to_end_events_per_s": TARGET_E2E_EVENTS_S, "p99_ms": TARGET_P99_MS},
    )
    base, run_tag, logs, result = bench.base, bench.tag, bench.logs, bench.result
    result.update(
        {
            "settings": {
                "relay_batch": base.relay.batch,
                "relay_idle_ms": base.relay.idle_ms,
                "topic_partitions": base.kafka.topic_partitions,
                "pg_pool_size": base.postgres.pool_size,
                "writer_batch_invoices": args.batch,
            },
            "scenarios": {},
        }
    )
    s: dict[str, dict[str, Any]] = result["scenarios"]
    runs: list[tuple[str, str, Callable[[], dict]]] = [
        (
            "write",
            f"write only: {write_invoices} invoices",
            lambda: scenario_write_only(base, run_tag, write_invoices, args.batch),
        ),
        (
            "optimized",
            f"optimized pipeline: {invoices} invoices, {events_for(invoices)} events",
            lambda: scenario_pipeline(
                base, run_tag, "optimized", invoices, args.batch, False, logs, 180
            ),
        ),
        (
            "latency",
            f"latency: {args.latency_rate:.0f} events/s for {latency_seconds:.0f} s",
            lambda: scenario_latency(
                base, run_tag, args.latency_rate, latency_seconds, args.latency_threads, logs
            ),
        ),
        (
            "baseline",
            f"baseline pipeline: {baseline_invoices} invoices, "
            f"{events_for(baseline_invoices)} events",
            lambda: scenario_pipeline(
                base, run_tag, "baseline", baseline_invoices, args.batch, True, logs, 180
            ),
        ),
    ]
    failed = False
    with console.status("") as status:
        for key, what, run in runs:
            if key not in chosen:
                continue
            status.update(what)
            name = "write_only" if key == "write" else key
            try:
                s[name] = run()
                s[name].setdefault("peak_rss_kib", {})["writer"] = proc_hwm_kib("self")
            except Exception as error:  # keep the other scenarios' figures
                failed = True
                console.print_exception()
                s[name] = {"error": f"{type(error).__name__}: {error}"}
            console.log(f"done: {what}")
    o, b = s.get("optimized", {}), s.get("baseline", {})
    if "end_to_end_events_per_s" in o and "end_to_end_events_per_s" in b:
        result["ratio_end_to_end"] = round(
            o["end_to_end_events_per_s"] / b["end_to_end_events_per_s"], 2
        )
        result["ratio_write"] = round(o["write_events_per_s"] / b["write_events_per_s"], 2)
    bench.save()
    render(result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
