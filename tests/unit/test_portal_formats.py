"""How the portal writes amounts, dates and times in French and English, and the directory
search's words (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from facturier.services.application.directory import query_words, words
from facturier.services.portal.formats import Formats

FR = Formats("fr")
EN = Formats("en")
NBSP = "\u00a0"
NNBSP = "\u202f"


def test_amounts_in_french_and_english() -> None:
    assert FR.money(Decimal("1200")) == f"1{NNBSP}200,00{NBSP}€"
    assert FR.money(Decimal("120")) == f"120,00{NBSP}€"
    assert FR.money(Decimal("1234567.891")) == f"1{NNBSP}234{NNBSP}567,89{NBSP}€"
    assert FR.money(Decimal("-5"), "USD") == f"-5,00{NBSP}USD"
    assert EN.money(Decimal("1200")) == "€1,200.00"
    assert EN.money(Decimal("-5")) == "-€5.00"
    assert EN.money(Decimal("1200"), "USD") == f"USD{NBSP}1,200.00"
    # No "-0,00", and nothing shown as zero.
    assert FR.money(Decimal("-0.00")) == f"0,00{NBSP}€"
    assert EN.money(None) == "€0.00"
    assert FR.number(Decimal("1234.5")) == f"1{NNBSP}234,50"
    assert FR.number(5091, 0) == "5\u202f091" and EN.number(5091, 0) == "5,091"
    assert FR.typed(Decimal("1200")) == "1200,00" and EN.typed(Decimal("1200")) == "1200.00"
    assert FR.rate(Decimal("10.150")) == "10,15" and EN.rate(Decimal("5.5")) == "5.5"


def test_dates_and_times_in_paris_with_the_utc_instant_on_hover() -> None:
    assert FR.day(date(2026, 12, 5)) == "05/12/2026"
    assert EN.day(date(2026, 12, 5)) == "5 Dec 2026"
    assert FR.day("2026-04-01") == "01/04/2026" and FR.day(None) == ""
    winter = datetime(2026, 12, 5, 13, 3, 9, tzinfo=UTC)  # Paris: UTC+1
    element = '<time datetime="2026-12-05T13:03:09Z" title="2026-12-05 13:03:09 UTC">'
    assert str(FR.when(winter)) == element + "05/12/2026 14:03</time>"
    assert str(EN.when(winter)) == element + "5 Dec 2026, 14:03</time>"
    summer = datetime(2026, 7, 31, 22, 30, tzinfo=UTC)  # Paris: UTC+2, the next day
    assert ">01/08/2026 00:30</time>" in str(FR.when(summer))
    assert str(FR.when(None)) == ""


def test_the_directory_search_compares_words_without_accents_or_case() -> None:
    assert words("Hôpital Saint-Éloi (CHU)") == ["hopital", "saint", "eloi", "chu"]
    assert words("SE-FACT_01") == ["se", "fact", "01"]
    assert query_words("mairie de lyon") == ["mairie", "lyon", "de"]  # the longest first
    assert query_words("110 002 011 00044") == ["11000201100044"]  # a SIRET typed spaced
    assert query_words("  ") == []
