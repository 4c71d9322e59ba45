"""Each invoice's events form a hash chain: any edit, deletion or reordering of a recorded
event changes every later link.

A link covers the event exactly as the event store holds it (aggregate id, version, type
topic, stored state bytes) and the previous link. The relay publishes each link with its
message (`ce_chainhash`) and keeps each invoice's newest link in PostgreSQL, so an auditor
can recompute the chain from the event store and compare it with the topic — an independent,
append-only copy — and with the stored heads (`facturier audit verify`).
"""

from __future__ import annotations

import hashlib
from uuid import UUID

from eventsourcing.persistence import StoredEvent

GENESIS = bytes(32)


def link(previous: bytes, event: StoredEvent) -> bytes:
    digest = hashlib.sha256(previous)
    originator = event.originator_id
    digest.update((originator if isinstance(originator, UUID) else UUID(originator)).bytes)
    digest.update(event.originator_version.to_bytes(8, "big"))
    digest.update(event.topic.encode())
    digest.update(b"\x00")
    digest.update(event.state)
    return digest.digest()
