"""A free TCP port of this machine for a test's distributed run (its rendezvous or ``MASTER_PORT``), so that runs
of pytest-xdist's workers, or of two checkouts, never meet on torch's default port."""
from __future__ import annotations

import socket


def free_port() -> str:
    """A port that nothing listens on now (bound to port 0, then released), as a string for the environment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])
