"""One error hierarchy, rendered as RFC 9457 ``application/problem+json``.

Services raise named subclasses of :class:`ServiceError`; one handler renders them. Expected
business failures are 4xx; only bugs are 500.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("kit.errors")


class ServiceError(Exception):
    """A failure the client can understand and act on."""

    status: int = 400
    title: str = "Bad request"
    code: str = "bad-request"

    def __init__(self, detail: str, *, status: int | None = None, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        if status is not None:
            self.status = status
        self.extra = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidInput(ServiceError):
    status, title, code = 422, "Invalid input", "invalid-input"


class Unauthorized(ServiceError):
    status, title, code = 401, "Unauthorized", "unauthorized"


class Forbidden(ServiceError):
    status, title, code = 403, "Forbidden", "forbidden"


class NotFound(ServiceError):
    status, title, code = 404, "Not found", "not-found"


class Conflict(ServiceError):
    status, title, code = 409, "Conflict", "conflict"


class PayloadTooLarge(ServiceError):
    status, title, code = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(ServiceError):
    status, title, code = 415, "Unsupported media type", "unsupported-media-type"


class TooManyRequests(ServiceError):
    status, title, code = 429, "Too many requests", "too-many-requests"


class DependencyUnavailable(ServiceError):
    status, title, code = 503, "Dependency unavailable", "dependency-unavailable"


def problem_response(error: ServiceError, instance: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    hdrs = {**error.headers, **(headers or {})}
    if isinstance(error, Unauthorized):
        hdrs.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(error.problem(instance), status_code=error.status, media_type=PROBLEM_JSON, headers=hdrs)


def problem_responses(*errors: type[ServiceError]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for a route, so the OpenAPI document lists its named errors."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        entry = out.setdefault(err.status, {"description": "", "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}})
        entry["description"] = "; ".join(filter(None, [entry["description"], f"{err.title} (/problems/{err.code})"]))
    return out


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(e, kind) for e in _chain(exc))


def _database_unavailable(exc: DBAPIError) -> bool:
    """The server is shutting down, starting up or gone (SQLSTATE classes 08 and 57P), or the
    connection broke under the driver: a 503, not a bug."""
    for err in _chain(exc):
        state = str(getattr(err, "sqlstate", "") or "")
        if state.startswith(("08", "57P")):
            return True
        if isinstance(err, OSError | asyncpg.exceptions.PostgresConnectionError | asyncpg.exceptions.InterfaceError):
            return True
    return False


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_name(tuple(e.get("loc", ()))), "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
        return problem_response(InvalidInput(detail or "invalid request", errors=errors), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = ServiceError(str(exc.detail), status=exc.status_code)
        err.title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        err.code = err.title.lower().replace(" ", "-")
        return problem_response(err, request.url.path, headers=dict(exc.headers or {}))

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if isinstance(exc, DataError) or _caused_by(exc, asyncpg.exceptions.DataError):
            # A value the database cannot store (out of range, malformed): the client's input, not a bug.
            log.warning("data error on %s %s: %s", request.method, request.url.path, str(exc.orig).splitlines()[0] if exc.orig else exc)
            return problem_response(InvalidInput("a value is out of range or malformed for storage"), request.url.path)
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError) or _database_unavailable(exc):
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc.__class__.__name__)
            return problem_response(DependencyUnavailable("database unavailable; retry later"), request.url.path)
        return await _bug(request, exc)

    @app.exception_handler(OSError)
    async def _connection_error(request: Request, exc: OSError) -> JSONResponse:
        log.warning("connection failure on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(DependencyUnavailable("database unavailable; retry later"), request.url.path)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        err = ServiceError("internal error; the request id in the logs identifies it", status=500)
        err.title, err.code = "Internal server error", "internal-error"
        return problem_response(err, request.url.path)
