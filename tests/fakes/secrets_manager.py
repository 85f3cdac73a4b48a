"""A fake AWS Secrets Manager speaking its JSON 1.1 protocol: `POST /` with `X-Amz-Target:
secretsmanager.GetSecretValue` and an `application/x-amz-json-1.1` body `{"SecretId": ...}`.

Each request's SigV4 signature is recomputed with botocore for the secret of its access key (as the Bedrock fake
does): an unknown key answers 400 `UnrecognizedClientException`, a wrong signature 400
`InvalidSignatureException`, an unknown secret 400 `ResourceNotFoundException`, as Secrets Manager does.
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "eu-west-1"
JSON = "application/x-amz-json-1.1"


def error(kind: str, message: str) -> web.Response:
    body = orjson.dumps({"__type": kind, "Message": message})
    return web.Response(body=body, status=400, content_type=JSON, headers={"x-amzn-RequestId": "5f1e-EXAMPLE"})


class FakeSecretsManager:
    def __init__(self, secrets: dict[str, str], credentials: dict[str, str], *, region: str = REGION) -> None:
        """`secrets`: name -> SecretString; `credentials`: access key id -> secret access key."""
        self.secrets = secrets
        self.credentials = credentials
        self.region = region
        self.received: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        target = request.headers.get("X-Amz-Target")
        self.received.append({"target": target, "body": body, "headers": dict(request.headers)})
        if (refusal := self._refused(request, body)) is not None:
            return refusal
        if target != "secretsmanager.GetSecretValue" or request.headers.get("Content-Type") != JSON:
            return error("UnknownOperationException", f"unknown operation {target}")
        secret_id = orjson.loads(body).get("SecretId")
        if secret_id not in self.secrets:
            return error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        reply = {
            "ARN": f"arn:aws:secretsmanager:{self.region}:123456789012:secret:{secret_id}-a1b2c3",
            "Name": secret_id,
            "VersionId": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1",
            "SecretString": self.secrets[secret_id],
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": 1.523477145713e9,
        }
        return web.Response(body=orjson.dumps(reply), content_type=JSON)

    def _refused(self, request: web.Request, body: bytes) -> web.Response | None:
        algorithm, _, rest = request.headers.get("Authorization", "").partition(" ")
        fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
        if algorithm != "AWS4-HMAC-SHA256" or not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
            return error("MissingAuthenticationTokenException", "Missing Authentication Token")
        key, _, region, service, _ = fields["Credential"].split("/", 4)
        secret = self.credentials.get(key)
        if secret is None:
            return error("UnrecognizedClientException", "The security token included in the request is invalid.")
        if (region, service) != (self.region, "secretsmanager"):
            return error("InvalidSignatureException", f"Credential should be scoped to {self.region}/secretsmanager.")
        headers = {name: request.headers.get(name, "") for name in fields["SignedHeaders"].split(";")}
        rebuilt = AWSRequest(method="POST", url=f"http://{request.host}{request.raw_path}", data=body, headers=headers)
        rebuilt.context["timestamp"] = request.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(key, secret), "secretsmanager", self.region)
        expected = signer.signature(signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)), rebuilt)
        if not hmac.compare_digest(expected, fields["Signature"]):
            return error("InvalidSignatureException", "The request signature we calculated does not match.")
        return None
