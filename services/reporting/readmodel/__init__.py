"""The read model of initiatives, built only from ``registry.initiatives`` events."""
