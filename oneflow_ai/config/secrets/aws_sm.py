"""`aws-sm:<name or ARN>#field`: an AWS Secrets Manager secret, read with botocore (the `bedrock` extra).

The region is `AWS_REGION` (or `AWS_DEFAULT_REGION`); the endpoint `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or
`AWS_ENDPOINT_URL`) when set; credentials `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
when set, else botocore's own chain (profile, web identity, instance role). With `#field` the secret is a JSON
object and the field is taken; without, the whole secret string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.config.secrets.fields import pick
from oneflow_ai.config.secrets.reference import Reference, SecretError


def fetch(reference: Reference, environ: Mapping[str, str]) -> str:
    try:
        import botocore.config  # type: ignore[import-untyped]  # no stubs
        import botocore.exceptions  # type: ignore[import-untyped]
        import botocore.session  # type: ignore[import-untyped]
    except ImportError:
        raise SecretError(
            f"{reference.text}: aws-sm: references need botocore: pip install 'oneflow-ai[bedrock]'"
        ) from None
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise SecretError(f"{reference.text}: set AWS_REGION")
    endpoint = environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or environ.get("AWS_ENDPOINT_URL") or None
    try:
        client: Any = botocore.session.get_session().create_client(
            "secretsmanager",
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=environ.get("AWS_SESSION_TOKEN") or None,
            config=botocore.config.Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}),
        )
        reply = client.get_secret_value(SecretId=reference.name)
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "error")
        raise SecretError(f"{reference.text}: Secrets Manager answered {code}") from None
    except botocore.exceptions.BotoCoreError as e:
        raise SecretError(f"{reference.text}: cannot read from Secrets Manager: {type(e).__name__}") from None
    text = reply.get("SecretString")
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
