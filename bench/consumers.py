"""Benchmark of the consumers: catch-up rate of each projection, live push latency (not a
test; see bench/README.md).

    .venv/bin/python bench/consumers.py                                # full run
    .venv/bin/python bench/consumers.py --events 5000 --actions-seconds 5   # a quick check

1. Catch-up: a fresh topic is filled with ~N lifecycle events (the pipeline bench's batched
   writer, then the relay drained in this process); each projection then reads it from
   offset 0 to the end, on a fresh consumer group and a fresh database, in this process.
   Baseline: the same projection with batches of one message.
2. Live push: `facturier serve --relay`, `--projection` and `--api` as children; a buyer
   takes invoices in hand at a paced rate; an event-stream client of `GET /live` (the
   supplier's) timestamps each push. Commit and visibility are observed by triggers'
   NOTIFYs in the same client process, as bench/pipeline.py does.

Prints `rich` tables and writes JSON to bench/results/consumers-<date>-<tag>.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from pipeline import (
    BUYER_ACTOR,
    SUPPLIER,
    SUPPLIER_ACTOR,
    BenchRun,
    Child,
    Progress,
    Usage,
    _stats,
    count_rows,
    drop_database,
    free_port,
    invoice_data,
    sandbox,
    serve,
    wait_until,
    write_batched,
)
from rich.console import Console
from rich.table import Table

from facturier.adapters.postgres import apply_schema, connect
from facturier.config.settings import Settings
from facturier.domain.lifecycle import Action
from facturier.domain.model import SubmissionMode
from facturier.projections.accounting.projection import AccountingProjection, ChartOfAccounts
from facturier.projections.payment_delays.projection import PaymentDelaysProjection
from facturier.projections.runner import Projection, ProjectionRunner
from facturier.projections.tracking.projection import TrackingProjection
from facturier.services.application.authentication import create_token
from facturier.services.application.invoicing import InvoicingApp
from facturier.services.application.principals import ApiRole
from facturier.services.relay import Relay

TARGETS_EVENTS_S = {"tracking": 10_000.0, "accounting": 5_000.0}
TARGET_PUSH_P99_MS = 300.0
EVENTS_PER_INVOICE = 9.4  # the pipeline bench's lifecycle mix (bench/README.md)

console = Console()

CONSUMERS: dict[str, Callable[[str, Settings], Projection]] = {
    "tracking": lambda group, s: TrackingProjection(group),
    "accounting": lambda group, s: AccountingProjection(group, ChartOfAccounts.of(s.accounting)),
    "payment-delays": lambda group, s: PaymentDelaysProjection(
        group, s.payment_delays.late_interest_reference_rate
    ),
}
# How each consumer is deployed: its `facturier serve` flag, and the settings naming its
# consumer group and its Prometheus port (one per process).
SERVED: dict[str, tuple[str, str, str]] = {
    "tracking": ("--projection", "tracking_group", "projection_metrics_port"),
    "accounting": ("--accounting", "accounting_group", "accounting_metrics_port"),
    "payment-delays": ("--payment-delays", "payment_delays_group", "payment_delays_metrics_port"),
}
SCALED_PROCESSES = 2  # one per core of the target machine


# --------------------------------------------------------------------------- catch-up


def fill_topic(settings: Settings, invoices: int, batch: int) -> dict[str, Any]:
    """Invoices through their lifecycle in the event store, then every event relayed."""
    app = InvoicingApp(settings.postgres)
    try:
        t0 = time.monotonic()
        events = write_batched(app, invoices, batch, Progress())
        t_written = time.monotonic()
        relay = Relay(app, settings.postgres, settings.kafka, settings.relay)
        relay.prepare()
        with connect(settings.postgres) as conn:
            while relay.publish_next(conn):
                pass
        relay.producer.close()
        t_relayed = time.monotonic()
    finally:
        app.close()
    return {
        "invoices": invoices,
        "events": events,
        "write_seconds": round(t_written - t0, 2),
        "relay_seconds": round(t_relayed - t_written, 2),
    }


def catch_up(
    source: Settings, run_tag: str, name: str, poll_records: int, limit: int | None
) -> dict[str, Any]:
    """One projection from offset 0 to the end of the topic (or `limit` events), in this
    process, on its own database and consumer group. The clock starts just before the first
    poll that returns records (after the group join) and stops after the last commit."""
    label = f"{name}-{'batch1' if poll_records == 1 else 'default'}"
    settings = source.replaced(pg_db=f"facturier_bench_{run_tag}_{label.replace('-', '_')}")
    group = f"bench-{run_tag}-{label}"
    with psycopg.connect(source.postgres.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{settings.postgres.db}"')
    runner = ProjectionRunner(CONSUMERS[name](group, settings), settings.postgres, settings.kafka)
    try:
        runner.prepare()
        assert runner.consumer is not None
        # poll() reads max_poll_records from the consumer's config at every call.
        runner.consumer.config["max_poll_records"] = poll_records
        partitions = runner.consumer.partitions_for_topic(settings.kafka.topic) or set()
        ends = runner.consumer.end_offsets(
            [TopicPartition(settings.kafka.topic, p) for p in partitions]
        )
        total = sum(ends.values())
        target = min(total, limit) if limit else total
        applied, t0 = 0, 0.0
        deadline = time.monotonic() + 1800
        usage: Usage | None = None
        while applied < target:
            t = time.monotonic()
            applied += runner.poll_once()  # what it committed: the previous poll's batch
            if runner.in_flight and not t0:
                t0, usage = t, Usage(settings, {})
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: {applied} of {target} events after 30 min")
        wall = time.monotonic() - t0
        assert usage is not None
        report = usage.report(applied, wall)
        report["cpu"]["projection (bench process)"] = report["cpu"].pop("writer")
        whole = name == "tracking" and target == total
        result = measured(label, settings, applied, wall, report, total if whole else None)
    finally:
        runner.close()
        drop_database(source, settings.postgres.db)
    return {"max_poll_records": poll_records, **result}


def measured(
    label: str,
    settings: Settings,
    applied: int,
    wall: float,
    report: dict[str, Any],
    timeline_rows: int | None,
) -> dict[str, Any]:
    """A catch-up's figures; with `timeline_rows`, the tracking timeline must hold as many."""
    checked: dict[str, int] = {}
    if timeline_rows is not None:
        checked["tracking_timeline_rows"] = count_rows(settings, "tracking_timeline")
        if checked["tracking_timeline_rows"] != timeline_rows:
            raise AssertionError(f"{label}: {checked} for {timeline_rows} events")
    return {
        "events": applied,
        "seconds": round(wall, 3),
        "events_per_s": round(applied / wall, 1),
        "cpu": report["cpu"],
        "machine_cpu_stolen": report["machine_cpu_stolen"],
        **checked,
    }


def topic_size(settings: Settings) -> int:
    """How many messages the topic holds (the sum of its partitions' end offsets)."""
    reader = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap)
    try:
        partitions = reader.partitions_for_topic(settings.kafka.topic) or set()
        ends = reader.end_offsets([TopicPartition(settings.kafka.topic, p) for p in partitions])
    finally:
        reader.close()
    return int(sum(ends.values()))


def catch_up_served(
    source: Settings, run_tag: str, name: str, processes: int, logs: Path
) -> dict[str, Any]:
    """The consumer as deployed: `processes` x `facturier serve <flag>` in one consumer
    group, sharing the topic's partitions, from offset 0 to the end. The clock runs from the
    moment the group is stable with all its members (before that, the first one to join
    consumes alone) to the last commit of the group's stored offsets, read every 20 ms; the
    events counted are those committed in between."""
    flag, group_field, port_field = SERVED[name]
    label = f"{name}-{processes}p"
    own_group: dict[str, Any] = {group_field: f"bench-{run_tag}-{label}"}
    settings = source.replaced(
        pg_db=f"facturier_bench_{run_tag}_{label.replace('-', '_')}", **own_group
    )
    group = own_group[group_field]
    with psycopg.connect(source.postgres.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{settings.postgres.db}"')
    # Created here, once: the children would otherwise race to create the same tables.
    apply_schema(settings.postgres, "consumer_offsets", *CONSUMERS[name](group, settings).schemas)
    total = topic_size(settings)

    # One connection for every read: a new one per read would fork a backend 50 times a
    # second, CPU taken from the consumers.
    watcher = psycopg.connect(settings.postgres.dsn, autocommit=True)

    def stored() -> int:
        row = watcher.execute(
            "SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets"
            " WHERE group_id = %s",
            (group,),
        ).fetchone()
        return int(row[0]) if row else 0

    children = []
    for i in range(processes):
        own_port: dict[str, Any] = {port_field: free_port()}
        children.append(serve(f"{label}-{i}", flag, settings.replaced(**own_port), logs))
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
        try:

            def joined() -> bool:
                state = admin.describe_groups([group])[group]
                return bool(state["group_state"] == "Stable" and len(state["members"]) == processes)

            wait_until(joined, 120, f"{label}: {processes} members in a stable group", children)
        finally:
            admin.close()
        first, t0 = stored(), time.monotonic()
        if first >= total:
            raise RuntimeError(
                f"{label}: the topic was read to its end before the group had its {processes}"
                " members: too few --events to measure"
            )
        usage = Usage(settings, {child.role: child for child in children})
        wait_until(lambda: stored() >= total, 1800, f"{label}: the end of the topic", children)
        wall = time.monotonic() - t0
        applied = total - first
        report = usage.report(applied, wall)
        report["cpu"].pop("writer", None)  # this process only watches
        timeline = total if name == "tracking" else None
        result = measured(label, settings, applied, wall, report, timeline)
    finally:
        for child in children:
            child.stop()
        watcher.close()
        drop_database(source, settings.postgres.db)
    return {"processes": processes, **result}


def scenario_catch_up(
    base: Settings,
    run_tag: str,
    events: int,
    batch: int,
    baseline_events: int,
    only: list[str],
    logs: Path,
) -> dict[str, Any]:
    invoices = max(10, round(events / EVENTS_PER_INVOICE))
    result: dict[str, Any] = {"consumers": {}}
    with sandbox(base, "catchup", run_tag) as settings:
        console.log(f"filling the topic: {invoices:,} invoices")
        result["topic"] = fill_topic(settings, invoices, batch)
        console.log(f"topic holds {result['topic']['events']:,} events")
        for name in only:
            entry: dict[str, Any] = {}
            runs: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("optimized", partial(catch_up, settings, run_tag, name, 2000, None)),
                (
                    "scaled",
                    partial(catch_up_served, settings, run_tag, name, SCALED_PROCESSES, logs),
                ),
                (
                    "baseline_batch_1",
                    partial(catch_up, settings, run_tag, name, 1, baseline_events),
                ),
            ]
            for key, run in runs:
                console.log(f"catch-up: {name}, {key}")
                try:
                    entry[key] = run()
                except Exception as error:  # keep the other consumers' figures
                    console.print_exception()
                    entry[key] = {"error": f"{type(error).__name__}: {error}"}
            b = entry["baseline_batch_1"]
            for key, ratio in (("optimized", "ratio"), ("scaled", "scaled_ratio")):
                if "events_per_s" in entry[key] and "events_per_s" in b:
                    entry[ratio] = round(entry[key]["events_per_s"] / b["events_per_s"], 2)
            result["consumers"][name] = entry
    return result


# --------------------------------------------------------------------------- live push

# In the scenario's own database only. "committed": the buyer's TakenInHand (version 4) is
# durably in the event store; "visible": the tracking view's row reached version 4.
_TRIGGERS_SQL = """
CREATE FUNCTION bench_notify_committed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_committed', NEW.originator_id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_committed AFTER INSERT ON {events_table}
    FOR EACH ROW WHEN (NEW.originator_version = 4)
    EXECUTE FUNCTION bench_notify_committed();
CREATE FUNCTION bench_notify_visible() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_visible', NEW.invoice_id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_visible AFTER UPDATE ON tracking_invoice
    FOR EACH ROW WHEN (OLD.version < 4 AND NEW.version >= 4)
    EXECUTE FUNCTION bench_notify_visible();
"""


def _client(url: str, token: str, dsn: str, out: Connection, stop: Event) -> None:
    """Body of the client process: an event-stream reader and a LISTENer, both stamping
    arrivals with time.monotonic() (CLOCK_MONOTONIC: one clock for every process)."""
    seen: dict[str, dict[str, float]] = {"committed": {}, "visible": {}, "pushed": {}}
    lock = threading.Lock()
    listening = threading.Event()

    def listen() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("LISTEN bench_committed")
            conn.execute("LISTEN bench_visible")
            listening.set()
            while not stop.is_set():
                for notify in conn.notifies(timeout=0.1):
                    with lock:
                        seen[notify.channel.removeprefix("bench_")][notify.payload] = (
                            time.monotonic()
                        )

    def read() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            data = ""
            for line in response.iter_lines():
                if line.startswith(": listening"):
                    out.send("ready")
                if line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    t = time.monotonic()
                    change = json.loads(data)
                    if change.get("version") == 4:
                        with lock:
                            seen["pushed"].setdefault(change["invoice_id"], t)
                    data = ""

    threading.Thread(target=listen, daemon=True).start()
    listening.wait(30)
    threading.Thread(target=read, daemon=True).start()
    stop.wait()
    time.sleep(0.2)
    with lock:
        out.send(seen)


class PushClient:
    def __init__(self, url: str, token: str, dsn: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._recv, send = ctx.Pipe(duplex=False)
        self._stop = ctx.Event()
        self.process = ctx.Process(target=_client, args=(url, token, dsn, send, self._stop))
        self.process.daemon = True
        self.process.start()
        if not self._recv.poll(60) or self._recv.recv() != "ready":
            raise RuntimeError("the event-stream client did not start")

    def collect(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        seen: dict[str, dict[str, float]] = {}
        if self._recv.poll(30):
            seen = self._recv.recv()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
        return seen


def paced_actions(app: InvoicingApp, ids: list[uuid.UUID], rate: float, threads: int) -> dict:
    """Invoice i taken in hand at t0 + i / rate (open loop), from `threads` threads."""
    started: dict[str, float] = {}
    late = 0
    lock = threading.Lock()
    cursor = iter(range(len(ids)))
    errors: list[BaseException] = []
    t0 = time.monotonic() + 0.05

    def work() -> None:
        nonlocal late
        try:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                due = t0 + i / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                start = time.monotonic()
                if start - due > 1 / rate:
                    with lock:
                        late += 1
                app.act(ids[i], Action.TAKE_IN_HAND, actor=BUYER_ACTOR, correlation_id=f"bench-{i}")
                started[str(ids[i])] = start
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return {"started": started, "late": late, "seconds": time.monotonic() - t0}


def scenario_push(
    base: Settings, run_tag: str, rate: float, seconds: float, threads: int, logs: Path
) -> dict[str, Any]:
    n = max(1, int(rate * seconds))
    with sandbox(base, "push", run_tag) as settings:
        app = InvoicingApp(settings.postgres)
        children: dict[str, Child] = {}
        client: PushClient | None = None
        try:
            apply_schema(settings.postgres, "consumer_offsets", "tracking", "auth")
            events_table = f"{app.name.lower()}_events"
            with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
                conn.execute(_TRIGGERS_SQL.format(events_table=events_table).encode())
                token = create_token(conn, ApiRole.SUPPLIER, SUPPLIER, "bench")
            children["relay"] = serve("relay", "--relay", settings, logs / "push")
            children["projection"] = serve("projection", "--projection", settings, logs / "push")
            children["api"] = serve("api", "--api", settings, logs / "push")
            base_url = f"http://{settings.api.host}:{settings.api.port}"

            def api_up() -> bool:
                try:
                    return httpx.get(f"{base_url}/health/live", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(api_up, 90, "the API", list(children.values()))
            # The invoices the buyer will act on: submitted and made available beforehand.
            ids: list[uuid.UUID] = []
            for start in range(0, n, 100):
                batch = [
                    (invoice_data(i, prefix="P"), SubmissionMode.EDI, SUPPLIER_ACTOR, f"p-{i}")
                    for i in range(start, min(n, start + 100))
                ]
                ids += [invoice.id for invoice in app.submit_many(batch)]
            wait_until(
                lambda: count_rows(settings, "tracking_invoice") >= n,
                300,
                "the invoices in the tracking view",
                list(children.values()),
            )
            client = PushClient(f"{base_url}/live", token, settings.postgres.dsn)
            usage = Usage(settings, children)
            paced = paced_actions(app, ids, rate, threads)
            wait_until(
                lambda: count_rows(settings, "tracking_timeline") >= 4 * n,
                120,
                "every action in the tracking view",
                list(children.values()),
            )
            time.sleep(0.5)  # the last pushes are on their way
            cpu = usage.report(n, paced["seconds"])
        finally:
            seen = client.collect() if client else {}
            for child in children.values():
                child.stop()
            app.close()
    committed, visible, pushed = seen["committed"], seen["visible"], seen["pushed"]
    keys = [str(i) for i in ids]
    missing = [k for k in keys if k not in committed or k not in visible or k not in pushed]
    if missing:
        raise AssertionError(f"{len(missing)} of {n} actions without all three observations")
    started = paced["started"]
    return {
        "target_actions_per_s": rate,
        "achieved_actions_per_s": round(n / paced["seconds"], 1),
        "actions": n,
        "action_threads": threads,
        "actions_started_late_by_more_than_one_interval": paced["late"],
        "commit_to_push_ms": _stats([(pushed[k] - committed[k]) * 1000 for k in keys]),
        "commit_to_visible_ms": _stats([(visible[k] - committed[k]) * 1000 for k in keys]),
        "visible_to_push_ms": _stats([(pushed[k] - visible[k]) * 1000 for k in keys]),
        "action_call_to_push_ms": _stats([(pushed[k] - started[k]) * 1000 for k in keys]),
        **cpu,
    }


# --------------------------------------------------------------------------- report


def render(result: dict[str, Any]) -> None:
    table = Table(title="facturier consumers benchmark (measured now, on this machine)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met", justify="center")
    catch = result.get("catch_up", {})
    if "error" in catch:
        table.add_row("[red]catch-up failed[/]", catch["error"][:60], "", "")
    if "topic" in catch:
        table.add_row("topic filled with", f"{catch['topic']['events']:,} events", "", "")
    for name, entry in catch.get("consumers", {}).items():
        target = TARGETS_EVENTS_S.get(name)
        for key, what in (
            ("optimized", "catch-up, 1 process"),
            ("scaled", f"catch-up, {SCALED_PROCESSES} x serve in one group"),
            ("baseline_batch_1", "baseline, batch 1"),
        ):
            run = entry.get(key)
            if run is None:
                continue
            if "error" in run:
                table.add_row(f"[red]{name} {what} failed[/]", run["error"][:60], "", "")
                continue
            judged = bool(target) and key != "baseline_batch_1"
            met = ""
            if judged:
                met = "[green]yes[/]" if run["events_per_s"] >= target else "[red]NO[/]"
            stolen = run.get("machine_cpu_stolen", 0) * 100
            table.add_row(
                f"{'  ' if key == 'baseline_batch_1' else ''}{name} {what} ({run['events']:,}"
                f" events; {stolen:.0f} % of the CPU stolen by the hypervisor)",
                f"{run['events_per_s']:,.0f} ev/s",
                f">= {target:,.0f} ev/s" if judged else "",
                met,
            )
        for ratio, what in (("ratio", "1 process"), ("scaled_ratio", "scaled")):
            if ratio in entry:
                table.add_row(f"  {name}: {what} / batch 1", f"x{entry[ratio]:.1f}", "", "")
    push = result.get("push", {})
    if "error" in push:
        table.add_row("[red]live push failed[/]", push["error"][:60], "", "")
    if "commit_to_push_ms" in push:
        ms = push["commit_to_push_ms"]
        rate = f"{push['achieved_actions_per_s']:.0f} actions/s"
        table.add_row(
            f"action commit -> push received, p50 ({rate})", f"{ms['p50']:.1f} ms", "", ""
        )
        table.add_row(
            f"action commit -> push received, p99 ({rate})",
            f"{ms['p99']:.1f} ms",
            f"< {TARGET_PUSH_P99_MS:.0f} ms",
            "[green]yes[/]" if ms["p99"] < TARGET_PUSH_P99_MS else "[red]NO[/]",
        )
        for key, what in (
            ("commit_to_visible_ms", "  of which commit -> visible in the view"),
            ("visible_to_push_ms", "  and visible -> push received"),
        ):
            p50, p99 = push[key]["p50"], push[key]["p99"]
            table.add_row(f"{what}, p50 / p99", f"{p50:.1f} / {p99:.1f} ms", "", "")
    console.print(table)
    host = result["host"]
    console.print(
        f"{host['cpus']} CPUs; load average before {host['loadavg_before']}, after "
        f"{host['loadavg_after']} (other work on the machine skews every figure). "
        f"{result['seconds']:.0f} s. JSON: {result['path']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events on the topic")
    parser.add_argument("--baseline-events", type=int, help="events of each batch-1 run")
    parser.add_argument("--batch", type=int, default=100, help="invoices per writer batch")
    parser.add_argument("--actions-rate", type=float, default=200.0, help="buyer actions/s")
    parser.add_argument("--actions-seconds", type=float, default=20.0, help="paced run length")
    parser.add_argument("--action-threads", type=int, default=4, help="paced writer threads")
    parser.add_argument("--consumer", choices=sorted(CONSUMERS), action="append", help="repeatable")
    parser.add_argument("--only", choices=["catch-up", "push"], action="append")
    args = parser.parse_args(argv)
    baseline_events = args.baseline_events or min(args.events, 10_000)
    chosen = set(args.only or ["catch-up", "push"])
    consumers = args.consumer or list(CONSUMERS)

    bench = BenchRun.start(
        "consumers",
        argv,
        {"catch_up_events_per_s": TARGETS_EVENTS_S, "push_p99_ms": TARGET_PUSH_P99_MS},
    )
    base, run_tag, logs, result = bench.base, bench.tag, bench.logs, bench.result
    failed = False
    runs: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        (
            "catch-up",
            lambda: scenario_catch_up(
                base, run_tag, args.events, args.batch, baseline_events, consumers, logs
            ),
        ),
        (
            "push",
            lambda: scenario_push(
                base, run_tag, args.actions_rate, args.actions_seconds, args.action_threads, logs
            ),
        ),
    ]
    for key, run in runs:
        if key not in chosen:
            continue
        name = key.replace("-", "_")
        try:
            result[name] = run()
        except Exception as error:  # keep the other scenario's figures
            failed = True
            console.print_exception()
            result[name] = {"error": f"{type(error).__name__}: {error}"}
        console.log(f"done: {key}")
    for entry in result.get("catch_up", {}).get("consumers", {}).values():
        failed |= any("error" in run for run in entry.values() if isinstance(run, dict))
    bench.save()
    render(result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
