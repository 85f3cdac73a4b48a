"""Providers: one module per wire protocol, each implementing the capability protocols of `base` it has (chat,
embeddings) and choosing how its deployments' requests are authorised (`auth`); `registry` lists them."""
