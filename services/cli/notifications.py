"""`facturier notifications ...`: subscriptions and the e-mail outbox, from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from facturier.adapters.postgres import apply_schema, connect
from facturier.adapters.subscriptions import PostgresSubscriptions
from facturier.config.settings import current
from facturier.domain.languages import EMAIL_DEFAULT_LANGUAGE
from facturier.domain.subscriptions import (
    DEFAULT_STATUSES,
    LANGUAGES,
    WORDS,
    InvalidSubscription,
    Subscription,
)
from facturier.projections.notifications.projection import purge_outbox, retention
from facturier.services.application.principals import ApiRole, Principal
from facturier.services.application.subscriptions import Subscriptions
from facturier.services.cli.args import bounded_int

# Whoever runs the command line operates the platform.
OPERATOR = Principal(ApiRole.ADMIN, "*", "cli")


def _subscriptions() -> Subscriptions:
    return Subscriptions(PostgresSubscriptions(current().postgres))


def _set(args: argparse.Namespace) -> int:
    statuses = [s.strip() for s in args.statuses.split(",") if s.strip()] if args.statuses else None
    try:
        subscription = _subscriptions().subscribe(
            OPERATOR, args.supplier_id, args.email, statuses, args.language
        )
    except InvalidSubscription as invalid:
        print(f"{invalid.field}: {invalid.message}", file=sys.stderr)
        return 2
    _print(subscription)
    return 0


def _show(args: argparse.Namespace) -> int:
    found = _subscriptions().get(OPERATOR, args.supplier_id)
    if found is None:
        print(f"supplier {args.supplier_id}: no subscription")
        return 1
    _print(found)
    return 0


def _remove(args: argparse.Namespace) -> int:
    deleted = _subscriptions().unsubscribe(OPERATOR, args.supplier_id)
    print(f"supplier {args.supplier_id}: " + ("unsubscribed" if deleted else "no subscription"))
    return 0 if deleted else 1


def _outbox(args: argparse.Namespace) -> int:
    settings = current()
    apply_schema(settings.postgres, "notifications")
    with connect(settings.postgres) as conn:
        counts: list[tuple[Any, ...]] = conn.execute(
            "SELECT state, count(*) FROM notification_outbox GROUP BY state ORDER BY state"
        ).fetchall()
        doubtful = conn.execute(
            "SELECT event_id, recipient, invoice_id, status, last_error FROM notification_outbox"
            " WHERE state IN ('unknown', 'undeliverable') ORDER BY done_at DESC LIMIT %s",
            (args.limit,),
        ).fetchall()
    if not counts:
        print("outbox empty")
    for state, count in counts:
        print(f"{state:14} {count}")
    for event_id, recipient, invoice_id, status, last_error in doubtful:
        print(f"  {event_id} {recipient} invoice {invoice_id} {status}: {last_error}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    settings = current()
    days = settings.notifications.retention_days if args.days is None else args.days
    keep = retention(days, settings.notifications.max_age_hours)
    apply_schema(settings.postgres, "notifications")
    with connect(settings.postgres, autocommit=True) as conn:
        purged = purge_outbox(conn, keep)
    print(f"outbox: {purged} rows done more than {keep.days} days ago purged")
    return 0


def _print(s: Subscription) -> None:
    print(f"supplier {s.supplier_id}: {s.email} ({s.language}) on {', '.join(s.statuses)}")


def add_commands(sub: Any) -> None:
    """`sub`: the top-level subparsers of `facturier`."""
    commands = sub.add_parser(
        "notifications", help="e-mail notifications: subscriptions and outbox"
    ).add_subparsers(dest="what", required=True)
    subscribe = commands.add_parser("set", help="subscribe a supplier (or change it)")
    subscribe.add_argument("supplier_id")
    subscribe.add_argument("--email", required=True)
    subscribe.add_argument(
        "--statuses",
        help=f"comma-separated, among {', '.join(WORDS)} (default: {','.join(DEFAULT_STATUSES)})",
    )
    subscribe.add_argument("--language", choices=LANGUAGES, default=EMAIL_DEFAULT_LANGUAGE)
    subscribe.set_defaults(func=_set)
    show = commands.add_parser("show", help="print a supplier's subscription")
    show.add_argument("supplier_id")
    show.set_defaults(func=_show)
    remove = commands.add_parser("remove", help="unsubscribe a supplier")
    remove.add_argument("supplier_id")
    remove.set_defaults(func=_remove)
    outbox = commands.add_parser(
        "outbox", help="count e-mails by state; list those of unknown delivery or refused"
    )
    outbox.add_argument("--limit", type=bounded_int(1, 10_000), default=20)
    outbox.set_defaults(func=_outbox)
    purge = commands.add_parser(
        "purge",
        help="delete e-mails done (sent, unknown, undeliverable) longer ago than the retention;"
        " the running sender does it hourly",
    )
    purge.add_argument(
        "--days",
        type=bounded_int(0, 100_000),
        help="instead of FACTURIER_NOTIFICATIONS_RETENTION_DAYS",
    )
    purge.set_defaults(func=_purge)
