"""Bank, region and owner walls, through the gateway and at each service directly (a direct call
gives no extra rights). The records are the ``world`` fixture's: a loan of RCC to a household of
village 411224100201, and households in a sibling village and in another township."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from platform_support import Platform
    from security.conftest import Caller, World

VILLAGE_2, OTHER_VILLAGE = "411224100202", "411224101001"  # as in the world fixture (security/conftest.py)

def both(platform: Platform, package: str, path: str, headers: dict[str, str], **params: str) -> dict[str, httpx.Response]:
    """The same GET through the gateway and at the owning service."""
    return {
        "gateway": httpx.get(f"{platform.gateway}{path}", headers=headers, params=params, timeout=15),
        package: httpx.get(f"{platform.url(package)}{path}", headers=headers, params=params, timeout=15),
    }


def statuses(answers: dict[str, httpx.Response]) -> dict[str, int]:
    return {where: resp.status_code for where, resp in answers.items()}


def test_the_lending_bank_reads_its_loan_and_application(platform: Platform, caller: Caller, world: World) -> None:
    for path in (f"/v1/loans/{world.loan_id}", f"/v1/applications/{world.application_id}"):
        assert statuses(both(platform, "applications", path, caller.h("bank-rcc"))) == {"gateway": 200, "applications": 200}, path


def test_another_bank_may_not_read_the_loan_or_its_application(platform: Platform, caller: Caller, world: World) -> None:
    for path in (f"/v1/loans/{world.loan_id}", f"/v1/applications/{world.application_id}"):
        assert statuses(both(platform, "applications", path, caller.h("bank-psbc"))) == {"gateway": 403, "applications": 403}, path


def test_another_bank_does_not_find_the_loan_in_its_lists(platform: Platform, caller: Caller, world: World) -> None:
    for path in ("/v1/loans", "/v1/applications"):
        for where, resp in both(platform, "applications", path, caller.h("bank-psbc"), limit="200").items():
            assert resp.status_code == 200, (where, path, resp.text)
            assert world.loan_id not in resp.text and world.application_id not in resp.text, (where, path)


def test_a_bank_may_not_read_the_registry(platform: Platform, caller: Caller, world: World) -> None:
    answers = both(platform, "applications", f"/v1/households/{world.household}", caller.h("bank-rcc"))
    assert statuses(answers) == {"gateway": 403, "applications": 403}


def test_a_village_officer_reads_its_own_village_but_not_a_sibling_village_or_another_township(platform: Platform, caller: Caller, world: World) -> None:
    officer = caller.h("village-secretary")  # region 411224100201
    assert statuses(both(platform, "applications", f"/v1/households/{world.household}", officer)) == {"gateway": 200, "applications": 200}
    for household in (world.household_2, world.household_other):
        assert statuses(both(platform, "applications", f"/v1/households/{household}", officer)) == {"gateway": 403, "applications": 403}, household


def test_a_village_officer_may_not_list_another_village(platform: Platform, caller: Caller, world: World) -> None:
    for where, resp in both(platform, "applications", "/v1/households", caller.h("village-secretary"), region=VILLAGE_2).items():
        assert resp.status_code == 403 or (resp.status_code == 200 and world.household_2 not in resp.text), (where, resp.status_code, resp.text[:300])


def test_a_township_officer_reads_its_villages_but_not_another_township(platform: Platform, caller: Caller, world: World) -> None:
    officer = caller.h("township-officer")  # region 411224100000
    assert statuses(both(platform, "applications", f"/v1/households/{world.household_2}", officer)) == {"gateway": 200, "applications": 200}
    assert statuses(both(platform, "applications", f"/v1/households/{world.household_other}", officer)) == {"gateway": 403, "applications": 403}
    for where, resp in both(platform, "applications", "/v1/households", officer, region=OTHER_VILLAGE).items():
        assert resp.status_code == 403 or (resp.status_code == 200 and world.household_other not in resp.text), (where, resp.status_code)


def test_an_applicant_reads_its_own_household_and_loan_but_no_other(platform: Platform, caller: Caller, world: World) -> None:
    own = {"Authorization": f"Bearer {platform.token(world.applicant, world.applicant_secret, 'password')}"}
    assert statuses(both(platform, "applications", f"/v1/households/{world.household}", own)) == {"gateway": 200, "applications": 200}
    assert statuses(both(platform, "applications", f"/v1/loans/{world.loan_id}", own)) == {"gateway": 200, "applications": 200}
    for household in (world.household_2, world.household_other):
        assert statuses(both(platform, "applications", f"/v1/households/{household}", own)) == {"gateway": 403, "applications": 403}, household


def test_another_applicant_may_not_read_the_household_its_loan_or_its_rating(platform: Platform, caller: Caller, world: World) -> None:
    other = caller.h("applicant-demo")  # household HH-DEMO-0001
    for package, path in (
        ("applications", f"/v1/households/{world.household}"),
        ("applications", f"/v1/loans/{world.loan_id}"),
        ("applications", f"/v1/applications/{world.application_id}"),
        ("credit_rating", f"/v1/ratings/{world.household}"),
    ):
        assert statuses(both(platform, package, path, other)) == {"gateway": 403, package: 403}, path
    for where, resp in both(platform, "applications", "/v1/loans", other).items():
        assert resp.status_code == 200 and world.loan_id not in resp.text, where


def wait_for(platform: Platform, package: str, path: str, headers: dict[str, str], seconds: float = 30) -> httpx.Response:
    """The consumers apply loan events asynchronously: poll until the owning bank sees the loan."""
    deadline = time.monotonic() + seconds
    while True:
        resp = httpx.get(f"{platform.url(package)}{path}", headers=headers, timeout=15)
        if resp.status_code == 200 or time.monotonic() > deadline:
            return resp
        time.sleep(1)


@pytest.mark.parametrize(("package", "path"), [("risk_pool", "/v1/exposures/loans/{loan}"), ("subsidy", "/v1/subsidy-accounts/{loan}")])
def test_another_bank_may_not_read_the_loan_where_the_event_consumers_keep_it(
    platform: Platform, caller: Caller, world: World, package: str, path: str
) -> None:
    path = path.format(loan=world.loan_id)
    seen = wait_for(platform, package, path, caller.h("bank-rcc"))
    if seen.status_code == 404:
        pytest.skip(f"{package} has not applied the loan's disbursed event within 30 s (is its loan-event consumer running?): {seen.text[:200]}")
    assert seen.status_code == 200, seen.text
    assert statuses(both(platform, package, path, caller.h("bank-psbc"))) == {"gateway": 403, package: 403}
