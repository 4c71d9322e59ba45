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
                used |= set(re.findall(r"FACTURIER_[A-Z0-9_]+[A-Z0-9]", path.read_text()))
    internal = {"FACTURIER_STACK_LOCKED"}
    assert used - internal - documented == set()


def test_every_domain_citation_points_to_a_section_of_docs_domain() -> None:
    sections = set(re.findall(r"^## (\d+)\. ", (ROOT / "docs" / "DOMAIN.md").read_text(), re.M))
    cited: dict[str, set[str]] = {}
    for folder in ("domain", "intake", "events", "config", "adapters", "services", "projections"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            # Every citation names the file by its path in the repository.
            assert not re.search(r"(?<!docs/)DOMAIN\.md", text), path
            for number in re.findall(r"docs/DOMAIN\.md §(\d+)", text):
                cited.setdefault(number, set()).add(path.name)
    assert cited, "the code cites docs/DOMAIN.md"
    assert set(cited) <= sections, {n: cited[n] for n in set(cited) - sections}
