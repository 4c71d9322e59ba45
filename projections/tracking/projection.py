"""Tracking projection: current status per invoice, each supplier's list, full timeline.

Each batch also announces, in its own transaction, every invoice it changed: one
`pg_notify(LIVE_CHANNEL, <json>)` per invoice with its newest applied event. PostgreSQL
delivers notifications only at commit, so a listener (`services/http/live.py`) never sees a state
that readers of the view cannot see yet, nor one that was rolled back.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from psycopg.types.json import Json

from facturier.domain.lifecycle import EventType
from facturier.events.lifecycle import LifecycleEvent
from facturier.projections.runner import Cursor

# Payload fields that change the invoice row besides its status.
_ROW_UPDATES: dict[str, tuple[str, ...]] = {
    EventType.REROUTED: ("recipient_siret", "service_code", "order_reference"),
    EventType.PAYMENT_ORDERED: ("payment_order_number",),
}
LIVE_CHANNEL = "facturier_tracking"
# A notification's payload is at most 8000 bytes: 500 characters of reason and comment stay
# below it even when every one is escaped as a surrogate pair (12 bytes); the page, reloaded,
# has it all.
_REASON_CHARS = 500


def live_change(e: LifecycleEvent, supplier_id: str, recipient_siret: str) -> dict[str, Any]:
    """What a live page needs to show the invoice's new status and timeline row."""
    # A reason (suspended, rejected...) or a supplier's comment (completed): one budget.
    reason = (e.payload.get("reason") or "")[:_REASON_CHARS]
    comment = (e.payload.get("comment") or "")[: _REASON_CHARS - len(reason)]
    return {
        "invoice_id": e.invoice_id,
        "supplier_id": supplier_id,
        "recipient_siret": recipient_siret,
        "version": e.version,
        "event_type": e.event_type,
        "status": e.status.value,
        "reform_code": e.reform_code,
        "summary": e.summary,
        "occurred_at": e.occurred_at.isoformat(),
        "actor": e.actor,
        "reason_code": e.payload.get("reason_code"),
        "reason": reason or None,
        "comment": comment or None,
    }


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> str:
    """Amounts as exact decimal strings, dates in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class TrackingProjection:
    group_id = "tracking-projection"
    schemas: tuple[str, ...] = ("tracking",)
    pipelined = False  # its timeline goes in by COPY, which pipeline mode does not allow

    def __init__(self, group_id: str | None = None) -> None:
        if group_id:
            self.group_id = group_id

    def apply(self, cur: Cursor, events: list[LifecycleEvent]) -> None:
        if not events:
            return
        _write_timeline(cur, events)
        changed: dict[str, dict[str, Any]] = {}
        submitted = [e for e in events if e.event_type == EventType.SUBMITTED]
        if submitted:
            cur.executemany(_INSERT_INVOICE, [_invoice_row(e) for e in submitted])
            # A redelivered Submitted is announced again: pages ignore versions they have.
            for e in submitted:
                changed[e.invoice_id] = live_change(
                    e, e.payload["supplier_id"], e.payload["recipient_siret"]
                )
        later = [e for e in events if e.event_type != EventType.SUBMITTED]
        if later:
            changed.update(self._advance_invoices(cur, later))
        if changed:
            # One statement, its payloads as one JSON array (a text[] would be escaped value
            # by value, client side): json_array_elements keeps each one's text as written.
            cur.execute(
                "SELECT count(pg_notify(%s, change::text)) FROM json_array_elements(%s) AS change",
                (LIVE_CHANNEL, Json(list(changed.values()), dumps=_compact_json)),
            )

    @staticmethod
    def _advance_invoices(cur: Cursor, events: list[LifecycleEvent]) -> dict[str, dict[str, Any]]:
        """One UPDATE per invoice per batch: fold its new events, in version order, over
        the row. Versions already applied (redeliveries) are ignored, so a duplicate never
        moves an invoice back. Returns the live change of each invoice it moved."""
        ids = list({e.invoice_id for e in events})
        # A cursor of its own: in pipeline mode `cur` may still hold results of the batch's
        # earlier executemany(), which a fetch then reads instead (psycopg issue #604).
        with cur.connection.cursor() as query:
            found = query.execute(
                "SELECT invoice_id::text, version, supplier_id, recipient_siret"
                " FROM tracking_invoice WHERE invoice_id = ANY(%s::uuid[]) FOR UPDATE",
                (ids,),
            ).fetchall()
        current = {row[0]: row[1] for row in found}
        parties = {row[0]: (row[2], row[3]) for row in found}
        new: dict[str, dict[int, LifecycleEvent]] = {}
        for e in events:
            if e.invoice_id in current and e.version > current[e.invoice_id]:
                new.setdefault(e.invoice_id, {})[e.version] = e
        rows = []
        changed: dict[str, dict[str, Any]] = {}
        for invoice_id, by_version in new.items():
            changes: dict[str, Any] = dict.fromkeys(_OPTIONAL_COLUMNS)
            added: list[dict[str, Any]] = []
            for version in sorted(by_version):
                e = by_version[version]
                for name in _ROW_UPDATES.get(e.event_type, ()):
                    changes[name] = e.payload[name]
                if e.event_type == EventType.PAYMENT_SENT:
                    changes["paid_amount"] = e.payload["amount"]
                    changes["paid_on"] = e.payload["payment_date"]
                if e.event_type == "MadeAvailable":  # a reception: its acknowledgment
                    changes["received_version"] = e.version
                    changes["received_at"] = e.occurred_at
                added += e.payload.get("documents") or []  # attachments (Completed)
            last = by_version[max(by_version)]
            rows.append(
                (
                    last.version,
                    last.status.value,
                    last.reform_code,
                    last.summary,
                    last.occurred_at,
                    *(changes[c] for c in _OPTIONAL_COLUMNS),
                    _compact_json(added),
                    invoice_id,
                    last.version,
                )
            )
            supplier_id, recipient_siret = parties[invoice_id]
            recipient_siret = changes["recipient_siret"] or recipient_siret  # re-routed
            changed[invoice_id] = live_change(last, supplier_id, recipient_siret)
        if rows:
            cur.executemany(_UPDATE_INVOICE, rows)
        return changed


_TIMELINE_COLUMNS = (
    "invoice_id, version, event_id, event_type, status, reform_code, summary, occurred_at,"
    " actor, reason_code, reason, details"
)


def _write_timeline(cur: Cursor, events: list[LifecycleEvent]) -> None:
    """COPY into a session-private staging table, then one INSERT ... ON CONFLICT DO NOTHING:
    COPY costs a fraction of a row-by-row insert, and the INSERT keeps redeliveries (and
    duplicates within the batch) harmless, as the idempotency rule of projections asks."""
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS tracking_timeline_batch (LIKE tracking_timeline)"
        " ON COMMIT DELETE ROWS"
    )
    with cur.copy(f"COPY tracking_timeline_batch ({_TIMELINE_COLUMNS}) FROM STDIN") as copy:
        for e in events:
            copy.write_row(
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
                    # As text: the COPY hands it to jsonb's own parser.
                    "{}" if e.event_type == EventType.SUBMITTED else _compact_json(e.payload),
                )
            )
    cur.execute(
        f"INSERT INTO tracking_timeline ({_TIMELINE_COLUMNS}) SELECT {_TIMELINE_COLUMNS}"
        " FROM tracking_timeline_batch ON CONFLICT (invoice_id, version) DO NOTHING"
    )
    # Emptied at once, not only at commit: a batch that failed is applied again event by
    # event in the same transaction (projections/runner.py), each apply its own COPY.
    cur.execute("TRUNCATE tracking_timeline_batch")


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
        p["recipient_siret"],
        e.correlation_id,
        _compact_json(p.get("documents") or []),
    )


_INSERT_INVOICE = (
    "INSERT INTO tracking_invoice (invoice_id, version, supplier_scheme, supplier_id,"
    " supplier_name, recipient_siret, service_code, order_reference, number, kind, mode,"
    " issue_date, due_date, currency, net_amount, vat_amount, gross_amount,"
    " payable_amount, status, reform_code, summary, submitted_at, updated_at, submitted_to,"
    " correlation_id, documents)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " %s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (invoice_id) DO NOTHING"
)
# Columns some events change besides the status; NULL in a folded update = unchanged.
_OPTIONAL_COLUMNS = (
    "recipient_siret",
    "service_code",
    "order_reference",
    "payment_order_number",
    "paid_amount",
    "paid_on",
    "received_version",
    "received_at",
)
_UPDATE_INVOICE = (
    "UPDATE tracking_invoice SET version = %s, status = %s, reform_code = %s, summary = %s,"
    " updated_at = %s, "
    + ", ".join(f"{c} = COALESCE(%s, {c})" for c in _OPTIONAL_COLUMNS)
    # Documents only ever come in (attachments); NULL (a row older than the column) stays.
    + ", documents = documents || %s::jsonb"
    + " WHERE invoice_id = %s AND version < %s"
)
