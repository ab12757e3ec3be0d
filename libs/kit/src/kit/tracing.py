"""W3C Trace Context: every request joins the caller's trace (``traceparent``) or starts one, and
every outbound call carries it on with a new parent span. Log lines carry the trace id.

Exporting spans to an OpenTelemetry collector is off by default; it is switched on by setting
``OTEL_EXPORTER_OTLP_ENDPOINT`` (see :func:`enable_export`)."""

from __future__ import annotations

import contextvars
import logging
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("kit.tracing")
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str  # this process's span for the request
    flags: str = "01"

    def child_header(self) -> str:
        """The ``traceparent`` for an outbound call: same trace, a new span of ours as parent."""
        return f"00-{self.trace_id}-{secrets.token_hex(8)}-{self.flags}"


trace_var: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar("trace", default=None)


def from_header(value: str | None) -> TraceContext:
    """Join the caller's trace when its header is valid, else start a new one."""
    match = _TRACEPARENT.match((value or "").strip().lower())
    if match and match.group(1) != "0" * 32 and match.group(2) != "0" * 16:
        return TraceContext(match.group(1), secrets.token_hex(8), match.group(3))
    return TraceContext(secrets.token_hex(16), secrets.token_hex(8))


def outbound_headers() -> dict[str, str]:
    ctx = trace_var.get()
    return {"traceparent": ctx.child_header()} if ctx else {}


def enable_export(app: Any, service: str) -> bool:
    """Instrument ``app`` with OpenTelemetry when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the
    optional packages are installed (``pip install kit[otel]``). Returns whether export is on."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed; spans are not exported")
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    return True
