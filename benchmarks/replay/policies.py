"""The policies the replayer compares, the site they run on, and the two stand-ins the core has no switch for.

Every policy runs npuhub's admission core (``npuhub.admission.core.Admission``);
they differ in what is asked of it and in what the replayer does around it:

- whole devices, no queue (z2jh today): each session asks for whole devices
  (its share rounded up). If the core does not grant it at once, the
  replayer withdraws the request at once (the start fails) and the person
  tries again every ``retry`` seconds until her patience runs out;
- whole devices, first-come queue: whole devices, and the core's queue with
  fair share switched off (``ArrivalOrder``: usage is never learnt, so every
  factor stays 1 and the queue is served by arrival, with the core's bounded
  back-fill);
- fractional + fair queue: the share she asked for, the core's fair queue
  (decayed usage against group weights);
- + idle reclaim: the service's own ``IdleReclaim`` (warn, then stop after
  the grace, only while someone waits, and past the hard limit);
- + reservations: the workshop's teacher reserves the class's slices;
- first fit: the same as "+ idle reclaim" on a pool that places on the first
  device with room (``FirstFitPool``) instead of npuhub's best fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from benchmarks.placement import FirstFitPool  # the baseline placer, the same as the placement benchmark's
from npuhub.admission.fairshare import FairShare
from npuhub.site_config import SiteConfig, parse_site_config

__all__ = ["Policy", "POLICIES", "MODEL", "FLAVORS", "flavor_for", "make_site", "FirstFitPool",
           "ArrivalOrder"]

MODEL = "Ascend 910B"
#: the menu: flavor id -> share of one device
FLAVORS = {"eighth": Fraction(1, 8), "quarter": Fraction(1, 4), "half": Fraction(1, 2), "one": Fraction(1),
           "two": Fraction(2), "four": Fraction(4), "eight": Fraction(8)}


@dataclass(frozen=True)
class Policy:
    name: str
    label: str
    whole: bool = False
    queue: bool = True
    fair: bool = True
    reclaim: bool = False
    reservations: bool = False
    first_fit: bool = False


POLICIES = [
    Policy("whole-noqueue", "whole devices, no queue (z2jh today)", whole=True, queue=False, fair=False),
    Policy("whole-fcfs", "whole devices, first-come queue", whole=True, fair=False),
    Policy("frac-fair", "fractional + fair queue"),
    Policy("frac-reclaim", "fractional + fair queue + idle reclaim", reclaim=True),
    Policy("frac-reserve", "... + reservations for the workshop", reclaim=True, reservations=True),
    Policy("frac-firstfit", "fractional + reclaim, first-fit placement", reclaim=True, first_fit=True),
]


def flavor_for(share: Fraction, whole: bool) -> str:
    """The menu's flavor for a share: the smallest that holds it; whole devices when ``whole``."""
    if whole:
        share = Fraction(math.ceil(share))
    for flavor_id, offered in FLAVORS.items():
        if offered >= share:
            return flavor_id
    return "eight"


def make_site(nodes: int = 4, devices_per_node: int = 8) -> SiteConfig:
    """The simulated centre: ``nodes`` x ``devices_per_node`` Ascend 910B, the menu above, no share limit
    in the way (each session is its own person; a person may hold up to 8 devices)."""
    return parse_site_config({
        "pool": [{"model": MODEL, "nodes": nodes, "devices_per_node": devices_per_node, "node_prefix": "n"}],
        "groups": {},
        "flavors": [{"id": fid, "cpu": 1, "memory": "1G",
                     "accelerator": {"model": MODEL, "share": str(share)}} for fid, share in FLAVORS.items()
                    if share <= devices_per_node],  # a request larger than a node is refused (flavor_unknown)
        "limits": {"max_share": 8},
    }, "replay")


class ArrivalOrder(FairShare):
    """Fair share that never learns usage: every factor stays 1, so the core serves by arrival."""

    def add(self, account, device_seconds, now):
        pass
