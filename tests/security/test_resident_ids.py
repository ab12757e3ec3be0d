"""Resident ID numbers (身份证号) are masked in every answer and never written to a log: the
``world`` household's head has a real-shaped ID (area 411224, valid check digit); it is read back
through every endpoint that returns households, by every kind of caller allowed to, and the run log
of all five processes is searched for the raw number."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from platform_support import Platform
    from security.conftest import Caller, World


def masked(raw: str) -> str:
    return f"{raw[:6]}********{raw[-4:]}"  # the README's form: 411224********123X


def household_answers(platform: Platform, caller: Caller, world: World) -> dict[str, httpx.Response]:
    applicant = {"Authorization": f"Bearer {platform.token(world.applicant, world.applicant_secret, 'password')}"}
    calls = {
        "one, admin": ("applications", f"/v1/households/{world.household}", caller.h("admin"), {}),
        "one, village officer": ("applications", f"/v1/households/{world.household}", caller.h("village-secretary"), {}),
        "one, its applicant": ("applications", f"/v1/households/{world.household}", applicant, {}),
        "one, monitor": ("applications", f"/v1/households/{world.household}", caller.h("monitor-demo"), {}),
        "list, county officer": ("applications", "/v1/households", caller.h("county-officer"), {"region": "411224000000", "limit": "500"}),
        "list, village officer": ("applications", "/v1/households", caller.h("village-secretary"), {"limit": "500"}),
        "loan, bank": ("applications", f"/v1/loans/{world.loan_id}", caller.h("bank-rcc"), {}),
        "application, bank": ("applications", f"/v1/applications/{world.application_id}", caller.h("bank-rcc"), {}),
        "application, applicant": ("applications", f"/v1/applications/{world.application_id}", applicant, {}),
        "rating, bank": ("credit_rating", f"/v1/ratings/{world.household}", caller.h("bank-rcc"), {}),
        "approval form, bank": ("subsidy", f"/v1/subsidy-approval-forms/{world.loan_id}", caller.h("bank-rcc"), {}),
    }
    answers = {}
    for label, (package, path, headers, params) in calls.items():
        answers[f"{label} via gateway"] = httpx.get(f"{platform.gateway}{path}", headers=headers, params=params, timeout=15)
        answers[f"{label} at {package}"] = httpx.get(f"{platform.url(package)}{path}", headers=headers, params=params, timeout=15)
    return answers


def test_every_answer_that_shows_the_household_masks_the_resident_id(platform: Platform, caller: Caller, world: World) -> None:
    answers = household_answers(platform, caller, world)
    leaked = [label for label, resp in answers.items() if world.raw_resident_id in resp.text]
    assert leaked == []
    for label in ("one, admin via gateway", "one, its applicant at applications", "list, county officer via gateway"):
        assert answers[label].status_code == 200, (label, answers[label].text)
        assert masked(world.raw_resident_id) in answers[label].text, label  # the field is there, masked


def test_a_rejected_household_update_does_not_echo_the_resident_id(platform: Platform, caller: Caller, world: World) -> None:
    row = {
        "head_resident_id": world.raw_resident_id,
        "head_name": "户主",
        "village_code": "411224100201",
        "household_type": "一般贫困户",
        "main_cause": "缺资金",
        "secondary_causes": ["缺资金"],  # the main cause again: invalid
        "members": [{"name": "户主", "relation": "head", "birth_date": "1999-01-01", "labour_capacity": "full"}],  # not the ID's birth date
        "status": "bogus",
    }
    for base in (platform.gateway, platform.url("applications")):
        resp = httpx.put(f"{base}/v1/households/{world.household}", json=row, headers=caller.h("admin"), timeout=15)
        assert resp.status_code == 422, resp.text
        assert world.raw_resident_id not in resp.text


def test_an_import_report_does_not_echo_the_resident_id(platform: Platform, caller: Caller, world: World) -> None:
    line = f"household_id,head_resident_id,head_name,village_code\nHH-PROOF-{world.run}-Z,{world.raw_resident_id},某,411224100201\n"
    resp = httpx.post(
        f"{platform.gateway}/v1/households/import", content=line.encode(), headers=caller.h("admin", **{"content-type": "text/csv"}), timeout=30
    )
    assert resp.status_code in (200, 422), resp.text
    assert world.raw_resident_id not in resp.text


def test_no_log_line_of_any_process_holds_the_raw_resident_id(platform: Platform, caller: Caller, world: World) -> None:
    household_answers(platform, caller, world)  # every read has been logged by now
    log = platform.log.read_text(errors="replace")
    assert world.household in log  # the log is the right one and records these requests
    lines = [line[:500] for line in log.splitlines() if world.raw_resident_id in line]
    assert lines == []
