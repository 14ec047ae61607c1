"""Synthetic traces: a busy teaching-and-research day, and a workshop day (a class of 40 in five minutes).

Every number below is either taken from a published source or an assumption
of ours; ``benchmarks/README.md`` ("Replay: where the trace's numbers come
from") lists which is which. The generator is seeded: the same arguments
always give the same trace.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from .trace import Session, Trace

__all__ = ["SHARE_MIX", "GROUPS", "HOURLY", "synthetic", "workshop_day", "activity_periods"]

DAY = 86400.0
MINUTE = 60.0

#: What people ask for (share of one device -> weight). Assumption: most ask for less than a whole device,
#: as in Alibaba PAI's GPU trace, where requests are made in percent of a GPU (plan_gpu 50 = half a GPU).
SHARE_MIX = {Fraction(1, 8): 20, Fraction(1, 4): 45, Fraction(1, 2): 20, Fraction(1): 12, Fraction(2): 3}

#: Groups, their fair-share weights and their part of the arrivals (equal demand, unequal weights, so that
#: a policy that follows the weights shows it). Assumption.
GROUPS = {"course-a": (2.0, 1), "course-b": (1.0, 1), "lab-x": (2.0, 1), "lab-y": (1.0, 1)}

#: Relative arrival rate per hour of the day (UTC of the simulated site). Assumption, shaped as a
#: working day with a lunch dip and quiet nights.
HOURLY = [0.15] * 8 + [0.6, 1.0, 1.0, 1.0, 0.7, 0.7, 1.0, 1.0, 1.0, 1.0, 0.6, 0.6, 0.5, 0.5, 0.5, 0.25]

#: session length: lognormal, median 100 min, sigma 0.7, within [10 min, 10 h]. Assumption.
DURATION = (100 * MINUTE, 0.7, 10 * MINUTE, 10 * 3600.0)
#: patience before giving up a wait: lognormal, median 20 min, sigma 0.8, within [2 min, 3 h]. Assumption.
PATIENCE = (20 * MINUTE, 0.8, 2 * MINUTE, 3 * 3600.0)
#: interactive work in bursts: active periods exponential with mean 12 min, idle gaps exponential with
#: mean 25 min (about a third of a session active). Assumption.
ACTIVE_MEAN, IDLE_MEAN = 12 * MINUTE, 25 * MINUTE


def _lognormal(rng: random.Random, spec: tuple[float, float, float, float]) -> float:
    median, sigma, low, high = spec
    return min(high, max(low, median * math.exp(rng.gauss(0.0, sigma))))


def activity_periods(rng: random.Random, duration: float, active_mean: float = ACTIVE_MEAN,
                     idle_mean: float = IDLE_MEAN) -> tuple[tuple[float, float], ...]:
    """Alternating active and idle periods from the server's start; she starts active."""
    periods = []
    t = 0.0
    while t < duration:
        end = min(duration, t + rng.expovariate(1.0 / active_mean))
        periods.append((round(t, 3), round(end, 3)))
        t = end + rng.expovariate(1.0 / idle_mean)
    return tuple(periods)


def _arrivals(rng: random.Random, per_day: float, days: int) -> list[float]:
    """A Poisson process whose rate follows HOURLY, ``per_day`` arrivals a day on average (thinning)."""
    peak = max(HOURLY)
    mean = sum(HOURLY) / len(HOURLY)
    rate_peak = per_day / DAY * peak / mean
    out, t = [], 0.0
    while True:
        t += rng.expovariate(rate_peak)
        if t >= days * DAY:
            return out
        if rng.random() < HOURLY[int(t // 3600) % 24] / peak:
            out.append(t)


def synthetic(seed: int = 1, per_day: float = 900, days: int = 2, name: str = "synthetic") -> Trace:
    """Sessions of a busy centre: ``per_day`` arrivals a day on average, over ``days`` days."""
    rng = random.Random(seed)
    shares, share_weights = list(SHARE_MIX), list(SHARE_MIX.values())
    groups, group_weights = list(GROUPS), [w for _, w in GROUPS.values()]
    sessions = []
    for i, at in enumerate(_arrivals(rng, per_day, days)):
        duration = round(_lognormal(rng, DURATION), 3)
        sessions.append(Session(
            id=f"s{i}", user=f"u{i}", group=rng.choices(groups, group_weights)[0], arrival=round(at, 3),
            share=rng.choices(shares, share_weights)[0], duration=duration,
            activity=activity_periods(rng, duration), patience=round(_lognormal(rng, PATIENCE), 3)))
    return Trace(name, sessions, days, f"synthetic(seed={seed}, per_day={per_day}, days={days})")


#: the workshop: 40 students of one course, each a quarter device, arriving within 5 minutes of 14:00,
#: a 90-minute class in which they work most of the time; a class does not wait long (10 minutes)
WORKSHOP = {"group": "workshop", "share": Fraction(1, 4), "students": 40, "at": 14 * 3600.0, "spread": 300.0,
            "class": 90 * MINUTE, "patience": 10 * MINUTE}


#: the teacher's reservation opens this long before the class: the core holds slices only as running
#: sessions end (it stops nobody for a reservation), so on a full pool the window must open early enough
#: for 40 quarters to free up; unused slices are lent 15 minutes after the class starts
RESERVE_AHEAD = 45 * MINUTE


def workshop_day(seed: int = 2, per_day: float = 900) -> Trace:
    """One day of the synthetic background load, with a class of 40 arriving within five minutes at 14:00."""
    base = synthetic(seed, per_day, days=1, name="workshop-day")
    rng = random.Random(seed + 1000)
    w = WORKSHOP
    for i in range(w["students"]):
        at = w["at"] + rng.uniform(0, w["spread"])
        duration = w["class"] - (at - w["at"])  # the class ends for everyone at once
        base.sessions.append(Session(
            id=f"w{i}", user=f"student{i}", group=w["group"], arrival=round(at, 3), share=w["share"],
            duration=round(duration, 3), activity=activity_periods(rng, duration, 20 * MINUTE, 3 * MINUTE),
            patience=w["patience"], tag="class"))
    base.sessions.sort(key=lambda s: (s.arrival, s.id))
    base.workshops.append({"group": w["group"], "share": str(w["share"]), "count": w["students"],
                           "starts": w["at"] - RESERVE_AHEAD, "ends": w["at"] + w["class"] + 10 * MINUTE,
                           "hold": RESERVE_AHEAD + 15 * MINUTE})
    base.source = f"workshop_day(seed={seed}, per_day={per_day})"
    return base
