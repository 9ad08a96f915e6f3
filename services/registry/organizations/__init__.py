"""Organisations: lead entities and partners, with their stakeholder group."""
