"""W3C traceparent: joined when valid, started when missing, carried on to outbound calls."""

import httpx

from kit.http import ServiceClient
from kit.tracing import from_header, trace_var

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_joined_with_a_new_span() -> None:
    ctx = from_header(CALLER)
    assert ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.span_id != "00f067aa0ba902b7" and len(ctx.span_id) == 16


def test_a_missing_or_malformed_traceparent_starts_a_new_trace() -> None:
    for value in (None, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"):
        ctx = from_header(value)
        assert len(ctx.trace_id) == 32 and ctx.trace_id != "0" * 32


async def test_outbound_calls_carry_the_trace_on() -> None:
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(200)

    token = trace_var.set(from_header(CALLER))
    try:
        client = ServiceClient(caller="a", dependency="b", base_url="http://b", transport=httpx.MockTransport(handler))
        await client.request("GET", "/x")
    finally:
        trace_var.reset(token)
    version, trace_id, parent, flags = seen["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert parent != "00f067aa0ba902b7"
