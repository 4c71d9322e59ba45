"""The docs are printed from the code; these tests keep them from drifting apart."""

from __future__ import annotations

import re
from pathlib import Path

from facturier.config.settings import SETTINGS, settings_table_markdown
from facturier.domain.lifecycle import transition_table_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_lifecycle_doc_is_the_code_table() -> None:
    assert transition_table_markdown() in (ROOT / "docs" / "LIFECYCLE.md").read_text()


def test_readme_configuration_table_is_the_code_table() -> None:
    assert settings_table_markdown() in (ROOT / "README.md").read_text()


def test_every_variable_the_code_reads_is_documented() -> None:
    documented = {s.env for s in SETTINGS}
    used: set[str] = set()
    for folder in (
        "config",
        "adapters",
        "services",
        "projections",
        "events",
        "domain",
        "intake",
        "deploy",
    ):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sh"):
                used |= set(re.findall(r"FACTURIER_[A-Z_]+[A-Z]", path.read_text()))
    internal = {"FACTURIER_STACK_LOCKED"}
    assert used - internal - documented == set()
