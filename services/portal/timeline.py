"""An invoice's timeline in the reader's words: who did each step ("you", the buyer's name,
"the platform"), what it means; the codes (event, Chorus status, reform code) and the raw
actor are kept as details.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from facturier.domain.invoice import PLATFORM_ACTOR
from facturier.domain.lifecycle import EventType
from facturier.services.application.principals import ApiRole, Principal
from facturier.services.portal import i18n


@dataclass(frozen=True)
class Party:
    """Who reads the page, and the names the timeline's actors are shown by."""

    principal: Principal
    supplier_id: str
    supplier_name: str
    buyers: Mapping[str, str]  # SIRET -> the directory's name


def buyers_of(
    recipient_siret: str, submitted_to: str, timeline: Iterable[Mapping[str, Any]]
) -> set[str]:
    """Every structure the timeline may name: recipients, and the buyers who acted."""
    sirets = {recipient_siret, submitted_to}
    for row in timeline:
        details = row.get("details") or {}
        if isinstance(details, dict) and details.get("recipient_siret"):
            sirets.add(str(details["recipient_siret"]))
        kind, _, who = str(row.get("actor", "")).partition(":")
        if kind == "buyer":
            sirets.add(who)
    return {s for s in sirets if s}


def actor_words(actor: str, party: Party, t: Callable[..., str]) -> str:
    """Who did a step, as the reader says it: "you", the buyer's name, "the platform"."""
    if actor == party.principal.actor:
        return t("actor.you")
    if actor == PLATFORM_ACTOR:
        return t("actor.platform")
    kind, _, who = actor.partition(":")
    if kind == ApiRole.SUPPLIER:
        return party.supplier_name if who == party.supplier_id else who
    if kind == ApiRole.BUYER:
        return party.buyers.get(who) or t("actor.buyer", siret=who)
    if kind == ApiRole.OPERATOR:
        return t("actor.operator")
    if kind == ApiRole.ADMIN:
        return t("actor.admin", label=who)
    if kind == ApiRole.AUDITOR:
        return t("actor.auditor", label=who)
    return actor


def timeline_steps(
    rows: Iterable[Mapping[str, Any]], submitted_to: str, party: Party, t: Callable[..., str]
) -> list[dict[str, Any]]:
    """The timeline's rows in the reader's words; the codes (event, Chorus status, reform
    code) and the raw actor are kept as details."""
    recipient = submitted_to
    steps: list[dict[str, Any]] = []
    for row in rows:
        event = str(row["event_type"])
        details = row.get("details") or {}
        if (
            event == EventType.REROUTED
            and isinstance(details, dict)
            and details.get("recipient_siret")
        ):
            recipient = str(details["recipient_siret"])
        buyer = party.buyers.get(recipient) or t("actor.buyer", siret=recipient)
        key = f"event.{event}"
        what = t(key, buyer=buyer) if key in i18n.MESSAGES else event
        comment = details.get("comment", "") if isinstance(details, dict) else ""
        reason_code = str(row.get("reason_code") or "")
        reason_key = f"reason.{reason_code}"
        steps.append(
            {
                "version": int(row["version"]),
                "occurred_at": row["occurred_at"],
                "what": what,
                "summary": row["summary"],
                "by": actor_words(str(row["actor"]), party, t),
                "actor": row["actor"],
                "codes": f"{event} · {row['status']} · {row['reform_code']}",
                "reason_code": reason_code,
                "reason_label": t(reason_key) if reason_key in i18n.MESSAGES else "",
                "reason": row.get("reason") or "",
                "comment": comment or "",
            }
        )
    return steps
