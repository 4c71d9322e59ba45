"""One event no stage can handle never stops the platform: each stage sets it aside as a dead
letter with its error, counts it, and goes on; `/health` tells the truth about each stage.

The poisons are written the way old or hostile data would reach a stage: straight into the
event store, past the rules that now refuse them at the door (an amount the Avro contract
cannot hold; a NUL character, which PostgreSQL text refuses), and straight onto the topics
(bytes that are no Avro message)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from kafka import KafkaProducer

from facturier.config.settings import Settings
from facturier.domain.invoice import Invoice
from facturier.domain.model import SubmissionMode
from facturier.intake.canonical import to_cii
from facturier.services.application.invoicing import InvoicingApp
from tests.integration.test_flows import final_report, upload
from tests.support.data import invoice_body, invoice_data
from tests.support.stack import Api, Service, running_api, wait_until

pytestmark = pytest.mark.stack

GROUPS = ("tracking", "accounting", "payment_delays")  # their sections in Settings


def facturier_status(settings: Settings) -> subprocess.CompletedProcess[str]:
    """`facturier status` on these settings."""
    return subprocess.run(
        [sys.executable, "-m", "facturier.services.cli.main", "status"],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _rows(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.postgres.dsn) as conn:
        return conn.execute(sql, params).fetchall()


def _record_past_the_rules(settings: Settings, *invoices: Invoice) -> None:
    """Save aggregates built without `Invoice.submit`'s checks (as recorded by older code)."""
    app = InvoicingApp(settings.postgres)
    try:
        app.save(*invoices)
    finally:
        app.close()


def _unchecked(number: str, **changes: Any) -> Invoice:
    return Invoice(
        data=replace(invoice_data(number), **changes), mode=SubmissionMode.EDI, actor="old"
    )


def _flows_through(api: Api, number: str) -> str:
    """Submit, take in hand, certify, order and pay an invoice through the API; wait until the
    tracking view, the accounting journal and the payment delays all have it."""
    created = api.call("POST", "/invoices", "supplier", invoice_body(number))
    assert created.status_code == 201, created.text
    invoice_id = str(created.json()["invoice_id"])
    for action, body in (
        ("take-in-hand", None),
        ("certify-service-done", None),
        ("order-payment", {"payment_order_number": f"M-{number}"}),
        ("pay", {"amount": "1200.00", "payment_date": "2026-05-02", "payment_reference": "V"}),
    ):
        done = api.call("POST", f"/invoices/{invoice_id}/{action}", "buyer", body)
        assert done.status_code == 200, done.text
    wait_until(
        lambda: (
            api.call("GET", f"/invoices/{invoice_id}", "supplier").json().get("status")
            == "MISE_EN_PAIEMENT"
        ),
        60,
        f"{number} paid in the tracking view",
    )
    settings = api.settings
    wait_until(
        lambda: bool(
            _rows(
                settings,
                "SELECT 1 FROM payment_delay WHERE invoice_id = %s AND paid_amount IS NOT NULL",
                invoice_id,
            )
        ),
        60,
        f"{number} paid in the payment delays",
    )
    wait_until(
        lambda: (
            len(_rows(settings, "SELECT 1 FROM accounting_entry WHERE invoice_id = %s", invoice_id))
            >= 2
        ),
        60,
        f"{number} booked and paid in the journal",
    )
    return invoice_id


def test_a_poisoned_event_at_each_stage_is_set_aside_and_the_next_invoices_flow(
    make_settings: Callable[[], Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    with running_api(settings, tmp_path / "serve.log") as api:
        # Before: the pipeline runs.
        _flows_through(api, "BEFORE-1")

        # The relay's poison: 200 x 50,000,000,000,000 at 20 %, beyond Avro decimal(18, 2).
        huge = Decimal("10000000000000000.00")
        relay_poison = _unchecked(
            "POISON-RELAY",
            net_amount=huge,
            vat_amount=huge / 5,
            gross_amount=huge * 6 / 5,
            payable_amount=huge * 6 / 5,
            line_total=None,
            lines=(),
            vat_breakdown=(),
        )
        # The projections' poison: a NUL character in a text every read model stores.
        projection_poison = _unchecked(
            "POISON-NUL", supplier_id="73282932000074\x00", supplier_name="Acme\x00SARL"
        )
        projection_poison.route()
        projection_poison.make_available()
        _record_past_the_rules(settings, relay_poison, projection_poison)
        # And bytes that are no message at all, on both topics.
        producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
        producer.send(settings.kafka.topic, key=b"garbage", value=b"\x00not avro")
        producer.send(settings.kafka.flow_topic, key=b"garbage", value=b"not avro either")
        producer.flush()
        producer.close()

        # After: invoices still flow end to end, through every stage, and so do flows.
        for n in range(3):
            _flows_through(api, f"AFTER-{n}")
        flow = upload(api, "supplier", "after.xml", to_cii(invoice_data("AFTER-FLOW")))
        assert flow.status_code == 202, flow.text
        report = final_report(api, "supplier", flow.json()["flow_id"])
        assert report["counts"]["integrated"] == 1, report

        # Each poison set aside, with its error, by each stage it reached.
        relay_dead = _rows(settings, "SELECT originator_id, error FROM relay_dead_letters")
        assert [(i, "decimal" in e or "precision" in e) for i, e in relay_dead] == [
            (str(relay_poison.id), True)
        ], relay_dead
        for group in GROUPS:
            errors = [
                e
                for (e,) in _rows(
                    settings,
                    "SELECT error FROM dead_letters WHERE group_id = %s ORDER BY id",
                    getattr(settings, group).group,
                )
            ]
            assert len(errors) == 2, (group, errors)  # the NUL event, the garbage
            assert any("NUL" in e for e in errors), (group, errors)
        flow_dead = _rows(
            settings,
            "SELECT count(*) FROM dead_letters WHERE group_id = %s",
            settings.intake.flow_group,
        )
        assert flow_dead == [(1,)]

        # Counted, reported by /health without a restart anywhere, and the stages caught up.
        metrics = httpx.get(f"{api.base}/metrics").text
        assert "facturier_relay_dead_letters_total 1.0" in metrics
        for group in GROUPS:
            name = getattr(settings, group).group
            assert f'facturier_dead_letters_total{{group="{name}"}} 2.0' in metrics, name

        def caught_up() -> dict[str, Any] | None:
            answer = httpx.get(f"{api.base}/health", timeout=10)
            found: dict[str, Any] = answer.json()
            lags = [s["lag"] for s in found["services"].values() if s["lag"] is not None]
            return found if answer.status_code == 200 and lags and not any(lags) else None

        wait_until(lambda: caught_up() is not None, 30, "every stage healthy with no lag")
        health = caught_up()
        assert health is not None
        assert health["dead_letters"]["relay"] == 1
        assert health["dead_letters"][settings.tracking.group] == 2
        assert health["dead_letters"][settings.intake.flow_group] == 1
        for name, service in health["services"].items():
            assert service["status"] == "ok", (name, service)
            assert all(i["restarts"] == 0 for i in service["instances"]), (name, service)
        shown = facturier_status(settings)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "relay 1" in shown.stdout and f"{settings.tracking.group} 2" in shown.stdout
        assert "tracking-projection    ok" in shown.stdout, shown.stdout


def test_health_turns_unhealthy_when_a_stage_fails_or_stops_and_says_which(
    make_settings: Callable[[], Settings],
    start_service: Callable[..., Service],
    tmp_path: Path,
) -> None:
    settings = make_settings().replaced(health_stuck_s=3)
    with running_api(settings, tmp_path / "api.log", "--api", "--relay") as api:
        projection = start_service(settings, "--projection")

        def health() -> tuple[int, dict[str, Any]]:
            answer = httpx.get(f"{api.base}/health", timeout=10)
            return answer.status_code, answer.json()

        def tracking_status() -> str | None:
            service = health()[1]["services"].get("tracking-projection")
            return None if service is None else str(service["status"])

        wait_until(lambda: tracking_status() == "ok", 60, "the projection to report")
        assert health()[0] == 200

        # A stuck stage: alive and beating, work waiting, no progress (its table locked).
        with psycopg.connect(settings.postgres.dsn) as blocker:
            blocker.execute("LOCK TABLE tracking_invoice IN ACCESS EXCLUSIVE MODE")
            stuck = api.call("POST", "/invoices", "supplier", invoice_body("STUCK-1"))
            assert stuck.status_code == 201, stuck.text
            wait_until(lambda: tracking_status() == "stuck", 60, "/health to see it stuck")
            code, body = health()
            assert code == 503 and body["services"]["tracking-projection"]["lag"] == 3, body
            blocker.rollback()
        wait_until(lambda: tracking_status() == "ok", 60, "the stage to move again")

        # A failing stage: a right on its table withdrawn, every batch fails and the loop is
        # restarted (no fault of an event's: nothing may be set aside).
        with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
            conn.execute(f"REVOKE INSERT ON tracking_timeline FROM {settings.postgres.user}")
        created = api.call("POST", "/invoices", "supplier", invoice_body("FAIL-1"))
        assert created.status_code == 201, created.text
        wait_until(lambda: tracking_status() == "failing", 60, "/health to see the failure")
        status, body = health()
        assert status == 503 and body["status"] == "unhealthy"
        tracking = body["services"]["tracking-projection"]
        assert "tracking_timeline" in tracking["instances"][0]["last_error"]
        # Measured from outside the failing loop: the event waiting is counted.
        assert tracking["lag"] == 3, tracking
        shown = facturier_status(settings)
        assert shown.returncode == 1, shown.stdout
        assert "tracking-projection    failing" in shown.stdout, shown.stdout
        assert "permission denied" in shown.stdout, shown.stdout
        # Nothing was set aside for a fault of the database's.
        assert _rows(settings, "SELECT count(*) FROM dead_letters") == [(0,)]

        # Once the right is back, the waiting events are applied.
        with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
            conn.execute(f"GRANT INSERT ON tracking_timeline TO {settings.postgres.user}")
        invoice_id = created.json()["invoice_id"]
        wait_until(
            lambda: api.call("GET", f"/invoices/{invoice_id}", "supplier").status_code == 200,
            60,
            "the projection to recover",
        )
        wait_until(lambda: health()[1]["services"]["tracking-projection"]["lag"] == 0, 30, "lag 0")

        # A stopped process (SIGSTOP: alive, silent) is down once its heartbeat is stale.
        os.kill(projection.process.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: tracking_status() == "down", 40, "/health to see it down")
            assert health()[0] == 503
        finally:
            os.kill(projection.process.pid, signal.SIGCONT)
        started = time.monotonic()
        wait_until(lambda: tracking_status() != "down", 30, "the heartbeat to come back")
        assert time.monotonic() - started < 30
