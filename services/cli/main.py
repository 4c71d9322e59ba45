"""`facturier` command line: the local stack, the services, the demo, administration."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from facturier.config.settings import current, env, settings_table_markdown
from facturier.domain.lifecycle import transition_table_markdown
from facturier.services.cli import admin
from facturier.services.cli import args as cli_args
from facturier.services.cli.args import Commands
from facturier.services.cli.errors import CliError, run

if TYPE_CHECKING:
    from facturier.services.cli.flows import FlowClient

CHECKOUT = Path(__file__).resolve().parents[2]


def _stack(command: str) -> int:
    if command == "down":
        _stop_background_serve()
    script = CHECKOUT / "deploy" / "local" / "stack.sh"
    if not script.exists():
        print(
            "facturier up/down/status drive deploy/local/stack.sh of a source checkout; "
            f"none found at {script}",
            file=sys.stderr,
        )
        return 2
    return subprocess.call(["bash", str(script), command])


def _status(args: argparse.Namespace) -> int:
    """The local stack's components, then the services' health as `/health` reports it."""
    import json

    from facturier.adapters.postgres import connect
    from facturier.services.health import report

    script = CHECKOUT / "deploy" / "local" / "stack.sh"
    stack = subprocess.call(["bash", str(script), "status"]) if script.exists() else 0
    settings = current()
    with connect(settings.postgres) as conn:
        found = report(conn, settings.api.health_stuck_s)
    if args.json:
        print(json.dumps(found, default=str, indent=2))
    else:
        for name, service in sorted(found["services"].items()):
            lag = "?" if service["lag"] is None else service["lag"]
            restarts = sum(i["restarts"] for i in service["instances"])
            line = f"{name:22} {service['status']:8} lag {lag}, {len(service['instances'])}"
            line += f" instance(s), {restarts} restart(s)"
            errors = [i["last_error"] for i in service["instances"] if i["last_error"]]
            if service["status"] != "ok" and errors:
                line += f"; last error: {errors[0][:200]}"
            print(line)
        if not found["services"]:
            print("services: none has reported (is `facturier serve` running?)")
        dead = found["dead_letters"]
        print(
            "dead letters: "
            + (", ".join(f"{group} {count}" for group, count in sorted(dead.items())) or "none")
        )
    return 0 if stack == 0 and found["status"] == "ok" else 1


def _stop_background_serve() -> None:
    """Stop the `facturier serve` and `facturier mailbox` that `facturier demo` started."""
    for name in ("serve", "mailbox"):
        pid_file = Path(env("FACTURIER_DATA_DIR")) / "run" / f"{name}.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
                print(f"stopped facturier {name}")
            pid_file.unlink()


def _serve(args: argparse.Namespace) -> int:
    from facturier.adapters.postgres import connect
    from facturier.services import bootstrap
    from facturier.services.runtime import serve

    settings = current()
    # Said once, on one line, rather than by every service's thread and uvicorn's startup.
    connect(settings.postgres).close()
    # Notifications need an SMTP server: never part of the default set.
    wanted = {flag for flag in bootstrap.DEFAULT if getattr(args, flag)}
    everything = not (args.api or wanted or args.notifications)
    services = [
        make(settings) for flag, make in bootstrap.DEFAULT.items() if everything or flag in wanted
    ]
    if args.notifications:
        services += [make(settings) for make in bootstrap.NOTIFICATIONS]
    serve(settings, services, api=everything or args.api)
    return 0


def _accounting_fec(args: argparse.Namespace) -> int:
    from facturier.adapters.postgres import apply_schema, connect
    from facturier.projections.accounting.fec import fec_filename, fetch_fec_lines, format_fec

    settings = current()
    apply_schema(settings.postgres, "accounting")
    with connect(settings.postgres) as conn:
        lines = fetch_fec_lines(conn, args.structure, args.year)
    text = format_fec(lines, args.separator)
    if args.output:
        cli_args.write_text(args.output, text)
    else:
        cli_args.stdout_then_stderr(text)
    debit = sum((line.debit for line in lines), Decimal("0.00"))
    credit = sum((line.credit for line in lines), Decimal("0.00"))
    entries = len({(line.journal_code, line.entry_number) for line in lines})
    print(
        f"{len(lines)} lines, {entries} entries; debit {debit} credit {credit}"
        f" ({args.output or 'stdout'}; the administration expects the name"
        f" {fec_filename(args.structure, args.year)})",
        file=sys.stderr,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from facturier.services.cli.demo import run_demo

    return run_demo(current(), start_services=not args.no_start)


def _flow_client(args: argparse.Namespace) -> FlowClient:
    from facturier.services.cli.flows import FlowClient

    settings = current()
    base = args.api or f"http://{settings.api.host}:{settings.api.port}"
    token = args.token or env("FACTURIER_API_TOKEN")
    if not token:
        raise CliError("no API token: pass --token or set FACTURIER_API_TOKEN", 2)
    return FlowClient(base, token)


def _flow_submit(args: argparse.Namespace) -> int:
    from facturier.services.cli.flows import submit

    return submit(_flow_client(args), args.paths, args.wait, args.timeout)


def _flow_report(args: argparse.Namespace) -> int:
    from facturier.services.cli.flows import print_report

    return print_report(_flow_client(args), args.flow_id, args.json)


def _audit(args: argparse.Namespace) -> int:
    from facturier.adapters.chain import published_links, relayed_heads
    from facturier.adapters.postgres import apply_schema
    from facturier.services.application.audit import verify
    from facturier.services.application.invoicing import InvoicingApp

    settings = current()
    apply_schema(settings.postgres, "relay")  # the relay's heads: none yet on a new database
    app = InvoicingApp(settings.postgres)
    try:
        published = published_links(settings.kafka) if args.topic else None
        report = verify(app, relayed_heads(settings.postgres), published)
    finally:
        app.close()
    print(
        f"{report.events} events of {report.invoices} invoices recomputed from the event "
        f"store; {report.checked_on_topic} messages compared on topic {settings.kafka.topic}"
    )
    for problem in report.problems:
        print(f"TAMPERED: {problem}")
    print("hash chains intact" if report.intact else f"{len(report.problems)} problem(s)")
    return 0 if report.intact else 1


def _load_directory(args: argparse.Namespace) -> int:
    from facturier.services.application.directory import DirectoryApp

    app = DirectoryApp(current().postgres)
    try:
        if args.file.suffix.lower() == ".json":
            report = app.load_json(args.file)
        else:
            report = app.load_csv(args.file, args.services, args.order_references)
    finally:
        app.close()
    print(
        f"{report.registered} registered, {report.changed} changed, {report.unchanged} "
        f"unchanged; {report.events} events recorded"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Every command runs through `errors.run`: whatever fails, one line on standard
    error and a non-zero exit code."""
    logging.basicConfig(
        level=env("FACTURIER_LOG_LEVEL"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in ("kafka", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    def command() -> int:
        args = _parser().parse_args(argv)
        if args.command != "serve":
            # A command's failure is its one line: not the Kafka client's retries before it.
            logging.getLogger("kafka").setLevel(logging.CRITICAL)
        return int(args.func(args))

    return run(command)


def _parser() -> argparse.ArgumentParser:
    parser = cli_args.Parser(prog="facturier", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "install if needed and start PostgreSQL and Kafka locally"),
        ("down", "stop the local PostgreSQL and Kafka"),
    ):
        sub.add_parser(name, help=text).set_defaults(func=lambda a, n=name: _stack(n))
    _status_command(sub)
    _serve_command(sub)
    _demo_command(sub)
    admin.add_commands(sub)
    _directory_commands(sub)
    _flow_commands(sub)
    _audit_commands(sub)
    _accounting_commands(sub)

    from facturier.services.cli.mailbox import add_command as mailbox_command
    from facturier.services.cli.notifications import add_commands as notification_commands

    notification_commands(sub)
    mailbox_command(sub)

    sub.add_parser("lifecycle", help="print the lifecycle transition table").set_defaults(
        func=lambda a: print(transition_table_markdown(), end="") or 0
    )
    sub.add_parser("config", help="print the configuration variables").set_defaults(
        func=lambda a: print(settings_table_markdown(), end="") or 0
    )

    return parser


def _status_command(sub: Commands) -> None:
    status = sub.add_parser(
        "status",
        help="what of the local stack runs, then each service's health, lag and dead letters"
        " (as GET /health); exit 1 if anything is not ok",
    )
    status.add_argument("--json", action="store_true", help="the services' health as JSON")
    status.set_defaults(func=_status)


def _serve_command(sub: Commands) -> None:
    serve = sub.add_parser(
        "serve",
        help="run API, relays, authorisation and tracking projections, accounting journal,"
        " payment delays and flow intake (default: all)",
    )
    serve.add_argument("--api", action="store_true", help="HTTP API")
    serve.add_argument("--relay", action="store_true", help="event store -> Kafka relay")
    serve.add_argument(
        "--access-relay", action="store_true", help="accounts' store -> access topic relay"
    )
    serve.add_argument(
        "--authorisation",
        action="store_true",
        help="authorisation projection (who may do what), which the API and portal read",
    )
    serve.add_argument("--projection", action="store_true", help="tracking projection")
    serve.add_argument("--accounting", action="store_true", help="accounting journal projection")
    serve.add_argument(
        "--payment-delays", action="store_true", help="payment-delay tracking projection"
    )
    serve.add_argument(
        "--flows", action="store_true", help="flow intake: processes uploaded EDI flows / PDFs"
    )
    serve.add_argument(
        "--notifications",
        action="store_true",
        help="e-mail notifications to suppliers (outbox projection and SMTP sender); not in"
        " the default set",
    )
    serve.set_defaults(func=_serve)


def _demo_command(sub: Commands) -> None:
    demo = sub.add_parser("demo", help="submit invoices, drive them through their lifecycle")
    demo.add_argument(
        "--no-start",
        action="store_true",
        help="do not start `facturier serve` when the API is not answering",
    )
    demo.set_defaults(func=_demo)


def _directory_commands(sub: Commands) -> None:
    directory = sub.add_parser("directory", help="the directory of public buyers")
    load = directory.add_subparsers(dest="what", required=True).add_parser(
        "load",
        help="register or update structures from a JSON file or CSV files "
        "(format: services/application/directory.py); only differences are recorded",
    )
    load.add_argument(
        "file", type=cli_args.input_file, help="directory.json, or the structures CSV"
    )
    load.add_argument(
        "--services", type=cli_args.input_file, help="CSV of services (siret,code,name,active)"
    )
    load.add_argument(
        "--order-references",
        type=cli_args.input_file,
        help="CSV of known EJs (siret,order_reference)",
    )
    load.set_defaults(func=_load_directory)


def _flow_commands(sub: Commands) -> None:
    flow = sub.add_parser("flow", help="EDI flows through the API (operators)").add_subparsers(
        dest="what", required=True
    )
    flow_submit = flow.add_parser(
        "submit", help="upload invoice files or zip / tar.gz batches; print each flow id"
    )
    flow_submit.add_argument("paths", nargs="+", metavar="PATH", type=cli_args.input_file)
    flow_submit.add_argument(
        "--wait",
        action="store_true",
        help="wait for each flow's end and print its status (exit 1 unless all integrated)",
    )
    flow_submit.add_argument(
        "--timeout", type=cli_args.positive_seconds, default=600, help="seconds to wait"
    )
    flow_submit.set_defaults(func=_flow_submit)
    flow_report = flow.add_parser("report", help="print a flow's processing report")
    flow_report.add_argument("flow_id", metavar="FLOW_ID", type=cli_args.flow_id)
    flow_report.add_argument("--json", action="store_true", help="the report as JSON")
    flow_report.set_defaults(func=_flow_report)
    for command in (flow_submit, flow_report):
        command.add_argument(
            "--api",
            type=cli_args.api_url,
            help="API base URL (default: FACTURIER_API_HOST/PORT)",
        )
        command.add_argument("--token", help="API token (default: FACTURIER_API_TOKEN)")


def _audit_commands(sub: Commands) -> None:
    audit = sub.add_parser("audit", help="auditors' checks").add_subparsers(
        dest="what", required=True
    )
    check = audit.add_parser(
        "verify",
        help="recompute every invoice's hash chain from the "
        "event store; compare with what the relay published",
    )
    check.add_argument(
        "--topic", action="store_true", help="also compare with every message on the Kafka topic"
    )
    check.set_defaults(func=_audit)


def _accounting_commands(sub: Commands) -> None:
    accounting = sub.add_parser("accounting", help="the buyers' accounting journal").add_subparsers(
        dest="what", required=True
    )
    fec = accounting.add_parser(
        "fec", help="export one structure's journal for one fiscal year as a FEC file"
    )
    fec.add_argument(
        "--structure", required=True, type=cli_args.siret, help="buyer structure SIRET"
    )
    fec.add_argument(
        "--year", required=True, type=cli_args.bounded_int(1900, 2999), help="fiscal year"
    )
    fec.add_argument(
        "--output", type=cli_args.output_file, help="file to write (default: standard output)"
    )
    fec.add_argument(
        "--separator", choices=["|", "tab"], default="|", help="field separator (default: |)"
    )
    fec.set_defaults(func=_accounting_fec)


if __name__ == "__main__":
    sys.exit(main())
