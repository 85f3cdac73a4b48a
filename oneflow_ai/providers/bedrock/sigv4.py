"""AWS Signature Version 4 as an `Auth`: each request is signed just before it is sent, by botocore's own signer
(`botocore.auth.SigV4Auth` over a `botocore.awsrequest.AWSRequest`; the `bedrock` extra).

The signature covers the method, the URL (its path as sent, percent-encoded once more as AWS's canonical request
wants), the headers the request has by then (`host` from the URL; the client adds `content-length` afterwards,
unsigned, as boto3 does), the SHA-256 of the body and the time (`x-amz-date`), so it is made per request: a request
signed once cannot be replayed with another body, or after AWS's 5-minute window. The credentials are resolved
once, at start-up (`BedrockProvider.auth`); the secret is left out of the `repr`.
"""

from __future__ import annotations

from oneflow_ai.upstream.wire import UpstreamRequest

SIGNED = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
"""The headers the signer adds: the signature, its time, and the session token of temporary credentials."""


class SigV4Auth:
    __slots__ = ("_request_type", "_signer", "access_key", "region", "service")

    def __init__(self, access_key: str, secret_key: str, session_token: str | None, *, region: str, service: str):
        from botocore.auth import SigV4Auth as Signer  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]

        self.access_key = access_key
        self.region = region
        self.service = service
        self._signer = Signer(Credentials(access_key, secret_key, session_token), service, region)
        self._request_type = AWSRequest

    def apply(self, request: UpstreamRequest) -> None:
        signed = self._request_type(method=request.method, url=request.url, data=request.body, headers=request.headers)
        self._signer.add_auth(signed)
        for name in SIGNED:
            value = signed.headers.get(name)
            if value is not None:
                request.headers[name.lower()] = value

    def __repr__(self) -> str:
        return f"SigV4Auth({self.access_key!r}, <secret>, region={self.region!r}, service={self.service!r})"
