"""The admission core: requests in, grants out, in a fair order everyone can see.

Order of the queue (``queue()``):
1. requests a group's active reservation can serve,
2. then by fair share of the group the request is charged to (higher factor first),
3. then by arrival.

Scheduling walks that order and grants what fits. When the first request
that does not fit (the *head*) is blocked, a later request may go ahead of it
(back-fill) only if it fits now and its session is expected to end before the
head's estimated start plus ``backfill_slack`` seconds: back-filling never
pushes the head's estimate back by more than that bound.

Reservations hold slices as placeholder grants in the pool, so reserved
capacity is exact even on a fragmented pool. A member of the group takes a
placeholder's very slices. Placeholders unused ``hold`` seconds after the
window opens are lent (released to everyone); from then on the group's
members still go first in the queue, but nobody is stopped for them.

Cost with many waiting: the order is kept sorted between changes (bisect);
scheduling stops as soon as nothing waiting can fit; the pool places from an
index; the head's estimate is a simulation of that one request (O(running
sessions)). Positions and estimates come from a simulation of the whole
queue kept between calls (``estimates.Fluid``): a request joining at the
tail extends it by one step, and it is re-read as the clock moves while that
cannot change its outcome. Any other change to what it reads (a grant, a
release, a cancel, a running session becoming overdue) makes the next read
of positions re-run it over the whole queue, once.

What others may use (everything else is private to this module):
- changes: ``submit``, ``end`` (cancel a waiting request or release a granted
  one), ``release``, ``stopping_for``, ``reserve`` / ``cancel_reservation``, ``meter``, ``schedule``;
- reads: ``find``, ``active_of``, ``holdings``, ``held_by``, ``queue``,
  ``positions``, ``decision``, ``waiting``, ``granted``, ``price``,
  ``accounts_of``, ``over_budget``, ``reserved_for``, ``reservation_use``,
  ``reserved``, ``stats``; others read its ``requests``, ``reservations`` and
  ``pool`` but never change them (``budgets`` and ``fairshare`` have their own
  public API, which the store and the adjustments use);
- for the store: ``snapshot`` / ``restore`` and the ``dirty`` sets it drains;
- for the estimates: ``fluid_input``, the frozen input of ``estimates.Fluid``,
  and ``set_reclaim_times`` (idle reclaim says when it will stop idle sessions).

Roles live in their own modules as mixins of ``Admission`` (one object, one
state): the queue's order and the kept simulation behind positions
(``queue_order.QueueOrder``), reservations (``reservations.ReservationBook``),
metering (``metering.Metering``), nodes that change in a cluster
(``nodes.NodeBook``: ``apply_nodes``, ``on_node``, ``lost_nodes``) and Dask
clusters (``clusters.ClusterBook``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable, Mapping

from ..flavors import Flavor, FlavorCatalogue, FlavorError
from ..pool import Grant, NoCapacity, Pool, PoolError
from ..site_config import SiteConfig
from .estimates import Fluid, FluidInput, Held, Running
from .clusters import ClusterBook
from .fairshare import FairShare
from .metering import Metering
from .nodes import NodeBook
from .queue_order import QueueOrder
from .reservations import ReservationBook
from .model import CoreState, Decision, Refused, Request, Reservation, State
from .quota import Account, Budgets

__all__ = ["Admission", "Stats", "price_of"]

@dataclass
class Stats:
    """What the core counts about its own work, for benchmarks and metrics (never read by its rules)."""

    #: full runs of the simulation of the whole queue
    simulations: int = 0
    #: why the latest one was needed: first, changed (something it reads), overdue (a session became
    #: overdue), clock (the clock moved further than its comparisons allow)
    last_cause: str | None = None
    #: refreshes of the queue order
    order_rebuilds: int = 0


@dataclass
class Admission(QueueOrder, ReservationBook, Metering, NodeBook, ClusterBook):
    site: SiteConfig
    clock: Callable[[], float]
    budgets: Budgets = field(default_factory=Budgets)
    fairshare: FairShare = field(default_factory=FairShare)
    backfill_slack: float = 300.0
    #: expected session length when nothing better is known yet (seconds)
    default_session: float = 3600.0

    def __post_init__(self):
        self.pool = Pool(self.site.nodes, self.site.pool_models, dynamic=self.site.kubernetes is not None)
        self.requests: dict[str, Request] = {}
        self.reservations: dict[str, Reservation] = {}
        self._placeholders: dict[str, list[Grant]] = {}  # reservation id -> held placeholder grants
        self._lent: set[str] = set()  # reservations whose unused slices were lent
        #: reservation id -> its window's end, kept while sessions granted on it run (``sessions_past_window``)
        self.reservation_ends: dict[str, float] = {}
        self._session_mean = float(self.default_session)
        self._seq = 0
        self._order: list[tuple[tuple, str]] | None = None
        self._order_valid_until = 0.0
        self._factors: dict[str, float] = {}
        self._keys: dict[str, tuple] = {}  # request id -> its place in the order
        self._queued: set[str] = set()  # waiting requests counted in _waiting_shares
        self._waiting_shares: Counter = Counter()  # (model, share) -> how many wait
        self.dirty: set[str] = set()  # request ids changed since the store last saved
        self.dirty_reservations: set[str] = set()
        self._granted: dict[str, Request] = {}
        self._active_by_user: dict[str, dict[str, Request]] = {}  # user -> her waiting and granted
        #: bumped by every change the estimates read (besides the pool's own version and the mean)
        self._version = 0
        self._fluid: Fluid | None = None  # the kept simulation of the whole queue
        self._reclaim_at: dict[str, float] = {}  # granted request id -> when idle reclaim will stop it
        self._stopping: dict[str, str] = {}  # granted request id -> why the service is stopping its server
        self.stats = Stats()
        self._clusters_init()

    # -- reading --------------------------------------------------------------
    @property
    def catalogue(self):
        return self.site.catalogue

    def waiting(self) -> list[Request]:
        return [r for r in self.requests.values() if r.state is State.WAITING]

    def granted(self) -> list[Request]:
        """Granted requests, in arrival order."""
        return sorted(self._granted.values(), key=_arrival)

    def find(self, request_id: str) -> Request | None:
        """An active request (waiting or granted) or one ended since the store last saved; else None."""
        return self.requests.get(request_id)

    def active_of(self, user: str) -> list[Request]:
        """Her waiting and granted requests, in arrival order."""
        return sorted(self._active_by_user.get(user, {}).values(), key=_arrival)

    def holdings(self, user: str) -> list[Request]:
        """Her granted requests, in arrival order."""
        return [r for r in self.active_of(user) if r.state is State.GRANTED]

    def held_by(self, user: str, include_waiting: bool = False) -> Fraction:
        states = (State.GRANTED, State.WAITING) if include_waiting else (State.GRANTED,)
        mine = self._active_by_user.get(user, {})
        return sum((r.share for r in mine.values() if r.state in states), Fraction(0))

    def account_of(self, req: Request) -> str:
        return f"group:{req.charge_group}" if req.charge_group else f"user:{req.user}"

    def price(self, flavor_id: str, share: Fraction = Fraction(0)) -> Fraction:
        """Device-hours charged per hour of a session of ``flavor_id``: what metering charges, and /me shows."""
        return price_of(self.catalogue, flavor_id, share)

    def accounts_of(self, user: str, groups: Iterable[str], charge_group: str | None,
                    now: float) -> list[Account]:
        """The budget accounts a request of hers draws on, as they stand at ``now`` (nothing opened or renewed)."""
        return self.budgets.peek_accounts(user, groups, charge_group, now)

    def over_budget(self, req: Request, now: float) -> bool:
        """A running request whose budget (hers, or her group's it draws on) is spent."""
        if req.state is not State.GRANTED or not req.share:
            return False
        return any(a.balance <= 0 for a in self.accounts_of(req.user, req.groups, req.charge_group, now))

    def fluid_input(self, now: float) -> FluidInput:
        """What the estimates read, as of ``now``: free capacity, running sessions, reservations' placeholders."""
        pool = self.pool
        capacity = {m: float(pool.capacity(m)) for m in pool.models}
        free = {m: float(pool.capacity(m) - pool.held(m)) for m in pool.models}
        # a session on a cordoned node or a draining device frees nothing new grants could use when it ends
        running = tuple(Running(r.model, r.share_float, r.granted_at, self._reclaim_at.get(r.id))
                        for r in self._granted.values()
                        if r.grant is not None and all(pool.placeable(s.node, s.device) for s in r.grant.slices))
        held = []
        for res_id, placeholders in self._placeholders.items():
            res = self.reservations.get(res_id)
            if res is None:
                continue
            frees_at = min(res.ends, res.starts + res.hold)
            held += [Held(p.model, float(p.share), frees_at) for p in placeholders]
        return FluidInput(self._session_mean, free, capacity, running, tuple(held))

    def set_reclaim_times(self, stop_at: Mapping[str, float]) -> None:
        """When idle reclaim will stop these granted sessions (epoch seconds); replaces what it said before.

        The estimates count on a session's slice from ``min(expected end, stop time)``. Kept in memory
        only: the service says it again at every reconciliation.
        """
        times = {rid: float(at) for rid, at in stop_at.items() if rid in self._granted}
        if times != self._reclaim_at:
            self._reclaim_at = times
            self._version += 1

    # -- persisting -------------------------------------------------------------
    def snapshot(self) -> CoreState:
        """What the store keeps beside requests, reservations, budgets and usage."""
        return CoreState(seq=self._seq, session_mean=self._session_mean)

    def restore(self, state: CoreState | None, requests: Iterable[Request],
                reservations: Iterable[Reservation] = ()) -> None:
        """Take in what the store loaded, into a fresh Admission; then ``schedule()`` places reservations.

        ``requests`` are the active ones in arrival order. A granted request's
        slices are taken in the pool again; one the pool no longer has (the
        pool shrank under a running session) is kept, counted as held nowhere,
        with ``reason`` "grant_not_in_pool" for the operator to see. A waiting
        request for a device model the pool no longer has is refused
        ("pool_no_model"), as it would be if it came now.
        """
        if self.requests or self.reservations:
            raise RuntimeError("restore() is for a fresh Admission")
        if state is not None:
            self._seq, self._session_mean = state.seq, state.session_mean
        for res in reservations:
            self.reservations[res.id] = res
            self.reservation_ends[res.id] = res.ends
        for req in requests:
            if req.state is State.GRANTED and req.grant is not None:
                try:
                    self.pool.restore(req.grant)
                except PoolError:
                    req.reason = "grant_not_in_pool"
            self._adopt(req)
            if req.state is State.WAITING:
                if req.model is not None and req.model not in self.pool.models:
                    self._end(req, State.REFUSED, self.clock(), "pool_no_model")
                    continue
                self._enqueue(req)
        self._invalidate_order()

    # -- requests ----------------------------------------------------------------
    def submit(self, user: str, groups: Iterable[str], flavor_id: str, request_id: str | None = None,
               server: str = "", cluster: str | None = None, cpu_only: bool = False) -> Decision:
        """A new request. Granted now, queued with a position, or refused (raises Refused).

        ``cluster``: the Dask cluster it belongs to; ``cpu_only``: it holds no slice of the flavor (share 0,
        granted at once, charged nothing): a Dask cluster's scheduler.
        """
        now = self.clock()
        groups = frozenset(groups)
        flavor = self._resolve(flavor_id, groups)
        if request_id is not None and request_id in self.requests:
            return self.decision(request_id)
        req = Request(
            id=request_id or str(uuid.uuid4()), user=user, groups=groups, flavor=flavor.id,
            model=None if cpu_only else flavor.device_model, share=Fraction(0) if cpu_only else flavor.share,
            arrived=now, charge_group=self._charge_group(flavor, groups, now), seq=self._next_seq(), server=server,
            cluster=cluster,
        )
        self._check_quota(req, now)
        self._adopt(req)
        self.dirty.add(req.id)
        if cpu_only or not flavor.has_accelerator:
            self._grant(req, None, now)
        else:
            if req.model not in self.pool.models:
                self._end(req, State.REFUSED, now, "pool_no_model")
                raise Refused("pool_no_model", {"model": req.model})
            self._enqueue(req)
            self.schedule()
        return self.decision(req.id)

    def _resolve(self, flavor_id: object, groups: Iterable[str]) -> Flavor:
        """The flavor, or a refusal saying which ones her groups may use."""
        try:
            return self.catalogue.resolve(flavor_id, groups)
        except FlavorError as e:
            allowed = ", ".join(f.id for f in self.catalogue.for_groups(groups)) or "-"
            raise Refused(e.reason, {"flavor": str(flavor_id)[:80], "allowed": allowed}) from None

    def _adopt(self, req: Request) -> None:
        """Take a request in: a new one (waiting, not yet queued) or one loaded from the store."""
        self.requests[req.id] = req
        if req.active:
            self._active_by_user.setdefault(req.user, {})[req.id] = req
        if req.state is State.GRANTED:
            self._granted[req.id] = req
            self._version += 1

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _charge_group(self, flavor: Flavor, groups: frozenset[str], now: float) -> str | None:
        """The group whose budget a request draws on.

        A workshop open now for one of her groups (its window's budget, account
        ``group:<course>@<workshop>``) comes first; else the first of her groups
        with a group budget. Either way one group account, beside her own.
        """
        window = self.budgets.window_for(groups, now)
        if window is not None:
            return window.partition(":")[2]
        candidates = sorted(flavor.groups & groups) + sorted(groups - flavor.groups)
        for group in candidates:
            if self.budgets.rule_for(f"group:{group}") is not None:
                return group
        return None

    def _budget_spent(self, req: Request, now: float) -> bool:
        """A waiting request one of whose budgets is spent: scheduling refuses it ("quota_spent")."""
        return any(a.balance <= 0 for a in self.accounts_of(req.user, req.groups, req.charge_group, now))

    def _check_quota(self, req: Request, now: float) -> None:
        limit = self.site.limits.max_share_for(set(req.groups))
        held = self.held_by(req.user, include_waiting=True)
        if req.share and held + req.share > limit:
            raise Refused("share_limit", {"limit": limit, "held": held, "share": req.share})
        for acct in self.budgets.accounts_for(req.user, req.groups, req.charge_group, now):
            if req.share and acct.balance <= 0:
                raise Refused("quota_spent", {"account": acct.name, "balance": acct.balance},
                              retry_at=self.budgets.available_at(acct))

    def decision(self, request_id: str) -> Decision:
        """Where one request stands; for a waiting one, its position and estimate (the queue up to it)."""
        req = self.requests[request_id]
        if req.state is not State.WAITING:
            return Decision(req.id, req.state, reason=req.reason)
        self._ensure_order(self.clock())
        now = self.clock()
        fluid = self._fluid_at(now)
        position, start = fluid.results[req.id]
        return Decision(req.id, State.WAITING, position=position, eta=fluid.eta(start, now))

    def end(self, request_id: str, reason: str | None = None, by: str | None = None) -> Request | None:
        """Cancel a waiting request (reason "cancelled") or release a granted one (reason "stopped").

        Ending a request twice is harmless; one the core no longer holds (it
        ended and was saved) gives None. Who may end whose request is the
        caller's business; ``by`` names who did (the person or someone acting
        for her), for the sentence she reads.
        """
        req = self.requests.get(request_id)
        if req is None:
            return None
        if req.state is State.WAITING:
            self._end(req, State.CANCELLED, self.clock(), reason or "cancelled", by)
            self.schedule()
        elif req.state is State.GRANTED:
            self.release(request_id, reason or self._stopping.get(request_id, "stopped"), by)
        return req

    def stopping_for(self, request_id: str, reason: str) -> None:
        """The service is stopping this granted session's server for ``reason`` (idle, budget spent).

        The release, whoever reports the stop (the hub's spawner, usually, with a plain ``end``), then
        carries that reason, so the person reads why her server stopped. Kept in memory only.
        """
        if request_id in self._granted:
            self._stopping[request_id] = reason

    def cancel(self, request_id: str, reason: str = "cancelled", by: str | None = None) -> Request:
        """``end`` with one reason whatever the state (withdrawn, or released if already granted)."""
        return self.end(request_id, reason, by)

    def release(self, request_id: str, reason: str = "stopped", by: str | None = None,
                meter: bool = True) -> Request:
        """The server stopped: charge to now, free the slices, admit whoever is next.

        ``meter=False``: the server was found gone some time ago (the hub no
        longer runs it); charge only what was metered while it was known to
        run, so an outage in between is not charged.
        """
        req = self.requests[request_id]
        if req.state is not State.GRANTED:
            return req
        self._stopping.pop(request_id, None)
        now = self.clock()
        if meter:
            self._meter_one(req, now)
        return self._free(req, now, reason, by)

    def abandon(self, request_id: str, reason: str = "server_gone") -> Request:
        """A grant no server ever used (its start was forgotten by a restarted hub): free it, charge nothing.

        What metering charged since the grant is given back to the same
        accounts (ledger kind ``refund``), so a slice nobody could use costs
        nobody anything.
        """
        req = self.requests[request_id]
        if req.state is not State.GRANTED:
            return req
        now = self.clock()
        if req.charged:
            accounts = self.budgets.accounts_for(req.user, req.groups, req.charge_group, now)
            self.budgets.refund(accounts, req.charged, now, req.id)
            req.charged = Fraction(0)
        return self._free(req, now, reason, None, learn=False)

    def _free(self, req: Request, now: float, reason: str, by: str | None, learn: bool = True) -> Request:
        self._stopping.pop(req.id, None)
        if req.grant is not None:
            self.pool.release(req.grant.id)
            if req.reservation:
                self._return_to_reservation(req)
        duration = now - (req.granted_at or now)
        if learn and duration > 0:  # a slow moving mean of session lengths for the estimates
            self._session_mean = 0.9 * self._session_mean + 0.1 * duration
        self._end(req, State.RELEASED, now, reason, by)
        self.schedule()
        return req

    def _end(self, req: Request, state: State, now: float, reason: str | None, by: str | None = None) -> None:
        if req.state is State.WAITING:
            self._dequeue(req)
        self._granted.pop(req.id, None)
        mine = self._active_by_user.get(req.user)
        if mine is not None:
            mine.pop(req.id, None)
            if not mine:
                del self._active_by_user[req.user]
        self._version += 1
        req.state, req.reason, req.ended_at, req.ended_by = state, reason, now, by
        self.dirty.add(req.id)
        if req.cluster is not None:
            self._cluster_request_ended(req)

    def _grant(self, req: Request, grant: Grant | None, now: float, reservation: str | None = None) -> None:
        if req.state is State.WAITING:
            self._dequeue(req)
        req.state, req.grant, req.granted_at, req.metered_until = State.GRANTED, grant, now, now
        req.reservation = reservation
        self._granted[req.id] = req
        self._version += 1
        self.dirty.add(req.id)

    # -- scheduling ----------------------------------------------------------------
    def schedule(self) -> list[Request]:
        """Grant what fits, in queue order, with bounded back-fill. Returns the newly granted."""
        now = self.clock()
        self._sync_reservations(now)
        granted: list[Request] = []
        head_start: float | None = None
        # the first request that did not fit, and whether anything was granted before it was found: its
        # estimate is only needed to judge a back-fill, which most passes never reach (nothing later fits)
        head: tuple[Request, bool] | None = None
        self._ensure_order(self.clock())
        order = list(self._order)  # a snapshot: granting takes requests out of the kept order
        # The smallest share per model found not to fit in this pass: anything as large fails too.
        no_room: dict[str | None, Fraction] = {}
        waiting_models = {model for model, _ in self._waiting_shares}
        blocked_models: set[str | None] = set()
        active_reservations = any(res.active(now) for res in self.reservations.values())
        for _, rid in order:
            if not active_reservations and blocked_models >= waiting_models:
                break  # nothing still waiting is small enough to fit
            req = self.requests[rid]
            if req.share and self._budget_spent(req, now):
                # her budget ran out while she waited (the quota is checked on arrival): refuse, never grant
                self._end(req, State.REFUSED, now, "quota_spent")
                continue
            reservation = self._reservation_for(req, now)
            if reservation is not None and self._placeholders.get(reservation.id):
                if head is not None and head_start is None:  # estimated as things stood when it was found
                    head_start = self._head_start(head, now)
                placeholder = self._placeholders[reservation.id].pop()
                self.pool.release(placeholder.id)
                grant = Grant(str(uuid.uuid4()), req.user, placeholder.model, placeholder.share,
                              placeholder.slices)
                self.pool.restore(grant)
                self._grant(req, grant, now, reservation.id)
                granted.append(req)
                continue
            if req.model in no_room and req.share >= no_room[req.model]:
                continue
            if head is not None:
                if head_start is None:
                    head_start = self._head_start(head, now)
                # back-fill: only what ends before the head could start (plus the slack)
                if now + self._session_mean > head_start + self.backfill_slack:
                    continue
            try:
                grant = self.pool.place(req.user, req.model, req.share)
            except NoCapacity:
                no_room[req.model] = min(req.share, no_room.get(req.model, req.share))
                if not any(m == req.model and s < no_room[req.model] for m, s in self._waiting_shares):
                    blocked_models.add(req.model)
                if head is None:
                    head = (req, bool(granted))
                continue
            self._grant(req, grant, now)
            granted.append(req)
        return granted

    def _head_start(self, head: tuple[Request, bool], now: float) -> float:
        req, changed = head
        estimate = self._estimate_head(req, now, changed)
        return estimate if estimate is not None else now + self._session_mean

    def _estimate_head(self, req: Request, now: float, changed: bool) -> float | None:
        """Estimated start of ``req`` if it were first in line, as things stand now."""
        fluid = self._fluid
        if (not changed and fluid is not None and fluid.key == self._fluid_key() and fluid.valid_at(now)
                and self._order and self._order[0][1] == req.id):
            # nothing changed since the kept simulation, whose first request this is
            return fluid.eta(fluid.results[req.id][1], now)
        alone = Fluid(self.fluid_input(now), now)  # a simulation of this one request: O(running sessions)
        alone.extend([req])
        return alone.eta(alone.results[req.id][1], now)

def _arrival(req: Request) -> int:
    return req.seq


def price_of(catalogue: FlavorCatalogue, flavor_id: str, share: Fraction) -> Fraction:
    """Device-hours charged per hour of a session: the flavor's price (by default its share).

    A flavor the site no longer lists is charged its request's ``share``.
    """
    flavor = catalogue.get(flavor_id)
    return flavor.device_hours_per_hour if flavor is not None else share
