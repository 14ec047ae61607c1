"""What a replay measured: per-session records, time integrals of the pool's state, and the summary table.

Pure: no I/O, no clock. Definitions (also in benchmarks/README.md):

- served: sessions granted at least once; per device per day: served / devices / days;
- wait: from arrival (or from coming back after an idle reclaim) to the grant; percentiles over the
  first wait of served sessions;
- gave up: sessions never served (their patience ran out, or the trace ended while they waited);
- allocation while anyone waits: device-time granted to people, as a share of the pool, integrated
  over the moments when at least one person waits (or, without a queue, is still trying);
- free but unplaceable: free device-time while someone waits whose share is no larger than the pool's
  total free capacity, but no device (or node, for whole devices) has room for any waiting share in one
  piece: fragmentation; as a share of the pool over the same moments;
- held back: free device-time while some waiting share would fit in one piece now, yet the policy does
  not place it: the queue's head-of-line rule (bounded back-fill behind a larger request at the head),
  or, without a queue, the time until people try again;
- Jain's index across groups: x_g = device-time group g held while anyone waited / g's weight;
  J = (sum x)^2 / (n sum x^2), 1 when holdings follow the weights exactly;
- idle device-hours: device-time held by sessions while their person was idle;
- estimate error: for a person who waited and was served, the wait the core estimated when she joined
  minus the wait she had (minutes).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Sequence

from .trace import Session

__all__ = ["SessionRecord", "Observer", "percentile", "jain", "summarize"]

SAMPLE = 300.0  # seconds between points of the time series kept for plots


@dataclass
class SessionRecord:
    session: Session
    first_try: float | None = None
    #: when her current wait began (None: not waiting)
    wait_from: float | None = None
    granted_at: float | None = None
    started: float = 0.0
    waits: list[float] = field(default_factory=list)
    requests: int = 0
    gave_up: bool = False
    reclaimed: int = 0
    #: the wait the core estimated when she first joined the queue (seconds), if it gave one
    shown_wait: float | None = None
    held_share: Fraction = Fraction(0)
    held_seconds: float = 0.0
    idle_device_seconds: float = 0.0
    ended_at: float | None = None

    @property
    def served(self) -> bool:
        return self.granted_at is not None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between closest ranks (numpy's default); None when empty."""
    data = sorted(values)
    if not data:
        return None
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return float(data[low] + (data[high] - data[low]) * (pos - low))


def jain(values: Iterable[float]) -> float | None:
    """Jain's fairness index of non-negative values: 1 when all are equal, 1/n when one has everything."""
    xs = list(values)
    square_sum = sum(x * x for x in xs)
    if not xs or square_sum == 0:
        return None
    return sum(xs) ** 2 / (len(xs) * square_sum)


class Observer:
    """Integrates the pool's state over simulated time; the replayer tells it each change."""

    def __init__(self, devices: int, weights: dict[str, float]):
        self.devices = devices
        self.weights = weights
        self.t = 0.0
        self.waiting, self.free, self.fits_total, self.placeable = 0, float(devices), False, False
        self.held = 0.0
        self.group_held: dict[str, float] = defaultdict(float)
        self.contention = 0.0  # seconds during which anyone waited
        self.held_contention = 0.0  # device-seconds held by people during those
        self.stranded_contention = 0.0  # device-seconds free, enough in total, but in no one piece
        self.held_back_contention = 0.0  # device-seconds free with room in one piece for someone waiting
        self.group_contention: dict[str, float] = defaultdict(float)
        self.held_total = 0.0
        self.series: list[tuple[float, float, int]] = []  # (t, devices held by people, people waiting)
        self._next_sample = 0.0

    def hold(self, group: str, delta: float) -> None:
        self.held += delta
        self.group_held[group] += delta

    def set_state(self, state: tuple[int, float, bool, bool]) -> None:
        self.waiting, self.free, self.fits_total, self.placeable = state

    def advance(self, t: float) -> None:
        while self._next_sample <= t:
            self.series.append((self._next_sample, self.held, self.waiting))
            self._next_sample += SAMPLE
        dt = t - self.t
        if dt <= 0:
            return
        self.held_total += dt * self.held
        if self.waiting:
            self.contention += dt
            self.held_contention += dt * self.held
            if self.placeable:
                self.held_back_contention += dt * self.free
            elif self.fits_total:
                self.stranded_contention += dt * self.free
            for group, held in self.group_held.items():
                self.group_contention[group] += dt * held
        self.t = t


def _minutes(x: float | None) -> float | None:
    return None if x is None else x / 60.0


def summarize(records: Sequence[SessionRecord], observer: Observer, devices: int, days: float,
              fair_groups: Iterable[str] | None = None) -> dict:
    """The table row of one replay (waits and errors in minutes, shares in percent)."""
    served = [r for r in records if r.served]
    waits = [r.waits[0] for r in served]
    out = {
        "sessions": len(records),
        "served": len(served),
        "served_per_device_day": len(served) / devices / days if days else None,
        "wait_median_min": _minutes(percentile(waits, 50)),
        "wait_p95_min": _minutes(percentile(waits, 95)),
        "gave_up_pct": 100.0 * (len(records) - len(served)) / len(records) if records else None,
        "reclaimed": sum(r.reclaimed for r in records),
        "alloc_waiting_pct": (100.0 * observer.held_contention / (devices * observer.contention)
                              if observer.contention else None),
        "unplaceable_pct": (100.0 * observer.stranded_contention / (devices * observer.contention)
                            if observer.contention else None),
        "held_back_pct": (100.0 * observer.held_back_contention / (devices * observer.contention)
                          if observer.contention else None),
        "contention_h": observer.contention / 3600.0,
        "utilisation_pct": 100.0 * observer.held_total / (devices * observer.t) if observer.t else None,
        "idle_device_h_per_day": (sum(r.idle_device_seconds for r in records) / 3600.0 / days
                                  if days else None),
    }
    groups = sorted(fair_groups if fair_groups is not None else observer.weights)
    out["jain"] = jain(observer.group_contention.get(g, 0.0) / observer.weights.get(g, 1.0) for g in groups)
    errors = [r.shown_wait - r.waits[0] for r in served if r.shown_wait is not None and r.waits[0] > 0]
    out["eta_n"] = len(errors)
    out["eta_abs_err_median_min"] = _minutes(percentile([abs(e) for e in errors], 50))
    out["eta_abs_err_p90_min"] = _minutes(percentile([abs(e) for e in errors], 90))
    out["eta_err_median_min"] = _minutes(percentile(errors, 50))
    cls = [r for r in records if r.session.tag == "class"]
    if cls:
        cls_waits = [r.waits[0] for r in cls if r.served]
        out["class_served"] = sum(1 for r in cls if r.served)
        out["class_size"] = len(cls)
        out["class_wait_median_min"] = _minutes(percentile(cls_waits, 50))
        out["class_wait_p95_min"] = _minutes(percentile(cls_waits, 95))
    return out
