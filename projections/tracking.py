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
        for e in events:
            if e.event_type == "Submitted":
                self._insert_invoice(cur, e)
            else:
                self._advance_invoice(cur, e)

    @staticmethod
    def _insert_invoice(cur: Cursor, e: LifecycleEvent) -> None:
        p = e.payload
        cur.execute(
            "INSERT INTO tracking_invoice (invoice_id, version, supplier_scheme, supplier_id,"
            " supplier_name, recipient_siret, service_code, order_reference, number, kind, mode,"
            " issue_date, due_date, currency, net_amount, vat_amount, gross_amount,"
            " payable_amount, status, reform_code, summary, submitted_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s) ON CONFLICT (invoice_id) DO NOTHING",
            (
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
            ),
        )

    @staticmethod
    def _advance_invoice(cur: Cursor, e: LifecycleEvent) -> None:
        # `version < %s`: a redelivered older event never moves the status back.
        columns = [
            "version = %s",
            "status = %s",
            "reform_code = %s",
            "summary = %s",
            "updated_at = %s",
        ]
        values: list[Any] = [e.version, e.status.value, e.reform_code, e.summary, e.occurred_at]
        for name in _ROW_UPDATES.get(e.event_type, ()):
            columns.append(f"{name} = %s")
            values.append(e.payload[name])
        if e.event_type == "PaymentSent":
            columns += ["paid_amount = %s", "paid_on = %s"]
            values += [e.payload["amount"], e.payload["payment_date"]]
        cur.execute(
            f"UPDATE tracking_invoice SET {', '.join(columns)}"
            " WHERE invoice_id = %s AND version < %s",
            [*values, e.invoice_id, e.version],
        )
