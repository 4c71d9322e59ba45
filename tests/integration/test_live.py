"""Live status push over HTTP, against a real `facturier serve` (API, relay, projections),
PostgreSQL and Kafka: a change recorded by the tracking projection reaches the event
streams of those who may see the invoice, within a second, and no one else's."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.data import BUYER, OTHER_SUPPLIER, SUPPLIER, invoice_body
from tests.support.sse import Stream, portal_login
from tests.support.stack import Api

pytestmark = pytest.mark.stack


def stream(api: Api, who: str, **headers: str) -> Stream:
    opened = Stream(f"{api.base}/live", {"Authorization": f"Bearer {api.tokens[who]}", **headers})
    assert opened.status == 200, opened.status
    return opened


def submit(api: Api, number: str, who: str = "supplier", supplier: str | None = None) -> str:
    body = invoice_body(number, supplier) if supplier else invoice_body(number)
    created = api.call("POST", "/invoices", who, body)
    assert created.status_code == 201, created.text
    return str(created.json()["invoice_id"])


def test_a_buyer_action_reaches_the_supplier_within_a_second_and_no_one_else(api: Api) -> None:
    streams = {who: stream(api, who) for who in ("supplier", "other_supplier", "buyer")}
    streams["other_buyer"] = stream(api, "other_buyer")
    streams["auditor"] = stream(api, "auditor")
    try:
        invoice_id = submit(api, "LIVE-1")
        # Received by the buyer's service: pushed once the tracking view holds it.
        received = streams["supplier"].until(30, invoice_id=invoice_id, summary="received")
        data = received.json()
        assert data["status"] == "MISE_A_DISPOSITION"
        assert data["reform_code"] == 203
        assert data["supplier_id"] == SUPPLIER and data["recipient_siret"] == BUYER
        assert data["labels"]["en"] == "received"
        assert received.id  # resumable with Last-Event-ID

        acted = time.monotonic()
        answer = api.call(
            "POST",
            f"/invoices/{invoice_id}/suspend",
            "buyer",
            {"reason": "bon de commande manquant", "reason_code": "JUSTIF_ABS"},
        )
        assert answer.status_code == 200, answer.text
        pushed = streams["supplier"].until(5, invoice_id=invoice_id, event_type="Suspended")
        assert pushed.at - acted < 1.0, f"pushed {pushed.at - acted:.3f} s after the action"
        change = pushed.json()
        assert change["summary"] == "action needed"
        assert change["status"] == "SUSPENDUE"
        assert change["reason_code"] == "JUSTIF_ABS"
        assert change["reason"] == "bon de commande manquant"
        assert change["actor"] == f"buyer:{BUYER}"
        assert change["version"] == 4
        streams["buyer"].until(5, invoice_id=invoice_id, event_type="Suspended")
        streams["auditor"].until(5, invoice_id=invoice_id, event_type="Suspended")
        answer = api.call(
            "POST", f"/invoices/{invoice_id}/complete", "supplier", {"comment": "bon joint"}
        )
        assert answer.status_code == 200, answer.text
        completed = streams["buyer"].until(5, invoice_id=invoice_id, event_type="Completed")
        assert completed.json()["comment"] == "bon joint"
        assert completed.json()["reason"] is None

        # A later change of the other supplier's own reaches its stream: everything pushed
        # before it has been fanned out, and none of it was the first supplier's invoice.
        theirs = submit(api, "LIVE-OTHER-1", "other_supplier", OTHER_SUPPLIER)
        streams["other_supplier"].until(30, invoice_id=theirs, summary="received")
        leaked = [e for e in streams["other_supplier"].drain() if invoice_id in e.data]
        assert leaked == []
        other_buyer_saw = [e for e in streams["other_buyer"].drain() if e.name == "status"]
        assert other_buyer_saw == []  # neither invoice is addressed to it
    finally:
        for opened in streams.values():
            opened.close()


def test_a_stream_resumes_from_its_last_event_id(api: Api) -> None:
    first = stream(api, "supplier")
    try:
        invoice_id = submit(api, "LIVE-2")
        last = first.until(30, invoice_id=invoice_id, summary="received")
    finally:
        first.close()
    # Missed while disconnected:
    taken = api.call("POST", f"/invoices/{invoice_id}/take-in-hand", "buyer")
    assert taken.status_code == 200, taken.text
    time.sleep(0.2)
    resumed = stream(api, "supplier", **{"Last-Event-ID": last.id})
    try:
        missed = resumed.until(10, invoice_id=invoice_id, event_type="TakenInHand")
        assert missed.json()["summary"] == "in processing"
    finally:
        resumed.close()
    # An id this server never gave: it cannot tell what was missed.
    unknown = stream(api, "supplier", **{"Last-Event-ID": "0badc0de-12"})
    try:
        assert unknown.next(5).name == "reload"
        assert unknown.ended.wait(5)
    finally:
        unknown.close()


def test_portal_stream_needs_a_session_and_is_scoped_by_it(api: Api) -> None:
    assert httpx.get(f"{api.base}/portal/live", timeout=10).status_code == 401
    assert httpx.get(f"{api.base}/live", timeout=10).status_code == 401
    with httpx.Client(base_url=api.base, timeout=30) as browser:
        assert portal_login(browser, api.tokens["other_supplier"]).status_code == 303
        cookies = dict(browser.cookies)
    portal = Stream(f"{api.base}/portal/live", cookies=cookies)
    assert portal.status == 200
    supplier = stream(api, "supplier")
    try:
        mine = submit(api, "LIVE-3")
        supplier.until(30, invoice_id=mine, summary="received")
        theirs = submit(api, "LIVE-OTHER-3", "other_supplier", OTHER_SUPPLIER)
        portal.until(30, invoice_id=theirs, summary="received")
        assert [e for e in portal.drain() if mine in e.data] == []
    finally:
        portal.close()
        supplier.close()
    page = httpx.get(f"{api.base}/portal/static/live.js", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/javascript")
    assert "/portal/live" in page.text
