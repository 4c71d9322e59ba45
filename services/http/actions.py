"""The lifecycle actions, one route per action of the transition table:
`POST /invoices/{invoice_id}/{action}`, performed by the application (`actions.perform`:
who may perform it is decided there, as for the portal).

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

import uuid
from typing import Any

from fastapi import APIRouter, Request

from facturier.domain.lifecycle import TRANSITION_BY_ACTION, Action
from facturier.services.application.actions import arguments, body_of, perform
from facturier.services.http.dependencies import Caller, Invoicing, correlation, visible_invoice
from facturier.services.http.responses import command_result

router = APIRouter()


def _add_route(action: Action) -> None:
    transition = TRANSITION_BY_ACTION[action]
    sources = ", ".join(sorted(transition.sources))

    def endpoint(
        invoice_id: uuid.UUID,
        request: Request,
        caller: Caller,
        invoicing: Invoicing,
        body: Any = None,
    ) -> dict[str, Any]:
        visible_invoice(invoicing, invoice_id, caller)  # 404 before 403: no probing
        params = arguments(body) if body is not None else {}
        correlation_id = correlation(request)
        invoice = perform(invoicing, invoice_id, action, params, caller, correlation_id)
        return command_result(invoice, correlation_id)

    # FastAPI reads the body's type from the annotation: each action gets its own model.
    endpoint.__annotations__["body"] = body_of(action) | None

    router.post(
        f"/invoices/{{invoice_id}}/{action.value}",
        tags=["lifecycle"],
        name=action.value,
        summary=f"{action.value} -> {transition.target}",
        description=f"Records {transition.event}. Allowed from: {sources}. By: {transition.by}.",
    )(endpoint)


for _action in Action:
    _add_route(_action)
