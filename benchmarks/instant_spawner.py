"""Spawners that start no JupyterLab, for the workshop-burst benchmark: what remains is the hub's (and npuhub's) cost.

``InstantSpawner``: a server is "started" at once; every server of the hub
points at one tiny HTTP server in the hub's own process (started on first
use, on a free loopback port) that answers 200 to anything, so the hub's own
check that a new server answers (``wait_up``), the proxy's route and the
pending page work as they do for a real server.

``InstantNPUSpawner``: the same under ``NPUSpawnerMixin``: each start is
admitted through the npuhub service (submit, follow, grant) and each stop
releases its slice, exactly as LocalNPUSpawner does; only the JupyterLab
process is left out.

The hub imports this module: the benchmark puts ``benchmarks/`` on its
``PYTHONPATH``.
"""

from __future__ import annotations

import socket

from jupyterhub.spawner import Spawner
from tornado import web
from tornado.httpserver import HTTPServer

from npuhub.spawners.mixin import NPUSpawnerMixin

__all__ = ["InstantSpawner", "InstantNPUSpawner"]

_PORT: int | None = None


class _Anything(web.RequestHandler):
    def get(self, *args):
        self.set_header("Content-Type", "application/json")
        self.finish(b"{}")


def _shared_server() -> int:
    """The port of the one answering server in this process (made on first use, on the hub's loop)."""
    global _PORT
    if _PORT is None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        sock.setblocking(False)
        server = HTTPServer(web.Application([(r"/.*", _Anything)]))
        server.add_sockets([sock])
        _PORT = sock.getsockname()[1]
    return _PORT


class InstantSpawner(Spawner):
    """A server that is up as soon as it is asked for (no process); stopping it is forgetting it."""

    running = False

    async def start(self):
        self.running = True
        return ("127.0.0.1", _shared_server())

    async def poll(self):
        return None if self.running else 0

    async def stop(self, now=False):
        self.running = False

    def get_state(self):
        state = super().get_state()
        if self.running:
            state["instant"] = True
        return state

    def load_state(self, state):
        super().load_state(state)
        self.running = bool(state.get("instant"))

    def clear_state(self):
        super().clear_state()
        self.running = False


class InstantNPUSpawner(NPUSpawnerMixin, InstantSpawner):
    """Admitted through the npuhub service like every npuhub server; starts nothing."""
