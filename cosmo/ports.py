"""Free loopback ports, for the servers and local Ray heads we start on this machine."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS picks it; another process may still take it first)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
