"""Unsubscribes: who asked not to receive a list of e-mails (RFC 8058 one-click), and the
signed links that ask it (``service``, ``pages``, ``views``)."""
