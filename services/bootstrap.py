"""The composition root: the one place that turns the configuration into running parts.

A process reads its configuration once (`Settings.from_env`, in the CLI) and asks this module
for what it runs: the API app, each background service, the health monitor. Each part is
given only the sections it uses (`settings.postgres`, `settings.kafka`, `settings.smtp`, …);
nothing below this module reads the environment or sees the whole configuration.

A service is a function that builds its parts, runs until `stop` is set, and closes them:
the runtime calls it again after a failure, so every restart starts from fresh connections.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from facturier.adapters.documents import DocumentStore
from facturier.config.settings import Settings
from facturier.projections.accounting.projection import AccountingProjection, ChartOfAccounts
from facturier.projections.authorisation.projection import AuthorisationProjection
from facturier.projections.notifications.projection import NotificationsProjection
from facturier.projections.notifications.sender import EmailSender
from facturier.projections.payment_delays.projection import PaymentDelaysProjection
from facturier.projections.runner import Projection, ProjectionRunner
from facturier.projections.tracking.projection import TrackingProjection
from facturier.services.application.accounts import AccountsApp
from facturier.services.application.directory import DirectoryApp
from facturier.services.application.flows import FlowIntake, FlowProcessor
from facturier.services.application.invoicing import InvoicingApp
from facturier.services.health import Monitor, Position
from facturier.services.http.app import create_app
from facturier.services.http.dependencies import Dependencies
from facturier.services.live_hub import LiveHub
from facturier.services.portal.errors import page_for
from facturier.services.portal.live import add_labels, portal_live_routes
from facturier.services.portal.routes import web_routes
from facturier.services.relay import AccessRelay, Relay

Run = Callable[[threading.Event], None]


@dataclass(frozen=True)
class Service:
    """A background service: its name (in /health and the logs), how it runs, the Prometheus
    port it exposes when the process has no API, and how the health monitor measures its lag
    from outside its loop (None: its own metrics count its work)."""

    name: str
    run: Run
    metrics_port: int
    probe: Callable[[Monitor], Callable[[], Position]] | None = None


def api(settings: Settings) -> FastAPI:
    """The JSON API and the portal, served by one app over one set of collaborators."""
    deps = Dependencies(settings, LiveHub(settings.postgres.dsn, annotate=add_labels))
    portal = web_routes(
        pool=lambda: deps.pool,
        submissions=lambda: deps.running.submissions,
        directory=lambda: deps.running.directory,
        registration=lambda: deps.running.registration,
        sign_in=lambda: deps.running.sign_in,
        organisations=lambda: deps.running.organisations,
        consents=lambda: deps.running.consents,
        authorisation=deps.authorisation,
        technical_accounts=lambda: deps.running.technical_accounts,
        flows=lambda: deps.running.flows,
        subscriptions=deps.subscriptions,
        guard=deps.guard,
    )
    live = portal_live_routes(lambda: deps.live, pool=lambda: deps.pool)
    return create_app(deps, rooms=(live, portal), page_for=page_for)


def monitor(settings: Settings) -> Monitor:
    return Monitor(settings.postgres, settings.kafka)


def relay(settings: Settings) -> Service:
    def run(stop: threading.Event) -> None:
        app = InvoicingApp(settings.postgres)
        try:
            Relay(app, settings.postgres, settings.kafka, settings.relay).run(stop)
        finally:
            app.close()

    return Service("relay", run, settings.relay.metrics_port, Monitor.relay_probe)


def access_relay(settings: Settings) -> Service:
    """Accounts and organisations to the access topic."""

    def run(stop: threading.Event) -> None:
        app = AccountsApp(settings.postgres)
        try:
            name = settings.kafka.access_topic
            AccessRelay(app, settings.postgres, settings.kafka, settings.relay, name).run(stop)
        finally:
            app.close()

    port = settings.relay.access_metrics_port
    return Service("access-relay", run, port, Monitor.access_relay_probe)


def _projection(
    settings: Settings,
    name: str,
    port: int,
    group: str,
    make: Callable[[], Projection],
    topic: str | None = None,
) -> Service:
    def run(stop: threading.Event) -> None:
        ProjectionRunner(make(), settings.postgres, settings.kafka).run(stop)

    read = topic or settings.kafka.topic
    return Service(name, run, port, lambda monitor: monitor.group_probe(group, read))


def authorisation(settings: Settings) -> Service:
    section, topic = settings.authorisation, settings.kafka.access_topic
    return _projection(
        settings,
        "authorisation",
        section.metrics_port,
        section.group,
        lambda: AuthorisationProjection(section.group, topic),
        topic,
    )


def tracking(settings: Settings) -> Service:
    section = settings.tracking
    return _projection(
        settings,
        "tracking-projection",
        section.metrics_port,
        section.group,
        lambda: TrackingProjection(section.group),
    )


def accounting(settings: Settings) -> Service:
    section = settings.accounting
    return _projection(
        settings,
        "accounting-journal",
        section.metrics_port,
        section.group,
        lambda: AccountingProjection(section.group, ChartOfAccounts.of(section)),
    )


def payment_delays(settings: Settings) -> Service:
    section = settings.payment_delays
    return _projection(
        settings,
        "payment-delays",
        section.metrics_port,
        section.group,
        lambda: PaymentDelaysProjection(section.group, section.late_interest_reference_rate),
    )


def notifications(settings: Settings) -> Service:
    section = settings.notifications
    return _projection(
        settings,
        "notifications",
        section.metrics_port,
        section.group,
        lambda: NotificationsProjection(section.group, section.max_age_hours),
    )


def email_sender(settings: Settings) -> Service:
    def run(stop: threading.Event) -> None:
        EmailSender(settings.smtp, settings.notifications, settings.postgres).run(stop)

    # The outbox's own metrics count its work; it shares the notifications' port.
    return Service("email-sender", run, settings.notifications.metrics_port)


def flow_intake(settings: Settings) -> Service:
    def run(stop: threading.Event) -> None:
        directory = DirectoryApp(settings.postgres)
        routing = directory if settings.intake.routing == "directory" else None
        app = InvoicingApp(settings.postgres, directory=routing)
        documents = DocumentStore(settings.postgres)
        intake = FlowIntake(app, documents, settings.intake)
        try:
            processor = FlowProcessor(intake, settings.intake.flow_group, settings.kafka.flow_topic)
            ProjectionRunner(processor, settings.postgres, settings.kafka).run(stop)
        finally:
            intake.close()
            documents.close()
            app.close()
            directory.close()

    group, topic = settings.intake.flow_group, settings.kafka.flow_topic
    return Service(
        "flow-intake",
        run,
        settings.intake.metrics_port,
        lambda monitor: monitor.group_probe(group, topic),
    )


# What `facturier serve` runs by default, in start order, by the name its flag gives; the
# notifications (outbox projection and SMTP sender) need an SMTP server and are asked for
# explicitly.
DEFAULT: dict[str, Callable[[Settings], Service]] = {
    "relay": relay,
    "access_relay": access_relay,
    "authorisation": authorisation,
    "projection": tracking,
    "accounting": accounting,
    "payment_delays": payment_delays,
    "flows": flow_intake,
}
NOTIFICATIONS: tuple[Callable[[Settings], Service], ...] = (notifications, email_sender)
