"""`facturier admin ...`: API tokens — issue, list, revoke; and support's one act on an
organisation: appointing its principal manager when none is left."""

from __future__ import annotations

import argparse
import uuid
from typing import TYPE_CHECKING

from facturier.config.settings import current
from facturier.services.application.principals import ApiRole
from facturier.services.cli import args as cli_args
from facturier.services.cli.args import Commands
from facturier.services.cli.errors import CliError

if TYPE_CHECKING:
    from facturier.domain.organisations import Organisation
    from facturier.services.application.organisations import Organisations


def add_commands(sub: Commands) -> None:
    admin = sub.add_parser("admin", help="administration").add_subparsers(
        dest="what", required=True
    )
    token = admin.add_parser("create-token", help="issue an API token (printed once)")
    token.add_argument("--role", required=True, choices=[r.value for r in ApiRole])
    token.add_argument(
        "--scope",
        help="supplier: its identifier (a SIRET is checked); buyer: its structure's SIRET;"
        " operator: its own organisation's identifier (the suppliers' mandates say for whom"
        " it acts); auditor, admin: '*' (default)",
    )
    token.add_argument("--label", required=True, help="who holds it")
    token.add_argument(
        "--days",
        type=cli_args.bounded_int(1, 3650),
        help="days before it expires (default: FACTURIER_TOKEN_DAYS, 365)",
    )
    token.set_defaults(func=_create_token)
    tokens = admin.add_parser(
        "list-tokens",
        help="list the API tokens: id, role, state, dates, scope, label (never the token)",
    )
    tokens.add_argument(
        "--valid", action="store_true", help="only those neither revoked nor expired"
    )
    tokens.set_defaults(func=_list_tokens)
    revoke = admin.add_parser(
        "revoke-token", help="revoke a token at once (its portal sessions end with it)"
    )
    revoke.add_argument(
        "token",
        metavar="ID_OR_TOKEN",
        type=cli_args.token_ref,
        help="the id list-tokens shows, or the token itself",
    )
    revoke.set_defaults(func=_revoke_token)
    appoint = admin.add_parser(
        "appoint-principal",
        help="appoint the principal manager of an organisation that has none left"
        " (the account must be a member)",
    )
    appoint.add_argument("organisation", help="its SIRET, or its id (a UUID)")
    appoint.add_argument("email", help="the member's login e-mail")
    appoint.set_defaults(func=_appoint_principal)


def _create_token(args: argparse.Namespace) -> int:
    from facturier.adapters.postgres import apply_schema, connect
    from facturier.services.application.authentication import create_token
    from facturier.services.application.principals import normal_scope

    role = ApiRole(args.role)
    if args.scope is None and role not in (ApiRole.AUDITOR, ApiRole.ADMIN):
        raise CliError(
            f"a {role} token needs --scope (supplier id, buyer SIRET, or mandated supplier ids)",
            2,
        )
    scope = "*" if args.scope is None else args.scope
    normal_scope(role, scope)  # refused before any connection
    settings = current()
    days = settings.api.token_days if args.days is None else args.days
    apply_schema(settings.postgres, "auth")
    with connect(settings.postgres) as conn:
        token = create_token(conn, role, scope, args.label, days)
    print(token)
    return 0


def _list_tokens(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from facturier.adapters.postgres import apply_schema, connect
    from facturier.services.application.authentication import list_tokens
    from facturier.services.cli.errors import one_line

    settings = current()
    apply_schema(settings.postgres, "auth")
    with connect(settings.postgres) as conn:
        rows = list_tokens(conn)
    now = datetime.now(UTC)

    def when(moment: datetime | None) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"

    table = [("ID", "ROLE", "STATE", "CREATED", "EXPIRES", "LAST USED", "SCOPE", "LABEL")]
    for row in rows:
        if row.revoked_at is not None:
            state = f"revoked {when(row.revoked_at)}"
        else:
            state = "expired" if row.expires_at <= now else "valid"
        if args.valid and state != "valid":
            continue
        table.append(
            (
                row.id,
                row.role,
                state,
                when(row.created_at),
                when(row.expires_at),
                when(row.last_used_at),
                one_line(row.scope),
                one_line(row.label),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]))
    return 0


def _revoke_token(args: argparse.Namespace) -> int:
    from facturier.adapters.postgres import apply_schema, connect
    from facturier.services.application.authentication import revoke_token

    settings = current()
    apply_schema(settings.postgres, "auth")
    with connect(settings.postgres) as conn:
        token_id, at, now = revoke_token(conn, args.token)
    done = "revoked" if now else "already revoked on"
    print(f"token {token_id} {done} {at:%Y-%m-%d %H:%M:%S %Z}")
    return 0


def _appoint_principal(args: argparse.Namespace) -> int:
    from facturier.adapters.mail import SmtpMailer
    from facturier.domain.model import InvalidCommand
    from facturier.services.application.accounts import AccountsApp
    from facturier.services.application.organisations import Organisations
    from facturier.services.application.principals import Principal

    settings = current()
    app = AccountsApp(settings.postgres)
    try:
        organisations = Organisations(
            app, SmtpMailer(settings.smtp), settings.notifications.portal_url
        )
        found = _organisation(organisations, args.organisation)
        account = app.find(args.email)
        if account is None:
            raise CliError(f"no account {args.email}")
        try:
            support = Principal(ApiRole.ADMIN, "*", "cli")
            organisations.appoint_principal(support, found.id, str(account.id))
        except InvalidCommand as invalid:
            raise CliError(f"{found.name}: {invalid.message}") from None
    finally:
        app.close()
    print(f"{found.name}: {account.name} <{account.login_email}> is its principal manager")
    return 0


def _organisation(organisations: Organisations, key: str) -> Organisation:
    """The organisation a SIRET or an id names, or CliError."""
    from facturier.domain.model import InvalidCommand
    from facturier.services.application.organisations import NoSuchOrganisation

    try:
        return organisations.get(uuid.UUID(key))
    except ValueError:
        pass
    except NoSuchOrganisation:
        raise CliError(f"no organisation {key}") from None
    try:
        found = organisations.find("siret", key)
    except InvalidCommand:
        raise CliError(f"{key} is neither a SIRET nor an organisation id") from None
    if found is None:
        raise CliError(f"no organisation {key}")
    return found
