"""Bulk import of real registry data (UN Ocean Conference voluntary commitments)."""
