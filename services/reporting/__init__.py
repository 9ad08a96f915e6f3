"""reporting service."""
