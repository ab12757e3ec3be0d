"""Token verification as every service does it."""

import httpx
import pytest

from kit.auth import KeySet, Principal, verify_token
from kit.errors import Unauthorized
from kit.testing import AUDIENCE, ISSUER, TokenFactory


async def _verify(token: str, keys: KeySet) -> Principal:
    return await verify_token(token, keys=keys, issuer=ISSUER, audience=AUDIENCE)


async def test_a_good_token_becomes_a_principal(tokens: TokenFactory) -> None:
    p = await _verify(tokens.token("bank-rcc", roles=["bank"], scopes=["loans:write"], bank_id="RCC", kind="client"), tokens.keyset())
    assert (p.subject, p.kind, p.bank_id, p.roles, p.scopes) == ("bank-rcc", "client", "RCC", frozenset({"bank"}), frozenset({"loans:write"}))


@pytest.mark.parametrize(
    "claims", [{"aud": "other"}, {"iss": "someone-else"}, {"exp": 1}, {"nbf": 4102444800}],
    ids=["wrong audience", "wrong issuer", "expired", "not yet valid"],
)
async def test_bad_claims_are_unauthorized(tokens: TokenFactory, claims: dict[str, object]) -> None:
    with pytest.raises(Unauthorized):
        await _verify(tokens.token(**claims), tokens.keyset())  # type: ignore[arg-type]


async def test_unknown_key_triggers_one_refetch_then_accepts_a_rotated_key() -> None:
    old, new = TokenFactory("k1"), TokenFactory("k2")
    served = {"jwks": old.jwks}
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=served["jwks"])

    keys = KeySet("http://gw/.well-known/jwks.json", client=httpx.AsyncClient(transport=httpx.MockTransport(handler)), min_refresh_seconds=0)
    assert (await _verify(old.token("a"), keys)).subject == "a"
    served["jwks"] = {"keys": old.jwks["keys"] + new.jwks["keys"]}
    assert (await _verify(new.token("b"), keys)).subject == "b"
    assert len(calls) == 2
    with pytest.raises(Unauthorized):
        await _verify(TokenFactory("k3").token("c"), keys)


def test_region_scoping_by_division_prefix() -> None:
    county = Principal("officer", region="411224000000")
    assert county.covers_region("411224100201")
    assert not county.covers_region("411225100201")
    assert Principal("monitor").covers_region("110000000000")
