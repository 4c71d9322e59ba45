"""Payment delays (*délai global de paiement*, docs/DOMAIN.md §7): for each invoice made available
to a buyer structure, its legal payment deadline, the days its clock has run and, once paid
late, the late-payment interest and the fixed recovery indemnity owed to the supplier.

Rules, in calendar days, dates in Europe/Paris (the arithmetic is in
`domain/payment_terms.py`; this module folds events into it):

- the clock starts on the date of the invoice's latest MadeAvailable (its reception by the
  structure). Re-routing restarts it: the next MadeAvailable, at the new structure, is a
  new reception, with that structure's terms and no suspension carried over;
- the period is the structure's `payment_days` (`structure_settings`, 30 unless set; 50 for
  public hospitals), read when the projection applies the MadeAvailable and kept with the
  invoice: changing a structure's terms applies to invoices it receives afterwards;
- a suspension (Suspended) pauses the clock until the supplier completes the invoice
  (Completed); the whole days between the two are added to the deadline. A suspension and
  completion on the same day pause nothing. The code's floor on the period left after a
  suspension is not applied;
- days elapsed = payment date (or today) - reception date - suspended days; paid on day 30
  of a 30-day period is on time, day 31 is one day late;
- interest = amount paid x (reference rate + 8 points) x late days / 365, computed exactly
  in Decimal and rounded once, half up, to the cent; plus a fixed €40.00 indemnity per
  invoice paid late. The reference rate (ECB main refinancing rate, in percent) is the
  configured one when the projection applies the payment; it is stored with the invoice;
- credit notes (every UNTDID 1001 credit-note kind, 261 self-billed included) owe nothing
  to the supplier: no deadline, no interest;
- Rejected and MarkedForRerouting stop the clock (nothing is due until a new reception).

Every invoice's row carries its last applied version: redelivered events (versions already
applied) change nothing, so each event counts once, and so do the metrics it updates
(except if a batch fails after `apply` and the same process retries it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg

from facturier.adapters import metrics
from facturier.adapters.payment_terms import payment_days_of
from facturier.domain.lifecycle import EventType
from facturier.domain.model import is_credit_note
from facturier.domain.payment_terms import (
    DEFAULT_PAYMENT_DAYS,
    NOTHING,
    days_elapsed,
    deadline,
    interest_rate,
    late_days,
    late_interest,
    paris_date,
    parse_rate,
    recovery_indemnity,
)
from facturier.events.lifecycle import LifecycleEvent
from facturier.projections import folding
from facturier.projections.runner import Cursor, StateTable


@dataclass(frozen=True)
class Payment:
    """What a payment observed: for the metrics."""

    structure: str
    days: int
    late: bool


@dataclass
class PaymentState:
    """A row of `payment_delay`."""

    invoice_id: str
    version: int
    supplier_id: str
    number: str
    kind: str
    currency: str
    gross_amount: Decimal
    recipient_siret: str
    received_at: datetime | None = None
    received_on: date | None = None
    payment_days: int | None = None
    suspended_days: int = 0
    suspended_since: date | None = None
    stopped: str | None = None
    paid_on: date | None = None
    paid_amount: Decimal | None = None
    days_to_payment: int | None = None
    late_days: int | None = None
    reference_rate: Decimal | None = None
    interest: Decimal | None = None
    indemnity: Decimal | None = None

    @classmethod
    def submitted(cls, e: LifecycleEvent) -> PaymentState:
        p = e.payload
        return cls(
            invoice_id=e.invoice_id,
            version=e.version,
            supplier_id=p["supplier_id"],
            number=p["number"],
            kind=p["kind"],
            currency=p["currency"],
            gross_amount=p["gross_amount"],
            recipient_siret=p["recipient_siret"],
        )

    @property
    def credit_note(self) -> bool:
        return is_credit_note(self.kind)

    def view(self, today: date) -> dict[str, Any]:
        """The payment route's answer, as of `today` for an unpaid invoice."""
        out: dict[str, Any] = {
            "invoice_id": self.invoice_id,
            "number": self.number,
            "kind": self.kind,
            "supplier_id": self.supplier_id,
            "recipient_siret": self.recipient_siret,
            "currency": self.currency,
            "gross_amount": self.gross_amount,
            "received_at": self.received_at,
            "received_on": self.received_on,
            "payment_days": self.payment_days,
            "suspended_days": self.suspended_days,
            "suspended_since": self.suspended_since,
            "deadline": None,
            "clock": "not-received",
            "as_of": today,
            "days_elapsed": None,
            "late_days": None,
            "late": False,
            "paid_on": self.paid_on,
            "paid_amount": self.paid_amount,
            "reference_rate": self.reference_rate,
            "interest_rate": None,
            "interest": None,
            "indemnity": None,
            "total_owed": None,
        }
        if self.received_on is None or self.payment_days is None:
            return out
        if self.credit_note:
            out["clock"] = "not-applicable"  # the supplier owes the buyer: no deadline
            out["days_elapsed"] = days_elapsed(
                self.received_on, self.paid_on or today, self.suspended_days, self.suspended_since
            )
            return out
        out["deadline"] = deadline(self.received_on, self.payment_days, self.suspended_days)
        if self.paid_on is not None and self.late_days is not None:
            out["clock"] = "paid"
            out["days_elapsed"] = self.days_to_payment
            out["late_days"] = self.late_days
            out["late"] = self.late_days > 0
            if self.reference_rate is not None:
                out["interest_rate"] = interest_rate(self.reference_rate)
            out["interest"] = self.interest
            out["indemnity"] = self.indemnity
            out["total_owed"] = (self.interest or Decimal("0.00")) + (
                self.indemnity or Decimal("0.00")
            )
            return out
        elapsed = days_elapsed(self.received_on, today, self.suspended_days, self.suspended_since)
        out["clock"] = self.stopped or ("suspended" if self.suspended_since else "running")
        out["days_elapsed"] = elapsed
        out["late_days"] = late_days(elapsed, self.payment_days)
        out["late"] = out["late_days"] > 0
        return out


class DelayRules:
    """The pure rules: fold one event (a version after `s.version`) into the state."""

    def __init__(self, reference_rate: Decimal, terms: Callable[[str], int]) -> None:
        self.reference_rate = reference_rate
        self.terms = terms  # structure SIRET -> its payment days

    def apply(self, s: PaymentState, e: LifecycleEvent) -> Payment | None:
        s.version = e.version
        day = paris_date(e.occurred_at)
        kind = e.event_type
        if kind == EventType.MADE_AVAILABLE:  # a (new) reception: the clock starts afresh
            s.received_at = e.occurred_at
            s.received_on = day
            s.payment_days = self.terms(s.recipient_siret)
            s.suspended_days = 0
            s.suspended_since = None
            s.stopped = None
        elif kind == EventType.SUSPENDED:
            if s.received_on is not None and s.suspended_since is None:
                s.suspended_since = day
        elif kind == EventType.COMPLETED:
            if s.suspended_since is not None:
                s.suspended_days += max(0, (day - s.suspended_since).days)
                s.suspended_since = None
        elif kind in (EventType.MARKED_FOR_REROUTING, EventType.REJECTED):
            s.stopped = "rejected" if kind == EventType.REJECTED else "rerouting"
            if s.suspended_since is not None:
                s.suspended_days += max(0, (day - s.suspended_since).days)
                s.suspended_since = None
        elif kind == EventType.REROUTED:
            s.recipient_siret = e.payload["recipient_siret"]
        elif kind == EventType.PAYMENT_SENT:
            return self._paid(s, e.payload["payment_date"], e.payload["amount"])
        return None

    def _paid(self, s: PaymentState, paid_on: date, amount: Decimal) -> Payment | None:
        s.paid_on = paid_on
        s.paid_amount = amount
        if s.received_on is None or s.payment_days is None:  # paid, never received: no clock
            return None
        s.days_to_payment = days_elapsed(
            s.received_on, paid_on, s.suspended_days, s.suspended_since
        )
        if s.credit_note:
            s.late_days = 0
            s.interest = s.indemnity = NOTHING
            return None
        s.late_days = late_days(s.days_to_payment, s.payment_days)
        s.reference_rate = self.reference_rate
        s.interest = late_interest(amount, self.reference_rate, s.late_days)
        s.indemnity = recovery_indemnity(s.late_days)
        return Payment(s.recipient_siret, s.days_to_payment, s.late_days > 0)


def fold(
    events: list[LifecycleEvent],
    reference_rate: Decimal,
    terms: Callable[[str], int] | None = None,
) -> dict[str, PaymentState]:
    """The states a list of events (in order) leads to, without a database: for tests."""
    rules = DelayRules(reference_rate, terms or (lambda _: DEFAULT_PAYMENT_DAYS))
    states: dict[str, PaymentState] = {}
    folding.fold(states, events, PaymentState.submitted, rules.apply)
    return states


class PaymentDelaysProjection:
    group_id = "payment-delays"
    schemas: tuple[str, ...] = ("payment_delays",)

    def __init__(self, group_id: str, reference_rate: str) -> None:
        self.group_id = group_id
        self.reference_rate = parse_rate(reference_rate)

    def apply(self, cur: Cursor, events: list[LifecycleEvent]) -> None:
        if not events:
            return
        states = _STATES.load(cur, (e.invoice_id for e in events))
        sirets = {s.recipient_siret for s in states.values()}
        for e in events:
            if e.event_type in (EventType.SUBMITTED, EventType.REROUTED):
                sirets.add(e.payload["recipient_siret"])
        # conn.execute: a cursor of its own (in pipeline mode `cur` may still be owed results).
        terms = payment_days_of(cur.connection, sirets)
        rules = DelayRules(self.reference_rate, lambda s: terms.get(s, DEFAULT_PAYMENT_DAYS))
        changed, payments = folding.fold(states, events, PaymentState.submitted, rules.apply)
        _STATES.save(cur, changed.values())
        for p in payments:
            metrics.PAYMENT_DELAY_DAYS.labels(p.structure).observe(p.days)
            if p.late:
                metrics.LATE_PAYMENTS.labels(p.structure).inc()


_STATES = StateTable("payment_delay", PaymentState)


def fetch_state(conn: psycopg.Connection[Any], invoice_id: Any) -> PaymentState | None:
    """One invoice's row (for the API)."""
    row = conn.execute(
        "SELECT invoice_id::text, "
        + ", ".join(_STATES.columns[1:])
        + " FROM payment_delay WHERE invoice_id = %s",
        (invoice_id,),
    ).fetchone()
    return PaymentState(*row) if row else None
