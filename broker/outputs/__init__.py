"""Output transports: one per console protocol, all behind :class:`OutputTransport`."""
