"""What the authorisation check costs an invoice read, measured.

Against a real `facturier serve` (API, relays, tracking and authorisation projections) on a
fresh database, with a realistic authorisation projection (`--organisations` organisations,
each mandating one of a hundred operators), one invoice is read again and again, one read
after the other, alternately:

- by the supplier's own token (baseline: the token's row, no projection read);
- by an operator's token, whose suppliers are its mandates in force, read from the
  authorisation projection at each request.

Also timed on its own, in the same run: the check itself (`Authorisation.complete`, one
indexed query on a pooled connection). Prints p50, p90, p99 and max of each (ms) and the
difference of the p99s. Target: the check adds under 1 ms p99 to an invoice read.

    .venv/bin/python bench/authorisation.py                   # 2,000 reads each
    .venv/bin/python bench/authorisation.py --reads 5000 --organisations 5000

Needs the running PostgreSQL and Kafka (`facturier up`); its database and topics are dropped
afterwards.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from kafka.admin import KafkaAdminClient
from pipeline import Child, free_port, percentile, sandbox, wait_until
from psycopg_pool import ConnectionPool
from rich.console import Console
from rich.table import Table
from stdnum import luhn
from stdnum.fr import siret

from facturier.adapters.mail import MemoryMailer
from facturier.adapters.postgres import apply_schema, connect
from facturier.config.settings import Settings
from facturier.domain.accounts import Account
from facturier.projections.authorisation.queries import PostgresAccess
from facturier.services.application.accounts import AccountsApp
from facturier.services.application.authentication import create_token
from facturier.services.application.authorisation import Authorisation
from facturier.services.application.operator_mandates import OperatorMandates
from facturier.services.application.organisations import Organisations
from facturier.services.application.principals import ApiRole, Principal

console = Console()
BENCH = Path(__file__).resolve().parent
OPERATORS = 100


def a_siret(n: int) -> str:
    siren = f"8{n:07d}" + luhn.calc_check_digit(f"8{n:07d}")
    return next(c for c in (f"{siren}{k:05d}" for k in range(1, 100)) if siret.is_valid(c))


def populate(settings: Settings, count: int) -> tuple[str, str]:
    """`count` supplier organisations, each mandating one of the operators; the first
    supplier's SIRET and its operator's."""
    app, now = AccountsApp(settings.postgres), datetime.now(UTC)
    organisations = Organisations(app, MemoryMailer(), "https://portal.example")
    mandates = OperatorMandates(organisations)
    owner = Account.register("bench@authorisation.example", "", "Bench", "fr", "0" * 64, now)
    owner.activate("0" * 64, "unused", now)
    app.save(owner)
    operators = [a_siret(n) for n in range(OPERATORS)]
    for identifier in operators:
        organisations.create(app.find_id(owner.id) or owner, "siret", identifier, "Operator")
    for n in range(count):
        supplier = organisations.create(
            app.find_id(owner.id) or owner, "siret", a_siret(OPERATORS + n), f"Supplier {n}"
        ).organisation
        mandates.grant(owner, supplier.id, "siret", operators[n % OPERATORS], ["portal", "edi"])
    app.close()
    return a_siret(OPERATORS), operators[0]


def timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=2000, help="invoice reads per token")
    parser.add_argument("--organisations", type=int, default=2000, help="mandating suppliers")
    args = parser.parse_args()
    tag = time.strftime("%H%M%S")
    with sandbox(Settings.from_env(), "authorisation", tag) as base:
        settings = base.replaced(
            access_topic=f"access-bench-{tag}",
            flow_topic=f"invoice-flows-bench-{tag}",
            authorisation_group=f"authorisation-bench-{tag}",
            access_relay_metrics_port=free_port(),
            authorisation_metrics_port=free_port(),
        )
        apply_schema(settings.postgres, "auth", "accounts")
        console.print(f"{args.organisations} suppliers mandating {OPERATORS} operators...")
        supplier, operator = populate(settings, args.organisations)
        with connect(settings.postgres) as conn:
            own = create_token(conn, ApiRole.SUPPLIER, supplier, "bench")
            acting = create_token(conn, ApiRole.OPERATOR, operator, "bench")
            admin = create_token(conn, ApiRole.ADMIN, "*", "bench")
            conn.commit()
        flags = ["--api", "--relay", "--projection", "--access-relay", "--authorisation"]
        argv = [sys.executable, "-m", "facturier.services.cli.main", "serve", *flags]
        logs = BENCH / "results" / f"logs-authorisation-{tag}" / "serve.log"
        child = Child("serve", argv, settings, logs)
        base_url = f"http://127.0.0.1:{settings.api.port}"
        pool = ConnectionPool(settings.postgres.dsn, min_size=1, max_size=2, open=True)
        try:
            with httpx.Client(base_url=base_url, timeout=30) as web:
                wait_until(lambda: _answers(web), 60, "the API", [child])
                invoice_id = _one_invoice(web, base_url, own, admin, supplier)
                operator_headers = {"Authorization": f"Bearer {acting}"}
                path = f"/invoices/{invoice_id}"
                wait_until(
                    lambda: web.get(path, headers=operator_headers).status_code == 200,
                    120,
                    "the operator's mandate in the projection",
                    [child],
                )
                own_headers = {"Authorization": f"Bearer {own}"}
                for _ in range(200):  # warm-up
                    web.get(path, headers=own_headers)
                    web.get(path, headers=operator_headers)
                by_supplier, by_operator = [], []
                for _ in range(args.reads):
                    by_supplier.append(timed(lambda: web.get(path, headers=own_headers)))
                    by_operator.append(timed(lambda: web.get(path, headers=operator_headers)))
            check = Authorisation(PostgresAccess(lambda: pool))
            principal = Principal(ApiRole.OPERATOR, operator, "bench")
            for _ in range(200):
                check.complete(principal)
            alone = [timed(lambda: check.complete(principal)) for _ in range(args.reads)]
            held = len(check.complete(principal).suppliers)  # type: ignore[union-attr]
        finally:
            pool.close()
            child.stop()
            _drop_topics(settings)
    return report(args, by_supplier, by_operator, alone, held)


def report(
    args: argparse.Namespace,
    by_supplier: list[float],
    by_operator: list[float],
    alone: list[float],
    held: int,
) -> int:
    table = Table(title=f"GET /invoices/{{id}}, {args.reads} reads each, one after the other")
    for column in ("scenario", "p50 ms", "p90 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right" if column != "scenario" else "left")
    rows = {}
    for name, values in (
        ("supplier's token (baseline)", by_supplier),
        (f"operator's token ({held} mandates, projection read)", by_operator),
        ("the check alone (Authorisation.complete)", alone),
    ):
        ordered = sorted(values)
        rows[name] = [percentile(ordered, q) for q in (50, 90, 99)] + [ordered[-1]]
        table.add_row(name, *(f"{v:.3f}" for v in rows[name]))
    console.print(table)
    base, op, check = (rows[k][2] for k in rows)
    added = op - base
    console.print(
        f"p99: operator {op:.3f} ms vs baseline {base:.3f} ms ({op / base:.2f}x), added"
        f" {added:+.3f} ms; the check alone p99 {check:.3f} ms."
        f" Target < 1 ms added: {'met' if max(added, check) < 1 else 'NOT met'}"
    )
    return 0 if max(added, check) < 1 else 1


def _answers(web: httpx.Client) -> bool:
    try:
        return web.get("/health/live", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _one_invoice(web: httpx.Client, base_url: str, token: str, admin: str, supplier: str) -> str:
    """An invoice of the supplier, to one of the demo directory's buyers."""
    sys.path.insert(0, str(BENCH.parent))
    from tests.support.data import invoice_body
    from tests.support.stack import load_directory

    load_directory(base_url, admin)
    headers = {"Authorization": f"Bearer {token}"}
    created = web.post("/invoices", json=invoice_body("BENCH-1", supplier), headers=headers)
    created.raise_for_status()
    invoice_id = str(created.json()["invoice_id"])
    wait_until(
        lambda: web.get(f"/invoices/{invoice_id}", headers=headers).status_code == 200,
        60,
        "the invoice in the tracking view",
        [],
    )
    return invoice_id


def _drop_topics(settings: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    try:
        mine = [settings.kafka.access_topic, settings.kafka.flow_topic]
        admin.delete_topics([t for t in mine if t in set(admin.list_topics())])
    finally:
        admin.close()


if __name__ == "__main__":
    raise SystemExit(main())
