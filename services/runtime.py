"""Running the services: API, relay, projections and flow intake, in one process or each in
its own."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn
from prometheus_client import start_http_server

from facturier.adapters.documents import DocumentStore
from facturier.config.settings import Settings
from facturier.projections.accounting.projection import AccountingProjection, ChartOfAccounts
from facturier.projections.notifications.projection import NotificationsProjection
from facturier.projections.notifications.sender import run_email_sender
from facturier.projections.payment_delays.projection import PaymentDelaysProjection
from facturier.projections.runner import ProjectionRunner
from facturier.projections.tracking.projection import TrackingProjection
from facturier.services.application.directory import DirectoryApp
from facturier.services.application.flows import FlowIntake, FlowProcessor
from facturier.services.application.invoicing import InvoicingApp
from facturier.services.health import Monitor, Position
from facturier.services.http.app import create_app
from facturier.services.relay import Relay

log = logging.getLogger("facturier")


def run_relay(settings: Settings, stop: threading.Event) -> None:
    app = InvoicingApp(settings)
    try:
        Relay(app, settings).run(stop)
    finally:
        app.close()


def run_tracking(settings: Settings, stop: threading.Event) -> None:
    ProjectionRunner(TrackingProjection(settings.tracking.group), settings).run(stop)


def run_accounting(settings: Settings, stop: threading.Event) -> None:
    projection = AccountingProjection(
        settings.accounting.group, ChartOfAccounts.from_settings(settings)
    )
    ProjectionRunner(projection, settings).run(stop)


def run_payment_delays(settings: Settings, stop: threading.Event) -> None:
    projection = PaymentDelaysProjection(
        settings.payment_delays.group, settings.payment_delays.late_interest_reference_rate
    )
    ProjectionRunner(projection, settings).run(stop)


def run_notifications(settings: Settings, stop: threading.Event) -> None:
    projection = NotificationsProjection(
        settings.notifications.group, settings.notifications.max_age_hours
    )
    ProjectionRunner(projection, settings).run(stop)


def run_flows(settings: Settings, stop: threading.Event) -> None:
    directory = DirectoryApp(settings)
    routing = directory if settings.intake.routing == "directory" else None
    app = InvoicingApp(settings, directory=routing)
    documents = DocumentStore(settings.postgres)
    intake = FlowIntake(app, documents, settings)
    try:
        ProjectionRunner(FlowProcessor(intake, settings), settings).run(stop)
    finally:
        intake.close()
        documents.close()
        app.close()
        directory.close()


class _ApiServer(uvicorn.Server):
    """Ends the live streams (services/http/live.py) as soon as it is asked to stop: uvicorn waits
    for open responses to finish first, and an event stream never finishes by itself."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        live = getattr(getattr(self.config.app, "state", None), "live", None)
        if live is not None:
            live.shutdown_soon()


def _supervised(
    name: str,
    target: Callable[[Settings, threading.Event], None],
    settings: Settings,
    stop: threading.Event,
    monitor: Monitor,
) -> threading.Thread:
    def body() -> None:
        while not stop.is_set():
            try:
                target(settings, stop)
            except Exception as error:  # keep the service up; the error is logged with its trace
                log.exception("%s failed; restarting in 2 s", name)
                monitor.failed(name, error)  # /health says so until it runs a minute again
                stop.wait(2.0)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread


def _probe(monitor: Monitor, settings: Settings, service: str) -> Callable[[], Position] | None:
    """How the monitor measures a service's lag from outside its loop."""
    groups = {
        "tracking-projection": (settings.tracking.group, settings.kafka.topic),
        "accounting-journal": (settings.accounting.group, settings.kafka.topic),
        "payment-delays": (settings.payment_delays.group, settings.kafka.topic),
        "notifications": (settings.notifications.group, settings.kafka.topic),
        "flow-intake": (settings.intake.flow_group, settings.kafka.flow_topic),
    }
    if service == "relay":
        return monitor.relay_probe()
    if service in groups:
        return monitor.group_probe(*groups[service])
    return None  # the e-mail sender: its outbox is counted by its own metrics


def serve(
    settings: Settings,
    api: bool,
    relay: bool,
    projection: bool,
    accounting: bool = False,
    payment_delays: bool = False,
    flows: bool = False,
    notifications: bool = False,
) -> None:
    """Run the chosen services until SIGINT/SIGTERM. With the API, its /metrics also shows
    the relay's and projection's metrics (same process); without it, each exposes its own
    Prometheus port."""
    stop = threading.Event()
    chosen = [
        (name, target, port)
        for wanted, name, target, port in (
            (relay, "relay", run_relay, settings.relay.metrics_port),
            (projection, "tracking-projection", run_tracking, settings.tracking.metrics_port),
            (accounting, "accounting-journal", run_accounting, settings.accounting.metrics_port),
            (
                payment_delays,
                "payment-delays",
                run_payment_delays,
                settings.payment_delays.metrics_port,
            ),
            (flows, "flow-intake", run_flows, settings.intake.metrics_port),
            # The outbox projection and its SMTP sender: one service, two threads.
            (
                notifications,
                "notifications",
                run_notifications,
                settings.notifications.metrics_port,
            ),
            (notifications, "email-sender", run_email_sender, settings.notifications.metrics_port),
        )
        if wanted
    ]
    if chosen and not api:  # one Prometheus port per process: the first service's
        start_http_server(chosen[0][2], addr=settings.api.host)
    monitor = Monitor(settings)
    for name, _, _ in chosen:
        monitor.watch(name, _probe(monitor, settings, name))
    workers = [_supervised(name, target, settings, stop, monitor) for name, target, _ in chosen]
    if chosen:
        workers.append(threading.Thread(target=monitor.run, args=(stop,), name="monitor"))
        workers[-1].start()
    if api:
        config = uvicorn.Config(
            create_app(settings),
            host=settings.api.host,
            port=settings.api.port,
            log_level="warning",
        )
        server = _ApiServer(config)
        server.run()
        if not server.started:  # as uvicorn.run: a failed startup is an error exit
            stop.set()
            raise SystemExit(3)
    else:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
