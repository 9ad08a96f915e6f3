"""Deliveries: the e-mails the notifier sends for initiative workflow events, and their record."""
