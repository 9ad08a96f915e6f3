"""The registry's public signing keys and revoked token ids, as the notifier keeps them (from the
registry's identity events) to verify bearer tokens without reading the registry's tables."""
