"""Helpers of the live-push tests: a Server-Sent Events client reading in a thread, and the
JSON body of an invoice typed over the API."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    at: float  # time.monotonic() on arrival
    name: str
    id: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class Stream:
    """`GET url` as an event stream, read by a thread: `events` fills as they arrive."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, **client: Any) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.seen: list[Event] = []
        self.status: int | None = None
        self.ready = threading.Event()  # the server sent its first bytes: subscribed
        self.ended = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None), **client)
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, args=(url, headers or {}), daemon=True)
        self._thread.start()
        if not self.ready.wait(15):
            raise AssertionError(f"no answer from {url}")

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self._response = response
                self.status = response.status_code
                if response.status_code != 200:
                    self.ready.set()
                    return
                name, event_id, data = "message", "", []
                for line in response.iter_lines():
                    self.ready.set()
                    if line == "":
                        if data:
                            self.events.put(
                                Event(time.monotonic(), name, event_id, "\n".join(data))
                            )
                        name, data = "message", []
                    elif line.startswith(":"):
                        continue
                    else:
                        field, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if field == "event":
                            name = value
                        elif field == "data":
                            data.append(value)
                        elif field == "id":
                            event_id = value
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by close()
        finally:
            self.ready.set()
            self.ended.set()

    def next(self, timeout: float, name: str | None = None) -> Event:
        """The next event (of that name), or AssertionError."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                event = self.events.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(f"no {name or 'event'} within {timeout} s") from None
            self.seen.append(event)
            if name is None or event.name == name:
                return event

    def until(self, timeout: float, **match: Any) -> Event:
        """The next status event whose data has these values."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.0, deadline - time.monotonic()), "status")
            data = event.json()
            if all(data.get(k) == v for k, v in match.items()):
                return event

    def drain(self) -> list[Event]:
        """Every event received so far (including those `next` already returned)."""
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return list(self.seen)

    def close(self) -> None:
        """Closes the connection. A thread blocked in a read may only notice at the next
        heartbeat or when the server stops; it is a daemon, so nobody waits for it."""
        if self._response is not None:
            self._response.close()
        self._client.close()
        self._thread.join(0.2)


def portal_login(client: httpx.Client, token: str) -> httpx.Response:
    """Sign in to the portal as its login form does (double-submit CSRF cookie)."""
    page = client.get("/portal/login").text
    field = re.search(r'<input[^>]*name="csrf"[^>]*>', page)
    assert field is not None, "no csrf field on the login page"
    value = re.search(r'value="([^"]*)"', field[0])
    assert value is not None
    return client.post("/portal/login", data={"csrf": value[1], "token": token})
