"""Token verification in every process: RS256 only, iss/aud/exp/nbf checked, keys from the
gateway's JWKS (cached, refreshed on an unknown ``kid``), and the caller as a :class:`Principal`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from jose import JWTError, jwt

from kit.errors import Forbidden, Unauthorized
from kit.identifiers import region_contains

ALLOWED_ALGORITHMS = ["RS256"]  # explicit allow-list: never "none", never HS* with a public key


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (officer, applicant) or a client (bank, department, service)."""

    subject: str
    kind: str = "user"
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    region: str | None = None  # 12-digit division code the caller is confined to; None = everywhere
    bank_id: str | None = None
    household_id: str | None = None
    token: str = field(default="", repr=False)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def covers_region(self, code: str) -> bool:
        """True when the caller may act on records of division ``code``."""
        return self.region is None or region_contains(self.region, code)

    def require_region(self, code: str) -> None:
        if not self.covers_region(code):
            raise Forbidden(f"region {code} is outside the caller's region {self.region}")

    def require_role(self, *roles: str) -> None:
        if not self.has_role(*roles):
            raise Forbidden(f"this action needs one of the roles: {', '.join(sorted(roles))}")


class KeySet:
    """The gateway's public keys, fetched from its JWKS endpoint and cached.

    An unknown ``kid`` triggers a refetch (at most one every ``min_refresh_seconds``), so a key
    rotated at the gateway is picked up without restarting the service.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        loader: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        min_refresh_seconds: float = 1.0,
    ) -> None:
        self.url = url
        self._client = client
        self._loader = loader
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at = 0.0
        self._min_refresh = min_refresh_seconds
        self._lock = asyncio.Lock()
        self._static = False

    @classmethod
    def static(cls, jwks: dict[str, Any]) -> KeySet:
        ks = cls("static://")
        ks._keys = {k["kid"]: k for k in jwks.get("keys", [])}
        ks._static = True
        return ks

    async def _fetch(self) -> None:
        if self._loader is not None:
            self._keys = {k["kid"]: k for k in (await self._loader()).get("keys", [])}
            self._fetched_at = time.monotonic()
            return
        client = self._client or httpx.AsyncClient(timeout=5.0)
        try:
            resp = await client.get(self.url)
            resp.raise_for_status()
            self._keys = {k["kid"]: k for k in resp.json().get("keys", []) if "kid" in k}
            self._fetched_at = time.monotonic()
        finally:
            if self._client is None:
                await client.aclose()

    async def get(self, kid: str) -> dict[str, Any] | None:
        if kid in self._keys or self._static:
            return self._keys.get(kid)
        async with self._lock:
            if kid not in self._keys:
                # At most one fetch per interval: a burst of unknown kids (a rotation, or forgeries)
                # waits out the rest of the interval instead of hammering the JWKS endpoint.
                wait = self._min_refresh - (time.monotonic() - self._fetched_at)
                if wait > 0:
                    await asyncio.sleep(min(wait, self._min_refresh))
                try:
                    await self._fetch()
                except (httpx.HTTPError, ValueError, OSError):
                    return None
        return self._keys.get(kid)

    def invalidate(self) -> None:
        """Forget the cache so the next unknown or known key is fetched again (after rotation)."""
        self._keys, self._fetched_at = {}, 0.0


def claims_to_principal(claims: dict[str, Any], token: str) -> Principal:
    scopes = claims.get("scope", "")
    return Principal(
        subject=str(claims["sub"]),
        kind=str(claims.get("kind", "user")),
        roles=frozenset(claims.get("roles", [])),
        scopes=frozenset(scopes.split() if isinstance(scopes, str) else scopes),
        region=claims.get("region"),
        bank_id=claims.get("bank_id"),
        household_id=claims.get("household_id"),
        token=token,
    )


async def verify_token(token: str, *, keys: KeySet, issuer: str, audience: str) -> Principal:
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise Unauthorized("malformed token") from exc
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise Unauthorized(f"token algorithm {header.get('alg')!r} is not accepted")
    kid = header.get("kid")
    if not kid:
        raise Unauthorized("token has no key id")
    key = await keys.get(kid)
    if key is None:
        raise Unauthorized("token signed with an unknown key")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=ALLOWED_ALGORITHMS,
            audience=audience,
            issuer=issuer,
            options={"require_exp": True, "require_nbf": True, "require_iat": True, "require_sub": True, "leeway": 30},
        )
    except JWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    return claims_to_principal(claims, token)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    settings = request.app.state.settings
    principal = await verify_token(
        bearer_token(request), keys=request.app.state.keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: str) -> Callable[..., Any]:
    """A dependency that returns the principal when its token carries ``scope``, else 403."""

    async def _dependency(principal: CurrentPrincipal) -> Principal:
        if scope not in principal.scopes:
            raise Forbidden(f"token lacks scope {scope!r}")
        return principal

    _dependency.__name__ = f"require_scope_{scope.replace(':', '_')}"
    _dependency.required_scope = scope  # type: ignore[attr-defined]  # read by the OpenAPI generator
    return _dependency


def scoped(scope: str) -> Any:
    """``Annotated`` alias: ``principal: scoped("rating:write")``."""
    return Annotated[Principal, Depends(require_scope(scope))]
