"""Folding one batch of lifecycle events into per-invoice states, as every read model that
keeps a state per invoice does: the state is born of `Submitted`, each later event changes it
at most once (a redelivered one is skipped by its version) and may produce one output (a
journal entry, a payment, an e-mail)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from facturier.domain.lifecycle import EventType
from facturier.events.lifecycle import LifecycleEvent

log = logging.getLogger("facturier.projection")


class Versioned(Protocol):
    version: int


S = TypeVar("S", bound=Versioned)
Out = TypeVar("Out")


def fold(
    states: dict[str, S],
    events: Iterable[LifecycleEvent],
    submitted: Callable[[LifecycleEvent], S],
    apply: Callable[[S, LifecycleEvent], Out | None],
) -> tuple[dict[str, S], list[Out]]:
    """The states changed (`states` is updated in place) and the outputs, in event order.
    Events come in partition order: one invoice's versions in order."""
    changed: dict[str, S] = {}
    outputs: list[Out] = []
    for e in events:
        state = states.get(e.invoice_id)
        if e.event_type == EventType.SUBMITTED:
            if state is None:
                states[e.invoice_id] = changed[e.invoice_id] = submitted(e)
            continue
        if state is None:  # cannot happen on a topic read from its start
            log.error("%s v%s before its Submitted event: ignored", e.invoice_id, e.version)
            continue
        if e.version <= state.version:  # a redelivery: already applied
            continue
        output = apply(state, e)
        changed[e.invoice_id] = state
        if output is not None:
            outputs.append(output)
    return changed, outputs
