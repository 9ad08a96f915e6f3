"""The registry's public signing keys and revoked token ids, as the reporting keeps them (from the
registry's identity events) to verify bearer tokens without reading the registry's tables."""
