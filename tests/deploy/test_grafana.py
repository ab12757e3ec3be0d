"""Grafana: the two dashboards are valid JSON laid out on the 24-column grid, every query parses
as PromQL (promtool) and names only the metrics the processes emit, each dashboard shows what
it promises, and the provisioning points where compose mounts the files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import CONTRACT_SERIES, DEPLOY, GAUGES, HISTOGRAMS, grafana_to_promql, metric_names, run

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
BUSINESS = {
    "applications_by_state", "loans_outstanding_yuan", "loans_non_performing_ratio", "risk_fund_balance_yuan",
    "risk_fund_leverage_used_ratio", "breakers_tripped", "subsidy_paid_yuan", "subsidy_fund_remaining_yuan",
}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every templating query."""
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        if query.startswith("label_values("):
            inner = query.removeprefix("label_values(").removesuffix(")")
            selector = inner.rsplit(",", 1)[0] if "," in inner else inner
            yield f"variable {variable['name']}", selector
        else:
            yield f"variable {variable['name']}", query


def _series_used(dashboard: dict[str, Any]) -> set[str]:
    return set().union(*(metric_names(expr) for _, expr in _queries(dashboard)))


def _families(series: set[str]) -> set[str]:
    out = set()
    for name in series:
        for h in HISTOGRAMS:
            if name in (f"{h}_bucket", f"{h}_sum", f"{h}_count"):
                name = h
        out.add(name)
    return out


@pytest.fixture(scope="module", params=DASHBOARDS, ids=lambda p: p.stem)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _load(request.param)


def test_there_are_the_two_dashboards_the_issue_asks_for() -> None:
    assert {p.stem for p in DASHBOARDS} == {"service-health", "lending-risk"}
    uids = [_load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def test_panels_have_unique_ids_and_fit_the_grid(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in _panels(dashboard):
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps another panel"
                cells.add((x, y))


def test_every_panel_uses_the_provisioned_prometheus_datasource(dashboard: dict[str, Any]) -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text(encoding="utf-8"))
    uids = {d["uid"] for d in provisioned["datasources"]}
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert all(t["datasource"]["uid"] in uids for t in panel["targets"])


def test_every_query_names_only_the_metrics_the_processes_emit(dashboard: dict[str, Any]) -> None:
    unknown = {where: sorted(metric_names(expr) - CONTRACT_SERIES) for where, expr in _queries(dashboard)}
    assert {k: v for k, v in unknown.items() if v} == {}


def test_every_query_is_valid_promql(dashboard: dict[str, Any], promtool: str, tmp_path: Path) -> None:
    rules = [{"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)} for i, (_, expr) in enumerate(_queries(dashboard))]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": dashboard["uid"], "rules": rules}]}), encoding="utf-8")
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promql_check_rejects_a_broken_query(promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "queries.yml"
    bad = grafana_to_promql('sum by (service (rate(http_requests_total{service=~"$service"}[$__rate_interval]))')
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": bad}]}]}), encoding="utf-8")
    assert run([promtool, "check", "rules", str(path)]).returncode != 0


def test_service_health_shows_requests_errors_latency_pool_dependencies_and_lag() -> None:
    used = _families(_series_used(_load(GRAFANA / "dashboards" / "service-health.json")))
    assert {
        "up", "http_requests_total", "http_request_duration_seconds", "http_requests_in_flight", "outbound_request_duration_seconds",
        "circuit_breaker_open", "db_pool_connections_in_use", "db_pool_wait_seconds", "event_consumer_lag_events",
        "event_consumer_last_applied_timestamp_seconds",
    } <= used


def test_lending_and_risk_shows_every_business_figure() -> None:
    used = _families(_series_used(_load(GRAFANA / "dashboards" / "lending-risk.json")))
    assert BUSINESS <= GAUGES
    assert used >= BUSINESS
    variables = {v["name"] for v in _load(GRAFANA / "dashboards" / "lending-risk.json")["templating"]["list"]}
    assert "county" in variables


def test_provisioning_loads_dashboards_from_where_compose_mounts_them() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "fupin.yaml").read_text(encoding="utf-8"))
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text(encoding="utf-8"))
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in compose["services"]["grafana"]["volumes"] if v.startswith(".."))
    assert mounts["../grafana/dashboards"] == path
    assert mounts["../grafana/provisioning"] == "/etc/grafana/provisioning"
    assert (DEPLOY / "compose" / "../grafana/dashboards").resolve() == GRAFANA / "dashboards"
