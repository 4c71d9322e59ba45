"""Lifecycle actions on an existing invoice, as both the JSON API and the portal perform them:
each action's arguments (one pydantic model per action), who may perform it, and the call.

The transition table (`domain/lifecycle.py`) says which role performs an action; this module
says which API role stands for it, so the API's routes and the portal's forms agree.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import TRANSITION_BY_ACTION, Action, Role, Status, allowed_actions
from facturier.domain.model import ReasonCode
from facturier.services.application.fields import Body, Number, Reference, Siret, Text
from facturier.services.application.invoicing import InvoicingApp
from facturier.services.application.principals import ApiRole, Principal

# ---------------------------------------------------------------- arguments


class NoBody(Body):
    """An action that takes no arguments."""


class ReasonIn(Body):
    reason: Text = Field(min_length=1, max_length=1000)
    reason_code: ReasonCode = Field(
        default=ReasonCode.AUTRE, description="reform reason code, e.g. JUSTIF_ABS"
    )


class CompleteIn(Body):
    comment: Text = Field(min_length=1, max_length=2000)


class RerouteIn(Body):
    recipient_siret: Siret
    service_code: Reference = Field(default="", max_length=100)
    order_reference: Reference = Field(default="", max_length=50)


class RejectIn(Body):
    # No default: a buyer states why it refuses (the portal's form preselects nothing).
    reason_code: ReasonCode = Field(description="reform reason code, e.g. NON_CONFORME")
    reason: Text = Field(min_length=1, max_length=1000)


class OrderPaymentIn(Body):
    payment_order_number: Reference = Field(min_length=1, max_length=50)


class PayIn(Body):
    amount: Number = Field(gt=0, max_digits=18, decimal_places=2)
    payment_date: date
    payment_reference: Reference = Field(min_length=1, max_length=100)


ACTION_BODIES: dict[Action, type[BaseModel]] = {
    Action.SUSPEND: ReasonIn,
    Action.COMPLETE: CompleteIn,
    Action.MARK_FOR_REROUTING: ReasonIn,
    Action.REROUTE: RerouteIn,
    Action.REJECT: RejectIn,
    Action.ORDER_PAYMENT: OrderPaymentIn,
    Action.PAY: PayIn,
}


def body_of(action: Action) -> type[BaseModel]:
    return ACTION_BODIES.get(action, NoBody)


def arguments(body: BaseModel) -> dict[str, Any]:
    """A validated body as the command's arguments: enums as their plain values, which is
    what the recorded event keeps."""
    return {k: v.value if isinstance(v, Enum) else v for k, v in body.model_dump().items()}


# ---------------------------------------------------------------- who

# The API roles standing for each role of the transition table.
PERFORMERS: dict[Role, frozenset[ApiRole]] = {
    Role.PLATFORM: frozenset({ApiRole.ADMIN}),
    Role.SUPPLIER: frozenset({ApiRole.SUPPLIER, ApiRole.ADMIN}),
    Role.BUYER: frozenset({ApiRole.BUYER, ApiRole.ADMIN}),
    # The public accountant acts for the buyer structure: its token is a buyer token.
    Role.ACCOUNTING: frozenset({ApiRole.BUYER, ApiRole.ADMIN}),
}


class ActionForbidden(PermissionError):
    def __init__(self, caller: Principal, action: Action) -> None:
        by = TRANSITION_BY_ACTION[action].by
        self.action = action
        super().__init__(f"{action} is done by the {by}, not by a {caller.role}")


def may_perform(caller: Principal, action: Action) -> bool:
    return caller.role in PERFORMERS[TRANSITION_BY_ACTION[action].by]


def authorise(caller: Principal, action: Action) -> None:
    if not may_perform(caller, action):
        raise ActionForbidden(caller, action)


def available(caller: Principal, status: Status) -> list[Action]:
    """The actions `caller` may perform on an invoice in `status`, in table order; the
    platform's own steps are left out (they follow a submission or a re-routing at once)."""
    return [
        a
        for a in allowed_actions(status)
        if TRANSITION_BY_ACTION[a].by is not Role.PLATFORM and may_perform(caller, a)
    ]


def perform(
    app: InvoicingApp,
    invoice_id: UUID,
    action: Action,
    params: dict[str, Any],
    caller: Principal,
    correlation_id: str,
) -> Invoice:
    """Apply `action` for `caller` (visibility is the caller's check: it answers 404 its own
    way). Raises ActionForbidden, LifecycleError, InvalidCommand or RoutingRefused."""
    authorise(caller, action)
    return app.act(invoice_id, action, actor=caller.actor, correlation_id=correlation_id, **params)
