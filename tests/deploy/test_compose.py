"""The single-host compose file: it parses, names every process, runs the migration first,
checks readiness on each process's own port, shuts down gracefully and configures only
variables the processes read."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from deploy_support import DEPLOY, PROCESSES, secret_settings, service_url_settings

COMPOSE = DEPLOY / "compose" / "compose.yaml"
APP_SHUTDOWN_SECONDS = 10


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def test_compose_names_every_process_and_the_platform_around_them(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {p.name for p in PROCESSES} | {"postgres", "migrate", "service-accounts", "prometheus", "grafana"}
    assert compose["services"]["postgres"]["image"].startswith("postgres:15")


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_each_process_starts_after_the_migration_and_is_checked_on_its_own_port(compose: dict[str, Any], process: Any) -> None:
    service = compose["services"][process.name]
    assert service["command"] == [process.name]
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert f"http://127.0.0.1:{process.port}/readyz" in " ".join(service["healthcheck"]["test"])
    published = [p.rsplit(":", 1)[1] for p in service["ports"]]
    assert published == [str(process.port)]
    assert service["environment"][f"{process.prefix}PORT"] == str(process.port)
    assert _seconds(service["stop_grace_period"]) > APP_SHUTDOWN_SECONDS
    assert service["read_only"] is True


def test_only_the_gateway_is_published_beyond_localhost(compose: dict[str, Any]) -> None:
    exposed = {
        name for name, svc in compose["services"].items() for port in svc.get("ports", []) if not str(port).startswith("127.0.0.1:")
    }
    assert exposed == {"gateway"}


def test_the_migration_runs_once_against_a_healthy_database(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert (COMPOSE.parent / migrate["build"]["context"] / migrate["build"]["dockerfile"]).is_file()
    images = {compose["services"][n]["image"] for n in ["migrate", *(p.name for p in PROCESSES)]}
    assert len(images) == 1, "one image for every process"


def test_the_gateway_knows_where_every_service_is(compose: dict[str, Any]) -> None:
    env = compose["services"]["gateway"]["environment"]
    for process in PROCESSES[1:]:
        assert env[f"GATEWAY_{process.prefix}URL"] == f"http://{process.name}:{process.port}"


def test_every_configured_variable_is_read_by_some_process(compose: dict[str, Any], known_env_names: set[str]) -> None:
    names = set()
    for name in ["migrate", *(p.name for p in PROCESSES)]:
        names |= set(compose["services"][name]["environment"])
    assert names - known_env_names == set()


def test_secrets_have_no_defaults_and_must_come_from_the_env_file(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    secrets = {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}.union(*(secret_settings(p.package) for p in PROCESSES))
    for secret in sorted(secrets):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses and all(u.startswith(":?") for u in uses), f"{secret} must be required (${{{secret}:?...}})"
    example = (DEPLOY / "compose" / ".env.example").read_text(encoding="utf-8")
    for secret in sorted(secrets):
        assert re.search(rf"^{secret}=", example, flags=re.MULTILINE)
    assert (DEPLOY / "compose" / ".gitignore").read_text(encoding="utf-8").split() == [".env"]


def test_prometheus_reads_the_checked_configuration_and_rules(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert "../prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert (DEPLOY / "prometheus" / "prometheus.yml").is_file()


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_every_setting_that_locates_another_process_points_at_its_service(compose: dict[str, Any], process: Any) -> None:
    env = compose["services"][process.name]["environment"]
    wanted = service_url_settings()[process.name]
    assert {name: env.get(name) for name in wanted} == wanted, "the defaults (127.0.0.1) are wrong inside a container"
    assert env["JWKS_URL"] == "http://gateway:8000/.well-known/jwks.json"


def test_the_service_accounts_step_runs_after_the_gateway_with_the_services_own_credentials(compose: dict[str, Any]) -> None:
    step = compose["services"]["service-accounts"]
    assert step["command"] == ["ensure-service-accounts", "http://gateway:8000"]
    assert step["depends_on"]["gateway"]["condition"] == "service_healthy"
    for process in PROCESSES[1:]:
        own = compose["services"][process.name]["environment"]
        for key in ("SERVICE_CLIENT_ID", "SERVICE_CLIENT_SECRET"):
            assert step["environment"][f"{process.prefix}{key}"] == own[f"{process.prefix}{key}"]
