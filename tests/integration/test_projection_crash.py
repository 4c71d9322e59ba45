"""Crash test of the tracking projection, with real processes: SIGKILL it twice in the middle
of a batch (uncommitted rows written) while it applies a topic of some twelve thousand
events, restart it, and check that every event was applied exactly once.

After each kill the read model is exactly what the offsets stored with it say was consumed
(rows and offsets commit together); at the end the view equals the event store's aggregates
and the stored offsets equal the topic's end offsets."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

import pytest

from facturier.config.settings import Settings
from facturier.services.application.invoicing import InvoicingApp
from tests.support.pipeline import (
    build_invoices,
    check_topic,
    freeze_when,
    open_write_transactions,
    poll_until,
    query,
    read_topic,
    relay_position,
    store_events,
    stored_offsets,
    timeline,
    tracking_rows,
    view_after,
    wait_while_running,
)
from tests.support.stack import Service

pytestmark = pytest.mark.stack

INVOICES = 2400  # x 5.1 events on average: 12,240 events, about 7 polls of 2,000 records
KILLS = 2


def test_projection_killed_twice_mid_stream_applies_each_event_once(
    make_settings: Callable[[], Settings], start_service: Callable[..., Service]
) -> None:
    started = time.monotonic()
    settings = make_settings()
    app = InvoicingApp(settings.postgres)
    try:
        expected = build_invoices(app, INVOICES)
        store = store_events(app)
        last = max(store.values())
        assert len(store) == expected.events == last
        marks = [time.monotonic()]

        # The relay publishes everything, then stops: from now on, a transaction on this
        # database that holds uncommitted writes can only be the projection's.
        relay = start_service(settings, "--relay")
        wait_while_running(
            relay, lambda: relay_position(settings) == last, 60, "the relay to publish all"
        )
        relay.stop()
        records, ends = read_topic(settings)
        duplicates = check_topic(records, store)
        total = sum(ends.values())
        assert duplicates == 0  # the relay was not interrupted
        assert total == len(records) == len(store)
        print(f"\n{len(store)} events of {INVOICES} invoices, {total} messages on the topic")
        marks.append(time.monotonic())

        applied = 0
        for kill in range(1, KILLS + 1):
            projection = start_service(settings, "--projection")
            poll_until(
                lambda: sum(stored_offsets(settings).values()),
                lambda n, before=applied, p=projection: n > before or p.process.poll() is not None,
                timeout_s=120,
                what=f"the projection to apply more than {applied} messages",
            )
            # Freeze it (SIGSTOP) until it is caught inside a batch: its transaction has
            # written rows and waits for the frozen client. SIGKILL it exactly there.
            frozen: dict[int, int] = {}

            def in_a_batch(frozen: dict[int, int] = frozen) -> bool:
                if not open_write_transactions(settings):
                    return False
                frozen.update(stored_offsets(settings))
                return True

            attempts = freeze_when(
                projection,
                in_a_batch,
                timeout_s=60,
                what="the projection to be in the middle of a batch",
            )
            projection.kill()
            assert projection.process.returncode == -9, projection.output()
            offsets = stored_offsets(settings)
            assert offsets == frozen  # the batch it was writing never committed
            consumed = sum(offsets.values())
            assert applied < consumed < total, (kill, applied, consumed, total)
            # What is in the view is exactly what the stored offsets say was consumed.
            keys, rows = view_after(records, offsets)
            events = timeline(settings)
            assert len(events) == len(keys)
            assert set(events) == keys
            assert tracking_rows(settings) == rows
            print(
                f"kill {kill}: {consumed} of {total} messages applied, "
                f"{len(rows)} invoices in the view; the batch in flight was rolled back"
                f" (frozen {attempts} time(s) before catching it in a batch)"
            )
            applied = consumed
            marks.append(time.monotonic())

        projection = start_service(settings, "--projection")
        wait_while_running(
            projection,
            lambda: stored_offsets(settings) == {p: o for p, o in ends.items() if o},
            120,
            "the restarted projection to consume the whole topic",
        )
        projection.stop()
        marks.append(time.monotonic())

        assert stored_offsets(settings) == {p: o for p, o in ends.items() if o}
        events = timeline(settings)
        assert len(events) == len(store)
        assert set(events) == set(store)
        rows = tracking_rows(settings)
        assert len(rows) == INVOICES
        aggregates = {}
        for invoice_id in expected.status:
            invoice = app.get(UUID(invoice_id))
            aggregates[invoice_id] = (invoice.version, invoice.status.value)
        assert aggregates == {i: (expected.version[i], s.value) for i, s in expected.status.items()}
        wrong = {i: (rows.get(i), a) for i, a in aggregates.items() if rows.get(i) != a}
        assert not wrong, f"{len(wrong)} invoices differ from the store, e.g. {list(wrong)[:3]}"
        assert query(settings, "SELECT count(*) FROM dead_letters") == [(0,)]
    finally:
        app.close()
    phases = ", ".join(f"{b - a:.1f}" for a, b in zip([started, *marks], marks, strict=False))
    print(
        f"projection crash test: {time.monotonic() - started:.1f} s"
        f" (build, relay, kill 1, kill 2, to the end: {phases})"
    )
