"""What the portal shows agrees with itself and with the JSON API, against a real
`facturier serve` (API, relay, projections), PostgreSQL and Kafka: every list of invoices
has one order and one tie-break (the API's and the portal's, a supplier's and a buyer's
queue), and an invoice page's action forms are those of the status it shows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from facturier.projections.tracking import queries as views
from tests.conftest import Api
from tests.integration.test_portal_pages import numbers, session, submit, tracked

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
    with psycopg.connect(api.settings.dsn, autocommit=True) as conn:
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
