"""The replayer's trace: one record per session a person would open, and its JSON-lines file format."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable

__all__ = ["Session", "Trace", "active_at", "last_active", "idle_seconds", "dump", "load"]


@dataclass(frozen=True)
class Session:
    """One person's session as she would use it, whatever the policy does to it.

    Times are seconds. ``arrival`` counts from the trace's start; ``activity``
    from the moment her server starts: the (start, end) periods in which she
    works, inside ``[0, duration]``; the rest is idle (the server is up, the
    slice held, nothing runs). ``patience``: how long she waits for a start
    before she gives up. ``share`` is what she asks for (a fraction of one
    device, or whole devices).
    """

    id: str
    user: str
    group: str
    arrival: float
    share: Fraction
    duration: float
    activity: tuple[tuple[float, float], ...] = ()
    patience: float = 1800.0
    #: a workshop's student: the class's own metrics are reported apart
    tag: str = ""

    def to_json(self) -> dict:
        data = asdict(self)
        data["share"] = str(self.share)
        data["activity"] = [list(p) for p in self.activity]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Session":
        return cls(id=str(data["id"]), user=str(data["user"]), group=str(data["group"]),
                   arrival=float(data["arrival"]), share=Fraction(str(data["share"])),
                   duration=float(data["duration"]),
                   activity=tuple((float(a), float(b)) for a, b in data.get("activity", ())),
                   patience=float(data.get("patience", 1800.0)), tag=str(data.get("tag", "")))

    def active_fraction(self) -> float:
        if self.duration <= 0:
            return 0.0
        return sum(b - a for a, b in self.activity) / self.duration


@dataclass
class Trace:
    """Sessions sorted by arrival, the span they cover (seconds) and where they came from."""

    name: str
    sessions: list[Session]
    days: float
    source: str = ""
    #: a workshop in the trace: (group, flavor share, students, class start, class end) for reservations
    workshops: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self.sessions.sort(key=lambda s: (s.arrival, s.id))


def active_at(activity: Iterable[tuple[float, float]], t: float) -> bool:
    """Whether ``t`` (seconds since the server started) falls in an active period."""
    return any(a <= t < b for a, b in activity)


def last_active(activity: Iterable[tuple[float, float]], t: float) -> float | None:
    """The latest moment at or before ``t`` she was active (``t`` itself while active); None: not yet."""
    latest = None
    for a, b in activity:
        if a > t:
            break
        latest = min(b, t)
    return latest


def idle_seconds(activity: Iterable[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of ``[start, end)`` (since the server started) outside every active period."""
    if end <= start:
        return 0.0
    busy = sum(max(0.0, min(b, end) - max(a, start)) for a, b in activity)
    return (end - start) - busy


def dump(trace: Trace, path: Path) -> None:
    """Write a trace as JSON lines: a header line, then one session per line."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"trace": trace.name, "days": trace.days, "source": trace.source,
                            "workshops": trace.workshops}) + "\n")
        for s in trace.sessions:
            f.write(json.dumps(s.to_json()) + "\n")


def load(path: Path) -> Trace:
    """Read a trace written by ``dump``."""
    with open(path, encoding="utf-8") as f:
        header = json.loads(f.readline())
        sessions = [Session.from_json(json.loads(line)) for line in f if line.strip()]
    return Trace(header["trace"], sessions, float(header["days"]), header.get("source", ""),
                 header.get("workshops", []))
