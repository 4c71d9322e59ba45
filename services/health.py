"""Whether each stage of the pipeline is alive and moving, told from outside its loop.

Every `facturier serve` process runs one `Monitor` thread. Every few seconds it measures, for
each service the process runs, how far behind it is — the relay from the event store and its
saved position, each consumer group from the topic's end offsets and the offsets stored with
its rows — and records a heartbeat row in `service_status`. The measure does not go through
the service's own loop, so it goes on (and the lag metrics with it) while that loop is failing
and being restarted. `/health` and `facturier status` read those rows: a stage is unhealthy
when no live instance beats, when it is failing (restarted in the last minute), or when it has
work waiting and has not moved for `FACTURIER_HEALTH_STUCK_S`. Dead letters are counted
beside them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition

from facturier.adapters import metrics
from facturier.adapters.postgres import apply_schema, connect
from facturier.config.settings import KafkaSettings, PostgresSettings

log = logging.getLogger("facturier.health")

BEAT_S = 2.0
# A heartbeat older than this: the instance is gone (killed, its machine lost).
FRESH_S = 15.0
# Restarted within this: still failing, even if its new loop has not failed yet.
FAILING_S = 60.0
# Heartbeats of instances gone for longer are no longer reported.
FORGOTTEN_S = 24 * 3600.0

Position = tuple[int, int]  # (how far it got, how much is waiting)


@dataclass
class _Watched:
    service: str
    probe: Callable[[], Position] | None
    state: str = "running"
    restarts: int = 0
    last_error: str | None = None
    failed_at: float | None = None
    position: int | None = None
    lag: int | None = None
    progress_at: float = field(default_factory=time.time)


class Monitor:
    """The heartbeat thread of one process (see the module's docstring)."""

    def __init__(self, postgres: PostgresSettings, kafka: KafkaSettings) -> None:
        self.postgres = postgres
        self.kafka = kafka
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = datetime.now(UTC)
        self._watched: dict[str, _Watched] = {}
        self._lock = threading.Lock()
        self._offsets: KafkaConsumer | None = None

    # what the supervisor tells

    def watch(self, service: str, probe: Callable[[], Position] | None) -> None:
        self._watched[service] = _Watched(service, probe)

    def failed(self, service: str, error: BaseException) -> None:
        with self._lock:
            watched = self._watched[service]
            watched.state = "failing"
            watched.restarts += 1
            watched.failed_at = time.time()
            watched.last_error = f"{type(error).__name__}: {error}"[:2000]
        metrics.SERVICE_RESTARTS.labels(service).inc()
        metrics.SERVICE_UP.labels(service).set(0)

    # the thread

    def run(self, stop: threading.Event) -> None:
        apply_schema(self.postgres, "health")
        try:
            while not stop.is_set():
                try:
                    self.beat()
                except Exception:  # a beat lost is a beat late: the next one tries again
                    log.exception("heartbeat failed")
                stop.wait(BEAT_S)
            self.beat(stopping=True)
        finally:
            if self._offsets is not None:
                self._offsets.close()

    def beat(self, stopping: bool = False) -> None:
        now = time.time()
        rows = []
        for watched in list(self._watched.values()):
            self._measure(watched, now)
            state = "stopped" if stopping else watched.state
            metrics.SERVICE_UP.labels(watched.service).set(state == "running")
            rows.append(
                (
                    watched.service,
                    self.instance,
                    self.started_at,
                    state,
                    watched.restarts,
                    watched.last_error,
                    _at(watched.failed_at),
                    watched.position,
                    watched.lag,
                    _at(watched.progress_at),
                )
            )
        with connect(self.postgres) as conn:
            conn.cursor().executemany(
                "INSERT INTO service_status (service, instance, started_at, beat_at, state,"
                " restarts, last_error, failed_at, position, lag, progress_at)"
                " VALUES (%s, %s, %s, now(), %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (service, instance) DO UPDATE SET beat_at = now(),"
                " state = EXCLUDED.state, restarts = EXCLUDED.restarts,"
                " last_error = EXCLUDED.last_error, failed_at = EXCLUDED.failed_at,"
                " position = EXCLUDED.position, lag = EXCLUDED.lag,"
                " progress_at = EXCLUDED.progress_at",
                rows,
            )

    def _measure(self, watched: _Watched, now: float) -> None:
        if watched.probe is not None:
            try:
                position, lag = watched.probe()
            except Exception as error:  # the broker or the database is away: said, not fatal
                log.warning("cannot measure %s: %s", watched.service, error)
                watched.lag = None
            else:
                if lag == 0 or position != watched.position:
                    watched.progress_at = now
                watched.position, watched.lag = position, lag
        else:
            watched.progress_at = now
        with self._lock:
            recovered = watched.failed_at is None or now - watched.failed_at > FAILING_S
            if watched.state == "failing" and recovered:
                watched.state = "running"

    # probes

    def relay_probe(self) -> Callable[[], Position]:
        """Events in the store not yet published (the notification log's end minus the
        relay's saved position)."""
        return self._relay_probe("invoicing_events", self.kafka.topic, metrics.RELAY_LAG.set)

    def access_relay_probe(self) -> Callable[[], Position]:
        """The same for the accounts' store and the access topic."""
        return self._relay_probe("accounts_events", self.kafka.access_topic)

    def _relay_probe(
        self, table: str, name: str, report: Callable[[int], None] = lambda lag: None
    ) -> Callable[[], Position]:
        def probe() -> Position:
            with connect(self.postgres) as conn:
                row = conn.execute(
                    f"SELECT (SELECT coalesce(max(notification_id), 0) FROM {table}),"
                    " (SELECT position FROM relay_position WHERE name = %s)",
                    (name,),
                ).fetchone()
            newest, position = (int(row[0]), int(row[1] or 0)) if row else (0, 0)
            lag = max(0, newest - position)
            report(lag)
            return position, lag

        return probe

    def group_probe(self, group_id: str, topic: str) -> Callable[[], Position]:
        """Messages on the topic after the offsets the group stored with its rows."""

        def probe() -> Position:
            ends = self._end_offsets(topic)
            with connect(self.postgres) as conn:
                stored = dict(
                    conn.execute(
                        "SELECT partition, next_offset FROM consumer_offsets"
                        " WHERE group_id = %s AND topic = %s",
                        (group_id, topic),
                    ).fetchall()
                )
            lag = 0
            for partition, end in ends.items():
                behind = max(0, end - stored.get(partition, 0))
                metrics.CONSUMER_LAG.labels(group_id, str(partition)).set(behind)
                lag += behind
            return sum(stored.values()), lag

        return probe

    def _end_offsets(self, topic: str) -> dict[int, int]:
        if self._offsets is None:
            self._offsets = KafkaConsumer(
                bootstrap_servers=self.kafka.bootstrap,
                client_id="facturier-health",
                enable_auto_commit=False,
                request_timeout_ms=5000,
            )
        partitions = self._offsets.partitions_for_topic(topic) or set()
        ends = self._offsets.end_offsets([TopicPartition(topic, p) for p in partitions])
        return {tp.partition: int(offset) for tp, offset in ends.items()}


def _at(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


# ---------------------------------------------------------------- the report


def report(conn: psycopg.Connection[Any], stuck_s: float = 60.0) -> dict[str, Any]:
    """Each service's status from its instances' heartbeats, and the dead letters; `status`
    is "ok" or "unhealthy". Work waiting and no progress for `stuck_s`: stuck."""
    services: dict[str, dict[str, Any]] = {}
    if _exists(conn, "service_status"):
        rows = conn.execute(
            "SELECT service, instance, state, restarts, last_error, failed_at, lag,"
            " extract(epoch FROM now() - beat_at), extract(epoch FROM now() - progress_at)"
            " FROM service_status WHERE beat_at > now() - make_interval(secs => %s)"
            " ORDER BY service, instance",
            (FORGOTTEN_S,),
        ).fetchall()
        for service, instance, state, restarts, error, failed_at, lag, age, idle in rows:
            entry = services.setdefault(service, {"instances": []})
            live = state != "stopped" and float(age) <= FRESH_S
            stuck = live and bool(lag) and idle is not None and float(idle) > stuck_s
            entry["instances"].append(
                {
                    "instance": instance,
                    "status": _instance_status(state, live, stuck),
                    "lag": lag,
                    "seconds_since_beat": round(float(age), 1),
                    "restarts": restarts,
                    "last_error": error,
                    "failed_at": failed_at,
                }
            )
    for entry in services.values():
        states = {i["status"] for i in entry["instances"]}
        live = [i for i in entry["instances"] if i["status"] not in ("down", "stopped")]
        if "ok" in states:
            entry["status"] = "ok"
        elif live:
            entry["status"] = "stuck" if "stuck" in states else "failing"
        else:
            entry["status"] = "stopped" if states == {"stopped"} else "down"
        lags = [i["lag"] for i in live if i["lag"] is not None]
        entry["lag"] = min(lags) if lags else None
    dead = dead_letters(conn)
    healthy = all(s["status"] in ("ok", "stopped") for s in services.values())
    return {
        "status": "ok" if healthy else "unhealthy",
        "services": services,
        "dead_letters": dead,
    }


def _instance_status(state: str, live: bool, stuck: bool) -> str:
    if state == "stopped":
        return "stopped"
    if not live:
        return "down"
    if state == "failing":
        return "failing"
    return "stuck" if stuck else "ok"


def dead_letters(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Dead letters kept, by consumer group (and `relay` for the relay's)."""
    counts: dict[str, int] = {}
    if _exists(conn, "dead_letters"):
        for group, count in conn.execute(
            "SELECT group_id, count(*) FROM dead_letters GROUP BY group_id"
        ).fetchall():
            counts[str(group)] = int(count)
    if _exists(conn, "relay_dead_letters"):
        row = conn.execute("SELECT count(*) FROM relay_dead_letters").fetchone()
        if row and row[0]:
            counts["relay"] = int(row[0])
    return counts


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])
