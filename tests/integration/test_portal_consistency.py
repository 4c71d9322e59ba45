"""What the portal shows agrees with itself and with the JSON API, against a real
`facturier serve` (API, relay, projections), PostgreSQL and Kafka: every list of invoices
has one order and one tie-break (the API's and the portal's, a supplier's and a buyer's
queue), and an invoice page's action forms are those of the status it shows."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from facturier.domain.lifecycle import Status
from facturier.projections.tracking import queries as views
from facturier.services.application.actions import available
from facturier.services.application.principals import ApiRole, Principal
from tests.integration.test_portal_pages import (
    act,
    action_forms,
    live,
    numbers,
    session,
    submit,
    timeline_rows,
    tracked,
)
from tests.support.data import BUYER, ROOT
from tests.support.stack import Api, wait_until

# Later than anything the tests submit: the two tied invoices head every list.
TIED_AT = datetime(2100, 1, 1, tzinfo=UTC)


def api_ids(api: Api, who: str, **params: str) -> list[str]:
    response = api.call("GET", "/invoices", who, params=params)
    assert response.status_code == 200, response.text
    return [str(row["invoice_id"]) for row in response.json()["invoices"]]


def api_pages(api: Api, who: str, count: int) -> list[str]:
    """The first `count` invoices of the API's list, one per page (its keyset cursor)."""
    ids: list[str] = []
    params: dict[str, str] = {"limit": "1"}
    for _ in range(count):
        page = api.call("GET", "/invoices", who, params=params).json()
        ids += [str(row["invoice_id"]) for row in page["invoices"]]
        params = {"limit": "1", **{k: str(v) for k, v in page["next"].items()}}
    return ids


def test_two_invoices_submitted_at_the_same_instant_come_in_one_order_everywhere(
    api: Api,
) -> None:
    numbers_by_id = {submit(api, number): number for number in ("TIE-A", "TIE-B", "TIE-C")}
    for invoice_id in numbers_by_id:
        tracked(api, invoice_id, "MISE_A_DISPOSITION")
    tied = sorted(numbers_by_id)[:2]  # the two smallest ids: id order differs from number's
    with psycopg.connect(api.settings.postgres.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE tracking_invoice SET submitted_at = %s WHERE invoice_id = ANY(%s::uuid[])",
            (TIED_AT, tied),
        )
        rows = views.invoices(conn, suppliers=None, limit=2)
    expected = sorted(tied, key=uuid.UUID)  # newest first, then by id, ascending
    assert [str(r["invoice_id"]) for r in rows] == expected
    in_words = [numbers_by_id[i] for i in expected]

    for who in ("supplier", "buyer", "auditor"):
        assert api_ids(api, who)[:2] == expected, who
        assert api_pages(api, who, 2) == expected, who  # across the tie, page by page
        with session(api, who) as web:
            listed = web.get("/portal")
            assert listed.status_code == 200, listed.text
            assert numbers(listed.text)[:2] == in_words, who
            filtered = web.get("/portal", params={"q": "TIE-"}).text
            assert numbers(filtered)[:2] == in_words, who


def _query(**filters: Any) -> str:
    sql, _ = views.list_query(**filters)
    return sql


def test_every_list_is_one_query_with_one_order() -> None:
    for filters in ({}, {"suppliers": ["x"]}, {"recipient_siret": "y", "status": "z"}):
        assert _query(**filters).endswith(f"ORDER BY {views.LIST_ORDER} LIMIT %s")
    assert views.LIST_ORDER == "submitted_at DESC, invoice_id"


# ---------------------------------------------------------------- one invoice page, one state


def shown_state(html: str, invoice_id: str) -> tuple[Status, set[str], int]:
    """What an invoice page shows: the status (its code), the action forms, the version."""
    _, code = live(html, invoice_id)
    version = re.search(rf'data-live-code="{invoice_id}" data-live-version="(\d+)"', html)
    assert version, "no version on the status"
    return Status(code.split(" · ")[0]), set(action_forms(html)), int(version[1])


def test_the_forms_shown_match_the_status_shown_right_after_each_action(api: Api) -> None:
    """Read at once after each action, before or after the projection caught up: whatever
    status the page shows, it offers that status's forms, and the timeline stops at the
    version of the status."""
    invoice_id = submit(api, "SNAP-1")
    tracked(api, invoice_id, "MISE_A_DISPOSITION", who="buyer")
    buyer = Principal(ApiRole.BUYER, BUYER, "t")
    steps = [
        ("take-in-hand", {}),
        ("certify-service-done", {}),
        ("order-payment", {"payment_order_number": "M-1"}),
    ]
    seen: set[Status] = set()
    with session(api, "buyer") as web:
        for action, fields in steps:
            done = act(web, invoice_id, action, fields)
            assert done.status_code == 303, done.text
            for _ in range(20):  # at once, then as the projection catches up
                page = web.get(done.headers["location"]).text
                status, offered, version = shown_state(page, invoice_id)
                seen.add(status)
                assert offered == {a.value for a in available(buyer, status)}, status
                rows = re.findall(r'<tr data-version="(\d+)"', page)
                assert int(rows[-1]) == version, (rows, version)

        def caught_up() -> bool:
            page = web.get(f"/portal/invoices/{invoice_id}").text
            status, offered, _ = shown_state(page, invoice_id)
            assert offered == {a.value for a in available(buyer, status)}, status
            return status is Status.MANDATEE

        wait_until(caught_up, 30, "the page to show the payment ordered")
    assert len(seen) >= 2


def test_a_row_from_before_the_page_columns_reads_them_from_the_event_store(api: Api) -> None:
    """A database upgraded in place keeps its rows (the new columns NULL until the topic
    is replayed): their pages still list the documents and the receipt."""
    invoice_id = submit(api, "LEGACY-1")
    tracked(api, invoice_id, "MISE_A_DISPOSITION")
    with session(api, "supplier") as web:
        projected = web.get(f"/portal/invoices/{invoice_id}").text
        with psycopg.connect(api.settings.postgres.dsn, autocommit=True) as conn:
            conn.execute(
                "UPDATE tracking_invoice SET submitted_to = NULL, correlation_id = NULL,"
                " documents = NULL, received_version = NULL, received_at = NULL"
                " WHERE invoice_id = %s",
                (invoice_id,),
            )
        legacy = web.get(f"/portal/invoices/{invoice_id}").text
    receipt = api.call("GET", f"/invoices/{invoice_id}/receipt", "supplier").json()
    for html in (projected, legacy):
        assert receipt["receipt_id"] in html
        assert len(re.findall(r'/documents/[0-9a-f]{64}" download>', html)) >= 1
    documents = r'href="(/portal/invoices/[^"]+/documents/[0-9a-f]{64})" download>([^<]+)<'
    assert re.findall(documents, projected) == re.findall(documents, legacy)
    assert timeline_rows(projected) == timeline_rows(legacy)


def test_the_tracking_schema_upgrades_a_table_from_before_the_page_columns(api: Api) -> None:
    sql = (ROOT / "schemas" / "sql" / "tracking.sql").read_text()
    create = sql[: sql.index(");\n") + 2]  # the table as it was created before
    with psycopg.connect(api.settings.postgres.dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA upgrade_check")
        try:
            conn.execute("SET search_path TO upgrade_check")
            conn.execute(create.encode())
            for _ in range(2):  # applied to the old table, then again: nothing to do
                conn.execute(sql.encode())
            columns = {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'upgrade_check' AND table_name = 'tracking_invoice'"
                )
            }
        finally:
            conn.execute("SET search_path TO public")
            conn.execute("DROP SCHEMA upgrade_check CASCADE")
    added = {"submitted_to", "correlation_id", "documents", "received_version", "received_at"}
    assert added <= columns
