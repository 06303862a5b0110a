"""Ports on 127.0.0.1 for the servers the tests start."""

import socket


def free_port() -> int:
    """A port nothing listens on now: free for a server to take, closed for a client to be refused at."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
