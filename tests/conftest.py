"""Shared fixtures. Integration tests run against the real PostgreSQL and Kafka that
`facturier up` starts (`deploy/local/test.sh` starts them); each test gets its own database
and topic, so tests never see each other's events."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from kafka import KafkaAdminClient

from facturier.config.settings import Settings
from facturier.domain.model import (
    Address,
    InvoiceData,
    InvoiceKind,
    PaymentMeans,
    SupplierScheme,
    line,
    vat_breakdown_of,
)
from facturier.services.application.authentication import create_token
from facturier.services.application.principals import ApiRole

ROOT = Path(__file__).resolve().parent.parent
SUPPLIER = "73282932000074"
OTHER_SUPPLIER = "54205118000066"
BUYER = "11000201100044"
OTHER_BUYER = "21750001600019"


def fullwidth(text: str) -> str:
    """`text` with its ASCII letters and digits in their fullwidth look-alikes."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def arabic_indic(digits: str) -> str:
    """ASCII digits written as Arabic-Indic digits (U+0660...)."""
    return "".join(chr(0x0660 + int(c)) for c in digits)


def invoice_data(
    number: str = "F-0001",
    supplier: str = SUPPLIER,
    buyer: str = BUYER,
    net: str = "100.00",
    vat: str = "20.00",
) -> InvoiceData:
    """A complete invoice as a portal entry makes it: one line, its VAT breakdown, the
    seller's VAT number and address, an IBAN."""
    rate = (Decimal(vat) * 100 / Decimal(net)).normalize() if Decimal(net) else Decimal(20)
    lines = (line("1", "Fournitures", Decimal(1), Decimal(net), rate),)
    breakdown = vat_breakdown_of(lines)
    gross = Decimal(net) + Decimal(vat)
    siren = supplier[:9]
    return InvoiceData(
        supplier_scheme=SupplierScheme.SIRET,
        supplier_id=supplier,
        supplier_name="ACME",
        supplier_vat_number=f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}",
        supplier_address=Address("1 rue de la Paix", "", "Paris", "75002", "FR"),
        recipient_siret=buyer,
        recipient_name="Structure publique",
        service_code="SERV-1",
        order_reference="EJ00000001",
        number=number,
        kind=InvoiceKind.INVOICE,
        issue_date=date(2026, 3, 2),
        due_date=date(2026, 4, 1),
        currency="EUR",
        lines=lines,
        vat_breakdown=breakdown,
        line_total=Decimal(net),
        net_amount=Decimal(net),
        vat_amount=Decimal(vat),
        gross_amount=gross,
        payable_amount=gross,
        payment_means=(PaymentMeans("58", "FR7630006000011234567890189"),),
    )


def invoice_body(number: str, supplier: str = SUPPLIER, **changes: Any) -> dict[str, Any]:
    """`POST /invoices` to a buyer of the test directory; `changes` replace top-level fields."""
    invoice: dict[str, Any] = {
        "supplier": {"scheme": "SIRET", "id": supplier, "name": "Papeterie Durand"},
        "recipient_siret": BUYER,
        "service_code": "SE-01",
        "order_reference": "EJ00004242",
        "number": number,
        "issue_date": "2026-04-01",
        "lines": [
            {"name": "Ramettes A4", "quantity": "200", "unit_price": "5.00", "vat_rate": "20"}
        ],
        "payment": {"iban": "FR7630006000011234567890189"},
        "net_amount": "1000.00",
        "vat_amount": "200.00",
    }
    invoice.update(changes)
    return invoice


def _stack_error(settings: Settings) -> str | None:
    try:
        psycopg.connect(settings.postgres.dsn, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        return f"PostgreSQL at {settings.postgres.host}:{settings.postgres.port}: {error}"
    try:
        KafkaAdminClient(
            bootstrap_servers=settings.kafka.bootstrap, request_timeout_ms=5000
        ).close()
    except Exception as error:
        return f"Kafka at {settings.kafka.bootstrap}: {error}"
    return None


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = Settings.from_env()
    problem = _stack_error(settings)
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
        doomed = [t for s in created for t in (s.kafka.topic, s.kafka.flow_topic) if t in existing]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


@pytest.fixture
def settings(make_settings: Callable[[], Settings]) -> Settings:
    return make_settings()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """A `facturier serve ...` child process, killable like a real deployment's."""

    def __init__(self, settings: Settings, *flags: str, log: Path) -> None:
        env = {**os.environ, **settings.to_env(), "FACTURIER_LOG_LEVEL": "INFO"}
        self.log = log
        self._out = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facturier.services.cli.main", "serve", *flags],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, no leaving the consumer group."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


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


DEMO_DIRECTORY = ROOT / "deploy" / "demo" / "directory.json"


def load_directory(base_url: str, admin_token: str) -> None:
    """Register the test buyers (the demo's directory) through the admin API."""
    import json

    response = httpx.post(
        f"{base_url}/directory",
        json=json.loads(DEMO_DIRECTORY.read_text()),
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


class Api:
    """A client of a running API, with one token per test role."""

    def __init__(self, settings: Settings, tokens: dict[str, str]) -> None:
        self.settings = settings
        self.base = f"http://127.0.0.1:{settings.api.port}"
        self.tokens = tokens

    def call(
        self,
        method: str,
        path: str,
        who: str | None,
        body: object = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.request(
            method, self.base + path, json=body, headers=headers, params=params, timeout=30
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/health/live").status_code == 200
        except httpx.HTTPError:
            return False


@contextlib.contextmanager
def running_api(settings: Settings, log: Path, *flags: str) -> Iterator[Api]:
    """`facturier serve` (API, relay, projections) on `settings`, with tokens for a supplier,
    another supplier, a buyer, another buyer, an auditor and an admin, and the test buyers
    in the directory. `flags` choose the services (default: all)."""
    service = Service(settings, *flags, log=log)
    try:
        api = Api(settings, {})
        wait_until(api.healthy, 60, "the API to answer")
        with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
            api.tokens.update(
                supplier=create_token(conn, ApiRole.SUPPLIER, SUPPLIER, "t"),
                other_supplier=create_token(conn, ApiRole.SUPPLIER, OTHER_SUPPLIER, "t"),
                buyer=create_token(conn, ApiRole.BUYER, BUYER, "t"),
                other_buyer=create_token(conn, ApiRole.BUYER, OTHER_BUYER, "t"),
                auditor=create_token(conn, ApiRole.AUDITOR, "*", "t"),
                admin=create_token(conn, ApiRole.ADMIN, "*", "t"),
            )
        load_directory(api.base, api.tokens["admin"])
        yield api
    finally:
        service.stop()
        print(service.output()[-3000:])


@pytest.fixture(scope="module")
def api(
    make_settings: Callable[[], Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """A running API with every service, for the test module: see `running_api`."""
    settings = make_settings()
    with running_api(settings, Path(tmp_path_factory.mktemp("api")) / "serve.log") as client:
        yield client


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)
