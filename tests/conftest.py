"""Shared fixtures. Integration tests run against the real PostgreSQL and Kafka that
`facturier up` starts (`deploy/local/test.sh` starts them); each test gets its own database
and topic, so tests never see each other's events."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaAdminClient

from facturier.config.settings import Settings
from tests.support.smtp import Inbox
from tests.support.stack import (
    Api,
    Service,
    free_port,
    running_api,
    stack_error,
)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = Settings.from_env()
    problem = stack_error(settings)
    if problem:  # a failure, not a skip: these tests must run
        pytest.fail(f"the stack is not running ({problem}); start it with `facturier up`")
    return settings


@pytest.fixture(scope="module")
def make_settings(base_settings: Settings) -> Iterator[Callable[[], Settings]]:
    """Settings on a new database and a new topic, dropped afterwards."""
    created: list[Settings] = []

    def make() -> Settings:
        tag = uuid.uuid4().hex[:10]
        settings = base_settings.replaced(
            pg_db=f"facturier_test_{tag}",
            topic=f"invoice-lifecycle-test-{tag}",
            flow_topic=f"invoice-flows-test-{tag}",
            access_topic=f"access-test-{tag}",
            authorisation_group=f"authorisation-test-{tag}",
            # A consumer group per test: two servers alive at once never share one.
            tracking_group=f"tracking-test-{tag}",
            accounting_group=f"accounting-test-{tag}",
            payment_delays_group=f"payment-delays-test-{tag}",
            flow_group=f"flow-intake-test-{tag}",
            api_port=free_port(),
            # Processes without the API expose metrics on their own port: never a fixed one,
            # which another test, or another checkout's suite, may be holding.
            relay_metrics_port=free_port(),
            projection_metrics_port=free_port(),
            accounting_metrics_port=free_port(),
            payment_delays_metrics_port=free_port(),
            flow_metrics_port=free_port(),
            notifications_metrics_port=free_port(),
            authorisation_metrics_port=free_port(),
            access_relay_metrics_port=free_port(),
        )
        with psycopg.connect(base_settings.postgres.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{settings.postgres.db}"')
        created.append(settings)
        return settings

    yield make
    with psycopg.connect(base_settings.postgres.dsn, autocommit=True) as conn:
        for settings in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{settings.postgres.db}" WITH (FORCE)')
    admin = KafkaAdminClient(bootstrap_servers=base_settings.kafka.bootstrap)
    try:
        existing = set(admin.list_topics())
        topics = [(s.kafka.topic, s.kafka.flow_topic, s.kafka.access_topic) for s in created]
        doomed = [t for named in topics for t in named if t in existing]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


@pytest.fixture
def settings(make_settings: Callable[[], Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    services: list[Service] = []

    def start(settings: Settings, *flags: str) -> Service:
        service = Service(settings, *flags, log=tmp_path / f"service-{len(services)}.log")
        services.append(service)
        return service

    yield start
    for service in services:
        service.stop()


@pytest.fixture(scope="module")
def api(
    make_settings: Callable[[], Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """A running API with every service, for the test module: see `running_api`."""
    settings = make_settings()
    with running_api(settings, Path(tmp_path_factory.mktemp("api")) / "serve.log") as client:
        yield client


@pytest.fixture(scope="module")
def caught_mail() -> Iterator[Inbox]:
    """A real SMTP server keeping what it receives, for the test module."""
    box = Inbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def mailing_api(
    make_settings: Callable[[], Settings],
    caught_mail: Inbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Api]:
    """A running API (with the relays, the tracking and authorisation projections) whose mails go to
    `caught_mail`, its links pointing at https://portal.example."""
    settings = make_settings().replaced(
        smtp_host="127.0.0.1", smtp_port=caught_mail.port, portal_url="https://portal.example"
    )
    log = Path(tmp_path_factory.mktemp("mailing-api")) / "serve.log"
    flags = ("--api", "--relay", "--projection", "--access-relay", "--authorisation")
    with running_api(settings, log, *flags) as api:
        yield api
