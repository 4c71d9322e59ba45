"""`GET /portal`: the invoices the account sees (a supplier's own, an operator's mandates', a
buyer structure's queue, all for auditors and admins) with their status in plain words,
filters, search by number and keyset pagination (`projections/tracking/queries.py`). A
buyer's rows carry buttons for the actions that need no form (take in hand...).

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facturier.domain.lifecycle import Status, Summary
from facturier.projections.tracking import queries as views
from facturier.services.application import directory
from facturier.services.application.actions import NoBody, available, body_of
from facturier.services.application.principals import ApiRole, Principal
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.rendering import (
    ACTION_NAMES,
    here,
    render,
    to_login,
    translator,
    with_param,
)

PAGE_SIZE = 25
CATEGORIES = tuple(s.value for s in Summary)
CURSOR = re.compile(r"(?P<at>[0-9T:.+\- ]{19,40})~(?P<id>[0-9a-f-]{36})")


def _cursor(text: str) -> tuple[datetime, uuid.UUID] | None:
    """A page's position, `<submitted_at ISO>~<invoice id>`; None: the first page."""
    match = CURSOR.fullmatch(text)
    if match is None:
        return None
    try:
        at = datetime.fromisoformat(match["at"].replace(" ", "+"))
        return (at, uuid.UUID(match["id"])) if at.tzinfo else None
    except ValueError:
        return None


def _scope(principal: Principal) -> dict[str, Any]:
    """What a principal's list holds (`Principal.invoices`): its invoices (supplier,
    operator's mandates), those addressed to its structure (buyer), or all (auditor, admin)."""
    scope = principal.invoices
    filters: dict[str, Any] = {}
    if scope.suppliers is not None:
        filters["suppliers"] = list(scope.suppliers)
    if scope.recipient is not None:
        filters["recipient_siret"] = scope.recipient
    return filters


@dataclass
class ListFilters:
    """The list's filters as asked (`shown`, given back to the form), as the query takes
    them (`query`), and what is wrong with them (`errors`, by input)."""

    query: dict[str, Any]
    shown: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def list_filters(
    principal: Principal, params: dict[str, str], t: Callable[..., str]
) -> ListFilters:
    buyer = principal.role is ApiRole.BUYER
    found = ListFilters(_scope(principal), {})
    q = params["q"].strip()[:20]
    if q:
        found.query["number_prefix"] = q
    category = params["category"]
    if category in CATEGORIES:
        found.query["summary"] = category
    recipient = "".join(params["recipient"].split())
    if recipient and not buyer:
        if re.fullmatch(r"\d{14}", recipient):
            found.query["recipient_siret"] = recipient
        else:
            found.errors["recipient"] = t("error.siret")
    for name in ("issued_from", "issued_to"):
        if params[name]:
            try:
                found.query[name] = date.fromisoformat(params[name])
            except ValueError:
                found.errors[name] = t("error.date")
    found.shown = {
        "q": q,
        "category": category if category in CATEGORIES else "",
        "recipient": recipient,
        "issued_from": params["issued_from"],
        "issued_to": params["issued_to"],
    }
    return found


def list_rows(
    deps: PortalDeps,
    principal: Principal,
    filters: dict[str, Any],
    cursor: tuple[datetime, uuid.UUID] | None,
) -> tuple[list[dict[str, Any]], bool]:
    """One page of rows, named (buyers, services), each with its quick actions (a buyer's
    buttons); and whether more follow."""
    with deps.pool().connection() as conn:
        rows = views.invoices(conn, limit=PAGE_SIZE + 1, after=cursor, **filters)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        buyers = directory.names(conn, (r["recipient_siret"] for r in rows))
        services = directory.service_names(
            conn, ((r["recipient_siret"], r["service_code"]) for r in rows)
        )
    buyer = principal.role is ApiRole.BUYER
    for row in rows:
        row["recipient_name"] = buyers.get(row["recipient_siret"], "")
        row["service_name"] = services.get((row["recipient_siret"], row["service_code"]), "")
        # From the row's own status: a row's buttons always match the status it shows.
        row["quick"] = (
            [a.value for a in available(principal, Status(row["status"])) if body_of(a) is NoBody]
            if buyer
            else []
        )
    return rows, more


def dashboard_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("")
    def dashboard(
        request: Request,
        q: str = "",
        category: str = "",
        recipient: str = "",
        issued_from: str = "",
        issued_to: str = "",
        after: str = "",
        done: str = "",
    ) -> Response:
        """The invoices the account sees, newest first: a supplier's own, an operator's
        mandates', a buyer structure's queue, everything for auditors and admins."""
        session = deps.sessions.current(request)
        if session is None:
            return to_login()
        t = translator(request)
        principal = session.principal
        buyer = principal.role is ApiRole.BUYER
        params = {
            "q": q,
            "category": category,
            "recipient": recipient,
            "issued_from": issued_from,
            "issued_to": issued_to,
        }
        filters = list_filters(principal, params, t)
        cursor = _cursor(after)
        rows, more = list_rows(deps, principal, filters.query, cursor)
        url = here(request)
        next_page = ""
        if more:
            last = rows[-1]
            position = f"{last['submitted_at'].isoformat()}~{last['invoice_id']}"
            next_page = with_param(url, "after", position)
        role = principal.role
        heading = t("list.heading_buyer" if buyer else "list.heading")
        if role in (ApiRole.AUDITOR, ApiRole.ADMIN):
            heading = t("list.heading_all")
        return render(
            deps,
            request,
            "portal_dashboard.html",
            422 if filters.errors else 200,
            session=session,
            heading=heading,
            rows=rows,
            errors=filters.errors,
            filters=filters.shown,
            categories=CATEGORIES,
            show_recipient_filter=not buyer,
            show_recipient=not buyer,  # a buyer's queue is all its own: its services instead
            show_supplier=role is not ApiRole.SUPPLIER,
            quick_actions=buyer,
            cursor=cursor,
            first_page=with_param(url, "after", ""),
            next_page=next_page,
            done=t("invoice.done", action=t(f"action.{done}")) if done in ACTION_NAMES else "",
        )

    return router
