"""Amazon Bedrock (Converse / ConverseStream, AWS event-stream, SigV4): `provider` (the provider and its deployment
fields), `converse` (the translation both ways), `stream` (ConverseStream's events as OpenAI chunks), `errors`,
`sigv4` (the signing `Auth`)."""

from oneflow_ai.providers.bedrock.provider import BedrockProvider, BedrockSettings

__all__ = ["BedrockProvider", "BedrockSettings"]
