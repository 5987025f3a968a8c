"""One error hierarchy with stable codes; the API turns these into problem+json."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error trunkdrop raises on purpose. `code` is stable and documented."""

    status = 400
    code = "bad_request"
    title = "Bad request"
    # Keep the transaction's writes although the request fails (audited refusals).
    persist = False

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.field = field
        self.extra = extra or {}


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
    title = "Missing or unknown API key"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Not allowed for this party"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    """The request is understood but the current state forbids it (illegal transition)."""

    status = 409
    code = "conflict"
    title = "Conflict with the current state"


class PayloadTooLarge(DomainError):
    """A request body over the size the endpoint takes (a proof photo over its limit)."""

    status = 413
    code = "payload_too_large"
    title = "Request body too large"


class AccessRefused(Conflict):
    """The platform refused to open a trunk; `code` is the reason."""

    code = "access_refused"
    title = "Access refused"
    persist = True


class ServiceUnavailable(DomainError):
    """A dependency (ledger, car cloud) cannot be read: fail closed."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"


class AccessForbidden(Forbidden):
    """A device failed to prove it holds the grant's key (revoked, unknown, bad signature)."""

    code = "access_forbidden"
    title = "Access refused: device proof failed"
    persist = True
