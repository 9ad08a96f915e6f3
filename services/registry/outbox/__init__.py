"""The registry's transactional outbox (see ``shared.outbox``)."""
