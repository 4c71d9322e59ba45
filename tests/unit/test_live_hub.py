"""The live hub's fan-out, without PostgreSQL: who receives a change, what a slow or
resuming stream gets, and that shutdown ends every stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from facturier.services.application.principals import ApiRole, Principal
from facturier.services.live_hub import END, LiveHub
from facturier.services.portal.live import add_labels

SUPPLIER, OTHER_SUPPLIER = "73282932000074", "54205118000066"
OPERATOR = "44306184100047"
BUYER, OTHER_BUYER = "11000201100044", "21750001600019"


def change(invoice: str, supplier: str = SUPPLIER, buyer: str = BUYER, version: int = 2) -> str:
    return json.dumps(
        {
            "invoice_id": invoice,
            "supplier_id": supplier,
            "recipient_siret": buyer,
            "version": version,
            "event_type": "TakenInHand",
            "status": "PRISE_EN_COMPTE_DESTINATAIRE",
            "reform_code": 204,
            "summary": "in processing",
            "occurred_at": "2026-04-01T10:00:00+00:00",
            "actor": f"buyer:{buyer}",
            "reason_code": None,
            "reason": None,
        }
    )


def queued(sub: Any) -> list[bytes]:
    frames = []
    while not sub.queue.empty():
        frames.append(sub.queue.get_nowait())
    return frames


def invoices(frames: list[bytes]) -> list[str]:
    found = []
    for frame in frames:
        for line in frame.decode().splitlines():
            if line.startswith("data: {") and '"invoice_id"' in line:
                found.append(json.loads(line[6:])["invoice_id"])
    return found


def test_each_change_reaches_exactly_those_who_may_see_the_invoice() -> None:
    async def run() -> None:
        hub = LiveHub("unused", annotate=add_labels)
        subs = {
            "supplier": hub.subscribe(Principal(ApiRole.SUPPLIER, SUPPLIER, "s")),
            "other_supplier": hub.subscribe(Principal(ApiRole.SUPPLIER, OTHER_SUPPLIER, "o")),
            "operator": hub.subscribe(
                Principal(
                    ApiRole.OPERATOR,
                    OPERATOR,
                    "op",
                    {OTHER_SUPPLIER: frozenset({"edi"}), SUPPLIER: frozenset({"portal"})},
                )
            ),
            "buyer": hub.subscribe(Principal(ApiRole.BUYER, BUYER, "b")),
            "other_buyer": hub.subscribe(Principal(ApiRole.BUYER, OTHER_BUYER, "ob")),
            "auditor": hub.subscribe(Principal(ApiRole.AUDITOR, "*", "a")),
        }
        hub.publish(change("inv-1"))
        hub.publish(change("inv-2", OTHER_SUPPLIER, OTHER_BUYER))
        got = {who: invoices(queued(sub)) for who, sub in subs.items()}
        assert got == {
            "supplier": ["inv-1"],
            "other_supplier": ["inv-2"],
            "operator": ["inv-1", "inv-2"],
            "buyer": ["inv-1"],
            "other_buyer": ["inv-2"],
            "auditor": ["inv-1", "inv-2"],
        }

    asyncio.run(run())


def test_the_pushed_change_carries_the_plain_word_label_and_an_id() -> None:
    async def run() -> None:
        hub = LiveHub("unused", annotate=add_labels)
        sub = hub.subscribe(Principal(ApiRole.BUYER, BUYER, "b"))
        hub.publish(change("inv-1"))
        (frame,) = queued(sub)
        lines = frame.decode().splitlines()
        assert lines[0] == f"id: {hub.epoch}-1"
        assert lines[1] == "event: status"
        data = json.loads(lines[2].removeprefix("data: "))
        assert data["labels"] == {"en": "in processing", "fr": "en cours de traitement"}
        assert set(data["status_labels"]) == {"en", "fr"}
        assert data["reform_code"] == 204

    asyncio.run(run())


def test_a_slow_stream_is_dropped_and_told_to_reload_without_holding_others() -> None:
    async def run() -> None:
        hub = LiveHub("unused", annotate=add_labels, queue_size=4)
        slow = hub.subscribe(Principal(ApiRole.SUPPLIER, SUPPLIER, "s"))
        fast = hub.subscribe(Principal(ApiRole.BUYER, BUYER, "b"))
        for n in range(10):
            hub.publish(change(f"inv-{n}"))
            invoices(queued(fast))  # this one keeps up
        frames = queued(slow)
        assert frames[-1] == END
        assert frames[-2].startswith(b"event: reload")
        assert slow.closed and hub.subscribers == 1
        hub.publish(change("inv-late"))
        assert invoices(queued(fast)) == ["inv-late"]

    asyncio.run(run())


def test_last_event_id_replays_what_was_missed_or_asks_for_a_reload() -> None:
    async def run() -> None:
        hub = LiveHub("unused", annotate=add_labels, backlog=3)
        for n in range(5):
            hub.publish(change(f"inv-{n}", OTHER_SUPPLIER if n == 3 else SUPPLIER))
        supplier = Principal(ApiRole.SUPPLIER, SUPPLIER, "s")
        resumed = hub.subscribe(supplier, f"{hub.epoch}-2")  # saw 1 and 2
        assert invoices(queued(resumed)) == ["inv-2", "inv-4"]  # 4th was another supplier's
        too_old = hub.subscribe(supplier, f"{hub.epoch}-1")  # 2 is no longer kept
        assert queued(too_old)[0].startswith(b"event: reload")
        other_process = hub.subscribe(supplier, "feedbeef-4")
        assert queued(other_process)[0].startswith(b"event: reload")
        assert hub.subscribers == 1

    asyncio.run(run())


def test_a_stream_sends_heartbeats_and_ends_on_shutdown() -> None:
    async def run() -> list[bytes]:
        hub = LiveHub("unused", annotate=add_labels, heartbeat_s=0.05)
        sub = hub.subscribe(Principal(ApiRole.BUYER, BUYER, "b"))

        async def valid() -> bool:
            return True

        received: list[bytes] = []

        async def read() -> None:
            async for chunk in hub.stream(sub, valid):
                received.append(chunk)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.12)
        hub.publish(change("inv-1"))
        await asyncio.sleep(0.01)
        hub.close_all()
        await asyncio.wait_for(reader, 2)
        assert hub.subscribers == 0
        return received

    received = asyncio.run(run())
    assert received[0].startswith(b"retry: ")
    assert b": heartbeat\n\n" in received
    assert invoices(received) == ["inv-1"]


def test_a_stream_whose_session_ended_asks_for_a_reload() -> None:
    async def run() -> list[bytes]:
        hub = LiveHub("unused", annotate=add_labels, heartbeat_s=0.02, revalidate_s=0.0)
        sub = hub.subscribe(Principal(ApiRole.BUYER, BUYER, "b"))

        async def ended() -> bool:
            return False

        return [chunk async for chunk in hub.stream(sub, ended)]

    received = asyncio.run(asyncio.wait_for(run(), 2))
    assert received[-1].startswith(b"event: reload")


def test_a_change_fits_in_a_notification_whatever_the_reason() -> None:
    from datetime import UTC, datetime

    from facturier.domain.lifecycle import Status
    from facturier.events.lifecycle import LifecycleEvent
    from facturier.projections.tracking.projection import live_change

    event = LifecycleEvent(
        event_id="e",
        event_type="Rejected",
        invoice_id="0b7c2f4e-0000-5000-8000-000000000001",
        version=5,
        occurred_at=datetime(2026, 4, 1, tzinfo=UTC),
        actor=f"buyer:{BUYER}",
        correlation_id="c",
        status=Status.REJETEE,
        reform_code=210,
        summary="rejected",
        payload={"reason_code": "NON_CONFORME", "reason": "\U0001f4c4" * 1000},
    )
    # Even with a comment as long beside it (no event has both today).
    event.payload["comment"] = "\U0001f4ac" * 1000
    payload = json.dumps(live_change(event, SUPPLIER, BUYER), separators=(",", ":"))
    assert len(payload.encode()) < 8000  # PostgreSQL's limit for a NOTIFY payload
