"""API tokens and the acting principal (bearer authentication)."""
