"""Payment delays, reception acknowledgment and FEC over HTTP, end to end: a real `facturier
serve` (API, relay, tracking, accounting and payment-delays projections), real PostgreSQL
and Kafka. Payments are dated after the reception (the domain takes any payment date), so
a late payment needs no waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from facturier.config.settings import Settings
from facturier.domain.lifecycle import Action
from facturier.domain.model import SubmissionMode
from facturier.projections.accounting.fec import FEC_COLUMNS
from facturier.services.application.invoicing import InvoicingApp
from tests.support.data import BUYER, OTHER_BUYER, SUPPLIER, invoice_body, invoice_data
from tests.support.pipeline import query, store_events, stored_offsets, wait_while_running
from tests.support.stack import Api, Service, free_port, running_api, wait_until

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def api(
    make_settings: Callable[[], Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    settings = make_settings().replaced(late_interest_reference_rate="4.00")
    log = Path(tmp_path_factory.mktemp("payment-api")) / "serve.log"
    with running_api(settings, log) as client:
        yield client


def payment(api: Api, invoice_id: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def caught_up() -> bool:
        response = api.call("GET", f"/invoices/{invoice_id}/payment", "supplier")
        if response.status_code == 200:
            seen.clear()
            seen.update(response.json())
            return ready(seen)
        return False

    wait_until(caught_up, 30, f"the payment view of {invoice_id}")
    return seen


def pay(api: Api, invoice_id: str, who: str, paid_on: date) -> None:
    steps: list[tuple[str, dict[str, str] | None]] = [
        ("take-in-hand", None),
        ("certify-service-done", None),
        ("order-payment", {"payment_order_number": f"MP-{invoice_id[:8]}"}),
        (
            "pay",
            {
                "amount": "1200.00",
                "payment_date": paid_on.isoformat(),
                "payment_reference": f"VIR-{invoice_id[:8]}",
            },
        ),
    ]
    for action, payload in steps:
        response = api.call("POST", f"/invoices/{invoice_id}/{action}", who, payload)
        assert response.status_code == 200, response.text


def test_payment_terms_delays_interest_receipt_fec_and_scopes(api: Api) -> None:
    # The admin sets the hospital's 50 days; nobody else may; the default is 30.
    terms = "/structures/{}/payment-terms"
    assert api.call("PUT", terms.format(OTHER_BUYER), "admin", {"payment_days": 50}).json() == {
        "siret": OTHER_BUYER,
        "payment_days": 50,
    }
    for who in ("buyer", "other_buyer", "supplier", "auditor"):
        refused = api.call("PUT", terms.format(OTHER_BUYER), who, {"payment_days": 10})
        assert refused.status_code == 403, who
    assert api.call("PUT", terms.format(BUYER), "admin", {"payment_days": 0}).status_code == 422
    assert api.call("PUT", terms.format("123"), "admin", {"payment_days": 30}).status_code == 422
    bad_siret = api.call("PUT", terms.format("11000201100045"), "admin", {"payment_days": 30})
    assert bad_siret.status_code == 422
    assert api.call("GET", terms.format(BUYER), "buyer").json()["payment_days"] == 30
    assert api.call("GET", terms.format(OTHER_BUYER), "other_buyer").json()["payment_days"] == 50
    assert api.call("GET", terms.format(OTHER_BUYER), "buyer").status_code == 403

    ids = {}
    for name, recipient, service in (
        ("late", BUYER, "SE-01"),
        ("on-time", BUYER, "SE-01"),
        ("hospital", OTHER_BUYER, "MAIRIE"),
    ):
        created = api.call(
            "POST",
            "/invoices",
            "supplier",
            invoice_body(f"PAY-{name}", recipient_siret=recipient, service_code=service),
        )
        assert created.status_code == 201, created.text
        ids[name] = created.json()["invoice_id"]

    # The reception acknowledgment, straight from the event store.
    receipt = api.call("GET", f"/invoices/{ids['late']}/receipt", "supplier")
    assert receipt.status_code == 200, receipt.text
    ack = receipt.json()
    assert ack["invoice_id"] == ids["late"] and ack["number"] == "PAY-late"
    assert ack["recipient"]["siret"] == BUYER and ack["supplier"]["id"] == SUPPLIER
    assert (ack["gross_amount"], ack["payable_amount"]) == ("1200.00", "1200.00")
    assert ack["reception_version"] == 3 and ack["received_at"] >= ack["submitted_at"]
    again = api.call("GET", f"/invoices/{ids['late']}/receipt", "buyer").json()
    assert again == ack  # stable: same identifier on every call, for every reader
    other = api.call("GET", f"/invoices/{ids['on-time']}/receipt", "supplier").json()
    assert other["receipt_id"] != ack["receipt_id"]

    # Received: the clock runs.
    received: dict[str, date] = {}
    for name, invoice_id in ids.items():
        view = payment(api, invoice_id, lambda v: v["received_on"] is not None)
        assert view["clock"] == "running" and view["late"] is False
        assert view["payment_days"] == (50 if name == "hospital" else 30)
        received[name] = date.fromisoformat(view["received_on"])
        assert view["deadline"] == (received[name] + timedelta(view["payment_days"])).isoformat()

    pay(api, ids["late"], "buyer", received["late"] + timedelta(days=45))
    pay(api, ids["on-time"], "buyer", received["on-time"] + timedelta(days=30))
    pay(api, ids["hospital"], "other_buyer", received["hospital"] + timedelta(days=45))

    def paid(v: dict[str, Any]) -> bool:
        return bool(v["clock"] == "paid")

    late = payment(api, ids["late"], paid)
    assert (late["days_elapsed"], late["late_days"], late["late"]) == (45, 15, True)
    # 1200.00 x (4.00 + 8) % x 15 / 365 = 5.9178... -> 5.92, plus the 40.00 indemnity
    assert (late["reference_rate"], late["interest_rate"]) == ("4.000", "12.000")
    assert (late["interest"], late["indemnity"]) == ("5.92", "40.00")
    assert Decimal(late["total_owed"]) == Decimal("45.92")
    on_time = payment(api, ids["on-time"], paid)
    assert (on_time["days_elapsed"], on_time["late_days"], on_time["late"]) == (30, 0, False)
    assert (on_time["interest"], on_time["indemnity"]) == ("0.00", "0.00")
    hospital = payment(api, ids["hospital"], paid)
    assert (hospital["days_elapsed"], hospital["late_days"], hospital["interest"]) == (
        45,
        0,
        "0.00",
    )

    # Scopes: like the tracking route.
    for path in (f"/invoices/{ids['late']}/payment", f"/invoices/{ids['late']}/receipt"):
        assert api.call("GET", path, "other_supplier").status_code == 404, path
        assert api.call("GET", path, "other_buyer").status_code == 404, path
        assert api.call("GET", path, "buyer").status_code == 200, path
        assert api.call("GET", path, "auditor").status_code == 200, path
        assert api.call("GET", path, None).status_code == 401, path
    hospital_path = f"/invoices/{ids['hospital']}/payment"
    assert api.call("GET", hospital_path, "buyer").status_code == 404
    assert api.call("GET", hospital_path, "other_buyer").status_code == 200

    # The FEC of the structure, from the accounting journal, as a text attachment.
    year = received["late"].year
    fec_path = f"/structures/{BUYER}/fec"

    def fec(who: str, separator: str = "pipe") -> httpx.Response:
        return api.call("GET", fec_path, who, params={"year": str(year), "separator": separator})

    wait_until(lambda: "PAY-on-time" in fec("buyer").text, 30, "the journal to reach the FEC")
    response = fec("buyer")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="{BUYER[:9]}FEC{year}1231.txt"'
    )
    rows = [line.split("|") for line in response.text.splitlines()]
    assert tuple(rows[0]) == FEC_COLUMNS and all(len(r) == 18 for r in rows)
    pieces = {r[FEC_COLUMNS.index("PieceRef")] for r in rows[1:]}
    assert {"PAY-late", "PAY-on-time"} <= pieces and "PAY-hospital" not in pieces
    tabbed = fec("auditor", "tab")
    assert tabbed.status_code == 200 and tabbed.text.split("\n")[0] == "\t".join(FEC_COLUMNS)
    assert fec("admin").status_code == 200
    for who in ("other_buyer", "supplier"):
        assert fec(who).status_code == 403, who
    bad_separator = api.call("GET", fec_path, "buyer", params={"year": str(year), "separator": ";"})
    assert bad_separator.status_code == 422
    assert api.call("GET", fec_path, "buyer").status_code == 422  # the year is required

    # Metrics of the payment-delays projection (same process as the API).
    text = httpx.get(f"{api.base}/metrics").text
    assert f'facturier_late_payments_total{{structure="{BUYER}"}} 1.0' in text
    assert f'facturier_late_payments_total{{structure="{OTHER_BUYER}"}}' not in text
    assert f'facturier_payment_delay_days_count{{structure="{BUYER}"}} 2.0' in text
    assert f'facturier_payment_delay_days_bucket{{le="30.0",structure="{BUYER}"}} 1.0' in text


def test_suspension_and_rerouting_over_http(api: Api) -> None:
    hospital = api.call(
        "PUT", f"/structures/{OTHER_BUYER}/payment-terms", "admin", {"payment_days": 50}
    )
    assert hospital.status_code == 200
    created = api.call("POST", "/invoices", "supplier", invoice_body("PAY-susp"))
    invoice_id = created.json()["invoice_id"]
    suspend = {"reason_code": "JUSTIF_ABS", "reason": "delivery note"}
    assert api.call("POST", f"/invoices/{invoice_id}/suspend", "buyer", suspend).status_code == 200
    view = payment(api, invoice_id, lambda v: v["clock"] == "suspended")
    assert view["suspended_since"] == view["received_on"] and view["days_elapsed"] == 0

    moved = api.call("POST", "/invoices", "supplier", invoice_body("PAY-moved")).json()[
        "invoice_id"
    ]
    first = api.call("GET", f"/invoices/{moved}/receipt", "supplier").json()
    mark = {"reason_code": "DEST_ERR", "reason": "town hall's order"}
    assert (
        api.call("POST", f"/invoices/{moved}/mark-for-rerouting", "buyer", mark).status_code == 200
    )
    pending = api.call("GET", f"/invoices/{moved}/receipt", "supplier")
    assert pending.status_code == 409 and pending.json()["detail"]["code"] == "NOT_RECEIVED"
    reroute = {"recipient_siret": OTHER_BUYER, "service_code": "MAIRIE"}
    assert api.call("POST", f"/invoices/{moved}/reroute", "supplier", reroute).status_code == 200
    second = api.call("GET", f"/invoices/{moved}/receipt", "other_buyer").json()
    assert second["receipt_id"] != first["receipt_id"] and second["reception_version"] == 6
    assert second["recipient"]["siret"] == OTHER_BUYER
    # The clock restarted at the new structure, with its terms (50 days, set above).
    view = payment(
        api, moved, lambda v: v["recipient_siret"] == OTHER_BUYER and v["clock"] == "running"
    )
    assert (view["clock"], view["payment_days"]) == ("running", 50)
    assert api.call("GET", f"/invoices/{moved}/payment", "buyer").status_code == 404


def test_payment_delays_as_its_own_process(
    make_settings: Callable[[], Settings], start_service: Callable[..., Service]
) -> None:
    """`serve --payment-delays` alone: its offsets stored with its rows, its own metrics port;
    restarted, it re-reads nothing twice."""
    settings = make_settings().replaced(
        payment_delays_metrics_port=free_port(),
        relay_metrics_port=free_port(),
        late_interest_reference_rate="4.00",
    )
    app = InvoicingApp(settings.postgres)
    try:
        paid_on = date.today() + timedelta(days=40)
        for n in range(3):
            invoice = app.submit(invoice_data(f"SOLO-{n}"), SubmissionMode.EDI, "supplier:x")
            if n == 0:
                for action, params in (
                    (Action.TAKE_IN_HAND, {}),
                    (Action.CERTIFY_SERVICE_DONE, {}),
                    (Action.ORDER_PAYMENT, {"payment_order_number": "MP-1"}),
                    (
                        Action.PAY,
                        {
                            "amount": Decimal("120.00"),
                            "payment_date": paid_on,
                            "payment_reference": "V-1",
                        },
                    ),
                ):
                    app.act(invoice.id, action, actor="buyer:x", **params)
        events = len(store_events(app))
    finally:
        app.close()
    start_service(settings, "--relay")
    delays = start_service(settings, "--payment-delays")
    group = settings.payment_delays.group
    wait_while_running(
        delays,
        lambda: sum(stored_offsets(settings, group).values()) == events,
        30,
        "the payment-delays projection to consume every event",
    )
    rows = query(settings, "SELECT number, late_days, interest FROM payment_delay ORDER BY 1")
    assert [r[0] for r in rows] == ["SOLO-0", "SOLO-1", "SOLO-2"]
    assert rows[0][1] is not None and rows[0][1] >= 9  # 40 days after a reception of today±1
    metrics = httpx.get(f"http://127.0.0.1:{settings.payment_delays.metrics_port}/metrics").text
    assert f'facturier_late_payments_total{{structure="{BUYER}"}} 1.0' in metrics
    delays.kill()
    again = start_service(settings, "--payment-delays")
    wait_until(
        lambda: _metrics_up(settings.payment_delays.metrics_port), 30, "the restarted projection"
    )
    time.sleep(2)  # let it join its group and poll: it must find nothing new to apply
    metrics = httpx.get(f"http://127.0.0.1:{settings.payment_delays.metrics_port}/metrics").text
    assert "facturier_late_payments_total{" not in metrics  # nothing re-applied
    assert (
        query(settings, "SELECT number, late_days, interest FROM payment_delay ORDER BY 1") == rows
    )
    assert again.process.poll() is None


def _metrics_up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    except httpx.HTTPError:
        return False
