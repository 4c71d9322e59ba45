"""The Prometheus scrape config and the Grafana dashboard in deploy/ follow the code: the
ports of config/settings.py and the metrics of adapters/metrics.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from facturier.adapters import metrics
from facturier.config.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD_JSON = ROOT / "deploy" / "grafana" / "facturier-dashboard.json"
ALERTS_YML = ROOT / "deploy" / "prometheus" / "alerts.yml"

# The API and every service run on its own (each a *_METRICS_PORT setting).
PORT_SETTINGS = (
    "FACTURIER_API_PORT",
    *(s.env for s in SETTINGS if s.env.endswith("_METRICS_PORT")),
)


def _scrape_jobs() -> dict[str, list[str]]:
    """job_name -> targets, read line by line (no YAML parser among the dependencies)."""
    jobs: dict[str, list[str]] = {}
    job = None
    for line in PROMETHEUS_YML.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        if match := re.match(r'\s*- job_name:\s*"?([\w.-]+)"?\s*$', line):
            job = match.group(1)
            jobs[job] = []
        elif match := re.match(r"\s*- targets:\s*\[(.*)\]\s*$", line):
            assert job is not None, line
            jobs[job] += [t.strip().strip("\"'") for t in match.group(1).split(",")]
    return jobs


def _declared_metrics() -> dict[str, set[str]]:
    """Metric family name -> the sample names prometheus_client exposes for it."""
    declared: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            suffixes: tuple[str, ...] = ("_total",)
        elif isinstance(value, Gauge):
            suffixes = ("",)
        elif isinstance(value, Histogram):
            suffixes = ("_bucket", "_sum", "_count")
        else:
            continue
        (family,) = value.describe()
        declared[family.name] = {family.name + suffix for suffix in suffixes}
    return declared


def _panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in items:
        found.append(panel)
        found += _panels(panel.get("panels", []))
    return found


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD_JSON.read_text())
    return dashboard


def _exprs() -> list[str]:
    return [
        target["expr"]
        for panel in _panels(_dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def test_prometheus_config_scrapes_the_api_and_every_metrics_port() -> None:
    text = PROMETHEUS_YML.read_text()
    assert "\t" not in text  # YAML forbids tabs in indentation
    assert "scrape_configs:" in text
    jobs = _scrape_jobs()
    targets = {target for job_targets in jobs.values() for target in job_targets}
    defaults = {s.env: s.default for s in SETTINGS}
    for setting in PORT_SETTINGS:
        assert f"127.0.0.1:{defaults[setting]}" in targets, setting
    assert jobs["facturier-api"] == [f"127.0.0.1:{defaults['FACTURIER_API_PORT']}"]
    assert len(jobs) == len(PORT_SETTINGS)
    assert len(targets) == sum(len(job_targets) for job_targets in jobs.values())


def test_dashboard_is_a_grafana_dashboard_on_a_templated_prometheus() -> None:
    dashboard = _dashboard()
    assert dashboard["title"] and dashboard["uid"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert (variable["name"], variable["query"]) == ("DS_PROMETHEUS", "prometheus")
    panels = _panels(dashboard["panels"])
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_dashboard_queries_only_metrics_the_services_declare() -> None:
    exposed = set().union(*_declared_metrics().values())
    referenced = {name for expr in _exprs() for name in re.findall(r"\bfacturier_\w+", expr)}
    assert referenced
    assert referenced - exposed == set()


def test_every_declared_metric_has_a_panel() -> None:
    referenced = {name for expr in _exprs() for name in re.findall(r"\bfacturier_\w+", expr)}
    declared = _declared_metrics()
    assert {"facturier_events_appended", "facturier_payment_delay_days"} <= declared.keys()
    assert {family for family, samples in declared.items() if not samples & referenced} == set()


def test_alert_rules_cover_dead_letters_and_failing_stages_with_declared_metrics() -> None:
    text = ALERTS_YML.read_text()
    assert "\t" not in text
    assert "alerts.yml" in PROMETHEUS_YML.read_text()
    exprs = re.findall(r"^\s*expr:\s*(.+)$", text, re.MULTILINE)
    alerts = re.findall(r"^\s*- alert:\s*(\w+)$", text, re.MULTILINE)
    assert len(exprs) == len(alerts) >= 4
    referenced = {name for expr in exprs for name in re.findall(r"\bfacturier_\w+", expr)}
    assert referenced - set().union(*_declared_metrics().values()) == set()
    for needed in (
        "facturier_dead_letters_total",
        "facturier_relay_dead_letters_total",
        "facturier_service_up",
    ):
        assert needed in referenced, needed
    for expr in exprs:
        assert expr.count("(") == expr.count(")"), expr
