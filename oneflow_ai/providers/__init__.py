"""Providers: one module per wire protocol, each a small implementation of `base.ChatProvider`."""
