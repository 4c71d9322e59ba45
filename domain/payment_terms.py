"""Legal payment terms of public buyers (docs/DOMAIN.md §7), as pure functions.

The legal payment period (*délai global de paiement*) runs in calendar days, on dates in
Europe/Paris, from the invoice's reception by the buyer's structure: 30 days, 50 for public
hospitals. A suspension pauses it. An invoice paid after its deadline owes the supplier
late-payment interest, at the reference rate (ECB main refinancing rate) plus 8 points, and a
fixed €40 recovery indemnity. A credit note owes the supplier nothing.

The payment-delays projection folds events into these; the API and the portal use the same
`paris_date` for "today".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
CENTS = Decimal("0.01")
DEFAULT_PAYMENT_DAYS = 30
HOSPITAL_PAYMENT_DAYS = 50
INTEREST_MARGIN = Decimal("8")  # points over the reference rate
RECOVERY_INDEMNITY = Decimal("40.00")  # euros, per invoice paid late
DAYS_PER_YEAR = Decimal("365")  # leap years too: the period is counted in days, not years
NOTHING = Decimal("0.00")


def parse_rate(text: str) -> Decimal:
    """A reference rate in percent, e.g. '2.15'; refuse anything else."""
    try:
        rate = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"reference rate {text!r} is not a decimal number") from None
    if not rate.is_finite() or not Decimal("-10") <= rate <= Decimal("100"):
        raise ValueError(f"reference rate {text!r} is not a percentage")
    return rate


def paris_date(moment: datetime) -> date:
    """The calendar day `moment` falls on in Paris (an event at 23:30 UTC on 31 December is
    already 1 January there)."""
    return moment.astimezone(PARIS).date()


def deadline(received_on: date, payment_days: int, suspended_days: int = 0) -> date:
    """The last day of the period: paying on it is on time."""
    return received_on + timedelta(days=payment_days + suspended_days)


def days_elapsed(
    received_on: date,
    until: date,
    suspended_days: int = 0,
    suspended_since: date | None = None,
) -> int:
    """Days the legal clock has run from reception to `until` (never negative); a suspension
    in progress stops it at its start."""
    end = min(until, suspended_since) if suspended_since is not None else until
    return max(0, (end - received_on).days - suspended_days)


def late_days(elapsed: int, payment_days: int) -> int:
    """Days past the period: paid on day 30 of a 30-day period is 0, day 31 is 1."""
    return max(0, elapsed - payment_days)


def interest_rate(reference_rate: Decimal) -> Decimal:
    """The yearly late-payment rate, in percent."""
    return reference_rate + INTEREST_MARGIN


def late_interest(amount: Decimal, reference_rate: Decimal, days_late: int) -> Decimal:
    """amount x (rate + 8 points) x days / 365, rounded half up to the cent."""
    if days_late <= 0 or amount <= 0:
        return NOTHING
    with localcontext() as context:
        context.prec = 50  # exact for any numeric(18,2) amount and any realistic rate
        exact = amount * interest_rate(reference_rate) * days_late / (100 * DAYS_PER_YEAR)
        return exact.quantize(CENTS, rounding=ROUND_HALF_UP)


def recovery_indemnity(days_late: int) -> Decimal:
    """The fixed indemnity: €40 for an invoice paid late, whatever the amount or the delay."""
    return RECOVERY_INDEMNITY if days_late > 0 else NOTHING
