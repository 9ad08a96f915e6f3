"""The audit log of authentication and authorization events (who, when, from where; never a
secret)."""
