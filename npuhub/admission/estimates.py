"""Estimated start times for waiting requests, from running sessions' expected ends.

A fluid model per device model: capacity frees when a running session is
expected to end (the observed mean session length, or sooner when idle reclaim
has said when it will stop it), and
waiting requests take it in queue order. It ignores fragmentation (a ½ may
wait although ½ is free in two quarters), so estimates err on the early side
when the pool is fragmented; they are refreshed at every change.

Two implementations of the same model:

- ``estimate_starts``: the plain simulation, from scratch, of a list of
  requests. The reference: short, and what the tests compare against.
- ``Fluid``: the same simulation kept between calls, so that a request
  appended at the tail of the queue costs one step (O(log n)) instead of a
  re-run over the whole queue, and so that the clock may move on without a
  re-run as long as that cannot change the outcome (see ``Fluid.valid_at``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    from .model import Request

__all__ = ["FluidInput", "Running", "Held", "expected_end", "estimate_starts", "Fluid"]

#: capacity compared with this slack (floats, summed many times)
EPS = 1e-9
#: two times closer than this (seconds) are treated as possibly equal when the clock moves
NEAR = 1e-6


class Running(NamedTuple):  # a tuple: one is made per running session at every re-run
    """A granted session holding slices: what it holds, since when (None: not known), and when idle reclaim
    will stop it (None: it is not being reclaimed)."""

    model: str
    share: float
    granted_at: float | None
    reclaim_at: float | None = None


class Held(NamedTuple):
    """A reservation's placeholder: slices held until ``frees_at`` (the hold's end or the window's)."""

    model: str
    share: float
    frees_at: float


@dataclass(frozen=True)
class FluidInput:
    """What the estimates read of the admission, as of one moment (``Admission.fluid_input``)."""

    #: the observed mean session length (seconds)
    session_mean: float
    #: device model -> devices not held now
    free: Mapping[str, float]
    #: device model -> devices in the pool
    capacity: Mapping[str, float]
    #: granted sessions holding slices
    running: tuple[Running, ...]
    #: reservations' placeholders
    held: tuple[Held, ...]


def expected_end(granted_at: float | None, now: float, mean: float) -> float:
    """When a granted session is expected to end: the observed mean after its start.

    A session already longer than the mean is expected to go on for a quarter
    of a mean more.
    """
    started = granted_at if granted_at is not None else now
    mean_end = started + mean
    if mean_end <= now:
        mean_end = now + mean / 4
    return mean_end


def estimate_starts(inp: FluidInput, order: list["Request"], now: float) -> dict[str, float | None]:
    """Absolute estimated start time of each request in ``order`` (None: no capacity will ever fit it)."""
    # Floats, not Fractions: this is an estimate.
    free: dict[str, float] = {}
    events: dict[str, list[tuple[float, int, float]]] = {}
    cursor: dict[str, float] = {}
    seq = 0
    for model, available in inp.free.items():
        free[model] = available
        events[model] = []
        cursor[model] = now
    for run in inp.running:
        if run.model in events:
            end = expected_end(run.granted_at, now, inp.session_mean)
            if run.reclaim_at is not None:
                end = min(end, max(run.reclaim_at, now))
            heapq.heappush(events[run.model], (end, seq, run.share))
            seq += 1
    for held in inp.held:
        heapq.heappush(events[held.model], (held.frees_at, seq, held.share))
        seq += 1

    capacity = dict(inp.capacity)
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
        while free[model] < share - EPS and heap:
            at, _, freed = heapq.heappop(heap)
            t = max(t, at)
            free[model] += freed
        if free[model] < share - EPS:
            starts[req.id] = None
            continue
        free[model] -= share
        cursor[model] = t
        starts[req.id] = t
        heapq.heappush(heap, (t + inp.session_mean, seq, share))
        seq += 1
    return starts


# -- the kept simulation -------------------------------------------------------------------
#
# A time in the simulation is either *fixed* (a float: a session's expected end
# that does not depend on the clock, a reservation's hold) or *derived* from the
# clock: NOW, OVERDUE (``now + mean / 4``, the expected end of a session already
# longer than the mean) or ``(parent, duration)``, a derived start plus a
# session length. A derived time is evaluated at a given ``now`` with exactly
# the float operations the plain simulation would do at that ``now``, so the
# kept simulation gives the very same floats.
#
# When the clock moves by d, every derived time moves by d (to within float
# rounding) and fixed ones stay. The simulation only compares times (which
# event ends first, max(cursor, end)); while no comparison between a derived
# and a fixed time (or two different derived times) is closer than d, it takes
# the same steps, and its result is the same with the derived times evaluated
# at the new ``now``. ``margin`` is the smallest such gap met so far.

NOW = ("now",)
OVERDUE = ("overdue",)


class _Model:
    """The simulation's state for one device model."""

    __slots__ = ("free", "capacity", "t", "t_node", "fixed", "derived", "last", "last_node")

    def __init__(self, free: float, capacity: float, now: float):
        self.free = free
        self.capacity = capacity
        self.t, self.t_node = now, NOW  # the cursor: no request starts before the one ahead of it
        self.fixed: list[tuple[float, int, float]] = []  # heap of (end, seq, share)
        self.derived: list[tuple[float, int, float, tuple]] = []  # heap of (end at t0, seq, share, node)
        self.last, self.last_node = now, NOW  # the latest derived time taken so far


class Fluid:
    """The fluid simulation of a whole queue at time ``t0``, kept to be extended and re-read.

    ``results`` maps each simulated request to (position among its model, start
    time node or None). The owner (``Admission``) drops it whenever anything
    the simulation read changes, except for a request appended at the tail of
    the queue, which it hands to ``extend``.
    """

    def __init__(self, inp: FluidInput, now: float, key: object = None):
        self.key = key
        self.t0 = now
        self.mean = inp.session_mean
        self.overdue = now + self.mean / 4
        self.margin = float("inf")
        #: the clock may not pass this without a re-run (a running session becomes overdue)
        self.until = float("inf")
        #: False when some input depends on the clock in a way not modelled (then valid at t0 only)
        self.movable = True
        self.results: dict[str, tuple[int, object]] = {}
        self.counts: dict[str | None, int] = {}  # requests per model so far: positions
        self._children: dict[tuple[int, float], tuple] = {}
        self._seq = 0
        self._memo_now: float | None = None
        self._memo: dict[int, float] = {}
        self.models = {m: _Model(free, inp.capacity[m], now) for m, free in inp.free.items()}
        for run in inp.running:
            if run.model not in self.models:
                continue
            state = self.models[run.model]
            reclaim_at = max(run.reclaim_at, now) if run.reclaim_at is not None else float("inf")
            if run.granted_at is None:
                self.movable = False  # not worth modelling: rare, and correct at t0
                self._push_fixed(state, min(expected_end(None, now, self.mean), reclaim_at), run.share)
                continue
            mean_end = run.granted_at + self.mean
            if reclaim_at <= (mean_end if mean_end > now else self.overdue):
                # stopped by idle reclaim before its expected end: a fixed time the expected end only leaves
                if run.reclaim_at < now:
                    self.movable = False  # a stop already due happens "now", which moves with the clock
                self._push_fixed(state, reclaim_at, run.share)
            elif mean_end <= now:
                if reclaim_at < float("inf"):
                    self.until = min(self.until, reclaim_at - self.mean / 4)  # the overdue end passes it then
                self._push_derived(state, self.overdue, OVERDUE, run.share)
            else:
                self.until = min(self.until, mean_end)
                self._push_fixed(state, mean_end, run.share)
        for held in inp.held:
            if held.model in self.models:
                self._push_fixed(self.models[held.model], held.frees_at, held.share)

    def _push_fixed(self, state: _Model, at: float, share: float) -> None:
        self._seq += 1
        heapq.heappush(state.fixed, (at, self._seq, share))

    def _push_derived(self, state: _Model, at: float, node: tuple, share: float) -> None:
        self._seq += 1
        heapq.heappush(state.derived, (at, self._seq, share, node))

    # -- simulating ----------------------------------------------------------------------
    def extend(self, requests: Iterable["Request"]) -> None:
        """Simulate ``requests`` after those already simulated, in this order.

        One loop with the state in local variables: a re-run steps through
        every waiting request, so each look-up and heap operation saved counts.
        """
        results, counts, models, children = self.results, self.counts, self.models, self._children
        mean, margin, seq = self.mean, self.margin, self._seq
        heappop, heappush, heapreplace = heapq.heappop, heapq.heappush, heapq.heapreplace
        for req in requests:
            model = req.model
            position = counts[model] = counts.get(model, 0) + 1
            share = req.share_float
            if model is None or not share:
                results[req.id] = (position, NOW)
                continue
            state = models.get(model)
            if state is None or share > state.capacity:
                results[req.id] = (position, None)
                continue
            free, t, t_node = state.free, state.t, state.t_node
            need = share - EPS
            duration = mean
            seq += 1
            if free >= need:  # fits at the cursor
                state.free = free - share
                if t_node.__class__ is tuple:
                    key = (id(t_node), duration)
                    node = children.get(key)
                    if node is None:
                        node = children[key] = (t_node, duration)
                    heappush(state.derived, (t + duration, seq, share, node))
                else:
                    heappush(state.fixed, (t + duration, seq, share))
                results[req.id] = (position, t_node)
                continue
            fixed, derived = state.fixed, state.derived
            last, last_node = state.last, state.last_node
            pushed = False
            while fixed or derived:
                if derived and (not fixed or derived[0][0] < fixed[0][0]):
                    heap = derived
                    at, _, freed, node = derived[0]
                    if node is not last_node and at - last < NEAR:
                        margin = 0.0  # two derived times that may swap as the clock moves
                    if node is not t_node and at - t < NEAR:
                        margin = 0.0  # max(cursor, end) may change sides
                    last, last_node = at, node
                else:
                    heap = fixed
                    at, _, freed = fixed[0]
                    node = at
                    if at >= last:  # a fixed end after a derived one: the clock may not pass it
                        gap = at - last
                        if gap < margin:
                            margin = gap
                if at > t:
                    t, t_node = at, node
                free += freed
                if free >= need:
                    # the last end this request waits for: pop it and push the request's own end
                    # in one heap operation when both are on the same heap (same content, so the
                    # same order of later pops: every entry has its own seq)
                    if t_node.__class__ is tuple:
                        key = (id(t_node), duration)
                        child = children.get(key)
                        if child is None:
                            child = children[key] = (t_node, duration)
                        entry, target = (t + duration, seq, share, child), derived
                    else:
                        entry, target = (t + duration, seq, share), fixed
                    if target is heap:
                        heapreplace(heap, entry)
                    else:
                        heappop(heap)
                        heappush(target, entry)
                    pushed = True
                    break
                heappop(heap)
            state.last, state.last_node = last, last_node
            if not pushed:
                state.free = free
                seq -= 1
                results[req.id] = (position, None)
                continue
            state.free = free - share
            state.t, state.t_node = t, t_node
            results[req.id] = (position, t_node)
        self.margin, self._seq = margin, seq

    # -- reading ---------------------------------------------------------------------------
    def valid_at(self, now: float) -> bool:
        """Whether the simulation run at ``t0`` gives the same result as one run at ``now``."""
        if now == self.t0:
            return True
        if not self.movable or now < self.t0 or now >= self.until:
            return False
        margin = self.margin
        for state in self.models.values():
            if state.fixed:  # an end not reached yet may not come before one already taken
                margin = min(margin, state.fixed[0][0] - state.last)
        return now - self.t0 + NEAR < margin

    def eta(self, node: object, now: float) -> float | None:
        """The time ``node`` stands for at ``now`` (call only when ``valid_at(now)``)."""
        if node is None:
            return None
        if not isinstance(node, tuple):
            return node
        if self._memo_now != now:
            self._memo_now, self._memo = now, {}
        memo = self._memo
        chain = []
        while node is not NOW and node is not OVERDUE and id(node) not in memo:
            chain.append(node)
            node = node[0]
        if node is NOW:
            value = now
        elif node is OVERDUE:
            value = now + self.mean / 4
        else:
            value = memo[id(node)]
        for link in reversed(chain):
            value = value + link[1]
            memo[id(link)] = value
        return value
