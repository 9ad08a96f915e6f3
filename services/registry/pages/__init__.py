"""Public, server-rendered pages of the published registry."""
