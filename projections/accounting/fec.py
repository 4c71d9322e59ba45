"""FEC (*Fichier des écritures comptables*, article A47 A-1 of the LPF): the legal export of
one structure's journal for one fiscal year, read from the accounting projection's tables.

18 columns in the order of the norm, a header row, `|` or tab separated, dates `YYYYMMDD`,
amounts with a decimal comma and no thousands separator. EcritureNum is sequential per
journal within the year, in (EcritureDate, event time, invoice id, version) order: computed
from the events alone, so a journal rebuilt from the topic exports the same file. The fiscal
year is the calendar year (that of public bodies). ValidDate is the entry date (entries are
validated as the events post them).

Lettering (EcritureLet, DateLet) matches each invoice's supplier-account lines once they
balance: the purchase with its payment, or with its reversal (rejected, re-routed). Codes are
"A", "B", ... "Z", "AA"... per supplier sub-ledger, in order of the date the lines balanced (the
latest of them, DateLet), then invoice id: computed from the journal alone, like EcritureNum,
so a rebuilt journal letters the same. A year's export shows what was lettered by its 31
December; a part payment leaves the invoice open.
Events carry no exchange rate: a non-EUR invoice is posted in its own currency, and its
lines say so in Idevise and Montantdevise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

FEC_COLUMNS: tuple[str, ...] = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
)
SEPARATORS = {"|": "|", "tab": "\t", "\t": "\t"}
ACCOUNTING_CURRENCY = "EUR"


@dataclass(frozen=True)
class FecLine:
    """One FEC record, its fields in the norm's order."""

    journal_code: str
    journal_label: str
    entry_number: int
    entry_date: date
    account: str
    account_label: str
    aux_account: str | None
    aux_label: str | None
    piece_ref: str
    piece_date: date
    label: str
    debit: Decimal
    credit: Decimal
    lettering: str | None
    lettering_date: date | None
    valid_date: date
    currency_amount: Decimal | None
    currency: str | None


def fec_amount(amount: Decimal) -> str:
    """`1234,56`: two decimals, decimal comma, no thousands separator."""
    return f"{amount:.2f}".replace(".", ",")


def fec_date(day: date) -> str:
    return day.strftime("%Y%m%d")


def fec_filename(siret: str, year: int) -> str:
    """The name the administration expects: SIREN + 'FEC' + closing date of the year."""
    return f"{siret[:9]}FEC{year}1231.txt"


def _field(value: Any, separator: str) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return fec_amount(value)
    if isinstance(value, date):
        return fec_date(value)
    # A separator or a line break inside a text would shift every following column.
    text = str(value)
    for bad in (separator, "\r", "\n", "\t"):
        text = text.replace(bad, " ")
    return text


def format_fec(lines: Iterable[FecLine], separator: str = "|") -> str:
    """The file's text: header row, then one row per line."""
    sep = SEPARATORS[separator]
    rows = [sep.join(FEC_COLUMNS)]
    rows += [sep.join(_field(v, sep) for v in astuple(line)) for line in lines]
    return "\n".join(rows) + "\n"


_QUERY = """
WITH settled AS (
    SELECT l.invoice_id, l.aux_account, max(e.entry_date) AS lettered_on
      FROM accounting_entry e
      JOIN accounting_line l USING (invoice_id, version)
     WHERE e.structure_siret = %(siret)s AND l.aux_account IS NOT NULL
     GROUP BY l.invoice_id, l.aux_account
    HAVING sum(l.debit) = sum(l.credit)
), letters AS (
    SELECT invoice_id, aux_account, lettered_on,
           row_number() OVER (PARTITION BY aux_account ORDER BY lettered_on, invoice_id) AS n
      FROM settled
)
SELECT e.journal_code, e.journal_label,
       dense_rank() OVER (
           PARTITION BY e.journal_code
           ORDER BY e.entry_date, e.occurred_at, e.invoice_id, e.version
       ) AS entry_number,
       e.entry_date, l.account, l.account_label, l.aux_account, l.aux_label,
       e.piece_ref, e.piece_date, e.label, l.debit, l.credit, e.currency, l.line_no,
       t.n AS letter_number, t.lettered_on
  FROM accounting_entry e
  JOIN accounting_line l USING (invoice_id, version)
  LEFT JOIN letters t
    ON t.invoice_id = l.invoice_id AND t.aux_account = l.aux_account
   AND t.lettered_on < %(end)s
 WHERE e.structure_siret = %(siret)s AND e.entry_date >= %(start)s AND e.entry_date < %(end)s
 ORDER BY e.entry_date, e.journal_code, entry_number, l.line_no
"""


def letter_code(number: int) -> str:
    """1 -> "A", 26 -> "Z", 27 -> "AA": the usual lettering codes, never reused."""
    code = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        code = chr(ord("A") + rest) + code
    return code


def fetch_fec_lines(conn: psycopg.Connection[Any], siret: str, year: int) -> list[FecLine]:
    """The FEC records of structure `siret` for fiscal year `year`."""
    bounds = {"siret": siret, "start": date(year, 1, 1), "end": date(year + 1, 1, 1)}
    rows = conn.execute(_QUERY, bounds).fetchall()
    lines = []
    for (
        journal_code,
        journal_label,
        number,
        entry_date,
        account,
        label,
        aux_account,
        aux_label,
        piece_ref,
        piece_date,
        entry_label,
        debit,
        credit,
        currency,
        _line_no,
        letter_number,
        lettered_on,
    ) in rows:
        foreign = currency != ACCOUNTING_CURRENCY
        lines.append(
            FecLine(
                journal_code=journal_code,
                journal_label=journal_label,
                entry_number=int(number),
                entry_date=entry_date,
                account=account,
                account_label=label,
                aux_account=aux_account,
                aux_label=aux_label,
                piece_ref=piece_ref,
                piece_date=piece_date,
                label=entry_label,
                debit=debit,
                credit=credit,
                lettering=letter_code(letter_number) if letter_number else None,
                lettering_date=lettered_on,
                valid_date=entry_date,
                currency_amount=(debit or credit) if foreign else None,
                currency=currency if foreign else None,
            )
        )
    return lines
