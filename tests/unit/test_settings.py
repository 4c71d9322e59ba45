"""Configuration in sections: every variable read once, by `Settings.from_env`, into the
section of the component that uses it; what a section does not hold is read by the local
stack's scripts or the CLI, and says so."""

from __future__ import annotations

from dataclasses import fields

import pytest

from facturier.config.settings import (
    _SECTIONS,
    SETTINGS,
    SettingError,
    Settings,
    SmtpSettings,
)

# Read outside the services' sections: by deploy/local/*.sh, by setup.sh, or by the CLI itself.
OUTSIDE_SECTIONS = {"FACTURIER_API_TOKEN", "FACTURIER_DATA_DIR", "FACTURIER_LOG_LEVEL"}


def _section_variables() -> list[str]:
    return [f.metadata["env"] for section in _SECTIONS.values() for f in fields(section)]


def test_every_variable_belongs_to_one_section_or_says_where_it_is_read() -> None:
    in_sections = _section_variables()
    assert len(in_sections) == len(set(in_sections)), "a variable read by two sections"
    declared = {s.env for s in SETTINGS}
    assert set(in_sections) <= declared
    rest = declared - set(in_sections) - OUTSIDE_SECTIONS
    local_stack = {s.env for s in SETTINGS if s.help.startswith(("local stack:", "setup.sh:"))}
    assert rest == local_stack


def test_the_sections_are_the_fields_of_settings() -> None:
    assert [f.name for f in fields(Settings)] == list(_SECTIONS)


def test_defaults_overrides_and_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    for f in fields(SmtpSettings):
        monkeypatch.delenv(f.metadata["env"], raising=False)
    monkeypatch.setenv("FACTURIER_SMTP_PORT", "587")
    settings = Settings.from_env(smtp_from="billing@example.org", topic="t1")
    assert settings.smtp == SmtpSettings(
        host="localhost",
        port=587,
        tls="none",
        user="",
        password="",
        sender="billing@example.org",
        ca_file="",
        timeout_s=30,
        retry_s=30,
    )
    assert settings.kafka.topic == "t1" and settings.postgres.port == 5432
    copy = settings.replaced(pg_db="other", api_port=8123)
    assert (copy.postgres.db, copy.api.port, copy.kafka.topic) == ("other", 8123, "t1")
    assert settings.postgres.db != "other"  # the original is left as it was
    assert (
        Settings.from_env(
            **{k.removeprefix("FACTURIER_").lower(): v for k, v in copy.to_env().items()}
        )
        == copy
    )


def test_a_bad_value_or_an_unknown_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTURIER_RELAY_BATCH", "many")
    with pytest.raises(SettingError, match="FACTURIER_RELAY_BATCH='many': a whole number"):
        Settings.from_env()
    with pytest.raises(TypeError, match="no such setting: smtp_hots"):
        Settings.from_env(smtp_hots="x")
