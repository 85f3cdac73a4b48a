"""`aws-sm:<name or ARN>#field`: an AWS Secrets Manager secret, `GetSecretValue` signed with botocore's SigV4 (the
`bedrock` extra).

The region is `AWS_REGION` (or `AWS_DEFAULT_REGION`); the endpoint `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or
`AWS_ENDPOINT_URL`) when set, else the region's; credentials `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
`AWS_SESSION_TOKEN` when set, else botocore's own chain (profile, web identity, instance role). With `#field` the
secret is a JSON object and the field is taken; without, the whole secret string.

The call is sent here, not through a botocore client: its response parser logs every response body at DEBUG, and a
secret must never reach a log.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.config.secrets.fields import pick
from oneflow_ai.config.secrets.reference import Reference, SecretError
from oneflow_ai.upstream.origin import proxies_of

JSON = "application/x-amz-json-1.1"
TIMEOUT_S = 10


def fetch(reference: Reference, environ: Mapping[str, str]) -> str:
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise SecretError(f"{reference.text}: set AWS_REGION")
    endpoint = environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or environ.get("AWS_ENDPOINT_URL")
    url = (endpoint or f"https://secretsmanager.{region}.amazonaws.com").rstrip("/") + "/"
    body = orjson.dumps({"SecretId": reference.name})
    headers = _signed(reference, url, body, region, environ)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies_of(environ)))
    try:
        with opener.open(urllib.request.Request(url, body, headers, method="POST"), timeout=TIMEOUT_S) as reply:
            answer: Any = orjson.loads(reply.read())
    except urllib.error.HTTPError as e:
        raise SecretError(f"{reference.text}: Secrets Manager answered {_error_type(e)}") from None
    except (OSError, orjson.JSONDecodeError) as e:
        raise SecretError(f"{reference.text}: cannot read from Secrets Manager at {url}: {type(e).__name__}") from None
    text = answer.get("SecretString") if isinstance(answer, dict) else None
    if not isinstance(text, str):
        raise SecretError(f"{reference.text}: the secret is binary, not a string")
    if reference.field is None:
        return text
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise SecretError(f"{reference.text}: #{reference.field} needs a JSON secret, this one is not") from None
    if not isinstance(document, dict):
        raise SecretError(f"{reference.text}: #{reference.field} needs a JSON object")
    return pick(document, reference)


def _signed(reference: Reference, url: str, body: bytes, region: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The request's headers, SigV4-signed for secretsmanager in `region`."""
    try:
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]  # no stubs
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]
        from botocore.session import Session  # type: ignore[import-untyped]
    except ImportError:
        raise SecretError(f"{reference.text}: aws-sm: needs botocore: pip install 'oneflow-ai[bedrock]'") from None
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        credentials = Credentials(key, secret, environ.get("AWS_SESSION_TOKEN") or None)
    else:
        credentials = Session().get_credentials()
        if credentials is None:
            raise SecretError(f"{reference.text}: no AWS credentials (AWS_ACCESS_KEY_ID, a profile or a role)")
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": JSON, "X-Amz-Target": "secretsmanager.GetSecretValue"},
    )
    SigV4Auth(credentials, "secretsmanager", region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def _error_type(error: urllib.error.HTTPError) -> str:
    """Secrets Manager's `__type` (its last part: `...#ResourceNotFoundException`), or the status."""
    try:
        kind = orjson.loads(error.read()).get("__type")
    except (orjson.JSONDecodeError, AttributeError, OSError):
        kind = None
    return str(kind).rpartition("#")[2] if kind else f"HTTP {error.code}"
