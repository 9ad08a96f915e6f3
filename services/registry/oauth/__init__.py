"""OAuth 2 authorization server, signing keys and access tokens (JWTs) of the registry."""
