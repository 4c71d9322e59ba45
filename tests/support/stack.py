"""The running platform as the integration tests drive it: free ports, `facturier serve`
processes, the API with its tokens, waiting for what happens asynchronously."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
from kafka import KafkaAdminClient

from facturier.config.settings import Settings
from facturier.services.application.authentication import create_token
from facturier.services.application.principals import ApiRole
from tests.support.data import BUYER, OTHER_BUYER, OTHER_SUPPLIER, ROOT, SUPPLIER


def stack_error(settings: Settings) -> str | None:
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


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)
