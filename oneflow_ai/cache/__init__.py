"""The response cache (issue 18): a call answered again from a stored answer, exactly or by meaning.

- `key`: the canonical request key (pure: a body in, a sha256 out) and where an entry lives (`Address`);
- `entry`: what is stored (the chat completion's bytes, the usage and cost of the call that filled it);
- `memory_store`, `redis_store`: the stores (`store.CacheStore`): in process, bounded LRU by bytes, or Redis;
- `directives`: the per-request controls (`Cache-Control`, the `cache` body field);
- `policy`: the configuration resolved per model;
- `assemble`: a completed stream's chunks back into a chat completion;
- `stage`: the `ResponseCache` stage (answer, store, count), composed in `gateway.compose`;
- `semantic_index`: the seam semantic matching plugs into.
"""
