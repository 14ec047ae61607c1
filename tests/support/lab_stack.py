"""The lab extension's server-part tests: the service with a request log to count, and reading its answers.

Their fixtures (pytest-jupyter's Jupyter server with the extension, the service
behind the shared hub) are in tests/labext/conftest.py.
"""

from __future__ import annotations

import json
import re
import time

from support.service_stack import PREFIX, ServiceProcess

#: What every test server gets unless a test asks otherwise: fresh answers each poll.
DEFAULTS = {"cache_seconds": 0, "request_timeout": 5}


def npuhub_token(hub, user: str, scopes=("custom:npuhub:use",)) -> str:
    """A hub API token of ``user`` with exactly ``scopes`` (what a server's token would carry)."""
    return hub.token(user, tuple(scopes))


class LabService(ServiceProcess):
    """The service with its request log at DEBUG, to count what the server part asks it."""

    def start(self, timeout: float = 30) -> LabService:
        with open(self.config, "a") as f:
            f.write('\nc.NPUHubService.log_level = "DEBUG"\n')
        return super().start(timeout)

    def reads(self, path: str) -> int:
        """How many ``GET api/v1/<path>`` the service has answered."""
        pattern = re.compile(rf" \d{{3}} GET {re.escape(PREFIX)}api/v1/{re.escape(path)} ")
        return len(pattern.findall(self.log(tail=10**7)))


def status_of(response) -> dict:
    assert response.code == 200, response.body
    return json.loads(response.body)


def upstream_reads(svc: LabService, settle: float = 0.5) -> dict[str, int]:
    """What the service has answered of the three reads of a status.

    The service logs a request just after sending its answer, so this waits
    until each read has shown up at least once, then a little more for any
    later one to be logged too.
    """
    deadline = time.monotonic() + 10
    while True:
        counts = {path: svc.reads(path) for path in ("me", "pool", "reservations")}
        if all(counts.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(settle)
    return {path: svc.reads(path) for path in counts}
