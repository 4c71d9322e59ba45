"""Accounting journal: each invoice made available to a buyer structure becomes a balanced
double-entry journal entry in that structure's books; each payment clears the supplier's
payable against the bank (docs/DOMAIN.md §7).

Postings (French PCG defaults, configurable through `ChartOfAccounts`):

- invoice made available (MadeAvailable), purchases journal HA:
  debit expense 604000 (net), debit deductible VAT 445660 (VAT),
  credit supplier payable 401000 (gross), sub-ledger CompAuxNum = supplier id;
- credit note (any UNTDID 1001 credit-note kind: 381, 261 self-billed, ...): the same lines
  on the opposite sides;
- payment (PaymentSent), bank journal BQ: debit 401000 (amount) / credit bank 512000
  (opposite sides for a credit note: the supplier refunds);
- marked for re-routing, or rejected, after being posted: the posted entry is reversed
  (same lines, sides swapped) in the structure that had it; a later MadeAvailable posts the
  invoice afresh to the structure it is then addressed to.

Only Submitted carries amounts and parties, so the projection keeps them (with where the
invoice is addressed and whose journal holds it) in `accounting_invoice`. Every event posts
at most one entry, keyed by (invoice id, version): a redelivered event posts nothing twice,
and events older than the invoice's last applied version are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from facturier.config.settings import AccountingSettings
from facturier.domain.lifecycle import EventType
from facturier.domain.model import is_credit_note
from facturier.events.lifecycle import LifecycleEvent
from facturier.projections import folding
from facturier.projections.runner import Cursor, StateTable

PARIS = ZoneInfo("Europe/Paris")

# Plan comptable général: labels of the accounts a configuration is likely to use.
PCG_LABELS: dict[str, str] = {
    "401000": "Fournisseurs",
    "404000": "Fournisseurs d'immobilisations",
    "445620": "TVA déductible sur immobilisations",
    "445660": "TVA déductible sur autres biens et services",
    "512000": "Banque",
    "515000": "Caisse du Trésor public",
    "601000": "Achats stockés - Matières premières",
    "602000": "Achats stockés - Autres approvisionnements",
    "604000": "Achats d'études et prestations de services",
    "606000": "Achats non stockés de matières et fournitures",
    "611000": "Sous-traitance générale",
    "613000": "Locations",
    "615000": "Entretien et réparations",
    "622600": "Honoraires",
    "626000": "Frais postaux et de télécommunications",
}


def account_label(account: str) -> str:
    return PCG_LABELS.get(account, f"Compte {account}")


@dataclass(frozen=True)
class Journal:
    code: str
    label: str


PURCHASES = Journal("HA", "Journal des achats")
BANK = Journal("BQ", "Journal de banque")


@dataclass(frozen=True)
class ChartOfAccounts:
    expense: str = "604000"  # net amount of a received invoice
    vat: str = "445660"  # deductible VAT
    supplier: str = "401000"  # payables, with one sub-ledger account per supplier
    bank: str = "512000"  # credited by payments

    @classmethod
    def of(cls, accounting: AccountingSettings) -> ChartOfAccounts:
        return cls(
            expense=accounting.account_expense,
            vat=accounting.account_vat,
            supplier=accounting.account_supplier,
            bank=accounting.account_bank,
        )


@dataclass
class InvoiceState:
    """A row of `accounting_invoice`: what posting needs that later events do not carry."""

    invoice_id: str
    version: int
    supplier_id: str
    supplier_name: str
    number: str
    kind: str
    issue_date: date
    currency: str
    net_amount: Decimal
    vat_amount: Decimal
    gross_amount: Decimal
    recipient_siret: str
    posted_siret: str | None = None

    @classmethod
    def submitted(cls, e: LifecycleEvent) -> InvoiceState:
        p = e.payload
        return cls(
            invoice_id=e.invoice_id,
            version=e.version,
            supplier_id=p["supplier_id"],
            supplier_name=p["supplier_name"],
            number=p["number"],
            kind=p["kind"],
            issue_date=p["issue_date"],
            currency=p["currency"],
            net_amount=p["net_amount"],
            vat_amount=p["vat_amount"],
            gross_amount=p["gross_amount"],
            recipient_siret=p["recipient_siret"],
        )

    @property
    def sign(self) -> int:
        return -1 if is_credit_note(self.kind) else 1

    @property
    def document(self) -> str:
        return "Avoir" if is_credit_note(self.kind) else "Facture"


@dataclass(frozen=True)
class Line:
    account: str
    label: str
    debit: Decimal
    credit: Decimal
    aux_account: str | None = None
    aux_label: str | None = None

    def swapped(self) -> Line:
        return Line(
            self.account, self.label, self.credit, self.debit, self.aux_account, self.aux_label
        )


def _line(account: str, signed: Decimal, aux: tuple[str, str] | None = None) -> Line | None:
    """A line of `signed` amount: positive on the debit side, negative on the credit side."""
    if signed == 0:
        return None
    zero = Decimal("0.00")
    debit, credit = (signed, zero) if signed > 0 else (zero, -signed)
    aux_account, aux_label = aux if aux else (None, None)
    return Line(account, account_label(account), debit, credit, aux_account, aux_label)


@dataclass(frozen=True)
class Entry:
    invoice_id: str
    version: int
    structure_siret: str
    journal: Journal
    entry_date: date
    occurred_at: datetime
    piece_ref: str
    piece_date: date
    label: str
    currency: str
    event_type: str
    lines: tuple[Line, ...] = field(default_factory=tuple)

    @property
    def debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), Decimal("0.00"))

    @property
    def credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), Decimal("0.00"))

    @property
    def balanced(self) -> bool:
        return self.debit == self.credit


class Posting:
    """The pure accounting rules: an invoice's state and its next event -> the entry that
    event posts, if any (and the state after it)."""

    def __init__(self, chart: ChartOfAccounts) -> None:
        self.chart = chart

    def invoice_lines(self, s: InvoiceState) -> tuple[Line, ...]:
        supplier = (s.supplier_id, s.supplier_name)
        lines = (
            _line(self.chart.expense, s.sign * s.net_amount),
            _line(self.chart.vat, s.sign * s.vat_amount),
            _line(self.chart.supplier, -s.sign * s.gross_amount, supplier),
        )
        return tuple(line for line in lines if line is not None)

    def apply(self, s: InvoiceState, e: LifecycleEvent) -> Entry | None:
        """Fold `e` (a version after `s.version`) into `s`; return the entry it posts."""
        s.version = e.version
        day = e.occurred_at.astimezone(PARIS).date()
        if e.event_type == EventType.MADE_AVAILABLE and s.posted_siret is None:
            s.posted_siret = s.recipient_siret
            return self._entry(
                s,
                e,
                PURCHASES,
                day,
                f"{s.document} {s.number} {s.supplier_name}",
                self.invoice_lines(s),
            )
        if e.event_type in (EventType.MARKED_FOR_REROUTING, EventType.REJECTED, EventType.REROUTED):
            entry = None
            if s.posted_siret is not None:
                why = "rejet" if e.event_type == EventType.REJECTED else "réacheminement"
                entry = self._entry(
                    s,
                    e,
                    PURCHASES,
                    day,
                    f"Extourne {s.document.lower()} {s.number} ({why})",
                    tuple(line.swapped() for line in self.invoice_lines(s)),
                )
                s.posted_siret = None
            if e.event_type == EventType.REROUTED:
                s.recipient_siret = e.payload["recipient_siret"]
            return entry
        if e.event_type == EventType.PAYMENT_SENT:
            amount: Decimal = e.payload["amount"]
            supplier = (s.supplier_id, s.supplier_name)
            lines = (
                _line(self.chart.supplier, s.sign * amount, supplier),
                _line(self.chart.bank, -s.sign * amount),
            )
            return self._entry(
                s,
                e,
                BANK,
                e.payload["payment_date"],
                f"Règlement {s.number} {s.supplier_name}",
                tuple(line for line in lines if line is not None),
                piece=(e.payload["payment_reference"], e.payload["payment_date"]),
            )
        return None

    @staticmethod
    def _entry(
        s: InvoiceState,
        e: LifecycleEvent,
        journal: Journal,
        day: date,
        label: str,
        lines: tuple[Line, ...],
        piece: tuple[str, date] | None = None,
    ) -> Entry | None:
        if not lines:  # nothing to post (zero amounts)
            return None
        piece_ref, piece_date = piece or (s.number, s.issue_date)
        structure = s.posted_siret or s.recipient_siret
        entry = Entry(
            invoice_id=s.invoice_id,
            version=e.version,
            structure_siret=structure,
            journal=journal,
            entry_date=day,
            occurred_at=e.occurred_at,
            piece_ref=piece_ref,
            piece_date=piece_date,
            label=label,
            currency=s.currency,
            event_type=e.event_type,
            lines=lines,
        )
        if not entry.balanced:  # the database checks it again at commit
            raise ValueError(f"unbalanced entry {entry}")
        return entry


class AccountingProjection:
    group_id = "accounting-journal"
    schemas: tuple[str, ...] = ("accounting",)

    def __init__(self, group_id: str | None = None, chart: ChartOfAccounts | None = None) -> None:
        if group_id:
            self.group_id = group_id
        self.posting = Posting(chart or ChartOfAccounts())

    def apply(self, cur: Cursor, events: list[LifecycleEvent]) -> None:
        if not events:
            return
        states = _STATES.load(cur, (e.invoice_id for e in events))
        changed, entries = folding.fold(states, events, InvoiceState.submitted, self.posting.apply)
        _STATES.save(cur, changed.values())
        if entries:
            cur.executemany(_INSERT_ENTRY, [_entry_row(x) for x in entries])
            cur.executemany(
                _INSERT_LINE,
                [
                    (x.invoice_id, x.version, n, *_line_row(line))
                    for x in entries
                    for n, line in enumerate(x.lines, start=1)
                ],
            )


# Posting needs the invoice's first facts; later events change only these.
_STATES = StateTable(
    "accounting_invoice", InvoiceState, updated=("version", "recipient_siret", "posted_siret")
)
_INSERT_ENTRY = (
    "INSERT INTO accounting_entry (invoice_id, version, structure_siret, journal_code,"
    " journal_label, entry_date, occurred_at, piece_ref, piece_date, label, currency,"
    " event_type) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (invoice_id, version) DO NOTHING"
)
_INSERT_LINE = (
    "INSERT INTO accounting_line (invoice_id, version, line_no, account, account_label,"
    " aux_account, aux_label, debit, credit) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (invoice_id, version, line_no) DO NOTHING"
)


def _entry_row(x: Entry) -> tuple[Any, ...]:
    return (
        x.invoice_id,
        x.version,
        x.structure_siret,
        x.journal.code,
        x.journal.label,
        x.entry_date,
        x.occurred_at,
        x.piece_ref,
        x.piece_date,
        x.label,
        x.currency,
        x.event_type,
    )


def _line_row(line: Line) -> tuple[Any, ...]:
    return (line.account, line.label, line.aux_account, line.aux_label, line.debit, line.credit)
