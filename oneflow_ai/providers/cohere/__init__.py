"""Cohere, native: chat v2 (`POST /v2/chat`) and embed v2 (`POST /v2/embed`), `authorization: Bearer
$COHERE_API_KEY`. `chat` translates requests and answers, `stream` the SSE events, `embeddings` embed v2;
`provider` is `CohereProvider`.

    - provider: cohere
      model: command-a-03-2025
      api_key: env:COHERE_API_KEY    # the default
      # base_url: https://api.cohere.com
"""
