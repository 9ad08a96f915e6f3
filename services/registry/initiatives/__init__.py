"""Initiatives (partnerships, voluntary commitments): registration and secretariat review."""
