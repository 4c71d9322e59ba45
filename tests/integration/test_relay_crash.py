"""Crash test of the relay, with real processes: SIGKILL it in the middle of publishing a few
thousand events, restart it, and check the topic and the tracking view built from it.

At least once, never a gap: every event of the store reaches the topic, each invoice's
versions first appear in order on its one partition (duplicates of the killed batch are
allowed), and the projection shows each invoice once, with its final status and version."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

import pytest

from facturier.config.settings import Settings
from facturier.services.application.invoicing import InvoicingApp
from tests.support.pipeline import (
    EndOffsets,
    build_invoices,
    check_topic,
    database_quiet,
    freeze_when,
    poll_until,
    query,
    read_topic,
    relay_position,
    store_events,
    stored_offsets,
    timeline,
    tracking_rows,
    wait_while_running,
)
from tests.support.stack import Service

pytestmark = pytest.mark.stack

INVOICES = 1200  # x 5.1 events on average: 6,120 events
RELAY_BATCH = 50  # ~120 rounds, so a kill lands mid-stream


def test_relay_killed_mid_stream_resumes_without_gaps(
    make_settings: Callable[[], Settings], start_service: Callable[..., Service]
) -> None:
    started = time.monotonic()
    settings = make_settings().replaced(relay_batch=RELAY_BATCH)
    app = InvoicingApp(settings.postgres)
    try:
        expected = build_invoices(app, INVOICES)
        store = store_events(app)
        last = max(store.values())
        assert len(store) == expected.events == last  # gap-free notification log
        assert len(store) >= 5000
        built = time.monotonic()

        # Once a third of the log is out, freeze the relay (SIGSTOP) until it is caught
        # between sending a batch and saving its position: messages on the topic beyond the
        # saved position. SIGKILL it exactly there.
        relay = start_service(settings, "--relay")
        seen = poll_until(
            lambda: relay_position(settings),
            lambda p: p >= last // 3 or relay.process.poll() is not None,
            timeout_s=60,
            what="the relay to publish a third of the log",
        )
        ends = EndOffsets(settings)
        try:
            attempts = freeze_when(
                relay,
                lambda: (
                    database_quiet(settings) and sum(ends().values()) > relay_position(settings)
                ),
                timeout_s=60,
                what="the relay to be between sending a batch and saving its position",
            )
            relay.kill()
            assert relay.process.returncode == -9, relay.output()
            at_kill = relay_position(settings)
            assert seen <= at_kill < last, (seen, at_kill, last)
            time.sleep(0.5)  # whatever the dead producer had on the wire has landed by now
            published = sum(ends().values())
        finally:
            ends.close()
        unsaved = published - at_kill  # on the topic, but the relay will send them again
        assert 0 < unsaved <= RELAY_BATCH, (published, at_kill)
        print(
            f"\n{len(store)} events of {INVOICES} invoices; relay killed at position {at_kill}"
            f" of {last} with {unsaved} more messages already on the topic"
            f" (frozen {attempts} time(s) before catching it there)"
        )
        killed = time.monotonic()

        restarted = start_service(settings, "--relay")
        wait_while_running(
            restarted, lambda: relay_position(settings) == last, 60, "the relay to reach the end"
        )
        restarted.stop()
        assert relay_position(settings) == last
        resumed = time.monotonic()

        records, ends_at = read_topic(settings)
        duplicates = check_topic(records, store)
        assert len(records) == len(store) + duplicates == sum(ends_at.values())
        # At least once, and only the unsaved batch twice: no other duplicate.
        assert duplicates == unsaved
        print(f"topic: {len(records)} messages, {duplicates} of them sent twice")

        projection = start_service(settings, "--projection")
        wait_while_running(
            projection,
            lambda: stored_offsets(settings) == {p: o for p, o in ends_at.items() if o},
            120,
            "the projection to consume the whole topic",
        )
        projection.stop()
        projected = time.monotonic()

        rows = tracking_rows(settings)
        assert len(rows) == INVOICES
        assert set(rows) == set(expected.status)
        wrong = {
            i: row
            for i, row in rows.items()
            if row != (expected.version[i], expected.status[i].value)
        }
        assert not wrong, f"{len(wrong)} invoices wrong in the view, e.g. {list(wrong.items())[:3]}"
        for i in expected.status:  # the aggregates say the same
            invoice = app.get(UUID(i))
            assert (invoice.version, invoice.status) == (expected.version[i], expected.status[i])
        events = timeline(settings)
        assert len(events) == len(store)
        assert set(events) == set(store)
        assert query(settings, "SELECT count(*) FROM dead_letters") == [(0,)]
    finally:
        app.close()
    print(
        f"relay crash test: {time.monotonic() - started:.1f} s (build {built - started:.1f},"
        f" to the kill {killed - built:.1f}, restart to the end {resumed - killed:.1f},"
        f" projection {projected - resumed:.1f})"
    )
