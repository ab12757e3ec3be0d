"""Named gateway errors."""

from kit.errors import Conflict, DependencyUnavailable, InvalidInput, NotFound, ServiceError, TooManyRequests, Unauthorized


class InvalidClient(Unauthorized):
    title, code = "Invalid client or user credentials", "invalid-client"


class UnsupportedGrant(ServiceError):
    status, title, code = 400, "Unsupported grant type", "unsupported-grant-type"


class AccountExists(Conflict):
    title, code = "Account exists", "account-exists"


class AccountNotFound(NotFound):
    title, code = "Account not found", "account-not-found"


class IdempotencyKeyReused(InvalidInput):
    title, code = "Idempotency key reused with a different request", "idempotency-key-reused"


class IdempotencyInFlight(Conflict):
    title, code = "Request with this idempotency key is still in progress", "idempotency-in-flight"


class IdempotencyKeyRequired(ServiceError):
    status, title, code = 428, "Idempotency-Key required", "idempotency-key-required"


class RateLimited(TooManyRequests):
    title, code = "Rate limit exceeded", "rate-limited"


class UpstreamUnavailable(DependencyUnavailable):
    title, code = "Service unavailable", "service-unavailable"
