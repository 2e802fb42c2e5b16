"""resplay for Python tests: the session-wide resplay process (``Server``)
and the pytest plugin (``resplay.plugin``, loaded by pytest through
the ``pytest11`` entry point)."""

from .server import ResplayError, Server, find_binary

__all__ = ["ResplayError", "Server", "find_binary"]
