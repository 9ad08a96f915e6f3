"""What the three services share: event contract, bus, outbox, reference data, config."""
