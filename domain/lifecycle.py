"""The invoice lifecycle, written once: statuses, actions, and which action moves where.

Everything else (the aggregate's guards, the API's list of actions, the docs' table, the
property-based test) reads this module; nothing re-states it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """Chorus Pro statuses (docs/DOMAIN.md §5)."""

    DEPOSEE = "DEPOSEE"
    EN_COURS_ACHEMINEMENT = "EN_COURS_ACHEMINEMENT"
    MISE_A_DISPOSITION = "MISE_A_DISPOSITION"
    PRISE_EN_COMPTE_DESTINATAIRE = "PRISE_EN_COMPTE_DESTINATAIRE"
    SUSPENDUE = "SUSPENDUE"
    COMPLETEE = "COMPLETEE"
    A_RECYCLER = "A_RECYCLER"
    REJETEE = "REJETEE"
    SERVICE_FAIT = "SERVICE_FAIT"
    MANDATEE = "MANDATEE"
    MISE_A_DISPOSITION_COMPTABLE = "MISE_A_DISPOSITION_COMPTABLE"
    COMPTABILISEE = "COMPTABILISEE"
    MISE_EN_PAIEMENT = "MISE_EN_PAIEMENT"


class Summary(StrEnum):
    """What a supplier reads: 'received / being processed / paid' (docs/DOMAIN.md §5), plus the
    states where the supplier must act or has lost the invoice, and the short platform
    stage before the buyer's service has it."""

    SUBMITTED = "submitted"
    RECEIVED = "received"
    IN_PROCESSING = "in processing"
    ACTION_NEEDED = "action needed"
    REJECTED = "rejected"
    PAID = "paid"


class EventType(StrEnum):
    """The invoice's event types: the names the event store records and the wire contract
    publishes (the aggregate's decorators, the Avro payload branches and every consumer use
    these; the values must never change, stored events carry them)."""

    SUBMITTED = "Submitted"
    ROUTED = "Routed"
    MADE_AVAILABLE = "MadeAvailable"
    TAKEN_IN_HAND = "TakenInHand"
    SUSPENDED = "Suspended"
    COMPLETED = "Completed"
    MARKED_FOR_REROUTING = "MarkedForRerouting"
    REROUTED = "Rerouted"
    REJECTED = "Rejected"
    SERVICE_CERTIFIED = "ServiceCertified"
    PAYMENT_ORDERED = "PaymentOrdered"
    HANDED_TO_ACCOUNTING = "HandedToAccounting"
    RECORDED_IN_ACCOUNTS = "RecordedInAccounts"
    PAYMENT_SENT = "PaymentSent"


class StatusWord(StrEnum):
    """The plain words a supplier subscribes to, one per status it may be told about.

    Not the `Summary`: a summary groups statuses for display ("in processing" covers four)
    and travels in every published event; a word names one status reached and is an
    identifier, stored with each subscription and accepted by the API and the CLI, hence
    hyphenated ("in-processing"). Both are contracts: neither spelling may change."""

    RECEIVED = "received"
    IN_PROCESSING = "in-processing"
    SUSPENDED = "suspended"
    TO_REROUTE = "to-reroute"
    REJECTED = "rejected"
    SERVICE_CERTIFIED = "service-certified"
    PAYMENT_ORDERED = "payment-ordered"
    PAID = "paid"


class Role(StrEnum):
    """Who may perform an action (the API checks the caller's role against this)."""

    PLATFORM = "platform"
    SUPPLIER = "supplier"
    BUYER = "buyer"
    ACCOUNTING = "accounting"


class Action(StrEnum):
    """Commands on an existing invoice; each records the event of the same line in EVENTS."""

    ROUTE = "route"
    MAKE_AVAILABLE = "make-available"
    TAKE_IN_HAND = "take-in-hand"
    SUSPEND = "suspend"
    COMPLETE = "complete"
    MARK_FOR_REROUTING = "mark-for-rerouting"
    REROUTE = "reroute"
    REJECT = "reject"
    CERTIFY_SERVICE_DONE = "certify-service-done"
    ORDER_PAYMENT = "order-payment"
    HAND_TO_ACCOUNTING = "hand-to-accounting"
    RECORD_IN_ACCOUNTS = "record-in-accounts"
    PAY = "pay"


@dataclass(frozen=True)
class StatusInfo:
    reform_code: int
    reform_label: str
    summary: Summary
    label: str


# Status -> reform lifecycle code (CDAR ProcessConditionCode) and supplier summary.
STATUS_INFO: dict[Status, StatusInfo] = {
    Status.DEPOSEE: StatusInfo(200, "Déposée", Summary.SUBMITTED, "submitted"),
    Status.EN_COURS_ACHEMINEMENT: StatusInfo(201, "Émise", Summary.SUBMITTED, "being routed"),
    Status.MISE_A_DISPOSITION: StatusInfo(
        203, "Mise à disposition", Summary.RECEIVED, "received by the invoice-processing service"
    ),
    Status.PRISE_EN_COMPTE_DESTINATAIRE: StatusInfo(
        204, "Prise en charge", Summary.IN_PROCESSING, "taken in hand by the buyer"
    ),
    Status.SUSPENDUE: StatusInfo(
        208, "Suspendue", Summary.ACTION_NEEDED, "suspended: documents missing"
    ),
    Status.COMPLETEE: StatusInfo(209, "Complétée", Summary.IN_PROCESSING, "completed by supplier"),
    Status.A_RECYCLER: StatusInfo(
        221, "Erreur de routage", Summary.ACTION_NEEDED, "sent to the wrong service: re-route it"
    ),
    Status.REJETEE: StatusInfo(210, "Refusée", Summary.REJECTED, "rejected by the buyer"),
    Status.SERVICE_FAIT: StatusInfo(205, "Approuvée", Summary.IN_PROCESSING, "service certified"),
    Status.MANDATEE: StatusInfo(214, "Visée", Summary.IN_PROCESSING, "payment ordered"),
    Status.MISE_A_DISPOSITION_COMPTABLE: StatusInfo(
        214, "Visée", Summary.IN_PROCESSING, "with the public accountant"
    ),
    Status.COMPTABILISEE: StatusInfo(
        214, "Visée", Summary.IN_PROCESSING, "recorded by the public accountant"
    ),
    Status.MISE_EN_PAIEMENT: StatusInfo(211, "Paiement transmis", Summary.PAID, "paid"),
}


@dataclass(frozen=True)
class Transition:
    action: Action
    event: EventType
    sources: frozenset[Status]
    target: Status
    by: Role


def _t(
    action: Action, event: EventType, sources: set[Status], target: Status, by: Role
) -> Transition:
    return Transition(action, event, frozenset(sources), target, by)


S = Status
E = EventType
_BUYER_OPEN = {S.MISE_A_DISPOSITION, S.PRISE_EN_COMPTE_DESTINATAIRE, S.COMPLETEE}
_PAYABLE = {S.MANDATEE, S.MISE_A_DISPOSITION_COMPTABLE, S.COMPTABILISEE}

# The one transition table. Submission (Submitted, -> DEPOSEE) creates the invoice.
TRANSITIONS: tuple[Transition, ...] = (
    _t(Action.ROUTE, E.ROUTED, {S.DEPOSEE}, S.EN_COURS_ACHEMINEMENT, Role.PLATFORM),
    _t(
        Action.MAKE_AVAILABLE,
        E.MADE_AVAILABLE,
        {S.EN_COURS_ACHEMINEMENT},
        S.MISE_A_DISPOSITION,
        Role.PLATFORM,
    ),
    _t(
        Action.TAKE_IN_HAND,
        E.TAKEN_IN_HAND,
        {S.MISE_A_DISPOSITION, S.COMPLETEE},
        S.PRISE_EN_COMPTE_DESTINATAIRE,
        Role.BUYER,
    ),
    _t(Action.SUSPEND, E.SUSPENDED, _BUYER_OPEN, S.SUSPENDUE, Role.BUYER),
    _t(Action.COMPLETE, E.COMPLETED, {S.SUSPENDUE}, S.COMPLETEE, Role.SUPPLIER),
    _t(
        Action.MARK_FOR_REROUTING,
        E.MARKED_FOR_REROUTING,
        {S.MISE_A_DISPOSITION, S.PRISE_EN_COMPTE_DESTINATAIRE},
        S.A_RECYCLER,
        Role.BUYER,
    ),
    _t(Action.REROUTE, E.REROUTED, {S.A_RECYCLER}, S.EN_COURS_ACHEMINEMENT, Role.SUPPLIER),
    _t(Action.REJECT, E.REJECTED, _BUYER_OPEN | {S.SUSPENDUE}, S.REJETEE, Role.BUYER),
    _t(
        Action.CERTIFY_SERVICE_DONE,
        E.SERVICE_CERTIFIED,
        {S.PRISE_EN_COMPTE_DESTINATAIRE, S.COMPLETEE},
        S.SERVICE_FAIT,
        Role.BUYER,
    ),
    _t(Action.ORDER_PAYMENT, E.PAYMENT_ORDERED, {S.SERVICE_FAIT}, S.MANDATEE, Role.BUYER),
    _t(
        Action.HAND_TO_ACCOUNTING,
        E.HANDED_TO_ACCOUNTING,
        {S.MANDATEE},
        S.MISE_A_DISPOSITION_COMPTABLE,
        Role.ACCOUNTING,
    ),
    _t(
        Action.RECORD_IN_ACCOUNTS,
        E.RECORDED_IN_ACCOUNTS,
        {S.MISE_A_DISPOSITION_COMPTABLE},
        S.COMPTABILISEE,
        Role.ACCOUNTING,
    ),
    _t(Action.PAY, E.PAYMENT_SENT, _PAYABLE, S.MISE_EN_PAIEMENT, Role.ACCOUNTING),
)

TRANSITION_BY_ACTION: dict[Action, Transition] = {t.action: t for t in TRANSITIONS}
SUBMITTED_EVENT = EventType.SUBMITTED
INITIAL_STATUS = Status.DEPOSEE
TERMINAL_STATUSES = frozenset(s for s in Status if not any(s in t.sources for t in TRANSITIONS))

# Event name -> the status it leads to (the projection and the wire contract use this).
STATUS_AFTER_EVENT: dict[str, Status] = {
    SUBMITTED_EVENT: INITIAL_STATUS,
    **{t.event: t.target for t in TRANSITIONS},
}

# Status reached -> the word a supplier subscribes to, in lifecycle order. Statuses left out
# are the platform's own steps, the supplier's own actions and the public accountant's
# internal ones.
STATUS_WORDS: dict[Status, StatusWord] = {
    Status.MISE_A_DISPOSITION: StatusWord.RECEIVED,
    Status.PRISE_EN_COMPTE_DESTINATAIRE: StatusWord.IN_PROCESSING,
    Status.SUSPENDUE: StatusWord.SUSPENDED,
    Status.A_RECYCLER: StatusWord.TO_REROUTE,
    Status.REJETEE: StatusWord.REJECTED,
    Status.SERVICE_FAIT: StatusWord.SERVICE_CERTIFIED,
    Status.MANDATEE: StatusWord.PAYMENT_ORDERED,
    Status.MISE_EN_PAIEMENT: StatusWord.PAID,
}


def allowed_actions(status: Status) -> list[Action]:
    return [t.action for t in TRANSITIONS if status in t.sources]


def next_status(status: Status, action: Action) -> Status:
    """The status `action` leads to from `status`, or ActionNotAllowed."""
    transition = TRANSITION_BY_ACTION[action]
    if status not in transition.sources:
        raise ActionNotAllowed(status, action)
    return transition.target


def transition_table_markdown() -> str:
    """The table as printed in docs/LIFECYCLE.md (`facturier lifecycle --markdown`)."""
    rows = [
        "| action | event | allowed from | leads to | reform code | supplier sees | by |",
        "|---|---|---|---|---|---|---|",
        f"| submit | {SUBMITTED_EVENT} | (new) | {INITIAL_STATUS} | "
        f"{STATUS_INFO[INITIAL_STATUS].reform_code} | {STATUS_INFO[INITIAL_STATUS].summary} "
        "| supplier |",
    ]
    for t in TRANSITIONS:
        info = STATUS_INFO[t.target]
        sources = ", ".join(sorted(t.sources))
        rows.append(
            f"| {t.action} | {t.event} | {sources} | {t.target} | {info.reform_code} "
            f"{info.reform_label} | {info.summary} | {t.by} |"
        )
    return "\n".join(rows) + "\n"


class LifecycleError(Exception):
    """A command the invoice's lifecycle does not allow."""


class ActionNotAllowed(LifecycleError):
    def __init__(self, status: Status, action: Action) -> None:
        self.status = status
        self.action = action
        allowed = ", ".join(allowed_actions(status)) or "none: the status is final"
        super().__init__(
            f"cannot {action} an invoice in status {status} "
            f"({STATUS_INFO[status].label}); allowed: {allowed}"
        )
