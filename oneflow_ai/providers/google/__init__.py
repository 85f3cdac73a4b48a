"""Google's Gemini API, native: `google` (the Gemini API at generativelanguage.googleapis.com, `x-goog-api-key`)
and `vertex_ai` (the same API on Vertex AI, with a project, a location and an OAuth token from `google-auth`).

- `chat`: OpenAI chat-completions bodies to `generateContent` bodies (`to_gemini`); `reply`: the answers back
  (`from_gemini`) and the mappings the stream shares (finish reasons, usage, tool call ids).
- `stream`: `streamGenerateContent?alt=sse` events as OpenAI chunk frames (`GeminiStream`).
- `embeddings`: OpenAI embeddings to `embedContent` / `batchEmbedContents` (and Vertex's `:predict`) and back.
- `errors`: Google's error body (`{"error": {"code", "message", "status"}}`) as our error.
- `provider`: `GoogleProvider`, the URLs and the key header; `vertex`: `VertexProvider`, its settings and its
  token (`vertex_auth`).
"""
