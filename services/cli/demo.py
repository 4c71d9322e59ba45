"""The demo: a few suppliers submit invoices over the HTTP API, buyers and accounting drive
them through their lifecycle, and every timeline is read back from the tracking view (so
what is printed has gone event store -> relay -> Kafka -> projection -> PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from facturier.adapters.postgres import apply_schema, connect
from facturier.config.settings import Settings, env
from facturier.services.application.authentication import create_token
from facturier.services.application.principals import ApiRole
from facturier.services.cli import demo_documents as _documents
from facturier.services.cli import demo_onboarding as onboarding
from facturier.services.cli import mailbox
from facturier.services.cli.errors import api_json

# Tables stay readable when the output is a file or a narrow CI log.
DIRECTORY = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "directory.json"
console = Console(width=None if sys.stdout.isatty() else 110)

BUYER = "11000201100044"  # a State structure (valid SIRET)
OTHER_BUYER = "21750001600019"  # a local authority
BUYER_NAMES = {BUYER: "DRFiP (demo)", OTHER_BUYER: "Mairie (demo)"}
# A dematerialisation operator: sends EDI flows for the suppliers that mandate it.
OPERATOR = ("44306184100047", "Express Dématérialisation SAS")
SUPPLIERS = {
    "73282932000074": "Papeterie Durand SARL",
    "54205118000066": "Nettoyage Martin SAS",
    "35600000000048": "La Poste",
}


def _background(name: str, command: list[str], env_vars: dict[str, str]) -> subprocess.Popen[bytes]:
    """A process that outlives the demo (`facturier down` stops it), its pid in run/."""
    logs = Path(env("FACTURIER_DATA_DIR")) / "logs"
    run = Path(env("FACTURIER_DATA_DIR")) / "run"
    logs.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "facturier.services.cli.main", *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env_vars},
        )
    (run / f"{name}.pid").write_text(str(process.pid))
    console.print(f"started [bold]facturier {name}[/] (pid {process.pid}, log {logs / name}.log)")
    return process


def _start_services(settings: Settings, base: str) -> None:
    """`facturier serve`, its mails sent to the local mail catcher (`facturier mailbox`)."""
    if not onboarding.mailbox_answers():
        _background("mailbox", ["mailbox"], {})
    smtp = {"FACTURIER_SMTP_HOST": "127.0.0.1", "FACTURIER_SMTP_PORT": str(mailbox.port())}
    process = _background("serve", ["serve"], smtp)
    for _ in range(120):
        if _answers(base):
            return
        if process.poll() is not None:
            raise SystemExit("facturier serve exited; see its log")
        time.sleep(0.5)
    raise SystemExit("the API did not answer within 60 s")


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health/live", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class _Client:
    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return api_json(self.http.post(path, json=body))

    def upload(
        self, path: str, filename: str, content: bytes, form: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return api_json(self.http.post(path, files={"file": (filename, content)}, data=form))

    def get(self, path: str) -> dict[str, Any]:
        return api_json(self.http.get(path))


def _invoice(supplier: str, number: str, net: str, buyer: str = BUYER) -> dict[str, Any]:
    net_amount = Decimal(net)
    vat = (net_amount * Decimal("0.20")).quantize(Decimal("0.01"))
    return {
        "supplier": {"scheme": "SIRET", "id": supplier, "name": SUPPLIERS[supplier]},
        "recipient_siret": buyer,
        "recipient_name": BUYER_NAMES.get(buyer, "Structure publique"),
        "service_code": "SE-FACT-01",
        "order_reference": "EJ" + number[-8:].rjust(8, "0"),
        "number": number,
        "issue_date": date.today().isoformat(),
        "due_date": (date.today() + timedelta(days=30)).isoformat(),
        "lines": [
            {
                "name": "Fournitures",
                "quantity": "1",
                "unit_price": str(net_amount),
                "vat_rate": "20",
            }
        ],
        "payment": {"iban": "FR7630006000011234567890189"},
        "net_amount": str(net_amount),
        "vat_amount": str(vat),
    }


def run_demo(settings: Settings, start_services: bool = True) -> int:
    # Long: the demo is a script read top to bottom, chapter by chapter, as it prints; its
    # chapters share the clients and the invoices they create.
    base = f"http://{settings.api.host}:{settings.api.port}"
    if not _answers(base):
        if not start_services:
            raise SystemExit(f"no API at {base}: run `facturier serve` first")
        _start_services(settings, base)
    ids_of_suppliers = list(SUPPLIERS)
    apply_schema(settings.postgres, "auth")
    with connect(settings.postgres) as conn:
        tokens = {
            s: create_token(conn, ApiRole.SUPPLIER, s, f"demo {n}") for s, n in SUPPLIERS.items()
        }
        buyer_token = create_token(conn, ApiRole.BUYER, BUYER, "demo buyer service")
        other_buyer_token = create_token(conn, ApiRole.BUYER, OTHER_BUYER, "demo town hall")
        auditor_token = create_token(conn, ApiRole.AUDITOR, "*", "demo auditor")
        admin_token = create_token(conn, ApiRole.ADMIN, "*", "demo platform admin")
    admin = _Client(base, admin_token)
    run = time.strftime("%H%M%S")
    console.rule("[bold]0. People sign up on the portal and set up their organisations")
    accounts: list[tuple[str, str]] = []
    if onboarding.mailbox_answers():
        for person in (
            onboarding.Person(
                "Olivier Lemoine",
                f"olivier.{run}@express-dematerialisation.example",
                OPERATOR[0],
                OPERATOR[1],
                public=False,
            ),
            onboarding.Person(
                "Claire Durand",
                f"claire.{run}@papeterie-durand.example",
                ids_of_suppliers[0],
                SUPPLIERS[ids_of_suppliers[0]],
                public=False,
                operator=OPERATOR[0],
            ),
            onboarding.Person(
                "Service facturier DRFiP",
                f"factures.{run}@drfip.example",
                BUYER,
                BUYER_NAMES[BUYER],
                public=True,
            ),
        ):
            accounts.append((person.email, onboarding.onboard(base, person, console)))
        console.print(f"  (their mails: `facturier mailbox --list`, {mailbox.mail_dir()})")
    else:
        console.print(
            f"  no mail catcher on 127.0.0.1:{mailbox.port()} (the running API mails elsewhere):"
            " skipped"
        )
    console.rule("[bold]0b. The platform knows its public buyers (directory)")
    loaded = admin.post("/directory", json.loads(DIRECTORY.read_text("utf-8")))
    console.print(
        f"  {DIRECTORY.name}: {loaded['registered']} registered, {loaded['changed']} "
        f"changed, {loaded['unchanged']} unchanged"
    )
    buyer, other_buyer = _Client(base, buyer_token), _Client(base, other_buyer_token)
    durand, martin, poste = (_Client(base, tokens[s]) for s in SUPPLIERS)
    ids = list(SUPPLIERS)

    console.rule("[bold]1. Suppliers type invoices (portal entry, here over the JSON API)")
    created: dict[str, str] = {}
    for label, client, body in (
        ("paid", durand, _invoice(ids[0], f"D{run}-001", "1250.00")),
        ("suspended, completed, paid", martin, _invoice(ids[1], f"M{run}-001", "480.50")),
        ("rejected", durand, _invoice(ids[0], f"D{run}-002", "99.90")),
        ("re-routed, then paid", poste, _invoice(ids[2], f"P{run}-001", "3100.00")),
        ("in processing", martin, _invoice(ids[1], f"M{run}-002", "75.00")),
    ):
        result = client.post("/invoices", body)
        created[label] = result["invoice_id"]
        console.print(
            f"  {body['number']:<16} {result['invoice_id']}  -> {result['status']}"
            f"  (will be: {label})"
        )

    console.rule("[bold]1b. A supplier deposits PDFs (a Factur-X PDF; a plain PDF + typed data)")
    factur_x = _documents.factur_x_pdf(_invoice(ids[0], f"D{run}-PDF", "640.00"))
    deposited = durand.upload("/deposits", f"D{run}-PDF.pdf", factur_x)
    console.print(
        f"  Factur-X PDF  D{run}-PDF       {deposited['invoice_id']}  -> {deposited['status']}"
    )
    plain = martin.upload(
        "/deposits",
        f"M{run}-SCAN.pdf",
        _documents.blank_pdf(),
        {"invoice": json.dumps(_invoice(ids[1], f"M{run}-SCAN", "212.00"))},
    )
    console.print(f"  plain PDF     M{run}-SCAN      {plain['invoice_id']}  -> {plain['status']}")

    console.rule("[bold]1c. An operator sends an EDI flow (zip) for the suppliers that mandate it")
    with connect(settings.postgres) as conn:
        # Its token names its own organisation; Papeterie Durand's mandate (chapter 0) says
        # for whom it acts. Nettoyage Martin has mandated no one: its entry is refused.
        operator_token = create_token(conn, ApiRole.OPERATOR, OPERATOR[0], "demo operator")
    operator = _Client(base, operator_token)
    batch = _documents.edi_batch(
        {
            f"{ids[0]}/D{run}-EDI1.xml": ("cii", _invoice(ids[0], f"D{run}-EDI1", "310.00")),
            f"{ids[0]}/D{run}-EDI2.pdf": ("pdf", _invoice(ids[0], f"D{run}-EDI2", "1800.00")),
            f"{ids[1]}/M{run}-EDI1.xml": ("ubl", _invoice(ids[1], f"M{run}-EDI1", "95.20")),
            # Addressed to a SIRET the directory does not know: rejected, DEST_INC.
            f"{ids[0]}/D{run}-EDI3.xml": (
                "cii",
                _invoice(ids[0], f"D{run}-EDI3", "42.00", buyer="13002526500013"),
            ),
        }
    )
    flow = operator.upload("/flows", f"batch-{run}.zip", batch)
    console.print(f"  flow {flow['flow_id']} -> {flow['status']} (processed in the background)")
    report = _wait_for_flow(operator, flow["flow_id"])
    table = Table(
        title=f"processing report: [bold]{report['status']}[/] — {report['counts']['integrated']}"
        f" integrated, {report['counts']['rejected']} rejected",
        title_justify="left",
    )
    for column in ("entry", "outcome", "invoice / error"):
        table.add_column(column)
    for entry in report["invoices"]:
        detail = entry["invoice_id"] or "; ".join(
            f"{e['reason_code']} {e['rule']}: {e['message']}" for e in entry["errors"]
        )
        table.add_row(entry["entry"], entry["outcome"], detail)
    console.print(table)
    created.update(
        {
            "deposited as Factur-X PDF": deposited["invoice_id"],
            "deposited as plain PDF": plain["invoice_id"],
        }
    )

    console.rule("[bold]2. The buyer's invoice-processing service and accounting act")
    today = date.today().isoformat()
    for path, payload, client in [
        (f"/invoices/{created['paid']}/take-in-hand", None, buyer),
        (f"/invoices/{created['paid']}/certify-service-done", None, buyer),
        (f"/invoices/{created['paid']}/order-payment", {"payment_order_number": "MP-0001"}, buyer),
        (
            f"/invoices/{created['paid']}/pay",
            {"amount": "1500.00", "payment_date": today, "payment_reference": "VIR-2026-0001"},
            buyer,
        ),
        (f"/invoices/{created['suspended, completed, paid']}/take-in-hand", None, buyer),
        (
            f"/invoices/{created['suspended, completed, paid']}/suspend",
            {"reason_code": "JUSTIF_ABS", "reason": "delivery note missing"},
            buyer,
        ),
        (
            f"/invoices/{created['suspended, completed, paid']}/complete",
            {"comment": "delivery note BL-7781 sent by post and attached"},
            martin,
        ),
        (f"/invoices/{created['suspended, completed, paid']}/certify-service-done", None, buyer),
        (
            f"/invoices/{created['suspended, completed, paid']}/order-payment",
            {"payment_order_number": "MP-0002"},
            buyer,
        ),
        (
            f"/invoices/{created['suspended, completed, paid']}/pay",
            {"amount": "576.60", "payment_date": today, "payment_reference": "VIR-2026-0002"},
            buyer,
        ),
        (
            f"/invoices/{created['rejected']}/reject",
            {"reason_code": "NON_CONFORME", "reason": "no purchase order matches this invoice"},
            buyer,
        ),
        (
            f"/invoices/{created['re-routed, then paid']}/mark-for-rerouting",
            {"reason_code": "DEST_ERR", "reason": "this is the town hall's order"},
            buyer,
        ),
        (
            f"/invoices/{created['re-routed, then paid']}/reroute",
            {
                "recipient_siret": OTHER_BUYER,
                "service_code": "MAIRIE-COMPTA",
                "order_reference": "EJ-MAIRIE-42",
            },
            poste,
        ),
        (f"/invoices/{created['in processing']}/take-in-hand", None, buyer),
    ]:
        result = client.post(path, payload)
        console.print(f"  {path.rsplit('/', 1)[1]:<22} -> {result['status']}")
    # The re-routed invoice is now the town hall's to process.
    rerouted = created["re-routed, then paid"]
    for action, payload in (
        ("take-in-hand", None),
        ("certify-service-done", None),
        ("order-payment", {"payment_order_number": "MAIRIE-77"}),
        ("pay", {"amount": "3720.00", "payment_date": today, "payment_reference": "VIR-MAIRIE-77"}),
    ):
        result = other_buyer.post(f"/invoices/{rerouted}/{action}", payload)
        console.print(f"  {action:<22} -> {result['status']}  (town hall)")

    console.rule("[bold]3. Timelines, read back from the tracking view (via Kafka)")
    auditor = _Client(base, auditor_token)
    for invoice_id in created.values():
        view = _wait_for_projection(auditor, invoice_id)
        table = Table(
            title=f"{view['number']} — {view['supplier_name']} — now "
            f"[bold]{view['summary']}[/] ({view['status']}, reform "
            f"{view['reform_code']})",
            title_justify="left",
        )
        for column in ("v", "when (UTC)", "status", "code", "by", "reason"):
            table.add_column(column)
        for step in view["timeline"]:
            table.add_row(
                str(step["version"]),
                step["occurred_at"][11:23],
                step["status"],
                str(step["reform_code"]),
                step["actor"],
                " ".join(filter(None, [step["reason_code"], step["reason"]])),
            )
        console.print(table)

    console.rule("[bold]Where to look next")
    first = created["paid"]
    kafka = settings.kafka
    supplier_auth = f"-H 'Authorization: Bearer {tokens[ids[0]]}'"
    auditor_auth = f"-H 'Authorization: Bearer {auditor_token}'"
    operator_auth = f"-H 'Authorization: Bearer {operator_token}'"
    flow_id = flow["flow_id"]
    console.print(f"""\
  API docs (OpenAPI):   {base}/docs   ({base}/openapi.json)
  portal (browser):     {base}/portal   supplier token {tokens[ids[0]]}
                                          buyer service token {buyer_token}
  tracking view:        curl {supplier_auth} {base}/invoices/{first}
  supplier's list:      curl {supplier_auth} {base}/invoices
  raw event history:    curl {auditor_auth} {base}/invoices/{first}/events
  flow report (page):   curl {operator_auth} {base}/flows/{flow_id}/report
  flow report (JSON):   FACTURIER_API_TOKEN={operator_token} facturier flow report {flow_id} --json
  buyer's journal:      facturier accounting fec --structure {BUYER} --year {date.today().year}
  audit the history:    facturier audit verify --topic
  metrics:              curl {base}/metrics | grep facturier_
  the Kafka topic:      kcat -b {kafka.bootstrap} -C -t {kafka.topic} -e -f '%k %h\\n'
  stop everything:      facturier down""")
    for email, code in accounts:
        console.print(
            f"  sign in as a person:  {base}/portal/login  {email} / {onboarding.PASSWORD!r},"
            f" then the recovery code {code}"
        )
    return 0


def _wait_for_flow(client: _Client, flow_id: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        report = client.get(f"/flows/{flow_id}")
        if report["final"]:
            return report
        if time.monotonic() > deadline:
            raise SystemExit(f"flow {flow_id} still {report['status']} after {timeout_s} s")
        time.sleep(0.3)


def _wait_for_projection(client: _Client, invoice_id: str, timeout_s: float = 30) -> dict[str, Any]:
    expected = len(client.get(f"/invoices/{invoice_id}/events")["events"])
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.http.get(f"/invoices/{invoice_id}")
        if response.status_code == 200 and response.json()["version"] >= expected:
            view: dict[str, Any] = response.json()
            return view
        if time.monotonic() > deadline:
            raise SystemExit(f"tracking view did not reach version {expected} of {invoice_id}")
        time.sleep(0.1)
