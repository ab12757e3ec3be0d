"""Pure rules of the gateway: which scopes a role carries, what a token says, how a request is
fingerprinted for idempotency, rate-limit buckets, the route table and the merged OpenAPI."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

READ = ("registry:read", "applications:read", "rating:read", "risk:read", "subsidy:read")

# Coarse scopes per role; each service still checks the role, region, bank and owner itself.
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "admin": (*READ, "registry:write", "applications:write", "rating:write", "risk:write", "subsidy:write", "policy:write", "admin", "internal"),
    "applicant": ("applications:read", "applications:write", "rating:read", "subsidy:read"),
    "village_officer": (*READ, "registry:write", "applications:write", "rating:write"),
    "township_officer": (*READ, "applications:write", "rating:write", "subsidy:write"),
    "county_officer": (*READ, "registry:write", "applications:write", "rating:write", "risk:write", "subsidy:write", "policy:write"),
    "finance_bureau": (*READ, "risk:write", "subsidy:write"),
    "bank": ("applications:read", "applications:write", "rating:read", "risk:read", "risk:write", "subsidy:read"),
    "insurer": ("risk:read", "risk:write"),
    "guarantor": ("risk:read", "risk:write"),
    "monitor": READ,
    "service": (*READ, "internal"),
}
ROLES = frozenset(ROLE_SCOPES)
CLIENT_ROLES = frozenset({"bank", "insurer", "guarantor", "finance_bureau", "monitor", "service", "county_officer"})


def scopes_for(roles: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for role in roles:
        for scope in ROLE_SCOPES.get(role, ()):
            seen.setdefault(scope, None)
    return list(seen)


@dataclass(frozen=True)
class Subject:
    name: str
    kind: str
    roles: list[str]
    region: str | None
    bank_id: str | None
    household_id: str | None


def token_claims(subject: Subject, *, issuer: str, audience: str, ttl_seconds: int, now: float | None = None) -> dict[str, Any]:
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject.name,
        "kind": subject.kind,
        "roles": subject.roles,
        "scope": " ".join(scopes_for(subject.roles)),
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    for name in ("region", "bank_id", "household_id"):
        value = getattr(subject, name)
        if value:
            claims[name] = value
    return claims


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """Same key with a different request → 422; this is what "different" means."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass
class TokenBucket:
    """Per-caller rate limit: ``rate`` requests a second with bursts up to ``capacity``."""

    rate: float
    capacity: float
    tokens: float = -1.0
    updated: float = field(default_factory=time.monotonic)

    def take(self, now: float | None = None) -> float:
        """0 when the request may pass, else the seconds to wait before the next one would."""
        now = time.monotonic() if now is None else now
        if self.tokens < 0:
            self.tokens = self.capacity
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


_PARAM = re.compile(r"\{[^/}]+\}")


MONEY_MOVING = "x-money-moving"  # OpenAPI extension a service puts on operations that move money


@dataclass(frozen=True)
class Route:
    service: str
    template: str
    pattern: re.Pattern[str]
    literal_chars: int
    money_moving_methods: frozenset[str] = frozenset()


class RouteTable:
    """Maps a request path to the service whose OpenAPI declares a matching path template; the
    template with the most literal characters wins (``/v1/loans/export`` beats ``/v1/loans/{id}``)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def replace_service(self, service: str, paths: dict[str, Any]) -> None:
        """``paths`` is the service's OpenAPI ``paths`` object."""
        kept = [r for r in self.routes if r.service != service]
        for template, item in paths.items():
            regex = "^" + _PARAM.sub("[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$"
            money = frozenset(m.upper() for m, op in (item or {}).items() if isinstance(op, dict) and op.get(MONEY_MOVING))
            kept.append(Route(service, template, re.compile(regex), len(_PARAM.sub("", template)), money))
        self.routes = sorted(kept, key=lambda r: -r.literal_chars)

    def match(self, path: str) -> Route | None:
        for route in self.routes:
            if route.pattern.match(path):
                return route
        return None


def merge_openapi(base: dict[str, Any], docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One document from the gateway's own and each service's; schema names that clash with a
    different meaning are prefixed with the service name."""
    merged = copy.deepcopy(base)
    schemas = merged.setdefault("components", {}).setdefault("schemas", {})
    merged.setdefault("paths", {})
    for service, doc in sorted(docs.items()):
        text = json.dumps(doc)
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                prefix = "".join(part.capitalize() for part in re.split(r"[-_]", service))
                text = text.replace(f'"#/components/schemas/{name}"', f'"#/components/schemas/{prefix}{name}"')
        doc = json.loads(text)
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                prefix = "".join(part.capitalize() for part in re.split(r"[-_]", service))
                name = f"{prefix}{name}"
            schemas[name] = schema
        for path, item in doc.get("paths", {}).items():
            merged["paths"][path] = item
        for scheme, value in doc.get("components", {}).get("securitySchemes", {}).items():
            merged["components"].setdefault("securitySchemes", {})[scheme] = value
        merged.setdefault("tags", []).append({"name": service, "description": doc.get("info", {}).get("description", "")})
    return merged
