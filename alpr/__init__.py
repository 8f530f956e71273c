"""Shared core of the ALPR fleet: wire protocol, settings, Redis connection, keys, CLI."""

__version__ = "0.1.0"
