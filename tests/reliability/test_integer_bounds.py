"""Integer parameters at the edge of what the OpenAPI allows (its ``maximum``, or 2**64 where it sets
none) are answered 404 or 422, never 500: the deterministic part of what the fuzzer finds only
sometimes (an id column narrower than the schema says, a query parameter with no bound). Only GETs,
with an admin token, on the shared platform: nothing is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from platform_support import Platform

TOO_BIG = 2**64


def filler(schema: dict[str, Any]) -> str:
    if schema.get("type") == "integer":
        return "1"
    if schema.get("format") == "date":
        return "2026-01-01"
    if "12" in schema.get("pattern", ""):
        return "411224000000"
    return "PROOF-1"


def edge_requests(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(label, path, query) with one integer parameter at its edge and the others plausible."""
    out = []
    for template, item in doc["paths"].items():
        op = item.get("get")
        if not op:
            continue
        params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
        for edge in params:
            schema = edge.get("schema", {})
            types = {schema.get("type"), *(s.get("type") for s in schema.get("anyOf", []))}
            if "integer" not in types:
                continue
            bound = next((s.get("maximum") for s in [schema, *schema.get("anyOf", [])] if s.get("maximum") is not None), None)
            value = str(int(bound) if bound is not None else TOO_BIG)
            path, query = template, {}
            for p in params:
                v = value if p is edge else filler(p.get("schema", {}))
                if p["in"] == "path":
                    path = path.replace("{" + p["name"] + "}", v)
                elif p is edge or p.get("required"):
                    query[p["name"]] = v
            out.append((f"GET {template} {edge['name']}={value}", path, query))
    return out


def test_an_integer_at_the_edge_of_its_schema_is_never_a_500(platform: Platform) -> None:
    headers = {"Authorization": f"Bearer {platform.token('admin', 'admin-dev-only', 'password')}"}
    doc = httpx.get(f"{platform.gateway}/openapi.json", timeout=10).json()
    cases = edge_requests(doc)
    assert len(cases) > 10
    wrong = []
    with httpx.Client(base_url=platform.gateway, headers=headers, timeout=30) as client:
        for label, path, query in cases:
            resp = client.get(path, params=query)
            if resp.status_code >= 500:
                wrong.append(f"{label}: {resp.status_code} {resp.text[:160]}")
    assert not wrong, "\n".join(wrong)
