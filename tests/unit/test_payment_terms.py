"""Payment terms as pure functions: deadlines, days elapsed, late-payment interest and the
fixed indemnity (docs/DOMAIN.md §7)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from facturier.domain.payment_terms import (
    DEFAULT_PAYMENT_DAYS,
    HOSPITAL_PAYMENT_DAYS,
    RECOVERY_INDEMNITY,
    days_elapsed,
    deadline,
    interest_rate,
    late_days,
    late_interest,
    paris_date,
    parse_rate,
    recovery_indemnity,
)

RECEIVED = date(2026, 3, 2)


def test_deadline_and_boundaries() -> None:
    assert deadline(RECEIVED, 30) == date(2026, 4, 1)
    assert deadline(RECEIVED, 50) == date(2026, 4, 21)
    assert deadline(RECEIVED, 30, suspended_days=5) == date(2026, 4, 6)
    day30, day31 = RECEIVED + timedelta(days=30), RECEIVED + timedelta(days=31)
    assert late_days(days_elapsed(RECEIVED, day30), 30) == 0  # paid on day 30: on time
    assert late_days(days_elapsed(RECEIVED, day31), 30) == 1  # day 31: one day late
    day50, day51 = RECEIVED + timedelta(days=50), RECEIVED + timedelta(days=51)
    assert late_days(days_elapsed(RECEIVED, day50), 50) == 0  # hospital: 50 days
    assert late_days(days_elapsed(RECEIVED, day51), 50) == 1
    assert days_elapsed(RECEIVED, RECEIVED - timedelta(days=3)) == 0  # never negative
    # A suspension in progress pauses the clock at its start.
    assert days_elapsed(RECEIVED, date(2026, 5, 1), 0, date(2026, 3, 12)) == 10
    assert days_elapsed(RECEIVED, date(2026, 5, 1), 4, date(2026, 3, 12)) == 6


@pytest.mark.parametrize(
    ("amount", "rate", "days", "expected"),
    [
        # 1200 x 12 % x 15 / 365 = 5.917808... -> 5.92
        ("1200.00", "4.00", 15, "5.92"),
        ("1200.00", "4.00", 1, "0.39"),  # 0.394520...
        ("1200.00", "4.00", 0, "0.00"),
        ("1200.00", "2.15", 10, "3.34"),  # 1200 x 10.15 % x 10 / 365 = 3.336986...
        ("0.01", "4.00", 1, "0.00"),  # 0.0000032...
        # 36500 x 10 % x 1 / 365 = 10 exactly; half-up at the cent: 0.125 -> 0.13
        ("36500.00", "2.00", 1, "10.00"),
        ("456.25", "2.00", 1, "0.13"),  # 456.25 x 0.10 / 365 = 0.125 exactly
        ("999999999999.99", "4.00", 3650, "1199999999999.99"),  # no precision lost
    ],
)
def test_late_interest_rounds_once_half_up_to_the_cent(
    amount: str, rate: str, days: int, expected: str
) -> None:
    result = late_interest(Decimal(amount), Decimal(rate), days)
    assert result == Decimal(expected) and result.as_tuple().exponent == -2
    assert isinstance(result, Decimal)


def test_reference_rate_parsing() -> None:
    assert parse_rate(" 2.15 ") == Decimal("2.15")
    assert parse_rate("-0.50") == Decimal("-0.50")
    for bad in ("", "abc", "NaN", "Infinity", "250"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_the_legal_periods() -> None:
    assert (DEFAULT_PAYMENT_DAYS, HOSPITAL_PAYMENT_DAYS) == (30, 50)


def test_deadlines_count_calendar_days_across_months_and_leap_years() -> None:
    assert deadline(date(2028, 2, 10), 30) == date(2028, 3, 11)  # 2028: 29 days in February
    assert deadline(date(2026, 2, 10), 30) == date(2026, 3, 12)
    assert deadline(date(2028, 1, 30), 30) == date(2028, 2, 29)
    assert deadline(date(2026, 12, 15), 30) == date(2027, 1, 14)  # across a year end
    assert days_elapsed(date(2028, 2, 28), date(2028, 3, 1)) == 2  # 29 February counts
    assert days_elapsed(date(2026, 2, 28), date(2026, 3, 1)) == 1


def test_the_deadline_is_the_last_day_on_time() -> None:
    for payment_days in (DEFAULT_PAYMENT_DAYS, HOSPITAL_PAYMENT_DAYS):
        last = deadline(RECEIVED, payment_days)
        assert late_days(days_elapsed(RECEIVED, last), payment_days) == 0
        day_after = last + timedelta(days=1)
        assert late_days(days_elapsed(RECEIVED, day_after), payment_days) == 1
    assert days_elapsed(RECEIVED, RECEIVED) == 0  # paid the day it arrived


def test_days_are_paris_days() -> None:
    # 23:30 UTC on 31 December is 00:30 on 1 January in Paris (winter, UTC+1).
    assert paris_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2027, 1, 1)
    assert paris_date(datetime(2026, 12, 31, 22, 59, tzinfo=UTC)) == date(2026, 12, 31)
    # Summer time, UTC+2: 22:00 UTC on 30 June is already 1 July.
    assert paris_date(datetime(2026, 6, 30, 22, 0, tzinfo=UTC)) == date(2026, 7, 1)
    assert paris_date(datetime(2026, 6, 30, 21, 59, tzinfo=UTC)) == date(2026, 6, 30)


def test_zero_days_late_owes_nothing() -> None:
    assert late_days(30, 30) == 0 and late_days(0, 30) == 0
    assert late_interest(Decimal("1200.00"), Decimal("4.00"), 0) == Decimal("0.00")
    assert late_interest(Decimal("1200.00"), Decimal("4.00"), -3) == Decimal("0.00")
    assert late_interest(Decimal("0.00"), Decimal("4.00"), 10) == Decimal("0.00")
    assert recovery_indemnity(0) == Decimal("0.00")


def test_the_indemnity_is_fixed_whatever_the_delay() -> None:
    assert recovery_indemnity(1) == recovery_indemnity(400) == RECOVERY_INDEMNITY
    assert Decimal("40.00") == RECOVERY_INDEMNITY


def test_interest_follows_the_reference_rate_given() -> None:
    # The rate is the one in force when the payment is applied: another rate, other interest.
    assert interest_rate(Decimal("2.15")) == Decimal("10.15")
    assert interest_rate(Decimal("-0.50")) == Decimal("7.50")
    amount = Decimal("36500.00")
    assert late_interest(amount, Decimal("2.00"), 1) == Decimal("10.00")
    assert late_interest(amount, Decimal("4.00"), 1) == Decimal("12.00")
    # A leap year changes nothing: interest is per 365 days.
    assert late_interest(amount, Decimal("2.00"), 366) == Decimal("3660.00")
