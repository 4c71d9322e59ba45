"""What the input guard costs a request: its strict JSON read and text check of a body
(`services/http/input_guard.py`), against the plain `json.loads` that FastAPI does anyway (the
baseline), for bodies of 1 to 2,000 invoice lines.

    .venv/bin/python bench/input_guard.py [--repeat 2000]

Needs no running service. Prints a table; every figure is measured in the run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from facturier.services.http.input_guard import strict_json


def body(lines: int) -> bytes:
    """A portal entry of `lines` lines, as `POST /invoices` receives it."""
    return json.dumps(
        {
            "supplier": {"scheme": "SIRET", "id": "73282932000074", "name": "Papeterie Durand"},
            "recipient_siret": "11000201100044",
            "service_code": "SE-01",
            "order_reference": "EJ00004242",
            "number": "F-2026-0001",
            "issue_date": "2026-04-01",
            "lines": [
                {
                    "name": f"Ramettes A4 80 g, lot n° {i}",
                    "quantity": "200",
                    "unit_price": "5.00",
                    "vat_rate": "20",
                }
                for i in range(lines)
            ],
            "payment": {"iban": "FR7630006000011234567890189"},
        }
    ).encode()


def per_call_us(work: Callable[[], Any], repeat: int) -> float:
    """Median of 5 rounds of `repeat` calls, in microseconds per call."""
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            work()
        rounds.append((time.perf_counter() - started) / repeat * 1e6)
    return sorted(rounds)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    table = Table(title="Input guard: cost of reading and checking a JSON body")
    for column in ("lines", "bytes", "json.loads µs", "strict_json µs", "ratio", "added µs"):
        table.add_column(column, justify="right")
    for lines in (1, 10, 100, 2000):
        raw = body(lines)
        repeat = max(20, args.repeat // lines)
        baseline = per_call_us(lambda raw=raw: json.loads(raw), repeat)
        guarded = per_call_us(lambda raw=raw: strict_json(raw), repeat)
        table.add_row(
            str(lines),
            f"{len(raw):,}",
            f"{baseline:,.1f}",
            f"{guarded:,.1f}",
            f"x{guarded / baseline:.2f}",
            f"{guarded - baseline:,.1f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
