"""Tracking projection: current status per invoice, each supplier's list, full timeline."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from facturier.events.lifecycle import LifecycleEvent
from facturier.projections.consumer import Cursor

# Payload fields that change the invoice row besides its status.
_ROW_UPDATES: dict[str, tuple[str, ...]] = {
    "Rerouted": ("recipient_siret", "service_code", "order_reference"),
    "PaymentOrdered": ("payment_order_number",),
}


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


class TrackingProjection:
    group_id = "tracking-projection"
    schemas: tuple[str, ...] = ("tracking",)

    def __init__(self, group_id: str | None = None) -> None:
        if group_id:
            self.group_id = group_id

    def apply(self, cur: Cursor, events: list[LifecycleEvent]) -> None:
        if not events:
            return
        cur.executemany(
            "INSERT INTO tracking_timeline (invoice_id, version, event_id, event_type, status,"
            " reform_code, summary, occurred_at, actor, reason_code, reason, details)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (invoice_id, version) DO NOTHING",
            [
                (
                    e.invoice_id,
                    e.version,
                    e.event_id,
                    e.event_type,
                    e.status.value,
                    e.reform_code,
                    e.summary,
                    e.occurred_at,
                    e.actor,
                    e.payload.get("reason_code"),
                    e.payload.get("reason"),
                    Jsonb({} if e.event_type == "Submitted" else _json_safe(e.payload)),
                )
                for e in events
            ],
        )
        submitted = [e for e in events if e.event_type == "Submitted"]
        if submitted:
            cur.executemany(_INSERT_INVOICE, [_invoice_row(e) for e in submitted])
        later = [e for e in events if e.event_type != "Submitted"]
        if later:
            self._advance_invoices(cur, later)

    @staticmethod
    def _advance_invoices(cur: Cursor, events: list[LifecycleEvent]) -> None:
        """One UPDATE per invoice per batch: fold its new events, in version order, over
        the row. Versions already applied (redeliveries) are ignored, so a duplicate never
        moves an invoice back."""
        ids = list({e.invoice_id for e in events})
        # A cursor of its own: in pipeline mode `cur` may still hold results of the batch's
        # earlier executemany(), which a fetch then reads instead (psycopg issue #604).
        with cur.connection.cursor() as query:
            current = dict(
                query.execute(
                    "SELECT invoice_id::text, version FROM tracking_invoice"
                    " WHERE invoice_id = ANY(%s::uuid[]) FOR UPDATE",
                    (ids,),
                ).fetchall()
            )
        new: dict[str, dict[int, LifecycleEvent]] = {}
        for e in events:
            if e.invoice_id in current and e.version > current[e.invoice_id]:
                new.setdefault(e.invoice_id, {})[e.version] = e
        rows = []
        for invoice_id, by_version in new.items():
            changes: dict[str, Any] = dict.fromkeys(_OPTIONAL_COLUMNS)
            for version in sorted(by_version):
                e = by_version[version]
                for name in _ROW_UPDATES.get(e.event_type, ()):
                    changes[name] = e.payload[name]
                if e.event_type == "PaymentSent":
                    changes["paid_amount"] = e.payload["amount"]
                    changes["paid_on"] = e.payload["payment_date"]
            last = by_version[max(by_version)]
            rows.append(
                (
                    last.version,
                    last.status.value,
                    last.reform_code,
                    last.summary,
                    last.occurred_at,
                    *(changes[c] for c in _OPTIONAL_COLUMNS),
                    invoice_id,
                    last.version,
                )
            )
        if rows:
            cur.executemany(_UPDATE_INVOICE, rows)


def _invoice_row(e: LifecycleEvent) -> tuple[Any, ...]:
    p = e.payload
    return (
        e.invoice_id,
        e.version,
        p["supplier_scheme"],
        p["supplier_id"],
        p["supplier_name"],
        p["recipient_siret"],
        p["service_code"],
        p["order_reference"],
        p["number"],
        p["kind"],
        p["mode"],
        p["issue_date"],
        p["due_date"],
        p["currency"],
        p["net_amount"],
        p["vat_amount"],
        p["gross_amount"],
        p["payable_amount"],
        e.status.value,
        e.reform_code,
        e.summary,
        e.occurred_at,
        e.occurred_at,
    )


_INSERT_INVOICE = (
    "INSERT INTO tracking_invoice (invoice_id, version, supplier_scheme, supplier_id,"
    " supplier_name, recipient_siret, service_code, order_reference, number, kind, mode,"
    " issue_date, due_date, currency, net_amount, vat_amount, gross_amount,"
    " payable_amount, status, reform_code, summary, submitted_at, updated_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " %s, %s, %s, %s, %s) ON CONFLICT (invoice_id) DO NOTHING"
)
# Columns some events change besides the status; NULL in a folded update = unchanged.
_OPTIONAL_COLUMNS = (
    "recipient_siret",
    "service_code",
    "order_reference",
    "payment_order_number",
    "paid_amount",
    "paid_on",
)
_UPDATE_INVOICE = (
    "UPDATE tracking_invoice SET version = %s, status = %s, reform_code = %s, summary = %s,"
    " updated_at = %s, "
    + ", ".join(f"{c} = COALESCE(%s, {c})" for c in _OPTIONAL_COLUMNS)
    + " WHERE invoice_id = %s AND version < %s"
)
