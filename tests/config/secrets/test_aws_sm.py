"""`aws-sm:` through botocore against a fake Secrets Manager speaking its JSON 1.1 protocol, signatures checked."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from oneflow_ai.config.secrets import SecretError, resolve
from tests.fakes.runner import AiohttpServer
from tests.fakes.secrets_manager import REGION, FakeSecretsManager

KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = {"prod/openai": orjson.dumps({"api_key": "sk-from-aws", "org": "org-7"}).decode(), "plain": "sk-whole"}


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[FakeSecretsManager, dict[str, str]]]:
    fake = FakeSecretsManager(SECRETS, {KEY_ID: SECRET})
    server = AiohttpServer(fake.app)
    env = {
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": server.url,
    }
    yield fake, env
    server.stop()


def test_a_json_field_and_a_whole_string(aws: tuple[FakeSecretsManager, dict[str, str]]) -> None:
    fake, env = aws
    assert resolve("aws-sm:prod/openai#api_key", env) == "sk-from-aws"
    sent = fake.received[-1]
    assert sent["target"] == "secretsmanager.GetSecretValue"
    assert orjson.loads(sent["body"]) == {"SecretId": "prod/openai"}
    assert resolve("aws-sm:plain", env) == "sk-whole"


def test_a_wrong_secret_key_is_refused_by_the_signature_check(aws: tuple[FakeSecretsManager, dict[str, str]]) -> None:
    env = {**aws[1], "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    with pytest.raises(SecretError, match=r"^aws-sm:prod/openai#api_key: Secrets Manager answered InvalidSignature"):
        resolve("aws-sm:prod/openai#api_key", env)
    env = {**aws[1], "AWS_ACCESS_KEY_ID": "AKIAUNKNOWN"}
    with pytest.raises(SecretError, match="answered UnrecognizedClientException"):
        resolve("aws-sm:prod/openai#api_key", env)


def test_errors_name_the_reference(aws: tuple[FakeSecretsManager, dict[str, str]]) -> None:
    env = aws[1]
    with pytest.raises(SecretError, match="aws-sm:absent#k: Secrets Manager answered ResourceNotFoundException"):
        resolve("aws-sm:absent#k", env)
    with pytest.raises(SecretError, match="#k needs a JSON secret"):
        resolve("aws-sm:plain#k", env)
    with pytest.raises(SecretError, match="the secret has no field 'nope'"):
        resolve("aws-sm:prod/openai#nope", env)
    with pytest.raises(SecretError, match="set AWS_REGION"):
        resolve("aws-sm:plain", {k: v for k, v in env.items() if k != "AWS_REGION"})


def test_the_general_endpoint_variable_works_too(aws: tuple[FakeSecretsManager, dict[str, str]]) -> None:
    env = {**aws[1], "AWS_ENDPOINT_URL": aws[1]["AWS_ENDPOINT_URL_SECRETS_MANAGER"]}
    del env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
    assert resolve("aws-sm:prod/openai#org", env) == "org-7"
