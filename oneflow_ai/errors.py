"""The gateway's error tree, written down in one place.

Every failure a client can see is a `GatewayError`; it knows its HTTP status, its OpenAI error `type`
and `code`, and whether another deployment may be tried after it (`retryable`). One renderer,
`GatewayError.body()`, produces the OpenAI error JSON.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    status: int = 500
    type: str = "api_error"
    code: str | None = "internal_error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class ContentBlocked(InvalidRequest):
    """A guardrail policy blocks what the request (or the answer) carries; the message names the policy and the
    entity types, never the matched text."""

    code = "content_blocked"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class SignOnFailed(AuthenticationFailed):
    """Single sign-on did not complete: the provider's answer failed a check (state, nonce, signature, issuer,
    audience, expiry, PKCE) or the provider could not be reached. The message says which, never a token."""

    code = "sso_failed"


class SignOnRefused(PermissionDenied):
    """The provider signed the user in, but this gateway does not let them in (no claim rule matches, the
    account is disabled or belongs to another tenant)."""

    code = "sso_refused"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class RequestTimeout(GatewayError):
    """The client did not send its request's headers, or its body, in time (answered by the server protocol)."""

    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class HeadersTooLarge(GatewayError):
    """The request line and headers are larger, or the headers more, than the server accepts."""

    status = 431
    type = "invalid_request_error"
    code = "headers_too_large"


class ShuttingDown(GatewayError):
    """The gateway is stopping and its shutdown grace ran out before this call finished: the call was cut."""

    status = 503
    code = "shutting_down"


class IdempotencyConflict(GatewayError):
    """An `Idempotency-Key` reused with a different request."""

    status = 422
    type = "invalid_request_error"
    code = "idempotency_key_reused"


class IdempotencyStoreUnavailable(GatewayError):
    """The idempotency store (Redis) failed: the request is refused rather than risk serving it twice."""

    status = 503
    code = "idempotency_store_unavailable"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class QuotaExceeded(GatewayError):
    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


class UpstreamError(GatewayError):
    """A provider failed. `retryable` says whether the next planned deployment may be tried."""

    status = 502
    type = "api_error"
    code = "upstream_error"
    retryable = True
    deployment_retryable = True
    """Whether the same deployment may be tried again for this request (False: only the others)."""

    def __init__(self, message: str, *, provider: str = "", upstream_status: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.provider = provider
        self.upstream_status = upstream_status
        self.retry_after: float | None = None


class ContextWindowExceeded(UpstreamError):
    """The prompt does not fit the model; a fallback to a larger-context model may serve it."""

    status = 400
    type = "invalid_request_error"
    code = "context_length_exceeded"
    retryable = True
    deployment_retryable = False


class Untranslatable(InvalidRequest):
    """A request valid in the caller's protocol that has no form in another (an Anthropic server tool has no
    OpenAI form): only a deployment speaking the caller's own protocol can serve it."""


class NoFormForDeployment(UpstreamError):
    """This deployment cannot be sent the request (`Untranslatable` into its protocol); the next planned one,
    speaking the caller's own protocol, may serve it."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    retryable = True
    deployment_retryable = False


class UpstreamRejected(UpstreamError):
    """The upstream refused the caller's own request (4xx): returned as is, never retried elsewhere."""

    type = "invalid_request_error"
    code = "upstream_rejected"
    retryable = False


class UpstreamAuthFailed(UpstreamError):
    """The upstream refused the gateway's own credentials (401/403: a revoked or wrong provider key). That is
    the deployment's fault, not the caller's: the next deployment is tried, the failure counts on the breaker,
    and this deployment is not tried again for the request. The upstream's message is never kept, since
    providers quote the (masked) key in it."""

    status = 502
    type = "api_error"
    code = "upstream_auth_failed"
    deployment_retryable = False


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamUnavailable(UpstreamError):
    """No connection could be made (refused, DNS, reset before a response)."""

    status = 503
    type = "api_error"
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "api_error"
    code = "upstream_timeout"


class UpstreamConnectionLost(UpstreamError):
    """The request was written, then the connection broke before any byte of an answer came back. The upstream
    may have read it and be generating (and charging) for it, so it is never sent to that deployment again (not
    on a new connection, not in a later round). Another deployment may serve the call (a killed upstream must fail
    over): the one place a second generation can happen, and only on the fallback the configuration names."""

    status = 502
    type = "api_error"
    code = "upstream_connection_lost"
    deployment_retryable = False


class AttemptElsewhere(GatewayError):
    """The load balancer sent this call again, and another replica had begun it at the provider already
    (`gateway.balancer_claim`): the provider may have served and billed it, so it is not sent a second time."""

    status = 502
    type = "api_error"
    code = "attempt_elsewhere"


class AllDeploymentsFailed(GatewayError):
    """Every planned deployment failed; carries each cause. Status and message are the last cause's."""

    def __init__(self, errors: list[GatewayError]) -> None:
        last = errors[-1]
        super().__init__(last.message, param=last.param, code=last.code, status=last.status, headers=last.headers)
        self.type = last.type
        self.errors = errors


def upstream_error_for_status(status: int, message: str, *, provider: str, deployment: str = "") -> UpstreamError:
    """Map an upstream HTTP error status to our error, keeping the upstream's own message (except for 401/403,
    whose message may quote the gateway's provider key)."""
    cls: type[UpstreamError]
    if status in (401, 403):
        where = f"deployment '{deployment}'" if deployment else f"provider '{provider}'"
        return UpstreamAuthFailed(
            f"The provider rejected the gateway's credentials for {where} (HTTP {status}).",
            provider=provider,
            upstream_status=status,
        )
    if status == 429:
        cls = UpstreamRateLimited
    elif status in (408, 409) or status >= 500:
        cls = UpstreamError
    else:
        cls = UpstreamRejected
    err = cls(message, provider=provider, upstream_status=status)
    if cls is UpstreamRejected:
        err.status = status
    return err
