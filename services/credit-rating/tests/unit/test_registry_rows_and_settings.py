"""The coverage roster as read from the registry, and the service's own settings."""

import pytest
from pydantic import ValidationError

from credit_rating.domain import RosterRow, roster_rows
from credit_rating.settings import Settings


def test_every_registry_status_but_removed_counts_as_registered() -> None:
    items = [{"household_id": f"HH-{s}", "village_code": "411224101001", "status": s} for s in ("poor", "exited", "edge", "removed")]
    rows, problems = roster_rows(items)
    assert problems == []
    assert [(r.household_id, r.registered) for r in rows] == [("HH-poor", True), ("HH-exited", True), ("HH-edge", True), ("HH-removed", False)]


def test_registry_rows_that_cannot_be_stored_are_named_not_stored() -> None:
    rows, problems = roster_rows([
        {"household_id": "HH-1", "village_code": "411224101001", "status": "poor"},
        {"household_id": "HH 2", "village_code": "411224101001", "status": "poor"},
        {"household_id": "HH-3", "village_code": "4112241010", "status": "poor"},
        {"household_id": "HH-4", "village_code": "411224101001"},
    ])
    assert rows == [RosterRow("HH-1", "411224101001", True)]
    assert [p.split(":")[0] for p in problems] == ["1", "2", "3"]


def test_a_household_listed_twice_keeps_its_last_row() -> None:
    rows, _ = roster_rows([
        {"household_id": "HH-1", "village_code": "411224101001", "status": "poor"},
        {"household_id": "HH-1", "village_code": "411224101002", "status": "removed"},
    ])
    assert rows == [RosterRow("HH-1", "411224101002", False)]


def test_the_development_service_secret_is_refused_outside_development() -> None:
    assert Settings(environment="development", service_client_secret="svc-credit-rating-secret").service_client_secret
    with pytest.raises(ValidationError, match="CREDIT_RATING_SERVICE_CLIENT_SECRET"):
        Settings(environment="production", database_url="postgresql://db/x", service_client_secret="svc-credit-rating-secret")


def test_the_applications_url_and_registry_pace_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_RATING_APPLICATIONS_URL", "http://applications:8001")
    monkeypatch.setenv("CREDIT_RATING_ROSTER_RESYNC_SECONDS", "120")
    settings = Settings()
    assert (settings.applications_url, settings.roster_resync_seconds, settings.roster_page_size) == ("http://applications:8001", 120.0, 1000)
