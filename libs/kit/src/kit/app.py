"""The one way every process builds its FastAPI app: error handlers, request context (request id,
body limit, content types, metrics, access log), ``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.auth import KeySet
from kit.db import create_engine, create_sessionmaker, database_url, ping
from kit.errors import (
    PROBLEM_JSON,
    DependencyUnavailable,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
    install_error_handlers,
    problem_response,
)
from kit.logs import configure_logging, request_id_var
from kit.metrics import DURATION, IN_FLIGHT, POOL_IN_USE, REQUESTS, metrics_response
from kit.settings import BaseServiceSettings
from kit.tracing import enable_export, from_header, trace_var

access_log = logging.getLogger("access")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON_TYPES = frozenset({"application/json"})
UNMETERED = frozenset({"/metrics", "/healthz", "/readyz"})

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}

Hook = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class RequestContextMiddleware:
    """Request id in and out, body size and content-type checks before the handler, RED metrics
    and one access-log line per request, labelled by route template."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int,
        content_types: frozenset[str],
        body_limits: dict[str, int],
        content_types_for: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self.max_body = max_body_bytes
        self.content_types = content_types
        self.body_limits = body_limits
        self.content_types_for = content_types_for or {}

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.body_limits.items():
            if path.startswith(prefix):
                return limit
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(rid)
        trace_token = trace_var.set(from_header(headers.get("traceparent")))
        path, method = scope["path"], scope["method"]
        started = time.perf_counter()
        status_holder = {"status": 500}
        IN_FLIGHT.labels(self.service).inc()

        too_large: list[ServiceError] = []

        async def send_wrapper(message: Message) -> None:
            if too_large:
                # The body outgrew the limit while the handler read it; whatever the framework made
                # of the interrupted read, the answer is 413.
                if message["type"] == "http.response.start":
                    await problem_response(too_large[0], path)(scope, receive, send_wrapper_raw)
                return
            await send_wrapper_raw(message)

        async def send_wrapper_raw(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            error = self._precheck(method, path, headers)
            if error is not None:
                await problem_response(error, path)(scope, receive, send_wrapper_raw)
                return
            limit = self._limit_for(path)
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        too_large.append(PayloadTooLarge(f"request body exceeds {limit} bytes"))
                        raise too_large[0]
                return message

            await self.app(scope, limited_receive, send_wrapper)
        finally:
            IN_FLIGHT.labels(self.service).dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if path not in UNMETERED:
                REQUESTS.labels(self.service, method, template, str(status_holder["status"])).inc()
                DURATION.labels(self.service, method, template).observe(elapsed)
                access_log.info(
                    "%s %s %s",
                    method,
                    path,
                    status_holder["status"],
                    extra={"method": method, "route": template, "path": path, "status": status_holder["status"],
                           "duration_ms": round(elapsed * 1000, 2)},
                )
            request_id_var.reset(token)
            trace_var.reset(trace_token)

    def _precheck(self, method: str, path: str, headers: dict[str, str]) -> ServiceError | None:
        length = headers.get("content-length")
        if length is not None:
            try:
                if int(length) > self._limit_for(path):
                    return PayloadTooLarge(f"request body of {length} bytes exceeds {self._limit_for(path)} bytes")
            except ValueError:
                return ServiceError("invalid Content-Length header")
        has_body = (length not in (None, "0")) or "transfer-encoding" in headers
        if method in BODY_METHODS and has_body:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            accepted = next((types for prefix, types in self.content_types_for.items() if path.startswith(prefix)), self.content_types)
            if ctype not in accepted:
                allowed = ", ".join(sorted(accepted))
                return UnsupportedMediaType(f"content type {ctype or '(none)'} is not accepted; use one of: {allowed}")
        return None


def _required_scopes(dependant: Any) -> set[str]:
    if dependant is None:
        return set()
    found = {dependant.call.required_scope} if hasattr(dependant.call, "required_scope") else set()
    for sub in dependant.dependencies:
        found |= _required_scopes(sub)
    return found


def create_service_app(
    *,
    name: str,
    title: str,
    description: str,
    settings: BaseServiceSettings,
    routers: Sequence[APIRouter],
    keys: KeySet | None = None,
    content_types: Iterable[str] = (),
    content_types_for: dict[str, Iterable[str]] | None = None,
    body_limits: dict[str, int] | None = None,
    hooks: Sequence[Hook] = (),
    check_ready: Callable[[FastAPI], Any] | None = None,
) -> FastAPI:
    """Build a process's app. ``hooks`` are async context managers entered for the app's lifetime
    (background workers, clients to close). ``content_types`` adds accepted request body types to
    JSON; ``content_types_for`` narrows them per path prefix (first match); ``body_limits`` sets a
    body limit per path prefix (first match) instead of ``MAX_BODY_BYTES``."""
    configure_logging(name, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for hook in hooks:
                await stack.enter_async_context(hook(app))
            try:
                yield
            finally:
                engine = getattr(app.state, "engine", None)
                if engine is not None:
                    await engine.dispose()

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.service_name = name
    app.state.keys = keys or KeySet(settings.jwks_url)
    app.state.engine = None
    app.state.sessionmaker = None
    if settings.database_url:
        app.state.engine = create_engine(database_url(settings.database_url, settings.database_name), pool_size=settings.db_pool_size)
        app.state.sessionmaker = create_sessionmaker(app.state.engine)
        pool = app.state.engine.sync_engine.pool
        POOL_IN_USE.labels(name).set_function(pool.checkedout)  # read at scrape time, no polling

    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        service=name,
        max_body_bytes=settings.max_body_bytes,
        content_types=JSON_TYPES | frozenset(content_types),
        body_limits=body_limits or {},
        content_types_for={prefix: frozenset(types) for prefix, types in (content_types_for or {}).items()},
    )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive", "service": name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        maker = app.state.sessionmaker
        if maker is not None and not await ping(maker):
            return problem_response(DependencyUnavailable("database unreachable"), "/readyz")
        if check_ready is not None:
            problem = await check_ready(app)
            if problem is not None:
                return problem_response(problem, "/readyz")
        return JSONResponse({"status": "ready", "service": name})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return metrics_response()

    for router in routers:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = doc.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        components.setdefault("securitySchemes", {})["bearerAuth"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for route in (r for router in routers for r in router.routes):  # each operation names the scope its token needs
            scopes = _required_scopes(getattr(route, "dependant", None))
            for method in getattr(route, "methods", ()) if scopes else ():
                op = doc.get("paths", {}).get(getattr(route, "path", ""), {}).get(method.lower())
                if op is not None:
                    op["x-required-scope"] = sorted(scopes)[0] if len(scopes) == 1 else sorted(scopes)
        for item in doc.get("paths", {}).values():
            for op in item.values():
                responses = op.get("responses", {})
                if "422" in responses:  # validation errors are rendered as problems, not FastAPI's default
                    responses["422"] = {"description": "Invalid input", "content": problem_content}
                op.setdefault("security", [{"bearerAuth": []}])
        for unused in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(unused, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    enable_export(app, name)
    return app


__all__ = ["PROBLEM_JSON", "create_service_app"]
