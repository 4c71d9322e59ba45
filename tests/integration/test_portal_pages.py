"""The portal's pages past the invoice form, over HTTP against a real `facturier serve` (API,
relay, projections), PostgreSQL and Kafka: the list (scope, filters, search, keyset pages, and
that a page is read from an index at any depth), French and English, the invoice page
(timeline, documents, receipt, payment), every lifecycle action through its form, as a
browser without JavaScript posts it (CSRF token included), and the e-mail notifications page."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from facturier.domain.invoice import ReasonCode
from facturier.domain.lifecycle import Action, Status, Summary
from facturier.intake.canonical import to_cii
from facturier.projections import views
from facturier.services import i18n
from facturier.services import web as portal
from facturier.services.actions import available, body_of
from facturier.services.auth import ApiRole, Principal, create_token
from tests.conftest import (
    BUYER,
    OTHER_BUYER,
    OTHER_SUPPLIER,
    SUPPLIER,
    Api,
    invoice_body,
    invoice_data,
    wait_until,
)
from tests.integration.test_portal_form import Page, browser, login

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "templates"
# Loaded straight into the tracking view, 100,000 invoices; a valid SIRET, as a token needs.
BIG_SUPPLIER = "99999998000009"


def submit(client: Api, number: str, who: str = "supplier", **changes: Any) -> str:
    supplier = OTHER_SUPPLIER if who == "other_supplier" else SUPPLIER
    response = client.call("POST", "/invoices", who, invoice_body(number, supplier, **changes))
    assert response.status_code == 201, response.text
    return str(response.json()["invoice_id"])


def tracked(client: Api, invoice_id: str, status: str, who: str = "supplier") -> None:
    def reached() -> bool:
        response = client.call("GET", f"/invoices/{invoice_id}", who)
        return response.status_code == 200 and response.json()["status"] == status

    wait_until(reached, 30, f"{invoice_id} to reach {status} in the tracking view")


@contextlib.contextmanager
def session(client: Api, who: str, **headers: str) -> Iterator[httpx.Client]:
    with browser(client) as web:
        response = login(web, client.tokens[who], **headers)
        assert response.status_code == 303 and response.headers["location"] == "/portal"
        yield web


def numbers(html: str) -> list[str]:
    """The invoice numbers of a list page, in order."""
    return re.findall(r'<th scope="row"><a href="/portal/invoices/[0-9a-f-]{36}">([^<]+)</a>', html)


def live(html: str, invoice_id: str) -> tuple[str, str]:
    """What the live-update hooks of an invoice show: (plain-word status, Chorus code)."""
    status = re.search(rf'data-live-status="{invoice_id}"[^>]*>([^<]*)<', html)
    code = re.search(rf'data-live-code="{invoice_id}"[^>]*>([^<]*)<', html)
    assert status and code, f"no live hooks for {invoice_id}"
    return status[1].strip(), code[1].strip()


def action_forms(html: str) -> dict[str, str]:
    """The invoice page's action forms: action -> the form's post URL."""
    return dict(
        (m[2], m[1])
        for m in re.finditer(r'<form method="post" action="([^"]+)" id="action-([a-z-]+)"', html)
    )


def csrf_of(html: str) -> str:
    return Page(html).fields["csrf"]


def act(
    web: httpx.Client, invoice_id: str, action: str, fields: dict[str, str], **kw: Any
) -> httpx.Response:
    page = web.get(f"/portal/invoices/{invoice_id}")
    assert page.status_code == 200, page.text
    forms = action_forms(page.text)
    assert action in forms, f"no {action} form on the page (has {sorted(forms)})"
    return web.post(forms[action], data={"csrf": csrf_of(page.text), **fields}, **kw)


def status_of(client: Api, invoice_id: str) -> str:
    events = client.call("GET", f"/invoices/{invoice_id}/events", "admin").json()["events"]
    return str(events[-1]["type"])


# ---------------------------------------------------------------- catalogue


def test_every_string_of_the_pages_is_in_both_languages() -> None:
    keys = set()
    for template in TEMPLATES.glob("portal_*.html"):
        keys |= set(re.findall(r"""\bt\(["']([a-z_]+\.[a-z_.\-]+)["']""", template.read_text()))
    source = (TEMPLATES.parent / "web.py").read_text()
    keys |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.\-]+)["']""", source))
    keys |= {f"action.{a}" for a in Action} | {f"action_hint.{a}" for a in Action}
    keys |= {f"status.{s}" for s in Status} | {f"summary.{s}" for s in Summary}
    keys |= {f"reason.{r}" for r in ReasonCode}
    keys |= {f"field.{f}" for a in Action for f in body_of(a).model_fields} | {"field.attachment"}
    keys |= {f"mode.{m}" for m in ("portal", "pdf", "edi")}
    keys |= {f"document.{r}" for r in ("invoice", "data", "attachment")}
    keys |= {
        f"clock.{c}"
        for c in ("not-received", "not-applicable", "running", "suspended", "paid", "rejected")
    }
    keys |= {f"form.{f}" for f in (*portal.HEADER_FIELDS, "lines")}
    keys |= {f"form.line.{f}" for f in portal.LINE_FIELDS}
    keys |= {f"form.vat.{v}" for v in portal.VATS} | {f"form.unit.{u}" for u in portal.UNITS}
    keys |= {f"form.hint.{h}" for h in portal.PATTERN_HINTS} | {f"kind.{k}" for k in portal.KINDS}
    keys |= {f"flow.outcome.{o}" for o in ("integrated", "rejected", "pending")}
    keys |= {f"notify.done.{d}" for d in portal.NOTIFY_DONE}
    keys |= {f"notify.invalid.{f}" for f in ("email", "statuses", "language")}
    keys = {k for k in keys if not k.endswith(".")}  # a family's prefix, covered above
    missing = sorted(k for k in keys if k not in i18n.MESSAGES)
    assert missing == []
    blank = [k for k, (en, fr) in i18n.MESSAGES.items() if bool(en) != bool(fr)]
    assert blank == []
    assert i18n.negotiate(None, "de-DE,fr;q=0.8,en;q=0.5") == "fr"
    assert i18n.negotiate("en", "fr") == "en"
    assert i18n.negotiate(None, "") == "en"


# ---------------------------------------------------------------- the list


def test_a_supplier_lists_only_its_invoices_with_filters_search_and_pages(
    api: Api,
) -> None:
    client = api
    mine = [submit(client, f"LST-{i:03d}") for i in range(30)]
    early = submit(client, "LST-EARLY", issue_date="2026-02-10")
    elsewhere = submit(client, "LST-MAIRIE", recipient_siret=OTHER_BUYER, service_code="MAIRIE")
    theirs = submit(client, "LST-THEIRS", who="other_supplier")
    suspended = mine[3]
    assert (
        client.call(
            "POST",
            f"/invoices/{suspended}/suspend",
            "buyer",
            {"reason_code": "JUSTIF_ABS", "reason": "delivery note"},
        ).status_code
        == 200
    )
    for invoice_id in [*mine, early, elsewhere]:
        tracked(
            client, invoice_id, "SUSPENDUE" if invoice_id == suspended else "MISE_A_DISPOSITION"
        )
    tracked(client, theirs, "MISE_A_DISPOSITION", who="other_supplier")

    with session(client, "supplier") as web:
        first = web.get("/portal")
        assert first.status_code == 200, first.text
        assert '<html lang="en">' in first.text and "Your invoices" in first.text
        shown = numbers(first.text)
        assert len(shown) == 25
        assert "LST-THEIRS" not in first.text
        assert live(first.text, elsewhere) == ("received", "MISE_A_DISPOSITION · 203")
        listed = Page(first.text)
        for element_id, (tag, attrs) in listed.by_id.items():
            if tag in ("input", "select") and attrs.get("type") != "hidden":
                assert element_id in listed.labels, f"#{element_id} has no label"
        assert '<th scope="col">' in first.text and '<th scope="row">' in first.text
        next_link = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert next_link
        second = web.get(next_link[1].replace("&amp;", "&"))
        rest = numbers(second.text)
        assert 'rel="next"' not in second.text
        assert set(shown).isdisjoint(rest)
        expected = {f"LST-{i:03d}" for i in range(30)} | {"LST-EARLY", "LST-MAIRIE"}
        assert set(shown + rest) == expected  # the first test of this module's database

        found = numbers(web.get("/portal", params={"q": "LST-01"}).text)
        assert sorted(found) == [f"LST-{i:03d}" for i in range(10, 20)]
        # A search is a prefix, with LIKE's wildcards taken literally.
        assert numbers(web.get("/portal", params={"q": "LST-%"}).text) == []

        needed = web.get("/portal", params={"category": "action needed"}).text
        assert numbers(needed) == ["LST-003"]
        assert live(needed, suspended) == ("action needed", "SUSPENDUE · 208")

        at_town_hall = web.get("/portal", params={"recipient": OTHER_BUYER}).text
        assert numbers(at_town_hall) == ["LST-MAIRIE"]
        period = {"issued_from": "2026-02-01", "issued_to": "2026-02-28"}
        assert numbers(web.get("/portal", params=period).text) == ["LST-EARLY"]
        wrong = web.get("/portal", params={"issued_from": "yesterday", "recipient": "123"})
        assert wrong.status_code == 422
        assert Page(wrong.text).invalid() == {"issued_from", "recipient"}

        # French: from Accept-Language, then the switch's cookie wins.
        french = web.get(
            "/portal",
            params={"category": "action needed"},
            headers={"Accept-Language": "fr-FR,fr;q=0.9"},
        )
        assert '<html lang="fr">' in french.text and "Vos factures" in french.text
        assert live(french.text, suspended)[0] == "action requise"
        french_form = web.get("/portal/invoices/new", headers={"Accept-Language": "fr"})
        assert '<html lang="fr">' in french_form.text
        for text in ("<h1>Nouvelle facture</h1>", "Supprimer la ligne 1", "Déposer la facture"):
            assert text in french_form.text, text
        switch = re.search(r'href="(/portal/language/en\?next=[^"]+)"', french.text)
        assert switch
        back = web.get(switch[1].replace("&amp;", "&"), headers={"Accept-Language": "fr"})
        assert back.status_code == 303
        assert back.headers["location"] == "/portal?category=action+needed"
        english = web.get(back.headers["location"], headers={"Accept-Language": "fr"})
        assert '<html lang="en">' in english.text and "Your invoices" in english.text
        # The switch never sends anywhere but the portal.
        away = web.get("/portal/language/fr", params={"next": "https://evil.example/"})
        assert away.headers["location"] == "/portal"

        page = web.get(f"/portal/invoices/{suspended}").text
        assert "/portal/static/live.js" in page
        assert re.search(rf'<tbody data-live-timeline="{suspended}" data-live-version="\d+">', page)

    with session(client, "other_supplier") as other:
        listed = other.get("/portal").text
        assert numbers(listed) == ["LST-THEIRS"]
        assert other.get(f"/portal/invoices/{mine[0]}").status_code == 404


def _plan(conn: psycopg.Connection[Any], sql: str, params: list[Any]) -> list[str]:
    """Every node of the plan, as 'Node Type' and 'Node Type on relation'."""
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0][0]["Plan"]
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(f"{node['Node Type']} {node.get('Relation Name', '')}".strip())
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return nodes


def test_pages_are_read_from_an_index_at_100000_invoices(api: Api) -> None:
    client, settings = api, api.settings
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tracking_invoice (invoice_id, version, supplier_scheme, supplier_id,"
            " supplier_name, recipient_siret, service_code, order_reference, number, kind, mode,"
            " issue_date, currency, net_amount, vat_amount, gross_amount, payable_amount,"
            " status, reform_code, summary, submitted_at, updated_at)"
            " SELECT md5('big' || i)::uuid, 3, 'SIRET', %s, 'Big', %s, 'SE-01', '',"
            " 'BIG-' || lpad(i::text, 6, '0'), '380', 'edi',"
            " date '2025-01-01' + (i %% 365), 'EUR', 100, 20, 120, 120,"
            " (ARRAY['MISE_A_DISPOSITION','PRISE_EN_COMPTE_DESTINATAIRE','SUSPENDUE',"
            "  'MISE_EN_PAIEMENT'])[1 + i %% 4], (ARRAY[203, 204, 208, 211])[1 + i %% 4],"
            " (ARRAY['received','in processing','action needed','paid'])[1 + i %% 4],"
            # Several invoices per second, as a flow brings them: ties on submitted_at.
            " timestamptz '2025-01-01 00:00:00+00' + (i / 3) * interval '1 second', now()"
            " FROM generate_series(1, 100000) AS i",
            (BIG_SUPPLIER, BUYER),
        )
        conn.execute("ANALYZE tracking_invoice")
        scope = {"suppliers": [BIG_SUPPLIER]}
        deep_row = conn.execute(
            "SELECT submitted_at, invoice_id FROM tracking_invoice WHERE supplier_id = %s"
            " ORDER BY submitted_at DESC, invoice_id OFFSET 90000 LIMIT 1",
            (BIG_SUPPLIER,),
        ).fetchone()
        deep = (deep_row[0], deep_row[1])
        cases = {
            "first page": {},
            "deep page": {"after": deep},
            "category, deep": {"summary": "action needed", "after": deep},
            "recipient, deep": {"recipient_siret": BUYER, "after": deep},
            "number search": {"number_prefix": "BIG-0999"},
        }
        # A supplier's own list, and an auditor's or admin's across every supplier.
        for who, scoped in (("supplier", scope), ("everyone", {"suppliers": None})):
            for name, filters in cases.items():
                sql, params = views.portal_query(**scoped, limit=26, **filters)  # type: ignore[arg-type]
                nodes = _plan(conn, sql, params)
                case = (who, name, nodes)
                assert not [n for n in nodes if n.startswith("Seq Scan")], case
                if name != "number search":  # a handful of rows found by number, then ordered
                    assert not [n for n in nodes if "Sort" in n], case
                assert any(n.startswith(("Index", "Bitmap Index")) for n in nodes), case

        # The pages follow each other without gap nor repeat across tied timestamps.
        sql, params = views.portal_query(**scope, limit=7, after=deep)  # type: ignore[arg-type]
        page = conn.execute(sql, params).fetchall()
        expected = conn.execute(
            "SELECT invoice_id FROM tracking_invoice WHERE supplier_id = %s"
            " ORDER BY submitted_at DESC, invoice_id OFFSET 90001 LIMIT 7",
            (BIG_SUPPLIER,),
        ).fetchall()
        assert [r[0] for r in page] == [r[0] for r in expected]
        token = create_token(conn, ApiRole.SUPPLIER, BIG_SUPPLIER, "big")

    with browser(client) as web:
        assert login(web, token).status_code == 303
        after = f"{deep[0].isoformat()}~{deep[1]}"
        response = web.get("/portal", params={"after": after})
        assert response.status_code == 200
        assert len(numbers(response.text)) == 25


# ---------------------------------------------------------------- the buyer's forms


def test_the_buyer_queue_and_every_buyer_action_through_its_form(
    api: Api,
) -> None:
    client = api
    paid = submit(client, "BUY-PAY")
    tracked(client, paid, "MISE_A_DISPOSITION", who="buyer")
    with session(client, "buyer") as web:
        queue = web.get("/portal")
        assert queue.status_code == 200 and "Invoices to process" in queue.text
        assert "BUY-PAY" in numbers(queue.text)
        # The forms are those the transition table gives a buyer in this status.
        page = web.get(f"/portal/invoices/{paid}").text
        buyer = Principal(ApiRole.BUYER, BUYER, "t")
        expected = {a.value for a in available(buyer, Status.MISE_A_DISPOSITION)}
        assert (
            set(action_forms(page))
            == expected
            == {
                "take-in-hand",
                "suspend",
                "mark-for-rerouting",
                "reject",
            }
        )
        shown = Page(page)
        for element_id, (tag, attrs) in shown.by_id.items():
            if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden":
                assert element_id in shown.labels, f"#{element_id} has no label"
        assert 'name="reason_code"' in page and ">NON_CONFORME — not compliant<" in page

        # CSRF: missing or wrong, refused, nothing recorded.
        form = action_forms(page)["take-in-hand"]
        assert web.post(form, data={}).status_code == 403
        assert web.post(form, data={"csrf": "forged"}).status_code == 403
        assert status_of(client, paid) == "MadeAvailable"

        # A step the status does not allow yet: refused in place (409), nothing recorded.
        csrf = csrf_of(page)
        early = web.post(
            f"/portal/invoices/{paid}/actions/order-payment",
            data={"csrf": csrf, "payment_order_number": "M-1"},
        )
        assert early.status_code == 409 and 'id="error-summary"' in early.text

        # Take in hand from the queue's own button: back to the queue (POST/redirect/GET).
        quick = re.search(rf'action="(/portal/invoices/{paid}/actions/take-in-hand)"', queue.text)
        assert quick
        done = web.post(quick[1], data={"csrf": csrf, "back": "/portal"})
        assert (done.status_code, done.headers["location"]) == (303, "/portal?done=take-in-hand")
        assert status_of(client, paid) == "TakenInHand"
        assert "Done: Take in hand" in web.get(done.headers["location"]).text

        assert act(web, paid, "certify-service-done", {}).status_code == 303
        missing = act(web, paid, "order-payment", {"payment_order_number": ""})
        assert missing.status_code == 422
        assert Page(missing.text).invalid() == {"order-payment-payment_order_number"}
        assert (
            act(web, paid, "order-payment", {"payment_order_number": "M-2026-7"}).status_code == 303
        )
        # Paid 45 days after reception: late, interest and the €40 indemnity are owed.
        late = (date.today() + timedelta(days=45)).isoformat()
        wrong_amount = act(
            web, paid, "pay", {"amount": "abc", "payment_date": late, "payment_reference": "V1"}
        )
        assert wrong_amount.status_code == 422
        assert Page(wrong_amount.text).fields["payment_date"] == late  # given back as typed
        response = act(
            web, paid, "pay", {"amount": "1200,00", "payment_date": late, "payment_reference": "V1"}
        )
        assert (response.status_code, response.headers["location"]) == (
            303,
            f"/portal/invoices/{paid}?done=pay",
        )
        assert status_of(client, paid) == "PaymentSent"
        tracked(client, paid, "MISE_EN_PAIEMENT", who="buyer")

        def payment_shown() -> bool:
            return "40.00 EUR" in web.get(f"/portal/invoices/{paid}").text

        wait_until(payment_shown, 30, "the late-payment indemnity on the invoice page")
        page = web.get(f"/portal/invoices/{paid}").text
        assert live(page, paid) == ("paid", "MISE_EN_PAIEMENT · 211")
        assert "Late-payment interest" in page and "days late" in page
        assert action_forms(page) == {}  # paid: nothing left to do

        # Suspend with a reason, then (after the supplier completed) reject with a code.
        rejected = submit(client, "BUY-REJ")
        tracked(client, rejected, "MISE_A_DISPOSITION")
        suspended = act(
            web, rejected, "suspend", {"reason_code": "JUSTIF_ABS", "reason": "delivery note"}
        )
        assert suspended.status_code == 303
        assert status_of(client, rejected) == "Suspended"

        # Mark one for re-routing.
        misrouted = submit(client, "BUY-RTE")
        tracked(client, misrouted, "MISE_A_DISPOSITION")
        response = act(
            web, misrouted, "mark-for-rerouting", {"reason_code": "DEST_ERR", "reason": "mairie"}
        )
        assert response.status_code == 303
        assert status_of(client, misrouted) == "MarkedForRerouting"

    with session(client, "supplier") as supplier:
        # A supplier cannot post a buyer's action, even with its own valid session.
        page = supplier.get(f"/portal/invoices/{rejected}").text
        refused = supplier.post(
            f"/portal/invoices/{rejected}/actions/reject",
            data={"csrf": csrf_of(page), "reason_code": "AUTRE", "reason": "no"},
        )
        assert refused.status_code == 403
        assert set(action_forms(page)) == {"complete"}
        assert 'enctype="multipart/form-data"' in page
        # The supplier re-routes the misrouted one to the town hall.
        response = act(
            supplier,
            misrouted,
            "reroute",
            {"recipient_siret": OTHER_BUYER, "service_code": "NOPE", "order_reference": ""},
        )
        assert response.status_code == 422  # the directory knows no such service there
        assert "CODE_ROUTAGE_ERR" in response.text
        response = act(
            supplier,
            misrouted,
            "reroute",
            {"recipient_siret": OTHER_BUYER, "service_code": "MAIRIE", "order_reference": ""},
        )
        assert response.status_code == 303
        assert status_of(client, misrouted) == "MadeAvailable"
        completed = act(supplier, rejected, "complete", {"comment": "note attached"})
        assert completed.status_code == 303

    with session(client, "buyer") as web:
        blank = act(web, rejected, "reject", {"reason_code": "NON_CONFORME", "reason": " "})
        assert blank.status_code == 422
        assert "reject-reason" in Page(blank.text).invalid()
        response = act(
            web, rejected, "reject", {"reason_code": "NON_CONFORME", "reason": "wrong prices"}
        )
        assert response.status_code == 303
        assert status_of(client, rejected) == "Rejected"
        tracked(client, rejected, "REJETEE", who="buyer")

        def timeline_complete() -> bool:
            return "wrong prices" in web.get(f"/portal/invoices/{rejected}").text

        wait_until(timeline_complete, 30, "the rejection in the timeline")
        page = web.get(f"/portal/invoices/{rejected}").text
        for text in ("JUSTIF_ABS", "delivery note", "note attached", "NON_CONFORME", "buyer:"):
            assert text in page, text
        # The re-routed invoice left this structure's queue.
        assert web.get(f"/portal/invoices/{misrouted}").status_code == 404


# ---------------------------------------------------------------- the supplier's page


def test_a_supplier_completes_with_an_attachment_and_downloads_its_documents(
    api: Api,
) -> None:
    client = api
    invoice_id = submit(client, "SUP-001")
    client.call(
        "POST",
        f"/invoices/{invoice_id}/suspend",
        "buyer",
        {"reason_code": "JUSTIF_ABS", "reason": "signed delivery note"},
    )
    tracked(client, invoice_id, "SUSPENDUE")
    attachment = b"%PDF-1.4\n% delivery note\n"
    with session(client, "supplier") as web:
        page = web.get(f"/portal/invoices/{invoice_id}")
        assert live(page.text, invoice_id) == ("action needed", "SUSPENDUE · 208")
        assert "signed delivery note" in page.text
        csrf = csrf_of(page.text)
        url = f"/portal/invoices/{invoice_id}/actions/complete"
        # A file type outside the list: refused next to the field, nothing recorded.
        bad = web.post(
            url,
            data={"csrf": csrf, "comment": "here"},
            files={"attachment": ("note.exe", b"MZ", "application/octet-stream")},
        )
        assert bad.status_code == 422 and "IRR_TYPE_F" in bad.text
        assert Page(bad.text).invalid() == {"complete-attachment"}
        no_csrf = web.post(
            url,
            data={"comment": "here"},
            files={"attachment": ("note.pdf", attachment, "application/pdf")},
        )
        assert no_csrf.status_code == 403
        assert status_of(client, invoice_id) == "Suspended"
        done = web.post(
            url,
            data={"csrf": csrf, "comment": "signed delivery note attached"},
            files={"attachment": ("bon-de-livraison.pdf", attachment, "application/pdf")},
        )
        assert done.status_code == 303, done.text
        assert status_of(client, invoice_id) == "Completed"
        tracked(client, invoice_id, "COMPLETEE")

        page = web.get(f"/portal/invoices/{invoice_id}").text
        links = dict(
            re.findall(
                r'href="(/portal/invoices/[^"]+/documents/[0-9a-f]{64})" download>([^<]+)<', page
            )
        )
        assert "bon-de-livraison.pdf" in links.values()
        for href, filename in links.items():
            response = web.get(href)
            assert response.status_code == 200
            assert filename in response.headers["content-disposition"]
            if filename == "bon-de-livraison.pdf":
                assert response.content == attachment
            else:  # the invoice's CII, as generated at submission
                assert b"CrossIndustryInvoice" in response.content
        receipt = web.get(f"/portal/invoices/{invoice_id}/receipt")
        assert receipt.status_code == 200
        assert "attachment" in receipt.headers["content-disposition"]
        acknowledgment = json.loads(receipt.content)
        api_receipt = client.call("GET", f"/invoices/{invoice_id}/receipt", "supplier").json()
        assert acknowledgment == api_receipt
        assert acknowledgment["receipt_id"] in page

        # French page of the same invoice: the payment clock and statuses in French.
        french = web.get(f"/portal/invoices/{invoice_id}", headers={"Accept-Language": "fr"})
        assert '<html lang="fr">' in french.text and "Historique" in french.text
        assert live(french.text, invoice_id)[0] == "en cours de traitement"

    document_href = next(iter(links))
    with session(client, "other_supplier") as other:
        assert other.get(f"/portal/invoices/{invoice_id}").status_code == 404
        assert other.get(document_href).status_code == 404
        assert other.get(f"/portal/invoices/{invoice_id}/receipt").status_code == 404
        page = other.get("/portal").text
        forged = other.post(
            f"/portal/invoices/{invoice_id}/actions/complete",
            data={"csrf": csrf_of(page), "comment": "mine now"},
        )
        assert forged.status_code == 404
    with browser(client) as anonymous:
        assert anonymous.get(document_href).headers["location"] == "/portal/login"
        assert anonymous.get("/portal").headers["location"] == "/portal/login"


def test_an_edi_invoice_links_to_the_report_of_its_flow(api: Api) -> None:
    client = api
    uploaded = httpx.post(
        f"{client.base}/flows",
        files={"file": ("FLW-1.xml", to_cii(invoice_data("FLW-1")))},
        headers={"Authorization": f"Bearer {client.tokens['supplier']}"},
        timeout=60,
    )
    assert uploaded.status_code == 202, uploaded.text
    flow_id = uploaded.json()["flow_id"]

    def integrated() -> bool:
        report = client.call("GET", f"/flows/{flow_id}", "supplier").json()
        return bool(report["final"])

    wait_until(integrated, 120, "the flow to be processed")
    report = client.call("GET", f"/flows/{flow_id}", "supplier").json()
    assert report["status"] == "IN_INTEGRE", report
    invoice_id = report["invoices"][0]["invoice_id"]
    tracked(client, invoice_id, "MISE_A_DISPOSITION")
    with session(client, "supplier") as web:
        page = web.get(f"/portal/invoices/{invoice_id}").text
        assert f'href="/portal/flows/{flow_id}/report"' in page
        shown = web.get(f"/portal/flows/{flow_id}/report")
        assert shown.status_code == 200 and "FLW-1.xml" in shown.text
        assert f'href="/portal/invoices/{invoice_id}"' in shown.text
        french = web.get(f"/portal/flows/{flow_id}/report", headers={"Accept-Language": "fr"})
        assert "Compte-rendu de traitement du flux" in french.text and "intégrée" in french.text
    with session(client, "other_supplier") as other:
        assert other.get(f"/portal/flows/{flow_id}/report").status_code == 404


def test_a_supplier_chooses_its_e_mails_on_a_page_of_its_own(api: Api) -> None:
    """The e-mail subscription's page: labelled, CSRF-protected, errors in place and nothing
    saved, the choices saved as the API then reads them, and removal; suppliers only."""
    subscription = f"/suppliers/{SUPPLIER}/notifications"
    with browser(api) as web:
        assert login(web, api.tokens["supplier"]).status_code == 303
        opened = web.get("/portal/notifications")
        assert opened.status_code == 200, opened.text
        assert 'href="/portal/notifications"' in opened.text  # in the navigation
        form = Page(opened.text)
        for element_id, (tag, attrs) in form.by_id.items():
            if tag in ("input", "select") and attrs.get("type") != "hidden":
                assert element_id in form.labels, f"#{element_id} has no label"
        words = ("received", "in-processing", "suspended", "rejected", "paid")
        assert {w for w in words if "checked" in form.attrs(f"status-{w}")} == {
            "received",
            "suspended",
            "rejected",
            "paid",
        }
        assert "unsubscribe" not in form.by_id  # nothing to stop yet
        csrf = form.fields["csrf"]

        wrong = web.post(
            "/portal/notifications",
            data={"csrf": csrf, "email": "not an address", "status-paid": "1", "language": "en"},
        )
        assert wrong.status_code == 422
        shown = Page(wrong.text)
        assert shown.invalid() == {"email"}
        assert shown.attrs("email")["value"] == "not an address"  # what was typed, kept
        assert "Enter one e-mail address" in wrong.text
        none_chosen = web.post(
            "/portal/notifications",
            data={"csrf": csrf, "email": "compta@durand.example", "language": "en"},
        )
        assert none_chosen.status_code == 422
        assert "Choose at least one status" in none_chosen.text
        assert api.call("GET", subscription, "supplier").json()["subscribed"] is False

        forged = web.post(
            "/portal/notifications",
            data={"email": "x@evil.example", "status-paid": "1", "language": "en"},
        )
        assert forged.status_code == 403

        saved = web.post(
            "/portal/notifications",
            data={
                "csrf": csrf,
                "email": "compta@durand.example",
                "status-in-processing": "1",
                "status-paid": "1",
                "language": "fr",
            },
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/portal/notifications?done=saved"
        stored = api.call("GET", subscription, "supplier").json()
        assert (stored["subscribed"], stored["email"], stored["language"]) == (
            True,
            "compta@durand.example",
            "fr",
        )
        assert stored["statuses"] == ["in-processing", "paid"]
        again = web.get(saved.headers["location"])
        assert "Your choices are saved." in again.text
        assert "E-mails go to compta@durand.example." in again.text
        page = Page(again.text)
        assert "checked" in page.attrs("status-paid")
        assert "checked" not in page.attrs("status-received")
        assert page.fields["language"] == "fr"

        french = web.get("/portal/notifications", headers={"Accept-Language": "fr"})
        assert "Notifications par courriel" in french.text

        removed = web.post("/portal/notifications/delete", data={"csrf": csrf})
        assert removed.status_code == 303
        assert api.call("GET", subscription, "supplier").json()["subscribed"] is False
        assert "You will receive no more e-mails." in web.get(removed.headers["location"]).text

    with browser(api) as web:
        assert login(web, api.tokens["buyer"]).status_code == 303
        assert web.get("/portal/notifications").status_code == 403
        assert 'href="/portal/notifications"' not in web.get("/portal").text
