"""Live status push, shared by the JSON API and the portal: the tracking projection's
notifications, fanned out as Server-Sent Events.

The tracking projection announces every invoice it changed with `pg_notify(LIVE_CHANNEL, ...)`
in the transaction of its writes (`projections/tracking/projection.py`), so what is pushed is
committed and already readable in the view. The API process holds ONE listening connection
(`LiveHub`) and hands each change to the streams whose principal may see the invoice, by the rule of
`Principal.sees`: a supplier (or operator) its suppliers' invoices, a buyer those addressed to
it, auditors and admins every invoice.

- `GET /portal/live`: the portal's pages (session cookie), read by `static/live.js`
  (services/portal/live.py);
- `GET /live`: API clients (bearer token) (services/http/live.py).

Stream (text/event-stream): one `event: status` per change, `id: <epoch>-<seq>`, `data:` the
JSON of `tracking.live_change` plus `labels` (the plain-word status per language) and
`status_labels` (the Chorus status described, per language). `event:
reload` when the server cannot tell what the client missed (its queue overflowed, the
listening connection was re-opened, its `Last-Event-ID` is unknown here, its session or token
ended): a page reloads, an API client reads the invoices again. A comment every `heartbeat_s`
keeps proxies from closing an idle stream and finds clients that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from fastapi.responses import Response, StreamingResponse

from facturier.projections.tracking.projection import LIVE_CHANNEL
from facturier.services.application.principals import ApiRole, Principal

log = logging.getLogger("facturier.live")

END = b""  # queue sentinel: the stream ends after what it already holds
STREAM_HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # a buffering reverse proxy would hold the pushes back
    "X-Content-Type-Options": "nosniff",
}


def reload_frame(reason: str) -> bytes:
    return f"event: reload\ndata: {json.dumps({'reason': reason})}\n\n".encode()


@dataclass(eq=False)
class Subscriber:
    """One open stream. Its queue is bounded: when full, the stream is dropped and the client
    told to reload, so a slow reader never holds back the listener or the other streams."""

    principal: Principal
    queue: asyncio.Queue[bytes]
    keys: list[tuple[str, str]] = field(default_factory=list)
    closed: bool = False


@dataclass(frozen=True)
class Change:
    seq: int
    supplier_id: str
    recipient_siret: str
    frame: bytes  # encoded once, written as is to every stream that may see it


class LiveHub:
    """The listening connection and the open streams of one API process."""

    def __init__(
        self,
        dsn: str,
        *,
        annotate: Callable[[dict[str, Any]], None] = lambda change: None,
        queue_size: int = 256,
        backlog: int = 4096,
        heartbeat_s: float = 15.0,
        revalidate_s: float = 60.0,
        max_subscribers: int = 10_000,
    ) -> None:
        self.dsn = dsn
        self.annotate = annotate  # adds what the clients show with a change (its labels)
        self.queue_size = max(2, queue_size)  # room for a reload frame and END
        self.heartbeat_s = heartbeat_s
        self.revalidate_s = revalidate_s
        self.max_subscribers = max_subscribers
        # Stream ids carry the epoch: an id from another process, or from before the
        # listening connection was re-opened (a gap), is unknown and answered with reload.
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._backlog: deque[Change] = deque(maxlen=backlog)
        self._subscribers: dict[tuple[str, str], set[Subscriber]] = {}
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.listening = asyncio.Event()

    # ------------------------------------------------------------ listening

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._listen(), name="live-listener")

    async def stop(self) -> None:
        self.close_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def shutdown_soon(self) -> None:
        """Ends every stream; safe from a signal handler or another thread. The server calls
        it when asked to stop: it waits for open responses to end, and a stream never does."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.close_all)

    async def _listen(self) -> None:
        delay = 0.5
        opened_before = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {LIVE_CHANNEL}")
                    if opened_before:  # notifications sent meanwhile are lost: say so
                        self._gap("the live feed was interrupted")
                    opened_before = True
                    self.listening.set()
                    delay = 0.5
                    while True:
                        async for notify in conn.notifies(timeout=30.0):
                            self.publish(notify.payload)
                        await conn.execute("SELECT 1")  # a dead connection raises here
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("live feed: %s; listening again in %.1f s", error, delay)
            self.listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _gap(self, reason: str) -> None:
        self.epoch = secrets.token_hex(4)
        self._backlog.clear()
        for sub in self._all():
            self._drop(sub, reload_frame(reason))

    # ------------------------------------------------------------ fan-out

    def publish(self, payload: str) -> None:
        """One change from the projection, to every stream that may see its invoice."""
        try:
            change = json.loads(payload)
            supplier_id, recipient = str(change["supplier_id"]), str(change["recipient_siret"])
            self.annotate(change)
        except (ValueError, KeyError, TypeError) as error:
            log.error("live feed: unreadable notification %r: %s", payload[:200], error)
            return
        self._seq += 1
        data = json.dumps(change, separators=(",", ":"))
        frame = f"id: {self.epoch}-{self._seq}\nevent: status\ndata: {data}\n\n".encode()
        item = Change(self._seq, supplier_id, recipient, frame)
        self._backlog.append(item)
        for sub in self._audience(supplier_id, recipient):
            self._offer(sub, frame)

    def _audience(self, supplier_id: str, recipient: str) -> set[Subscriber]:
        found: set[Subscriber] = set()
        for key in (("*", ""), ("supplier", supplier_id), ("recipient", recipient)):
            found |= self._subscribers.get(key, set())
        return found

    def _offer(self, sub: Subscriber, frame: bytes) -> None:
        try:
            sub.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._drop(sub, reload_frame("too slow: changes were dropped"))

    def _drop(self, sub: Subscriber, last: bytes | None) -> None:
        """Unsubscribe; the stream sends `last` (if any) and ends."""
        if sub.closed:
            return
        self._unregister(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        if last:
            sub.queue.put_nowait(last)
        sub.queue.put_nowait(END)

    def close_all(self) -> None:
        for sub in self._all():
            self._drop(sub, None)

    def _all(self) -> list[Subscriber]:
        return list({sub for subs in self._subscribers.values() for sub in subs})

    # ------------------------------------------------------------ subscribers

    @staticmethod
    def _keys(principal: Principal) -> list[tuple[str, str]]:
        """Index keys matching `Principal.sees`."""
        if principal.role in (ApiRole.AUDITOR, ApiRole.ADMIN):
            return [("*", "")]
        if principal.role in (ApiRole.SUPPLIER, ApiRole.OPERATOR):
            suppliers = principal.suppliers
            return [("*", "")] if "*" in suppliers else [("supplier", s) for s in suppliers]
        return [("recipient", principal.scope)]

    @property
    def subscribers(self) -> int:
        return self._count

    def subscribe(self, principal: Principal, last_event_id: str | None = None) -> Subscriber:
        """A new stream, with what it missed since `last_event_id` already queued. Runs
        without awaiting, so no change can slip between the replay and the registration."""
        sub = Subscriber(principal, asyncio.Queue(self.queue_size), self._keys(principal))
        for key in sub.keys:
            self._subscribers.setdefault(key, set()).add(sub)
        self._count += 1
        if last_event_id:
            self._replay(sub, last_event_id.strip())
        return sub

    def _replay(self, sub: Subscriber, last_event_id: str) -> None:
        epoch, _, number = last_event_id.rpartition("-")
        if epoch != self.epoch or not number.isdigit() or int(number) > self._seq:
            self._drop(sub, reload_frame("unknown Last-Event-ID"))
            return
        seen = int(number)
        oldest = self._backlog[0].seq if self._backlog else self._seq + 1
        if seen < oldest - 1:
            self._drop(sub, reload_frame("missed changes are no longer kept"))
            return
        for item in self._backlog:
            if item.seq > seen and sub.principal.sees(item.supplier_id, item.recipient_siret):
                self._offer(sub, item.frame)

    def _unregister(self, sub: Subscriber) -> None:
        if sub.closed:
            return
        sub.closed = True
        self._count -= 1
        for key in sub.keys:
            subs = self._subscribers.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[key]

    async def stream(
        self, sub: Subscriber, still_valid: Callable[[], Awaitable[bool]]
    ) -> AsyncIterator[bytes]:
        """The stream's bytes: queued frames, heartbeats, and every `revalidate_s` a check
        that the session or token behind it is still valid."""
        loop = asyncio.get_running_loop()
        check_at = loop.time() + self.revalidate_s
        try:
            yield b"retry: 3000\n: listening\n\n"  # sent at once: the client knows it is on
            while True:
                try:
                    frame = await asyncio.wait_for(sub.queue.get(), self.heartbeat_s)
                except TimeoutError:
                    frame = b": heartbeat\n\n"
                if frame == END:
                    return
                yield frame
                if loop.time() >= check_at:
                    check_at = loop.time() + self.revalidate_s
                    if not await still_valid():
                        yield reload_frame("signed out")
                        return
        finally:
            self._unregister(sub)


def respond(hub: LiveHub, sub: Subscriber, still_valid: Callable[[], Awaitable[bool]]) -> Response:
    """The stream of `sub` as an HTTP response."""
    return StreamingResponse(
        hub.stream(sub, still_valid), media_type="text/event-stream", headers=STREAM_HEADERS
    )


def full() -> Response:
    return Response("too many live streams", status_code=503, headers={"Retry-After": "30"})
