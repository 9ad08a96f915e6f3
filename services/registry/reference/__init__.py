"""Read-only reference data endpoints (SDG framework, UN M49, stakeholder groups)."""
