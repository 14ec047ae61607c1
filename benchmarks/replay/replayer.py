"""The replayer: a trace of sessions through npuhub's admission core, on a simulated clock.

No HTTP and no hub: the replayer calls the core (``Admission``) the way the
service's handlers do, commits after each call (in memory by default, or to a
real ``AdmissionStore`` on SQLite with ``store_url``), and plays the hub and
the people: a granted person works and idles as her session says, stops when
her session ends, gives up when she has waited longer than her patience, and
comes back after an idle reclaim if she had more work to do. Idle reclaim is
the service's own ``IdleReclaim`` with the service's defaults, driven every
``tick`` seconds with the activity the hub would report; the queue is
scheduled at every tick, as the service's metering loop does.

The clock is simulated and fixed between events (the core reads the event's
time); the whole run is deterministic for a given trace. Metering runs every
``meter_every`` ticks (5 minutes by default, where the service meters every
minute): charges are exact either way, only fair-share usage is up to five
minutes staler, and metering every session is most of a replay's cost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from npuhub.admission.core import Admission
from npuhub.admission.fairshare import FairShare
from npuhub.admission.model import Refused, State
from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.admission.store import AdmissionStore
from npuhub.service.metrics import Metrics
from npuhub.service.reclaim import HARD_LIMIT, RECLAIMED, IdleReclaim

from .metrics import Observer, SessionRecord
from .policies import FLAVORS, MODEL, ArrivalOrder, FirstFitPool, Policy, flavor_for, make_site
from .synthetic import GROUPS
from .trace import Session, Trace, idle_seconds, last_active

__all__ = ["EPOCH", "Replay", "ReplayResult", "replay"]

#: the simulated trace starts on Monday 2026-11-23 00:00 UTC
EPOCH = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc).timestamp()
ARRIVE, LEAVE, GIVEUP, RETRY, RETURN, TICK, WAKE = range(7)


@dataclass
class ReplayResult:
    policy: Policy
    trace: str
    devices: int
    days: float
    records: list[SessionRecord]
    observer: Observer
    events: int
    seconds: float
    refusals: dict[str, int] = field(default_factory=dict)


class _Engine:
    """What ``IdleReclaim`` needs of the service's engine: the core, the site, and a committed change."""

    def __init__(self, replay: "Replay"):
        self._replay = replay
        self.site = replay.site

    @property
    def adm(self) -> Admission:
        return self._replay.adm

    async def change(self, fn, what: str = "change"):
        return self._replay.change(fn)


class _Hub:
    """The hub as idle reclaim sees it: it stops a server at once when asked."""

    async def stop_server(self, user: str, server: str) -> str:
        return "stopped"


@dataclass
class _Plan:
    """What is left of a session: its work from the next start on (times relative to that start)."""

    duration: float
    activity: tuple[tuple[float, float], ...]


class Replay:
    """One policy over one trace. ``run()`` once."""

    def __init__(self, trace: Trace, policy: Policy, *, nodes: int = 4, devices_per_node: int = 8,
                 store_url: str | None = None, tick: float = 60.0, meter_every: int = 5, retry: float = 300.0,
                 idle_limit: float = 1800.0, hard_limit: float = 4 * 3600.0, grace: float = 600.0):
        self.trace, self.policy = trace, policy
        self.site = make_site(nodes, devices_per_node)
        self.devices = nodes * devices_per_node
        self.tick, self.meter_every, self.retry = tick, meter_every, retry
        self._ticks = 0
        self.now = 0.0
        groups = sorted({s.group for s in trace.sessions})
        weights = {f"group:{g}": GROUPS[g][0] if g in GROUPS else 1.0 for g in groups}
        self.weights = {g: weights[f"group:{g}"] for g in groups}
        fairshare = (FairShare if policy.fair else ArrivalOrder)(weights=weights)
        # a group budget nobody can spend, so that each request is charged to its group's fair-share account
        budgets = Budgets(rules=[QuotaRule("group", frozenset(groups), Fraction(10**9), "week")])
        kwargs = {"budgets": budgets, "fairshare": fairshare}
        self.store = AdmissionStore(store_url) if store_url else None
        self.adm = self.store.open(self.site, self.clock, **kwargs) if self.store else \
            Admission(self.site, self.clock, **kwargs)
        if policy.first_fit:
            self.adm.pool = FirstFitPool(self.site.nodes)
        self.reclaim = None
        if policy.reclaim:
            self.reclaim = IdleReclaim(_Engine(self), _Hub(), idle_limit=idle_limit, hard_limit=hard_limit,
                                       grace=grace, metrics=Metrics(), clock=self.clock)
        self.sessions = {s.id: s for s in trace.sessions}
        self.records = {s.id: SessionRecord(s) for s in trace.sessions}
        self.plans: dict[str, _Plan] = {}
        self.rids: dict[str, str] = {}  # request id -> session id
        self.attempts: dict[str, int] = {}
        self.waiting: dict[str, str] = {}  # session id -> its waiting request id (no queue: her last try)
        self.granted: dict[str, str] = {}  # request id -> session id
        self.refusals: dict[str, int] = {}
        self.observer = Observer(self.devices, self.weights)
        self._heap: list[tuple[float, int, int, str]] = []
        self._seq = 0
        self.events = 0

    # -- the clock and the core -----------------------------------------------------------
    def clock(self) -> float:
        return EPOCH + self.now

    def change(self, fn: Callable[[Admission], object]):
        """Call the core, then take in what changed and commit it, as the service's engine does."""
        try:
            return fn(self.adm)
        finally:
            self._take_in()
            self._commit()

    def _take_in(self) -> None:
        for rid in sorted(self.adm.dirty):
            sid = self.rids.get(rid)
            req = self.adm.requests.get(rid)
            if sid is None or req is None:
                continue
            if req.state is State.GRANTED and rid not in self.granted:
                self._on_granted(sid, rid)
            elif (req.state is State.RELEASED and rid in self.granted
                  and req.reason in (RECLAIMED, HARD_LIMIT)):
                self._on_reclaimed(sid, rid, req.reason)
            elif req.state is State.REFUSED and self.waiting.get(sid) == rid:
                self.refusals[req.reason] = self.refusals.get(req.reason, 0) + 1
                self._stop_waiting(sid)
                self.records[sid].gave_up = True

    def _commit(self) -> None:
        adm = self.adm
        if self.store is not None:
            if adm.dirty or adm.dirty_reservations or adm.fairshare.dirty or adm.budgets.pending:
                self.store.commit(adm)  # one transaction per change, as the service's engine does
            return
        # what AdmissionStore.commit does to the core's memory: ended requests live on in the database only
        for rid in adm.dirty:
            req = adm.requests.get(rid)
            if req is not None and req.state.final:
                del adm.requests[rid]
        adm.dirty.clear()
        adm.dirty_reservations.clear()
        adm.fairshare.dirty.clear()
        adm.budgets.pending.clear()

    # -- events ------------------------------------------------------------------------------
    def _push(self, at: float, kind: int, key: str = "") -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, key))

    def run(self) -> ReplayResult:
        started = time.perf_counter()
        end = self.trace.days * 86400.0
        for s in self.trace.sessions:
            self._push(s.arrival, ARRIVE, s.id)
            self.plans[s.id] = _Plan(s.duration, s.activity)
        if self.policy.reservations:
            for w in self.trace.workshops:
                res = self.adm.reserve(w["group"], flavor_for(Fraction(w["share"]), False), int(w["count"]),
                                       EPOCH + w["starts"], EPOCH + w["ends"], "teacher", hold=w["hold"])
                for boundary in (w["starts"], w["starts"] + w["hold"], w["ends"]):
                    self._push(boundary, WAKE, res.id)
                self._commit()
        t = self.tick
        while t < end:
            self._push(t, TICK)
            t += self.tick
        while self._heap:
            at, _, kind, key = heapq.heappop(self._heap)
            if at > end and kind not in (LEAVE, GIVEUP):
                continue  # nothing new after the trace's end; those inside finish
            self.observer.advance(at)
            self.now = at
            self.events += 1
            self._handle(kind, key)
            self.observer.set_state(self._state())
        self.observer.advance(max(end, self.now))
        return ReplayResult(self.policy, self.trace.name, self.devices, self.trace.days,
                            list(self.records.values()), self.observer, self.events,
                            time.perf_counter() - started, self.refusals)

    def _handle(self, kind: int, key: str) -> None:
        if kind == ARRIVE:
            rec = self.records[key]
            rec.first_try = rec.wait_from = self.now
            self._submit(key)
        elif kind in (RETRY, RETURN):
            self._submit(key)
        elif kind == LEAVE:
            if key in self.granted:
                self.change(lambda adm: adm.release(key))
                self._on_left(self.granted.pop(key), key)
        elif kind == GIVEUP:
            sid = self.rids[key]
            if self.waiting.get(sid) == key:
                self.change(lambda adm: adm.end(key, "cancelled", by=self.sessions[sid].user))
                self._stop_waiting(sid)
                self.records[sid].gave_up = True
        elif kind == TICK:
            self._ticks += 1
            if self._ticks % self.meter_every == 0:
                self.change(lambda adm: (adm.meter(), adm.schedule()))
            else:
                self.change(lambda adm: adm.schedule())
            if self.reclaim is not None:
                self._reclaim_round()
        elif kind == WAKE:
            self.change(lambda adm: adm.schedule())

    # -- one person ---------------------------------------------------------------------------
    def _submit(self, sid: str) -> None:
        s, rec = self.sessions[sid], self.records[sid]
        n = self.attempts[sid] = self.attempts.get(sid, 0) + 1
        rid = f"{sid}#{n}"
        self.rids[rid] = sid
        self.waiting[sid] = rid
        rec.requests += 1
        since = self.now
        try:
            flavor = flavor_for(s.share, self.policy.whole)
            decision = self.change(
                lambda adm: adm.submit(s.user, {s.group}, flavor, request_id=rid, server=sid))
        except Refused as e:
            self.refusals[e.reason] = self.refusals.get(e.reason, 0) + 1
            self._stop_waiting(sid)
            rec.gave_up = True
            return
        if decision.state is State.GRANTED or rid in self.granted:
            return
        if not self.policy.queue:
            # z2jh: the start fails; she tries again later, while her patience lasts
            self.change(lambda adm: adm.end(rid, "cancelled", by=s.user))
            if self.now + self.retry <= rec.wait_from + s.patience:
                self._push(self.now + self.retry, RETRY, sid)
            else:
                self._stop_waiting(sid)
                rec.gave_up = True
            return
        if rec.shown_wait is None and rec.requests == 1 and decision.eta is not None:
            rec.shown_wait = decision.eta - self.clock()
        self._push(since + s.patience, GIVEUP, rid)

    def _stop_waiting(self, sid: str) -> None:
        self.waiting.pop(sid, None)
        self.records[sid].wait_from = None

    def _on_granted(self, sid: str, rid: str) -> None:
        rec = self.records[sid]
        self.granted[rid] = sid
        if self.waiting.get(sid) == rid:
            self.waiting.pop(sid)
        waited = self.now - (rec.wait_from if rec.wait_from is not None else self.now)
        rec.waits.append(waited)
        rec.wait_from = None
        if rec.granted_at is None:
            rec.granted_at = self.now
        rec.started = self.now
        rec.held_share = self.adm.requests[rid].share
        self.observer.hold(self.sessions[sid].group, float(rec.held_share))
        self._push(self.now + self.plans[sid].duration, LEAVE, rid)

    def _release_books(self, sid: str) -> float:
        """Idle device-seconds of the stretch that ends now, and the group's holding given back."""
        rec, plan = self.records[sid], self.plans[sid]
        held_for = self.now - rec.started
        rec.held_seconds += held_for * float(rec.held_share)
        rec.idle_device_seconds += idle_seconds(plan.activity, 0.0, held_for) * float(rec.held_share)
        self.observer.hold(self.sessions[sid].group, -float(rec.held_share))
        return held_for

    def _on_left(self, sid: str, rid: str) -> None:
        self._release_books(sid)
        self.records[sid].ended_at = self.now

    def _on_reclaimed(self, sid: str, rid: str, reason: str) -> None:
        self.granted.pop(rid, None)
        rec = self.records[sid]
        rec.reclaimed += 1
        held_for = self._release_books(sid)
        plan = self.plans[sid]
        later = [(a, b) for a, b in plan.activity if a > held_for]
        if not later or later[0][0] >= plan.duration:
            rec.ended_at = self.now
            return  # nothing more to do in this session: reclaim ended it early
        # she comes back when she next wants to work, with what was left of her session
        back = later[0][0]
        self.plans[sid] = _Plan(plan.duration - back, tuple((a - back, b - back) for a, b in later))
        rec.wait_from = rec.started + back  # her wait counts from when she comes back
        self._push(rec.started + back, RETURN, sid)

    # -- idle reclaim, as the service runs it ---------------------------------------------------
    def _reclaim_round(self) -> None:
        activity = {}
        for rid, sid in self.granted.items():
            rec = self.records[sid]
            seen = last_active(self.plans[sid].activity, self.now - rec.started)
            seen = seen if seen is not None else 0.0
            activity[(self.sessions[sid].user, sid)] = EPOCH + rec.started + seen
        loop = self._loop()
        loop.run_until_complete(self.reclaim.update(activity))

    _event_loop: asyncio.AbstractEventLoop | None = None

    def _loop(self) -> asyncio.AbstractEventLoop:
        if self._event_loop is None:
            self._event_loop = asyncio.new_event_loop()
        return self._event_loop

    def close(self) -> None:
        if self._event_loop is not None:
            self._event_loop.close()
        if self.store is not None:
            self.store.close()

    # -- what the metrics read ----------------------------------------------------------------
    def _state(self) -> tuple[int, float, bool, bool]:
        """(people waiting, devices free in the pool, whether the smallest share anyone waits for is no
        larger than that in total, whether some device or node has room for a waiting share now)."""
        pool = self.adm.pool
        free = float(pool.capacity(MODEL) - pool.held(MODEL))
        shares = {self._asked(sid) for sid in self.waiting}
        fits_total = bool(shares) and float(min(shares)) <= free + 1e-9
        return len(self.waiting), free, fits_total, fits_total and any(_placeable(pool, s) for s in shares)

    def _asked(self, sid: str) -> Fraction:
        return FLAVORS[flavor_for(self.sessions[sid].share, self.policy.whole)]


def _placeable(pool, share: Fraction) -> bool:
    """Whether the pool has room for ``share`` in one piece now: one device for a fraction, whole free
    devices on one node for whole devices (a read of the pool's public occupancy, nothing placed)."""
    if share < 1:
        return any(pool.used(name, d) + share <= 1 for name, spec in pool.nodes.items()
                   for d in range(spec.devices))
    return any(sum(1 for d in range(spec.devices) if pool.used(name, d) == 0) >= share
               for name, spec in pool.nodes.items())


def replay(trace: Trace, policy: Policy, **kwargs) -> ReplayResult:
    """Run one policy over one trace."""
    r = Replay(trace, policy, **kwargs)
    try:
        return r.run()
    finally:
        r.close()
