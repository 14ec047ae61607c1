"""Estimated start times for waiting requests, from running sessions' expected ends.

A fluid model per device model: capacity frees when a running session is
expected to end (its hard maximum, or the observed mean session length), and
waiting requests take it in queue order. It ignores fragmentation (a ½ may
wait although ½ is free in two quarters), so estimates err on the early side
when the pool is fragmented; they are refreshed at every change.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .core import Admission
    from .model import Request

__all__ = ["estimate_starts"]


def estimate_starts(adm: "Admission", order: list["Request"], now: float) -> dict[str, float | None]:
    """Absolute estimated start time of each request in ``order`` (None: no capacity will ever fit it)."""
    # Floats, not Fractions: this is an estimate, and it runs over the whole queue at every change.
    free: dict[str, float] = {}
    events: dict[str, list[tuple[float, int, float]]] = {}
    cursor: dict[str, float] = {}
    seq = 0
    for model in adm.pool.models:
        free[model] = float(adm.pool.capacity(model) - adm.pool.held(model))
        events[model] = []
        cursor[model] = now
    for req in adm.granted():
        if req.grant is not None:
            heapq.heappush(events[req.model], (adm.expected_end(req, now), seq, float(req.share)))
            seq += 1
    for res_id, placeholders in adm._placeholders.items():
        res = adm.reservations.get(res_id)
        if res is None:
            continue
        for placeholder in placeholders:
            heapq.heappush(events[placeholder.model], (min(res.ends, res.starts + res.hold), seq,
                                                   float(placeholder.share)))
            seq += 1

    capacity = {model: float(adm.pool.capacity(model)) for model in free}
    starts: dict[str, float | None] = {}
    for req in order:
        model = req.model
        share = float(req.share)
        if model is None or not share:
            starts[req.id] = now
            continue
        if model not in free or share > capacity[model]:
            starts[req.id] = None
            continue
        heap = events[model]
        t = cursor[model]
        while free[model] < share - 1e-9 and heap:
            at, _, share = heapq.heappop(heap)
            t = max(t, at)
            free[model] += share
        if free[model] < share - 1e-9:
            starts[req.id] = None
            continue
        free[model] -= share
        cursor[model] = t
        starts[req.id] = t
        duration = req.max_duration if req.max_duration is not None else adm._session_mean
        heapq.heappush(heap, (t + duration, seq, share))
        seq += 1
    return starts
