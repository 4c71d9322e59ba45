"""End to end over HTTP: a real `facturier serve` (API + relay + projection), real
PostgreSQL, real Kafka; an independent Kafka consumer checks what reached the topic."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.data import BUYER, OTHER_BUYER, OTHER_SUPPLIER, SUPPLIER, invoice_body
from tests.support.pipeline import invoice_events
from tests.support.stack import Api, load_directory, wait_until

PAID_PATH = [
    ("take-in-hand", None),
    ("certify-service-done", None),
    ("order-payment", {"payment_order_number": "MP-0042"}),
    ("pay", {"amount": "1200.00", "payment_date": "2026-04-30", "payment_reference": "VIR-0042"}),
]


def tracking(api: Api, invoice_id: str, version: int, who: str = "supplier") -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def caught_up() -> bool:
        response = api.call("GET", f"/invoices/{invoice_id}", who)
        if response.status_code == 200:
            seen.update(response.json())
        return seen.get("version", 0) >= version

    wait_until(caught_up, 30, f"tracking view of {invoice_id} at version {version}")
    return seen


def test_submit_to_paid_over_http_kafka_and_tracking(api: Api) -> None:
    client, settings = api, api.settings
    created = client.call("POST", "/invoices", "supplier", invoice_body("E2E-1"))
    assert created.status_code == 201, created.text
    invoice_id = created.json()["invoice_id"]
    assert created.json()["status"] == "MISE_A_DISPOSITION"
    for action, payload in PAID_PATH:
        response = client.call("POST", f"/invoices/{invoice_id}/{action}", "buyer", payload)
        assert response.status_code == 200, response.text
    assert response.json()["status"] == "MISE_EN_PAIEMENT"

    view = tracking(client, invoice_id, 7)
    assert view["status"] == "MISE_EN_PAIEMENT"
    assert view["summary"] == "paid" and view["reform_code"] == 211
    assert view["paid_amount"] == "1200.00" and view["payment_order_number"] == "MP-0042"
    assert [s["status"] for s in view["timeline"]] == [
        "DEPOSEE",
        "EN_COURS_ACHEMINEMENT",
        "MISE_A_DISPOSITION",
        "PRISE_EN_COMPTE_DESTINATAIRE",
        "SERVICE_FAIT",
        "MANDATEE",
        "MISE_EN_PAIEMENT",
    ]
    assert view["timeline"][0]["actor"] == f"supplier:{SUPPLIER}"
    assert view["timeline"][-1]["actor"] == f"buyer:{BUYER}"

    on_topic = invoice_events(settings, invoice_id)
    assert [e.version for e in on_topic] == [1, 2, 3, 4, 5, 6, 7]  # decodable, in order
    assert [e.event_type for e in on_topic] == [
        "Submitted",
        "Routed",
        "MadeAvailable",
        "TakenInHand",
        "ServiceCertified",
        "PaymentOrdered",
        "PaymentSent",
    ]
    assert str(on_topic[-1].payload["amount"]) == "1200.00"

    history = client.call("GET", f"/invoices/{invoice_id}/events", "auditor").json()
    assert [e["type"] for e in history["events"]] == [e.event_type for e in on_topic]

    # The auditor sees the invoice as it was at the instant of its 5th event.
    moment = history["events"][4]["timestamp"]
    then = client.call("GET", f"/invoices/{invoice_id}/as-of", "auditor", params={"at": moment})
    assert then.status_code == 200, then.text
    assert (then.json()["version"], then.json()["status"]) == (5, "SERVICE_FAIT")
    before = client.call(
        "GET",
        f"/invoices/{invoice_id}/as-of",
        "auditor",
        params={"at": "2000-01-01T00:00:00+00:00"},
    )
    assert before.status_code == 404
    naive = client.call(
        "GET", f"/invoices/{invoice_id}/as-of", "auditor", params={"at": "2026-01-01T00:00:00"}
    )
    assert naive.status_code == 422

    metrics = httpx.get(f"{client.base}/metrics").text
    for name in (
        "facturier_events_appended_total",
        "facturier_events_relayed_total",
        "facturier_relay_lag",
        "facturier_events_consumed_total",
        "facturier_consumer_lag",
        "facturier_http_request_seconds_bucket",
    ):
        assert name in metrics, name
    assert 'facturier_events_appended_total{event_type="PaymentSent"}' in metrics

    listed = client.call("GET", "/invoices", "supplier").json()["invoices"]
    assert invoice_id in [row["invoice_id"] for row in listed]


def test_suspend_complete_reject_and_reroute(api: Api) -> None:
    client = api
    first = client.call("POST", "/invoices", "supplier", invoice_body("E2E-2")).json()["invoice_id"]
    steps = [
        ("suspend", "buyer", {"reason_code": "JUSTIF_ABS", "reason": "delivery note"}),
        ("complete", "supplier", {"comment": "delivery note sent"}),
        ("reject", "buyer", {"reason_code": "NON_CONFORME", "reason": "wrong prices"}),
    ]
    for action, who, payload in steps:
        response = client.call("POST", f"/invoices/{first}/{action}", who, payload)
        assert response.status_code == 200, response.text
    view = tracking(client, first, 6)
    assert (view["status"], view["summary"], view["reform_code"]) == ("REJETEE", "rejected", 210)
    assert view["timeline"][-1]["reason_code"] == "NON_CONFORME"
    assert view["allowed_actions"] == []

    second = client.call("POST", "/invoices", "supplier", invoice_body("E2E-3")).json()[
        "invoice_id"
    ]
    client.call(
        "POST",
        f"/invoices/{second}/mark-for-rerouting",
        "buyer",
        {"reason_code": "DEST_ERR", "reason": "town hall's order"},
    )
    response = client.call(
        "POST",
        f"/invoices/{second}/reroute",
        "supplier",
        {"recipient_siret": OTHER_BUYER, "service_code": "MAIRIE"},
    )
    assert response.json()["status"] == "MISE_A_DISPOSITION"
    view = tracking(client, second, 6, who="other_buyer")
    assert view["recipient_siret"] == OTHER_BUYER
    # The first buyer no longer sees it; the new one acts on it.
    assert client.call("GET", f"/invoices/{second}", "buyer").status_code == 404
    # Its raw history follows the invoice's current addressee too.
    assert client.call("GET", f"/invoices/{second}/events", "buyer").status_code == 404
    assert client.call("GET", f"/invoices/{second}/events", "other_buyer").status_code == 200
    taken = client.call("POST", f"/invoices/{second}/take-in-hand", "other_buyer")
    assert taken.status_code == 200


def test_scopes_and_roles(api: Api) -> None:
    client, settings = api, api.settings
    mine = client.call("POST", "/invoices", "supplier", invoice_body("E2E-4")).json()["invoice_id"]
    tracking(client, mine, 3)
    # Another supplier cannot tell the invoice exists.
    for path in (f"/invoices/{mine}", f"/invoices/{mine}/events"):
        assert client.call("GET", path, "other_supplier").status_code == 404
    assert mine not in str(client.call("GET", "/invoices", "other_supplier").json())
    # A buyer cannot act on another structure's invoice...
    refused = client.call("POST", f"/invoices/{mine}/take-in-hand", "other_buyer")
    assert refused.status_code == 404
    # ...nor a supplier do the buyer's work, nor an auditor write, nor anyone without a token.
    assert client.call("POST", f"/invoices/{mine}/take-in-hand", "supplier").status_code == 403
    assert client.call("POST", f"/invoices/{mine}/take-in-hand", "auditor").status_code == 403
    assert client.call("POST", "/invoices", "auditor", invoice_body("E2E-5")).status_code == 403
    assert client.call("GET", f"/invoices/{mine}", None).status_code == 401
    forged = httpx.get(
        f"{client.base}/invoices/{mine}", headers={"Authorization": "Bearer fct_forged"}
    )
    assert forged.status_code == 401
    # A supplier submits only as itself.
    as_other = client.call("POST", "/invoices", "supplier", invoice_body("E2E-6", OTHER_SUPPLIER))
    assert as_other.status_code == 403
    # Auditors read everything; tokens are stored hashed.
    assert client.call("GET", f"/invoices/{mine}", "auditor").status_code == 200
    with psycopg.connect(settings.postgres.dsn) as conn:
        stored = [r[0] for r in conn.execute("SELECT token_sha256 FROM api_token")]
    assert client.tokens["supplier"] not in stored and len(stored[0]) == 64
    # Nothing was recorded by the refused calls.
    assert len(client.call("GET", f"/invoices/{mine}/events", "auditor").json()["events"]) == 3


@pytest.mark.parametrize(
    ("changes", "status", "needle"),
    [
        ({"recipient_siret": "11000201100045"}, 422, "SIRET_ERR"),
        ({"recipient_siret": "123"}, 422, "recipient_siret"),
        ({"gross_amount": "1300.00"}, 422, "MONTANTTOTAL_ERR"),
        ({"net_amount": "10.001"}, 422, "net_amount"),
        ({"lines": []}, 422, "lines"),
        ({"payment": {"iban": "FR7630006000011234567890180"}}, 422, "FR-IBAN"),
        (
            {"lines": [{"name": "x", "quantity": "1", "unit_price": "1000", "vat_rate": "19"}]},
            422,
            "TX_TVA_ERR",
        ),
        ({"issue_date": "2026-02-30"}, 422, "issue_date"),
        ({"unexpected": 1}, 422, "unexpected"),
    ],
)
def test_bad_submissions_get_a_precise_4xx(
    api: Api, changes: dict[str, Any], status: int, needle: str
) -> None:
    client = api
    response = client.call("POST", "/invoices", "supplier", invoice_body("E2E-BAD", **changes))
    assert response.status_code == status, response.text
    assert needle in response.text


def test_duplicate_and_forbidden_transition(api: Api) -> None:
    client = api
    first = client.call("POST", "/invoices", "supplier", invoice_body("E2E-DUP"))
    assert first.status_code == 201
    again = client.call(
        "POST",
        "/invoices",
        "supplier",
        invoice_body(
            "E2E-DUP",
            lines=[{"name": "Stylo", "quantity": "1", "unit_price": "1.00"}],
            net_amount="1.00",
            vat_amount="0.20",
        ),
    )
    assert again.status_code == 409 and again.json()["detail"]["code"] == "DOUBLON"
    invoice_id = first.json()["invoice_id"]
    paid_too_early = client.call(
        "POST",
        f"/invoices/{invoice_id}/pay",
        "buyer",
        {"amount": "1.00", "payment_date": "2026-04-02", "payment_reference": "X"},
    )
    assert paid_too_early.status_code == 409
    assert "MISE_A_DISPOSITION" in paid_too_early.json()["detail"]["message"]
    missing = client.call(
        "POST", f"/invoices/{invoice_id}/reject", "buyer", {"reason_code": "NON_CONFORME"}
    )
    assert missing.status_code == 422 and "reason" in missing.text
    assert client.call("GET", "/openapi.json", None).json()["paths"]["/invoices"]


def test_concurrent_actions_on_one_invoice_one_wins_the_others_get_409(
    api: Api,
) -> None:
    """Buyers clicking at once: exactly one action is recorded, every other request is told
    (409: not allowed any more, or the invoice changed meanwhile), none fails with a 500."""
    client = api
    invoice_id = client.call("POST", "/invoices", "supplier", invoice_body("E2E-RACE")).json()[
        "invoice_id"
    ]
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: client.call("POST", f"/invoices/{invoice_id}/take-in-hand", "buyer", {}),
                range(8),
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 7, [a.text for a in answers]
    codes = {a.json()["detail"]["code"] for a in answers if a.status_code == 409}
    assert codes <= {"ACTION_NOT_ALLOWED", "CONCURRENT_CHANGE"}, codes
    events = client.call("GET", f"/invoices/{invoice_id}/events", "auditor").json()
    assert [e["type"] for e in events["events"]].count("TakenInHand") == 1


def test_directory_routes_or_refuses_with_reason_codes(api: Api) -> None:
    client, settings = api, api.settings
    unknown = client.call(
        "POST", "/invoices", "supplier", invoice_body("E2E-R1", recipient_siret="13002526500013")
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["detail"]["code"] == "DEST_INC"
    no_service = client.call(
        "POST", "/invoices", "supplier", invoice_body("E2E-R2", service_code="")
    )
    assert no_service.json()["detail"]["code"] == "CODE_ROUTAGE_ERR"
    wrong_service = client.call(
        "POST", "/invoices", "supplier", invoice_body("E2E-R3", service_code="NOPE")
    )
    assert wrong_service.json()["detail"]["errors"][0]["location"] == "service_code"
    # Nothing was recorded for them: the same numbers are still free.
    assert client.call("POST", "/invoices", "supplier", invoice_body("E2E-R1")).status_code == 201
    # The directory is readable by any token, writable by admins only.
    known = client.call("GET", f"/directory/structures/{BUYER}", "supplier").json()
    assert known["service_code_required"] and "SE-01" in [s["code"] for s in known["services"]]
    assert client.call("POST", "/directory", "buyer", {"structures": []}).status_code == 403
    bad = client.call("POST", "/directory", "admin", {"structures": [{"siret": "123"}]})
    assert bad.status_code == 422
    # Loading the same directory again records nothing.
    with psycopg.connect(settings.postgres.dsn) as conn:
        before = conn.execute("SELECT count(*) FROM directory_events").fetchone()
    load_directory(client.base, client.tokens["admin"])
    with psycopg.connect(settings.postgres.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM directory_events").fetchone() == before
