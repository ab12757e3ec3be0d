"""Schemathesis over each service's OpenAPI directly and the gateway's merged one: generated requests
(schema-valid, with an admin token so scopes pass) never get a 5xx, and every documented answer
conforms to its schema. Runs on a platform of its own: the fuzzer moves the business date, rotates
keys and writes junk records, which the shared platform's other suites must not see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

if TYPE_CHECKING:
    from reliability.conftest import OwnPlatform, Platforms

pytestmark = pytest.mark.slow

SERVICES = ("applications", "credit_rating", "risk_pool", "subsidy")
EXAMPLES_DIRECT = 10  # per operation, at the service itself
EXAMPLES_GATEWAY_OWN = 10  # per operation the gateway serves itself
EXAMPLES_GATEWAY_PROXIED = 2  # per proxied operation: the routing and the merged schema, not the service again
# Operations not fuzzed, each with its reason (shown in the test's output, never silent).
SKIPPED: dict[str, str] = {}
# Path parameters held fixed, with the reason: disabling the admin account the fuzzer uses ends the run.
FIXED_PATH = {"POST /v1/admin/accounts/{name}/disable": {"name": "proof-fuzz-nobody"}}


@pytest.fixture(scope="module")
def fuzz_platform(own_platform_factory: Platforms, pg_server: str) -> OwnPlatform:
    # A high rate limit: the fuzzer is one caller sending hundreds of requests a second.
    platform: OwnPlatform = own_platform_factory(pg_server, {"GATEWAY_RATE_LIMIT_PER_SECOND": "100000", "GATEWAY_RATE_LIMIT_BURST": "100000"})
    return platform


def runner(operation: Any, label: str, count: int, base_url: str, headers: dict[str, str]) -> Any:
    """A Hypothesis test of one operation; it raises schemathesis' failure group for what it found."""

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(path_parameters=FIXED_PATH.get(label)))
        if operation.method.lower() == "post":
            case.headers = {**(case.headers or {}), "Idempotency-Key": data.draw(st.uuids()).hex}
        case.call_and_validate(base_url=base_url, headers=headers, checks=[not_a_server_error, response_schema_conformance], timeout=30)

    return run


def fuzz(schema: Any, base_url: str, headers: dict[str, str], examples: dict[str, int], seen: list[str]) -> list[str]:
    """Runs every operation of ``schema``; returns one line per failing operation."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIPPED:
            print(f"skipped {label}: {SKIPPED[label]}")
            continue
        seen.append(label)
        count = examples.get(label, examples["*"])
        problems: list[str] = []
        try:
            runner(operation, label, count, base_url, headers)()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a BaseExceptionGroup; every failing operation is reported
            problems.append(f"{exc!s}"[:1500])
        if problems:
            failures.append(f"{label}:\n  " + "\n  ".join(problems))
    return failures


@pytest.mark.parametrize("package", SERVICES)
def test_a_service_answers_generated_requests_without_5xx_and_as_its_schema_says(fuzz_platform: OwnPlatform, package: str) -> None:
    base = fuzz_platform.url(package)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    seen: list[str] = []
    failures = fuzz(schema, base, fuzz_platform.admin_headers(), {"*": EXAMPLES_DIRECT}, seen)
    assert len(seen) > 5
    assert not failures, f"{len(failures)} of {len(seen)} operations failed:\n" + "\n".join(failures) + "\n" + fuzz_platform.log_errors()


def test_the_gateway_answers_generated_requests_without_5xx_and_as_its_merged_schema_says(fuzz_platform: OwnPlatform) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_platform.gateway}/openapi.json")
    gateway_own = ("/oauth", "/.well-known", "/v1/admin", "/v1/webhooks", "/v1/overview")
    own = {f"{m.upper()} {p}" for p, item in schema.raw_schema["paths"].items() for m in item if p.startswith(gateway_own)}
    examples = {"*": EXAMPLES_GATEWAY_PROXIED, **dict.fromkeys(own, EXAMPLES_GATEWAY_OWN)}
    seen: list[str] = []
    failures = fuzz(schema, fuzz_platform.gateway, fuzz_platform.admin_headers(), examples, seen)
    assert len(seen) > 50
    assert not failures, f"{len(failures)} of {len(seen)} operations failed:\n" + "\n".join(failures) + "\n" + fuzz_platform.log_errors()
