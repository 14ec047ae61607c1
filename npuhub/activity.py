"""How fresh the hub's view of a server's activity is: how often servers report it, and the lag that gives.

JupyterHub learns of a server's activity two ways: from the proxy's routes,
polled every ``JupyterHub.last_activity_interval`` (300 s), and from the
server itself (``jupyterhub-singleuser`` posts its own last activity: API
requests, kernels, terminals) every ``JUPYTERHUB_ACTIVITY_INTERVAL`` seconds.
npuhub's spawners set the latter to ``report_interval()`` so that a server in
use never looks idle for long; the service reads the hub every
``reconcile_interval``. Idle reclaim must not judge faster than that lag
(``activity_lag``): the site file refuses shorter idle limits, the service
raises shorter settings to it.
"""

from __future__ import annotations

import os

__all__ = ["REPORT_INTERVAL", "MIN_IDLE_MINUTES", "report_interval", "activity_lag"]

#: seconds between a server's activity reports to the hub (``NPUHUB_ACTIVITY_INTERVAL`` overrides it)
REPORT_INTERVAL = 15
#: jupyterhub-singleuser spreads its reports by up to ±10 % of the interval
JITTER = 0.1
#: the shortest idle limit a site file may set: above the lag with the default intervals (16.5 s + 10 s)
MIN_IDLE_MINUTES = 1


def report_interval() -> int:
    """Seconds between activity reports, as the spawners set them for every server."""
    value = os.environ.get("NPUHUB_ACTIVITY_INTERVAL", "")
    return int(value) if value.isdigit() and int(value) > 0 else REPORT_INTERVAL


def activity_lag(reconcile_interval: float) -> float:
    """The longest a server's activity can go unseen by the service: one late report, then one check."""
    return report_interval() * (1 + JITTER) + reconcile_interval
