"""Google's Gemini API, native: `google` (the Gemini API at generativelanguage.googleapis.com, `x-goog-api-key`)
and `vertex_ai` (the same API on Vertex AI, with a project, a location and an OAuth token from `google-auth`).

- `chat`: OpenAI chat-completions bodies to `generateContent` bodies (`to_gemini`) and answers back
  (`from_gemini`), and the small mappings both directions share (finish reasons, usage).
- `stream`: `streamGenerateContent?alt=sse` events as OpenAI chunk frames (`GeminiStream`).
- `embeddings`: OpenAI embeddings to `embedContent` / `batchEmbedContents` and back.
- `errors`: Google's error body (`{"error": {"code", "message", "status"}}`) as our error.
- `provider`: `GoogleProvider`, the URLs and the key header; `vertex`: `VertexProvider`, its settings and its
  token (`vertex_auth`).
"""
