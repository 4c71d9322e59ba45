"""The quick start's demo runs against a real stack: all three submission modes, the
lifecycle, the timelines read back from the tracking view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from facturier.config.settings import Settings
from facturier.services.cli.demo import run_demo
from tests.support.stack import running_api


def test_the_demo_runs_end_to_end(
    make_settings: Callable[[], Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    with running_api(settings, tmp_path / "serve.log"):
        assert run_demo(settings, start_services=False) == 0
    out = capsys.readouterr().out
    assert "Factur-X PDF" in out and "plain PDF" in out
    assert "IN_INTEGRE_PARTIEL" in out and "DEST_INC" in out
    assert "MISE_EN_PAIEMENT" in out and "REJETEE" in out
