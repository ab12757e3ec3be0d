"""Prometheus: both scrape configurations and the alert rules pass promtool, the rules' unit
tests pass, every alert the issue asks for exists, is unit-tested, has a runbook section, and
names only the metrics the processes emit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import CONTRACT_SERIES, DEPLOY, PROCESSES, metric_names, run

PROMETHEUS = DEPLOY / "prometheus"
CONFIGS = ("prometheus.yml", "prometheus-k8s.yml")
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
# What the issue asks alerts for, and the alert that answers each.
REQUIRED_ALERTS = {
    "error ratio": "FupinHighErrorRatio",
    "p99 latency": "FupinHighLatencyP99",
    "consumer lag": "FupinEventConsumerLagging",
    "fund below a threshold": "FupinRiskFundLow",
    "subsidy fund below a threshold": "FupinSubsidyFundLow",
    "breaker tripped": "FupinVillageBreakerTripped",
    "a process down": "FupinProcessDown",
    "no instance of a process": "FupinProcessAbsent",
}


def _rules() -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.extend(group["rules"])
    return rules


@pytest.mark.parametrize("config", CONFIGS)
def test_scrape_configuration_passes_promtool(promtool: str, config: str) -> None:
    result = run([promtool, "check", "config", config], cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_promtool(promtool: str) -> None:
    result = run([promtool, "check", "rules", *map(str, RULE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass(promtool: str) -> None:
    result = run([promtool, "test", "rules", "tests/alerts_test.yml"], cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_tests_catch_a_wrong_expectation(promtool: str, tmp_path: Path) -> None:
    tests = yaml.safe_load((PROMETHEUS / "tests" / "alerts_test.yml").read_text(encoding="utf-8"))
    tests["rule_files"] = [str(p) for p in RULE_FILES]
    first = tests["tests"][0]["alert_rule_test"][-1]
    first["exp_alerts"] = []  # the alert does fire here: the unit test must notice
    (tmp_path / "broken_test.yml").write_text(yaml.safe_dump(tests, allow_unicode=True), encoding="utf-8")
    result = run([promtool, "test", "rules", "broken_test.yml"], cwd=tmp_path)
    assert result.returncode != 0


@pytest.mark.parametrize(("need", "alert"), sorted(REQUIRED_ALERTS.items()))
def test_the_issue_s_alerts_exist(need: str, alert: str) -> None:
    assert alert in {r.get("alert") for r in _rules()}, f"no alert for {need}"


def test_every_alert_is_exercised_by_a_promtool_unit_test() -> None:
    tests = yaml.safe_load((PROMETHEUS / "tests" / "alerts_test.yml").read_text(encoding="utf-8"))
    fired = {
        case["alertname"] for t in tests["tests"] for case in t.get("alert_rule_test", []) if case.get("exp_alerts")
    }
    assert {r["alert"] for r in _rules() if "alert" in r} - fired == set()


def test_every_alert_has_a_severity_a_summary_and_a_runbook_section_that_exists(readme_anchors: set[str]) -> None:
    for rule in _rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        path, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert path == "deploy/README.md"
        assert anchor in readme_anchors, f"{rule['alert']}: deploy/README.md has no section #{anchor}"


def test_rules_name_only_the_metrics_the_processes_emit() -> None:
    used = set()
    for rule in _rules():
        used |= metric_names(rule["expr"])
    assert used - CONTRACT_SERIES == set()


@pytest.mark.parametrize("config", CONFIGS)
def test_every_process_is_scraped_on_its_port_under_its_own_job(config: str) -> None:
    doc = yaml.safe_load((PROMETHEUS / config).read_text(encoding="utf-8"))
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    for process in PROCESSES:
        job = jobs[process.name]
        targets = [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        targets += [f"{n}:{dns['port']}" for dns in job.get("dns_sd_configs", []) for n in dns["names"]]
        assert targets and all(t.endswith(f":{process.port}") for t in targets), job
        assert job.get("metrics_path", "/metrics") == "/metrics"
    assert doc["rule_files"] == ["rules/*.yml"]


def test_kubernetes_scrape_names_match_the_headless_services(render: Any) -> None:
    doc = yaml.safe_load((PROMETHEUS / "prometheus-k8s.yml").read_text(encoding="utf-8"))
    headless = {
        f"{d['metadata']['name']}.{d['metadata']['namespace']}.svc.cluster.local"
        for d in render("overlays/production")
        if d["kind"] == "Service" and d["spec"].get("clusterIP") == "None"
    }
    names = {n for j in doc["scrape_configs"] for dns in j.get("dns_sd_configs", []) for n in dns["names"]}
    assert names == headless


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (service, le) (rate(http_request_duration_seconds_bucket{service=~"$service"}[$__rate_interval]))',
         {"http_request_duration_seconds_bucket"}),
        ("time() - max by (consumer) (event_consumer_last_applied_timestamp_seconds) > 900", {"event_consumer_last_applied_timestamp_seconds"}),
        ('absent(up{job="gateway"}) or sum without (instance) (up) == 0', {"up"}),
        ("rate(http_requests_total[5m] offset 1h) / on (service) group_left (route) bogus_metric", {"http_requests_total", "bogus_metric"}),
        ("histogram_quantile(0.99, rate(x_bucket[1m])) > 2.5e3", {"x_bucket"}),
    ],
)
def test_metric_name_extraction_sees_metrics_and_nothing_else(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
