"""Amounts, dates and times as each language of the portal writes them.

French: `1 200,00 €` (a narrow no-break space between thousands, a no-break space before the
currency), dates `05/12/2026`. English: `€1,200.00`, dates `5 Dec 2026`. Times are shown in
France's time (Europe/Paris, where the platform's deadlines are counted), in a `<time>`
element whose `datetime` is the instant and whose `title` gives it in UTC.

Only the standard library: two languages with fixed patterns do not need a locale database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

PARIS = ZoneInfo("Europe/Paris")
NBSP = "\u00a0"
NNBSP = "\u202f"  # narrow no-break space: the French thousands separator
CENT = Decimal("0.01")
SYMBOLS = {"EUR": "€"}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Formats:
    """The formatting functions of one page, in its language (`fr` or anything else: en)."""

    lang: str

    @property
    def french(self) -> bool:
        return self.lang == "fr"

    def number(self, value: Decimal | int | str | None, places: int = 2) -> str:
        """`1 200,00` / `1,200.00`; an absent amount is zero, never `-0,00`."""
        amount = Decimal(value if value is not None else 0)
        if places == 2:
            amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
        if amount == 0:
            amount = abs(amount)
        text = f"{amount:,.{places}f}"
        if self.french:
            return text.replace(",", NNBSP).replace(".", ",")
        return text

    def money(self, value: Decimal | int | str | None, currency: str = "EUR") -> str:
        """`1 200,00 €` / `€1,200.00`; another currency by its code."""
        text = self.number(value)
        symbol = SYMBOLS.get(currency, "")
        if self.french:
            return f"{text}{NBSP}{symbol or currency}"
        sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
        return f"{sign}{symbol}{digits}" if symbol else f"{sign}{currency}{NBSP}{digits}"

    def typed(self, value: Decimal | None) -> str:
        """An amount as one types it in a field of this language: `1200,00` / `1200.00`."""
        text = f"{Decimal(value if value is not None else 0).quantize(CENT):f}"
        return text.replace(".", ",") if self.french else text

    def rate(self, value: Decimal | None) -> str:
        """A percentage rate, as few decimals as it has: `10,65` / `10.65`."""
        if value is None:
            return ""
        text = f"{value.normalize():f}"
        return text.replace(".", ",") if self.french else text

    def day(self, value: date | str | None) -> str:
        """`05/12/2026` / `5 Dec 2026`."""
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = date.fromisoformat(value)
        if isinstance(value, datetime):
            value = value.astimezone(PARIS).date()
        if self.french:
            return value.strftime("%d/%m/%Y")
        return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"

    def clock(self, value: datetime) -> str:
        """The time of day in Paris: `14:03`."""
        return value.astimezone(PARIS).strftime("%H:%M")

    def when(self, value: datetime | None) -> Markup:
        """A moment in Paris time, the UTC instant on hover: `<time datetime title>`."""
        if value is None:
            return Markup("")
        local = value.astimezone(PARIS)
        text = f"{self.day(local.date())} {self.clock(local)}"
        if not self.french:
            text = f"{self.day(local.date())}, {self.clock(local)}"
        instant = value.astimezone(UTC)
        return Markup('<time datetime="{}" title="{}">{}</time>').format(
            instant.isoformat(timespec="seconds").replace("+00:00", "Z"),
            instant.strftime("%Y-%m-%d %H:%M:%S UTC"),
            escape(text),
        )
