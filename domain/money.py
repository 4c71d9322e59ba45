"""Amounts: cents, rounding, and the largest amount the platform holds."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

CENTS = Decimal("0.01")
# The event contract (Avro decimal(18, 2)) and the read models (numeric(18, 2)) hold amounts
# below 10^16: an invoice beyond is refused before anything is recorded.
MAX_AMOUNT = Decimal("9999999999999999.99")
# Quantities, prices and rates travel as exact text; bounded so that computing a line stays
# exact (see `to_cents`) whatever a file holds.
MAX_FACTOR = Decimal(10) ** 18


def to_cents(value: Decimal) -> Decimal:
    """`value` rounded half up to cents, exactly: the default context's 28 digits would fail
    on the product of two large factors."""
    with localcontext(prec=80):  # MAX_FACTOR^2 divided by a tiny base quantity still fits
        return value.quantize(CENTS, ROUND_HALF_UP)


def within_bounds(value: Decimal) -> bool:
    """A finite amount the event contract and the read models can hold."""
    return value.is_finite() and abs(value) <= MAX_AMOUNT
