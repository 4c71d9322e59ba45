"""The portal's pages past the invoice form, over HTTP against a real `facturier serve` (API,
relay, projections), PostgreSQL and Kafka: the list (scope, filters, search, keyset pages, and
that a page is read from an index at any depth), French and English, the invoice page
(timeline, documents, receipt, payment), every lifecycle action through its form, as a
browser without JavaScript posts it (CSRF token included), and the e-mail notifications page."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg

from facturier.domain.accounts import SecondFactor
from facturier.domain.identifiers import IdentifierKind
from facturier.domain.lifecycle import STATUS_AFTER_EVENT, Action, Status, Summary
from facturier.domain.model import ReasonCode, SubmissionMode
from facturier.domain.organisations import Role, Space
from facturier.domain.texts import TextKind
from facturier.intake.canonical import to_cii
from facturier.projections.tracking import queries as views
from facturier.services.application import directory
from facturier.services.application.actions import available, body_of
from facturier.services.application.authentication import create_token
from facturier.services.application.principals import ApiRole, Principal
from facturier.services.portal import (
    account_pages,
    entry_form,
    i18n,
    notifications,
    operator_pages,
    organisation_pages,
    technical_account_pages,
)
from facturier.services.portal.action_forms import field_specs
from tests.integration.test_portal_form import Page, browser, login
from tests.support.data import (
    BUYER,
    OTHER_BUYER,
    OTHER_SUPPLIER,
    SUPPLIER,
    invoice_body,
    invoice_data,
)
from tests.support.stack import Api, wait_until

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "portal" / "templates"
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
    return re.findall(
        r'<th scope="row"[^>]*><a href="/portal/invoices/[0-9a-f-]{36}">([^<]+)</a>', html
    )


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
    """Post an action's form from the invoice page, once the page shows it: the page shows
    the tracking view's status, which follows the previous action by the projection's
    delay, and the forms of that status."""
    shown: dict[str, str] = {}

    def offered() -> bool:
        page = web.get(f"/portal/invoices/{invoice_id}")
        assert page.status_code == 200, page.text
        shown.update(html=page.text)
        return action in action_forms(page.text)

    with contextlib.suppress(AssertionError):
        wait_until(offered, 30, f"the {action} form")
    forms = action_forms(shown["html"])
    assert action in forms, f"no {action} form on the page (has {sorted(forms)})"
    return web.post(forms[action], data={"csrf": csrf_of(shown["html"]), **fields}, **kw)


def status_of(client: Api, invoice_id: str) -> str:
    events = client.call("GET", f"/invoices/{invoice_id}/events", "admin").json()["events"]
    return str(events[-1]["type"])


# ---------------------------------------------------------------- catalogue


def test_every_string_of_the_pages_is_in_both_languages() -> None:
    keys = set()
    for template in TEMPLATES.glob("*.html"):
        keys |= set(re.findall(r"""\bt\(["']([a-z_]+\.[a-z_.\-]+)["']""", template.read_text()))
    for module in TEMPLATES.parent.glob("*.py"):  # the portal's routes and helpers
        source = module.read_text()
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
    keys |= {f"form.{f}" for f in (*entry_form.HEADER_FIELDS, "lines")}
    keys |= {f"form.line.{f}" for f in entry_form.LINE_FIELDS}
    keys |= {f"form.vat.{v}" for v in entry_form.VATS}
    keys |= {f"form.unit.{u}" for u in entry_form.UNITS}
    keys |= {f"form.hint.{h}" for h in entry_form.PATTERN_HINTS}
    keys |= {f"kind.{k}" for k in entry_form.KINDS}
    keys |= {f"flow.outcome.{o}" for o in ("integrated", "rejected", "pending")}
    keys |= {f"notify.done.{d}" for d in notifications.NOTIFY_DONE}
    keys |= {f"notify.invalid.{f}" for f in ("email", "statuses", "language")}
    keys |= {f"signup.invalid.{f}" for f in ("name", "login_email", "contact_email", "language")}
    keys |= {f"password.title.{p}" for p in ("activate", "reset")}
    keys |= {f"password.done.{p}" for p in ("activate", "reset")}
    keys |= {f"password.done_text.{p}" for p in ("activate", "reset")}
    keys |= {f"link.{k}.{p}" for k in ("title", "intro", "sent") for p in ("activate", "forgot")}
    keys |= {f"code.intro.{f}" for f in SecondFactor}
    keys |= {f"account.done.{d}" for d in account_pages.ACCOUNT_DONE}
    keys |= {f"account.factor.{f}" for f in (*SecondFactor, "none")}
    keys |= {f"organisation.kind.{k}" for k in IdentifierKind} | {f"space.{s}" for s in Space}
    keys |= {f"organisation.state.{s}" for s in ("member", "pending")}
    keys |= {f"organisation.role.{r}" for r in Role}
    keys |= {f"organisation.asks.{a}" for a in ("join", "space")}
    keys |= {f"organisation.invalid.{f}" for f in ("identifier", "kind", "name", "account", "note")}
    keys |= {f"organisations.done.{d}" for d in organisation_pages.ORGANISATIONS_DONE}
    keys |= {f"organisation.done.{d}" for d in organisation_pages.ORGANISATION_DONE}
    keys |= {f"text.{k}.{kind}" for k in ("title", "accept", "accepted") for kind in TextKind}
    keys |= {f"organisation.mandate.{m}" for m in ("signed", "missing")}
    keys |= {f"operators.mode.{m}" for m in SubmissionMode}
    keys |= {f"operators.done.{d}" for d in operator_pages.DONE}
    keys |= {f"operators.invalid.{f}" for f in ("identifier", "modes", "starts")}
    keys |= {f"clients.done.{d}" for d in technical_account_pages.DONE}
    keys |= {f"clients.invalid.{f}" for f in ("label", "spaces")}
    # The timeline's words, role words, the brand per role, the placeholder of each select.
    keys |= {f"event.{e}" for e in STATUS_AFTER_EVENT}
    keys |= {f"role.{r}" for r in ApiRole} | {f"portal.name.{r}" for r in ApiRole}
    keys |= {f"actor.{a}" for a in ("you", "platform", "buyer", "operator", "admin", "auditor")}
    selects = {f.name for a in Action for f in field_specs(a, {}) if f.kind == "select"}
    keys |= {f"choose.{f}" for f in selects} | {f"error.choose.{f}" for f in selects}
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
        assert '<th scope="col">' in first.text and '<th scope="row"' in first.text
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
    with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
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
                sql, params = views.list_query(**scoped, limit=26, **filters)  # type: ignore[arg-type]
                nodes = _plan(conn, sql, params)
                case = (who, name, nodes)
                assert not [n for n in nodes if n.startswith("Seq Scan")], case
                if name != "number search":  # a handful of rows found by number, then ordered
                    assert not [n for n in nodes if "Sort" in n], case
                assert any(n.startswith(("Index", "Bitmap Index")) for n in nodes), case

        # The pages follow each other without gap nor repeat across tied timestamps.
        sql, params = views.list_query(**scope, limit=7, after=deep)  # type: ignore[arg-type]
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
        assert 'name="reason_code"' in page and ">Non-compliant invoice (NON_CONFORME)<" in page

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
            return "€40.00" in web.get(f"/portal/invoices/{paid}").text

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

    tracked(client, rejected, "SUSPENDUE")
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


# ---------------------------------------------------------------- buyers by name, and found

DGFIP = "Direction régionale des finances publiques (demo)"  # the test directory's names
MAIRIE = "Mairie (demo)"


def visible_text(html: str) -> str:
    """What a reader sees as main words: tags, attributes and the codes' details removed."""
    html = re.sub(r'<small class="codes"[^>]*>.*?</small>', " ", html, flags=re.S)
    html = re.sub(r"<(script|template)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def timeline_rows(html: str) -> list[dict[str, str]]:
    """The timeline's steps: what happened, by whom (and the raw actor), the codes."""
    body = re.search(r"<tbody data-live-timeline=[^>]*>(.*?)</tbody>", html, re.S)
    assert body, "no timeline"
    rows = []
    for row in re.findall(r"<tr data-version[^>]*>(.*?)</tr>", body[1], re.S):
        what = re.search(r'<span class="step">([^<]*)</span>', row)
        by = re.search(r'<span class="actor" title="([^"]*)">([^<]*)</span>', row)
        codes = re.search(r'<small class="codes"[^>]*><code>([^<]*)</code>', row)
        assert what and by and codes, row
        rows.append(
            {
                "what": unescape(what[1]),
                "by": unescape(by[2]),
                "actor": by[1],
                "codes": unescape(codes[1]),
            }
        )
    return rows


def test_buyers_are_shown_by_their_directory_name_with_the_siret_as_detail(api: Api) -> None:
    to_state = submit(api, "NAME-1")
    to_town = submit(api, "NAME-2", recipient_siret=OTHER_BUYER, service_code="MAIRIE")
    tracked(api, to_state, "MISE_A_DISPOSITION")
    tracked(api, to_town, "MISE_A_DISPOSITION")
    with session(api, "supplier") as web:
        listed = web.get("/portal", params={"q": "NAME-"}).text
        # The name is the cell's first words; the SIRET follows, smaller.
        assert re.search(
            rf'data-label="Recipient">{re.escape(DGFIP)}\s*<small class="hint">SIRET {BUYER}'
            r" · service Service exécutant 01 \(SE-01\)</small>",
            unescape(listed),
        ), listed
        assert re.search(
            rf'data-label="Recipient">{re.escape(MAIRIE)}\s*<small class="hint">SIRET '
            rf"{OTHER_BUYER}",
            listed,
        )
        page = unescape(web.get(f"/portal/invoices/{to_state}").text)
        assert re.search(
            rf"<dt>Recipient</dt><dd>{re.escape(DGFIP)} — Service exécutant 01\s*"
            rf'<small class="hint">SIRET {BUYER} · SE-01 · EJ EJ00004242</small>',
            page,
        ), page
        assert f"Received by {DGFIP}" in page
    with session(api, "buyer") as web:
        queue = unescape(web.get("/portal", params={"q": "NAME-"}).text)
        # The buyer's own structure, named; its queue by service.
        assert f"public buyer for {DGFIP}" in queue and f"(SIRET {BUYER})" in queue
        assert re.search(
            r'data-label="Service">Service exécutant 01 <small class="hint">SE-01</small>', queue
        ), queue
        assert "NAME-2" not in queue


def test_the_invoice_form_finds_public_buyers_and_their_services(api: Api) -> None:
    with session(api, "supplier") as web:
        form = Page(web.get("/portal/invoices/new").text)
        assert "buyer_q" in form.labels and form.attrs("buyer_q")["type"] == "search"
        fields = {**form.fields, "number": "KEEP-ME", "buyer_q": "mairie"}

        # Without JavaScript: the search posts the form back with the results.
        found = web.post("/portal/invoices", data={**fields, "action": "search-buyer"})
        assert found.status_code == 200
        choices = re.findall(r'name="action" value="(pick-buyer:[^"]+)"', found.text)
        assert choices == [
            f"pick-buyer:{OTHER_BUYER}:",  # the town hall needs no service code
            f"pick-buyer:{OTHER_BUYER}:MAIRIE-COMPTA",
            f"pick-buyer:{OTHER_BUYER}:MAIRIE",
        ] or sorted(choices) == sorted(
            [
                f"pick-buyer:{OTHER_BUYER}:",
                f"pick-buyer:{OTHER_BUYER}:MAIRIE",
                f"pick-buyer:{OTHER_BUYER}:MAIRIE-COMPTA",
            ]
        )
        assert "Comptabilité" in found.text and MAIRIE in found.text
        shown = Page(found.text)
        assert shown.fields["number"] == "KEEP-ME" and shown.fields["buyer_q"] == "mairie"

        # Choosing fills the SIRET and the service code; what was typed stays.
        picked = web.post(
            "/portal/invoices",
            data={**shown.fields, "action": f"pick-buyer:{OTHER_BUYER}:MAIRIE-COMPTA"},
        )
        chosen = Page(picked.text)
        assert chosen.fields["recipient_siret"] == OTHER_BUYER
        assert chosen.fields["service_code"] == "MAIRIE-COMPTA"
        assert chosen.fields["number"] == "KEEP-ME"
        told = chosen.text["buyer-picked"]
        assert MAIRIE in told and "MAIRIE-COMPTA" in told

        # Enter in the search field presses the form's first button ("compute"): it searches.
        entered = web.post("/portal/invoices", data={**fields, "buyer_q": "régionale"})
        assert f"pick-buyer:{BUYER}:SE-01" in entered.text

        # By SIRET (typed with spaces), by service code, by the service's name, accents or not.
        def search(text: str) -> list[tuple[str, str]]:
            response = web.get("/portal/directory/search", params={"q": text})
            assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
            return [(r["siret"], r["service_code"]) for r in response.json()["results"]]

        # The State structure requires a service code: its services only, never itself.
        assert sorted(search("110 002 011")) == [
            (BUYER, "SE-01"),
            (BUYER, "SE-FACT-01"),
            (BUYER, "SERV-1"),
        ]
        assert search("se-fact") == [(BUYER, "SE-FACT-01")]
        assert search("sefact01") == [(BUYER, "SE-FACT-01")]
        assert search("comptabilite mairie") == [(OTHER_BUYER, "MAIRIE-COMPTA")]
        assert search("REGIONALE facturier") == [(BUYER, "SE-FACT-01")]
        assert search("m") == [] and search("nothing-like-it") == []
        answer = web.get("/portal/directory/search", params={"q": "mairie"}).json()
        assert answer["results"][0] == {
            "siret": OTHER_BUYER,
            "name": MAIRIE,
            "service_code": "",
            "service_name": "",
            "order_reference_required": False,
        }
        french = web.post(
            "/portal/invoices",
            data={**fields, "buyer_q": "zzzz", "action": "search-buyer"},
            headers={"Accept-Language": "fr"},
        )
        assert "Aucun acheteur public ni service ne correspond à « zzzz »." in unescape(french.text)
    with browser(api) as anonymous:
        assert anonymous.get("/portal/directory/search", params={"q": "mairie"}).status_code == 401


def test_the_buyer_search_reads_a_bounded_number_of_rows_at_100000_structures(api: Api) -> None:
    """A keystroke never scans the directory: however many structures match a word, the
    search reads at most a fixed number of rows, found by the prefix index when they are
    few (a plain scan is cheaper, and still stops early, when nearly every row matches)."""
    table = 400_000  # search terms below: 4 per structure
    with psycopg.connect(api.settings.postgres.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO directory_structure SELECT '8' || lpad(i::text, 13, '0'),"
            " 'Commune ' || i || ' ville' || (i % 1000), 'local', true, false, false, false"
            " FROM generate_series(1, 100000) AS i"
        )
        conn.execute(
            "INSERT INTO directory_service SELECT '8' || lpad(i::text, 13, '0'), 'S' || i,"
            " 'Service ' || i, true FROM generate_series(1, 100000) AS i"
        )
        conn.execute(
            "INSERT INTO directory_search_term (term, siret, service_code)"
            " SELECT w.term, '8' || lpad(i::text, 13, '0'), ''"
            " FROM generate_series(1, 100000) AS i,"
            " LATERAL (VALUES ('commune'), (i::text), ('ville' || (i % 1000)),"
            " ('8' || lpad(i::text, 13, '0'))) AS w(term)"
        )
        for name in ("directory_structure", "directory_service", "directory_search_term"):
            conn.execute(f"ANALYZE {name}")
        for text in ("commune", "c", "ville12 commune", "80000000", "80000000051", "mairie"):
            sql, params = directory.search_query(directory.query_words(text))
            plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()[0]
            read = _rows_read(plan[0]["Plan"])
            assert read <= 10 * directory.SEARCH_CANDIDATES < table, (text, read)
            nodes = _plan(conn, sql, params)
            scans = [n for n in nodes if n.startswith("Seq Scan")]
            assert not [n for n in scans if n != "Seq Scan directory_search_term"], (text, nodes)
            if text in ("ville12 commune", "80000000051", "mairie"):  # few rows: the index
                assert not scans and any("Index" in n for n in nodes), (text, nodes)
            assert len(directory.search(conn, text)) <= directory.SEARCH_LIMIT
        exact = directory.search(conn, "ville123 commune 5123")
        assert [m.siret for m in exact] == ["80000000005123"]
        assert exact[0].name == "Commune 5123 ville123"
        assert len(directory.search(conn, "commune")) == directory.SEARCH_LIMIT


def _rows_read(node: dict[str, Any]) -> int:
    """Rows the plan's scans read (returned or filtered out), summed over every loop."""
    loops = node.get("Actual Loops", 1)
    own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
    scanned = int(own) if "Scan" in node["Node Type"] else 0
    return scanned + sum(_rows_read(child) for child in node.get("Plans", []))


# ---------------------------------------------------------------- the timeline in words


def test_the_timeline_speaks_the_users_words_and_keeps_the_codes_as_details(api: Api) -> None:
    invoice_id = submit(api, "WORDS-1")
    tracked(api, invoice_id, "MISE_A_DISPOSITION")
    suspended = api.call(
        "POST",
        f"/invoices/{invoice_id}/suspend",
        "buyer",
        {"reason_code": "JUSTIF_ABS", "reason": "delivery note"},
    )
    assert suspended.status_code == 200
    tracked(api, invoice_id, "SUSPENDUE")
    with session(api, "supplier") as web:
        page = unescape(web.get(f"/portal/invoices/{invoice_id}").text)
        steps = timeline_rows(page)
        assert [s["what"] for s in steps] == [
            "Invoice submitted",
            f"Checked by the platform and sent to {DGFIP}",
            f"Received by {DGFIP}",
            "Suspended: documents are missing",
        ]
        assert [s["by"] for s in steps] == ["you", "the platform", "the platform", DGFIP]
        # The codes and the raw actor stay, as details.
        assert [s["actor"] for s in steps] == [
            f"supplier:{SUPPLIER}",
            "platform",
            "platform",
            f"buyer:{BUYER}",
        ]
        assert steps[2]["codes"] == "MadeAvailable · MISE_A_DISPOSITION · 203"
        reason = 'Supporting document missing</strong> <small class="codes">(JUSTIF_ABS)</small>'
        assert reason in page
        timeline = re.search(r"<tbody data-live-timeline.*?</tbody>", page, re.S)
        assert timeline
        words = visible_text(timeline[0])
        for jargon in ("MadeAvailable", "Routed", "Submitted", "SUSPENDUE", "platform ·"):
            assert jargon not in words, jargon
        assert "JUSTIF_ABS" not in words and "buyer:" not in visible_text(page)

        french = unescape(
            web.get(f"/portal/invoices/{invoice_id}", headers={"Accept-Language": "fr"}).text
        )
        assert [(s["what"], s["by"]) for s in timeline_rows(french)] == [
            ("Facture déposée", "vous"),
            (f"Contrôlée par la plateforme et envoyée à {DGFIP}", "la plateforme"),
            (f"Reçue par {DGFIP}", "la plateforme"),
            ("Suspendue : des pièces manquent", DGFIP),
        ]
        listed = web.get("/portal", params={"q": "WORDS-1"}).text
        assert '<th scope="col">Chorus status</th>' not in listed
        assert "SUSPENDUE · 208" not in visible_text(listed)
        assert re.search(r'<small class="codes"[^>]*><code data-live-code="[^"]+"', listed)
    with session(api, "buyer") as web:
        steps = timeline_rows(unescape(web.get(f"/portal/invoices/{invoice_id}").text))
        by = [s["by"] for s in steps]
        assert by == ["Papeterie Durand", "the platform", "the platform", "you"]


# ---------------------------------------------------------------- French formats, role words


def test_french_pages_write_amounts_dates_and_times_the_french_way(api: Api) -> None:
    invoice_id = submit(api, "FMT-1")  # 1,000.00 + 200.00 VAT, issued 2026-04-01
    tracked(api, invoice_id, "MISE_A_DISPOSITION")
    with psycopg.connect(api.settings.postgres.dsn) as conn:
        row = views.invoice(conn, uuid.UUID(invoice_id))
    assert row is not None
    submitted = row["submitted_at"].astimezone(ZoneInfo("Europe/Paris"))
    instant = row["submitted_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    with session(api, "supplier", **{"Accept-Language": "fr"}) as web:
        page = web.get(f"/portal/invoices/{invoice_id}", headers={"Accept-Language": "fr"}).text
        assert "<dd>1\u202f200,00\u00a0€</dd>" in page and "<dd>200,00\u00a0€</dd>" in page
        assert "<dd>01/04/2026</dd>" in page
        shown = submitted.strftime("%d/%m/%Y %H:%M")
        assert re.search(rf'<time datetime="[^"]+Z" title="{instant}">{shown}</time>', page), page
        assert "fournisseur" in page and "facturier — portail fournisseurs" in page
        listed = web.get("/portal", params={"q": "FMT-1"}, headers={"Accept-Language": "fr"}).text
        assert ">1\u202f200,00\u00a0€</td>" in listed and ">01/04/2026</td>" in listed
        english = web.get(f"/portal/invoices/{invoice_id}", headers={"Accept-Language": "en"}).text
        assert "<dd>€1,200.00</dd>" in english and "<dd>1 Apr 2026</dd>" in english
        shown_en = f"{submitted.day} {submitted.strftime('%b %Y, %H:%M')}"
        assert re.search(rf'title="{instant}">{shown_en}</time>', english), english
    with session(api, "buyer") as web:
        for lang, brand, role in (
            ("en", "public buyers' portal", "public buyer"),
            ("fr", "portail des acheteurs publics", "acheteur public"),
        ):
            page = " ".join(
                unescape(web.get("/portal", headers={"Accept-Language": lang}).text).split()
            )
            assert f"facturier — {brand}" in page and f", {role} " in page
            assert "supplier portal" not in page and "portail fournisseurs" not in page
    with session(api, "auditor") as web:
        page = " ".join(
            unescape(web.get("/portal", headers={"Accept-Language": "fr"}).text).split()
        )
        assert "facturier — portail de facturation électronique" in page and ", auditeur" in page
        refused = web.get("/portal/invoices/new", headers={"Accept-Language": "fr"})
        assert refused.status_code == 403 and "Ce compte (auditeur)" in unescape(refused.text)
    with browser(api) as anonymous:
        login_page = anonymous.get("/portal/login", headers={"Accept-Language": "fr"}).text
        assert "portail fournisseurs" not in login_page


# ---------------------------------------------------------------- explicit choices


def test_every_select_of_an_action_form_needs_an_explicit_choice(api: Api) -> None:
    invoice_id = submit(api, "CHOOSE-1")
    tracked(api, invoice_id, "MISE_A_DISPOSITION", who="buyer")
    with session(api, "buyer") as web:
        page = web.get(f"/portal/invoices/{invoice_id}").text
        selects = re.findall(r"<select ([^>]*)>(.*?)</select>", page, re.S)
        assert len(selects) == 3  # suspend, send back to re-route, reject: all a reason code
        for attrs, options in selects:
            assert " required" in attrs
            first = re.match(r'<option value=""( selected)?>([^<]*)</option>', options)
            assert first and first[1] and first[2] == "— choose a reason —", options[:200]
            assert options.count(" selected") == 1  # the placeholder only
            assert ">Duplicate invoice (DOUBLON)<" in options
            assert ">Non-compliant invoice (NON_CONFORME)<" in options
        csrf = csrf_of(page)
        for lang, text in (("en", "Choose a reason."), ("fr", "Choisissez un motif.")):
            for action in ("reject", "suspend", "mark-for-rerouting"):
                refused = web.post(
                    f"/portal/invoices/{invoice_id}/actions/{action}",
                    data={"csrf": csrf, "reason": "wrong prices"},
                    headers={"Accept-Language": lang},
                )
                assert refused.status_code == 422, (action, refused.text[:500])
                assert Page(refused.text).invalid() == {f"{action}-reason_code"}
                assert text in refused.text
                # What was typed is given back.
                assert "wrong prices" in refused.text
        unknown = web.post(
            f"/portal/invoices/{invoice_id}/actions/reject",
            data={"csrf": csrf, "reason": "wrong prices", "reason_code": "NOPE"},
        )
        assert unknown.status_code == 422
        assert status_of(api, invoice_id) == "MadeAvailable"
        chosen = web.post(
            f"/portal/invoices/{invoice_id}/actions/reject",
            data={"csrf": csrf, "reason": "wrong prices", "reason_code": "DOUBLON"},
        )
        assert chosen.status_code == 303
        assert status_of(api, invoice_id) == "Rejected"


# ---------------------------------------------------------------- one source for the page


def test_the_status_shown_and_the_actions_offered_come_from_one_source(api: Api) -> None:
    """The tracking view lags behind the event store by the projection's delay; the page
    must never show one status with the actions of another. It shows the view's row, and
    the forms of the status in that row."""
    invoice_id = submit(api, "ONE-SOURCE-1")
    tracked(api, invoice_id, "MISE_A_DISPOSITION", who="buyer")
    taken = api.call("POST", f"/invoices/{invoice_id}/take-in-hand", "buyer")
    assert taken.status_code == 200
    tracked(api, invoice_id, "PRISE_EN_COMPTE_DESTINATAIRE", who="buyer")
    # The view as a lagging projection leaves it: one step behind.
    with psycopg.connect(api.settings.postgres.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE tracking_invoice SET version = version - 1, status = 'MISE_A_DISPOSITION',"
            " reform_code = 203, summary = 'received' WHERE invoice_id = %s",
            (invoice_id,),
        )
        conn.execute(
            "DELETE FROM tracking_timeline WHERE invoice_id = %s AND event_type = 'TakenInHand'",
            (invoice_id,),
        )
    buyer = Principal(ApiRole.BUYER, BUYER, "t")
    with session(api, "buyer") as web:
        page = web.get(f"/portal/invoices/{invoice_id}").text
        summary, code = live(page, invoice_id)
        status = Status(code.split(" · ")[0])
        offered = set(action_forms(page))
        assert offered == {a.value for a in available(buyer, status)}
        assert (summary, code) == ("received", "MISE_A_DISPOSITION · 203")
        assert "take-in-hand" in offered and "certify-service-done" not in offered
        # The part of the page rendered from the row says which version it is: live.js
        # reads the page again for any newer push.
        region = r'data-live-region="[^"]+" data-live-source="[^"]+" data-live-version="3"'
        assert re.search(region, page)
        # A form of the status shown, already done: the event store refuses it, in place,
        # and the page given back is still one state.
        again = web.post(
            f"/portal/invoices/{invoice_id}/actions/take-in-hand", data={"csrf": csrf_of(page)}
        )
        assert again.status_code == 409 and 'id="error-summary"' in again.text
        assert "taken in hand by the buyer" in again.text  # what the store says, in words
        summary, code = live(again.text, invoice_id)
        assert set(action_forms(again.text)) == {
            a.value for a in available(buyer, Status(code.split(" · ")[0]))
        }
        assert status_of(api, invoice_id) == "TakenInHand"
