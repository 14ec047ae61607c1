"""Who takes part in a workshop and how they are doing: the teacher's view, for the page, the API and the CLI.

A participant is a university account on the roster or a guest who signed in
with the code. Her state comes from the hub (signed in, servers running,
starting, last activity) and from the npuhub service (waiting in its queue,
device-hours charged since the window opened, on the reservation or not).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction

from ..i18n import Text
from .policy import Workshop

__all__ = ["Participant", "participants", "summary", "STATES"]

#: The states, in the order the view counts them, and their words.
STATES = {
    "not_signed_in": Text("未登录", "not signed in"),
    "signed_in": Text("已登录", "signed in"),
    "queued": Text("排队中", "queued"),
    "running": Text("运行中", "running"),
    "idle": Text("空闲", "idle"),
    "removed": Text("已删除", "removed"),
}


@dataclass
class Participant:
    name: str
    kind: str  # "roster" or "guest"
    display_name: str
    state: str
    signed_in: bool
    running: int
    queued: int
    last_activity: str | None
    device_hours: float
    device_hours_exact: str
    on_reservation: bool

    def view(self) -> dict:
        data = asdict(self)
        words = STATES[self.state]
        data["state_text"] = {"zh": words.zh, "en": words.en}
        return data


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # the hub's database keeps naive UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def _arrived(request: dict) -> datetime | None:
    text = request.get("arrived")
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def participants(workshop: Workshop, roster: list[str], guests: list, find_user, requests: list[dict],
                 now: datetime, idle_after: timedelta = timedelta(minutes=15)) -> list[Participant]:
    """Each participant's state. ``find_user(name)`` is the hub's (None: never signed in or removed);
    ``requests`` are the service's requests (any users), newest first."""
    by_user: dict[str, list[dict]] = {}
    for request in requests:
        arrived = _arrived(request)
        if arrived is not None and arrived >= workshop.starts_at - timedelta(minutes=5):
            by_user.setdefault(request["user"], []).append(request)
    people = [(name, "roster", name, False) for name in roster]
    people += [(g.username, "guest", g.display_name, g.removed_at is not None) for g in guests]
    seen: set[str] = set()
    result = []
    for name, kind, display, removed in people:
        if name in seen:
            continue
        seen.add(name)
        user = None if removed else find_user(name)
        theirs = by_user.get(name, [])
        charged = sum((Fraction(r["charged"]["exact"]) for r in theirs), Fraction(0))
        waiting = sum(1 for r in theirs if r["state"] == "waiting")
        running = starting = 0
        last = None
        if user is not None:
            last = user.last_activity
            for spawner in user.spawners.values():
                if spawner.ready:
                    running += 1
                elif spawner.pending == "spawn":
                    starting += 1
        queued = max(waiting, starting)
        if removed:
            state = "removed"
        elif user is None:
            state = "not_signed_in"
        elif running:
            active = last.replace(tzinfo=timezone.utc) if last is not None and last.tzinfo is None else last
            state = "idle" if active is not None and now - active > idle_after else "running"
        elif queued:
            state = "queued"
        else:
            state = "signed_in"
        result.append(Participant(
            name=name, kind=kind, display_name=display, state=state, signed_in=user is not None or removed,
            running=running, queued=queued, last_activity=_iso(last), device_hours=float(charged),
            device_hours_exact=str(charged),
            on_reservation=bool(workshop.reservation_id) and any(
                r.get("reservation") == workshop.reservation_id for r in theirs)))
    return result


def summary(people: list[Participant], workshop: Workshop) -> dict:
    """Counts by state, the device-hours used since the window opened, and the budget left."""
    counts = {state: sum(1 for p in people if p.state == state) for state in STATES}
    used = sum((Fraction(p.device_hours_exact) for p in people), Fraction(0))
    budget = Fraction(workshop.budget_hours) if workshop.budget_hours else None
    return {
        "participants": len(people),
        "counts": counts,
        "device_hours_used": float(used),
        "budget_device_hours": float(budget) if budget is not None else None,
        "budget_left_device_hours": float(budget - used) if budget is not None else None,
        "over_budget": budget is not None and used > budget,
    }
