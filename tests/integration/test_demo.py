"""The quick start's demo runs against a real stack: people sign up through the portal with
their mails caught by the local mail catcher, then all three submission modes, the
lifecycle, the timelines read back from the tracking view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from facturier.config.settings import Settings
from facturier.services.cli.demo import run_demo
from facturier.services.cli.mailbox import Keeper, kept
from tests.support.stack import free_port, running_api


def test_the_demo_runs_end_to_end(
    make_settings: Callable[[], Settings],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    monkeypatch.setenv("FACTURIER_MAILBOX_PORT", str(port))
    monkeypatch.setenv("FACTURIER_DATA_DIR", str(tmp_path))
    catcher = Controller(Keeper(tmp_path / "mail"), hostname="127.0.0.1", port=port)
    catcher.start()
    settings = make_settings().replaced(smtp_host="127.0.0.1", smtp_port=port)
    try:
        with running_api(settings, tmp_path / "serve.log"):
            assert run_demo(settings, start_services=False) == 0
    finally:
        catcher.stop()
    out = capsys.readouterr().out
    assert out.count("activated by its mailed link, app enrolled, terms of use accepted") == 3
    assert "billing mandate signed" in out and "principal manager" in out
    assert "operator 44306184100047 mandated for EDI flows and PDF deposits" in out
    assert "FLOW-MANDATE" in out  # Nettoyage Martin mandated no one: its entry is refused
    subjects = [str(m["Subject"]) for m in kept("papeterie-durand", tmp_path / "mail")]
    assert "Activate your facturier account" in subjects
    assert "Factur-X PDF" in out and "plain PDF" in out
    assert "IN_INTEGRE_PARTIEL" in out and "DEST_INC" in out
    assert "MISE_EN_PAIEMENT" in out and "REJETEE" in out
