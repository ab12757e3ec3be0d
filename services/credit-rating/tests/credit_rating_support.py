"""Helpers for the credit-rating tests: actors' tokens and indicator values for the default scorecard."""

import json
from importlib import resources

import httpx

from kit.testing import TokenFactory

VILLAGE = "411224101001"
OTHER_VILLAGE = "411224101002"
TOWNSHIP = "411224101000"
COUNTY = "411224000000"
OTHER_COUNTY_VILLAGE = "411202001001"


def default_card() -> dict:
    return json.loads((resources.files("credit_rating") / "data" / "default_scorecard.json").read_text(encoding="utf-8"))


def full_values(**overrides: object) -> dict:
    """Every required indicator of the default scorecard answered at its best (base 100, no veto)."""
    values: dict[str, object] = {}
    for ind in default_card()["indicators"]:
        if not ind["required"]:
            continue
        if ind["kind"] == "veto":
            values[ind["code"]] = False
        elif ind["value_type"] == "yes_no":
            values[ind["code"]] = True
        elif ind["value_type"] == "choice":
            values[ind["code"]] = max(ind["options"], key=lambda o: o["points"])["value"]
        else:
            values[ind["code"]] = 999999 if ind["code"] != "JC08" else 0
    values.update(overrides)
    return values


def values_scoring(score: int, **overrides: object) -> dict:
    """Values worth exactly ``score`` base points (score ≤ 100): base yes/no indicators answered no."""
    yes_no_base = [i["code"] for i in default_card()["indicators"] if i["kind"] == "base" and i["value_type"] == "yes_no"]
    assert 100 - score <= len(yes_no_base)
    return full_values(**{code: False for code in yes_no_base[: 100 - score]}, **overrides)


class Roles:
    """Token headers for the actors of the platform (scopes as the gateway's ROLE_SCOPES gives them)."""

    def __init__(self, tokens: TokenFactory) -> None:
        self.t = tokens

    def village(self, village: str = VILLAGE) -> dict[str, str]:
        scopes = [*READ, "registry:write", "applications:write", "rating:write"]
        return self.t.headers("vo", roles=["village_officer"], scopes=scopes, region=village)

    def township(self, township: str = TOWNSHIP) -> dict[str, str]:
        scopes = [*READ, "applications:write", "rating:write", "subsidy:write"]
        return self.t.headers("to", roles=["township_officer"], scopes=scopes, region=township)

    def county(self, county: str = COUNTY) -> dict[str, str]:
        scopes = [*READ, "registry:write", "applications:write", "rating:write", "risk:write", "subsidy:write", "policy:write"]
        return self.t.headers("co", roles=["county_officer"], scopes=scopes, region=county)

    def admin(self) -> dict[str, str]:
        return self.t.headers("admin", roles=["admin"], scopes=[*READ, "rating:write", "internal"])

    def bank(self, bank_id: str = "RCC") -> dict[str, str]:
        scopes = ["applications:read", "applications:write", "rating:read", "risk:read", "risk:write", "subsidy:read"]
        return self.t.headers("rcc", kind="client", roles=["bank"], scopes=scopes, bank_id=bank_id)

    def applicant(self, household_id: str, village: str = VILLAGE) -> dict[str, str]:
        scopes = ["applications:read", "applications:write", "rating:read", "subsidy:read"]
        return self.t.headers(household_id, roles=["applicant"], scopes=scopes, household_id=household_id, region=village)

    def monitor(self) -> dict[str, str]:
        return self.t.headers("pboc", roles=["monitor"], scopes=READ)

    def service(self) -> dict[str, str]:
        return self.t.headers("applications", kind="client", roles=["service"], scopes=[*READ, "internal"])


READ = ["registry:read", "applications:read", "rating:read", "risk:read", "subsidy:read"]




async def assess(
    client: httpx.AsyncClient, who: Roles, household_id: str, values: dict | None = None, *, village: str = VILLAGE, **extra: object
) -> httpx.Response:
    body = {"household_id": household_id, "village_code": village, "values": values if values is not None else full_values(), **extra}
    return await client.post("/v1/assessments", json=body, headers=who.village(village))
