"""`facturier flow submit / report`: operators script EDI flows through the HTTP API."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from facturier.services.cli.errors import CliError, api_json

FINAL = {"IN_INTEGRE", "IN_INTEGRE_PARTIEL", "IN_REJETE"}


class FlowClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 120.0) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def submit(self, path: Path) -> dict[str, Any]:
        with path.open("rb") as content:
            response = self.http.post("/flows", files={"file": (path.name, content)})
        return api_json(response)

    def report(self, flow_id: str) -> dict[str, Any]:
        return api_json(self.http.get(f"/flows/{flow_id}"))

    def wait(self, flow_id: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            report = self.report(flow_id)
            if report["status"] in FINAL:
                return report
            if time.monotonic() > deadline:
                raise CliError(f"flow {flow_id} still {report['status']} after {timeout_s} s")
            time.sleep(0.5)


def submit(client: FlowClient, paths: list[Path], wait: bool, timeout_s: float) -> int:
    """Print each flow id; with `wait`, each final status. Exit 1 if any invoice of any flow
    was not integrated (so scripts notice), 0 otherwise."""
    flow_ids = []
    for path in paths:
        answer = client.submit(path)
        flow_ids.append(answer["flow_id"])
        again = " (already received)" if answer.get("duplicate_upload") else ""
        print(f"{answer['flow_id']}\t{path}{again}", flush=True)
    if not wait:
        return 0
    complete = True
    for flow_id in flow_ids:
        report = client.wait(flow_id, timeout_s)
        counts = report["counts"]
        print(
            f"{flow_id}\t{report['status']}\t{counts['integrated']} integrated, "
            f"{counts['rejected']} rejected",
            flush=True,
        )
        complete &= report["status"] == "IN_INTEGRE"
    return 0 if complete else 1


def print_report(client: FlowClient, flow_id: str, as_json: bool) -> int:
    report = client.report(flow_id)
    if as_json:
        json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    print(f"flow {report['flow_id']}: {report['status']} ({report['upload']['filename']})")
    for error in report["errors"]:
        print(f"  refused [{error['reason_code']}] {error['rule']}: {error['message']}")
    for invoice in report["invoices"]:
        print(f"  {invoice['outcome']:<10} {invoice['entry']}  {invoice['invoice_id'] or ''}")
        for error in invoice["errors"]:
            print(
                f"      [{error['reason_code']}] {error['rule']} at {error['location']}: "
                f"{error['message']}"
            )
    return 0
