"""The single writer: the admission core, its store, and group commit: every change durable before it is answered.

Every change goes through ``Engine.change(fn)``. Changes that arrive together
(while the event loop was busy with the previous group) form a *group*: in one
step of the event loop, with nothing else running in between, each ``fn`` of
the group calls the admission core in arrival order, then the store commits
everything the group changed in one transaction, and only then is each caller
answered with its own outcome (the result or refusal its ``fn`` had, as if it
had been alone). A refusal by policy is committed too (the core may have
recorded it, or opened a budget account on the way).

So a commit costs one transaction per group, not per change, and still:
- nobody is told anything before it is durable: callers are answered after the
  commit, and no read runs between a group's changes and their commit;
- a crash (SIGKILL) at any point loses no acknowledged change; the changes of
  the group being committed were answered to nobody;
- a group the database refuses for its data is undone (reloaded from the
  database) and its changes are made again one by one, each its own
  transaction, so that only the offending one is refused; a change that fails
  half-way (a bug) is answered with its error, the memory is reloaded, and the
  others of its group are made again one by one the same way.

When the database cannot be reached the engine fails closed: it answers no
change at all (503 ``store_unavailable``), keeps answering reads from memory,
never releases anything because of the outage, and reloads itself from the
database as soon as it answers again (``recover``). Whatever the memory held
that the failed commit did not write is dropped with that reload, so the
database stays the one truth: nothing half-done survives, nothing is granted
twice; until then, the requests the failed group changed are answered 503
(``in_doubt``). Metering uses the stored ``metered_until`` of each request,
so time that passed during an outage is charged, once, at the first tick
after it.

The store is synchronous (SQLAlchemy, like JupyterHub's own database): a
group's commit is a fraction of a millisecond to a few on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

from sqlalchemy import exc as sa_exc

from ..admission.core import Admission
from ..admission.model import Decision, Refused, Request, State
from ..admission.store import AdmissionStore, StoreUnavailable
from ..i18n import message
from ..site_config import SiteConfig
from .errors import APIError
from .metrics import Metrics

__all__ = ["Engine", "NeverBack", "data_error_answer"]

T = TypeVar("T")


def data_error_answer(error: StoreUnavailable) -> APIError | None:
    """The answer when the database refused a commit because of its data (a 4xx); None for an outage."""
    cause = error.__cause__
    if isinstance(cause, sa_exc.IntegrityError):
        text = str(cause.orig).splitlines()[0][:200] if cause.orig else "integrity"
        if "unique" in text.lower() or "duplicate" in text.lower():
            return APIError(409, "data_conflict", message("data_conflict", detail=text))
        return APIError(400, "data_refused", message("data_refused", detail=text))
    if isinstance(cause, sa_exc.DataError):
        text = str(cause.orig).splitlines()[0][:200] if cause.orig else "data"
        return APIError(400, "data_refused", message("data_refused", detail=text))
    return None

class Engine:
    """Owns the Admission, commits its changes, and knows whether the database is there."""

    def __init__(self, store: AdmissionStore, site: SiteConfig, admission_kwargs: Callable[[], dict],
                 metrics: Metrics, log: logging.Logger | None = None, clock: Callable[[], float] = time.time):
        self.store = store
        self.site = site
        self.admission_kwargs = admission_kwargs
        self.metrics = metrics
        self.log = log or logging.getLogger("npuhub.service")
        #: the admission's time: a system clock stepped back (NTP) holds still until it catches up, so that
        #: no request ends before it began and no ledger entry comes before the one it follows
        self.clock = NeverBack(clock)
        self.adm: Admission | None = None
        self.available = False
        self.down_since: float | None = None
        self.last_error: str | None = None
        self.lock = asyncio.Lock()
        #: bumped by every committed change; caches of derived views key on it
        self.version = 0
        self._positions: tuple[int, float, dict[str, Decision]] | None = None
        self._changed = asyncio.Event()  # set, and replaced, at every committed change (long polls wait on it)
        #: requests a failed commit changed in memory only: until the reload, memory may tell what never was
        self.in_doubt: set[str] = set()
        #: changes waiting for the next group: (fn, what, future of the caller)
        self._waiting: list[tuple[Callable[[Admission], object], str, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        #: groups committed, and the changes in them (for metrics and the benchmark)
        self.groups = 0
        self.grouped = 0

    # -- loading and recovering --------------------------------------------------------------
    async def load(self) -> bool:
        """(Re)load everything from the database. False, and marked down, if it cannot be reached."""
        async with self.lock:
            return self._load()

    def _load(self) -> bool:
        try:
            adm = self.store.open(self.site, self.clock, **self.admission_kwargs())
            self.store.commit(adm)  # what open() scheduled (reservations' placeholders, grants that fit)
        except StoreUnavailable as e:
            self._mark_down(e)
            return False
        recovered = self.adm is not None and not self.available
        self.adm = adm
        self.in_doubt.clear()
        self.available = True
        self.down_since = None
        self.last_error = None
        self._bump()
        self.metrics.store_available.set(1)
        if recovered:
            self.log.warning("The admission database is back; state reloaded from it.")
        return True

    async def recover(self) -> bool:
        """If the database was unreachable, try to reload from it. True when the engine is available."""
        if self.available:
            return True
        return await self.load()

    def _mark_down(self, error: Exception) -> None:
        if self.available or self.down_since is None:
            self.log.error("The admission database cannot be reached: %s. Refusing changes until it returns; "
                           "running sessions are kept.", error)
            self.down_since = self.clock()
        self.available = False
        self.last_error = str(error)
        self.metrics.store_available.set(0)

    def suspend(self, why: str) -> None:
        """Refuse every change until the next ``load`` (the leader lock is in doubt); reads go on from memory."""
        self._mark_down(RuntimeError(why))

    def unavailable(self, what: str = "change") -> APIError:
        self.metrics.store_refusals.labels(what).inc()
        return APIError(503, "store_unavailable", headers={"Retry-After": "5"})

    # -- reading -------------------------------------------------------------------------------
    def current(self) -> Admission:
        """The admission state to read from (memory, possibly older than the database during an outage)."""
        if self.adm is None:
            raise self.unavailable("read")
        return self.adm

    def positions(self, max_age: float = 1.0) -> dict[str, Decision]:
        """Position and estimate of every waiting request; recomputed after a change or once a second."""
        adm = self.current()
        now = self.clock()
        cached = self._positions
        if cached is None or cached[0] != self.version or now - cached[1] > max_age:
            cached = self._positions = (self.version, now, adm.positions())
        return cached[2]

    def decision(self, request_id: str) -> Decision | None:
        """Position and estimate of one waiting request (None if it is not waiting).

        The same answer as ``positions()`` gives for it, but O(1) while the
        kept simulation of the queue holds: a join answered from this costs
        no walk over the whole queue.
        """
        adm = self.current()
        req = adm.find(request_id)
        if req is None or req.state is not State.WAITING:
            return None
        return adm.decision(request_id)

    def find(self, request_id: str) -> Request | None:
        """A request by id: active ones from memory, finished ones from the database.

        One a failed commit changed is 503 until the reload: its retry must not
        be told "granted" or "released" from memory the database never saw.
        """
        if request_id in self.in_doubt:
            raise self.unavailable("read")
        req = self.current().find(request_id)
        if req is not None:
            return req
        return self.read_store(self.store.get_request, request_id)

    def read_store(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """A read that needs the database (history, the ledger); 503 when it cannot be reached."""
        if not self.available:
            raise self.unavailable("read")
        try:
            return fn(*args, **kwargs)
        except StoreUnavailable as e:
            self._mark_down(e)
            raise self.unavailable("read") from None

    # -- changing -------------------------------------------------------------------------------
    async def change(self, fn: Callable[[Admission], T], what: str = "change") -> T:
        """Run ``fn(adm)`` and commit what it changed; answered once that is durable. Refused while the store is down.

        ``fn`` may raise ``Refused`` (committed, then raised) or ``APIError``
        before it changes anything. Any other exception leaves the memory in
        doubt: it is dropped and reloaded from the database. Changes that
        arrive together are committed together (see the module's docstring);
        each caller gets what its own ``fn`` returned or raised.
        """
        if not self.available or self.adm is None:
            raise self.unavailable(what)
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        self._waiting.append((fn, what, answer))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await answer

    async def _flush(self) -> None:
        """Make and commit the waiting changes as one group (after letting the changes ready to come join it)."""
        await asyncio.sleep(0)
        group: list = []
        try:
            async with self.lock:
                group, self._waiting, self._flusher = self._waiting, [], None
                if len(group) == 1:
                    fn, what, answer = group[0]
                    self._answer(answer, self._alone, fn, what)
                elif group:
                    self._group(group)
        finally:
            # never leave a caller waiting for ever (a bug in the engine itself, or the loop shutting down)
            for _, what, answer in group:
                if not answer.done():
                    self.log.error("A %s was left unanswered by its group; answering 503", what)
                    answer.set_exception(self.unavailable(what))

    @staticmethod
    def _answer(answer: asyncio.Future, make: Callable[..., T], *args) -> None:
        """Settle one caller's future with what ``make(*args)`` returns or raises (unless the caller left)."""
        try:
            result = make(*args)
        except Exception as e:
            if not answer.done():
                answer.set_exception(e)
            return
        if not answer.done():
            answer.set_result(result)

    def _group(self, group: list) -> None:
        """Several changes, one transaction; on any trouble but an outage, each change again on its own."""
        adm = self.adm
        if not self.available or adm is None:
            for _, what, answer in group:
                self._answer(answer, self._refuse, what)
            return
        granted_before = {r.id for r in adm.granted()}
        charged_before = {r.id: r.charged for r in adm.granted()}
        outcomes: list[tuple[object, BaseException | None]] = []
        for index, (fn, what, answer) in enumerate(group):
            marker = self._marker(adm)
            try:
                outcomes.append((fn(adm), None))
            except Refused as e:
                outcomes.append((None, e))
            except APIError as e:
                if self._marker(adm) != marker:  # a bug: an APIError must come before any change
                    return self._one_by_one(group, index, e)
                outcomes.append((None, e))
            except Exception as e:
                self.log.exception("A change failed half-way; reloading the admission state from the database")
                return self._one_by_one(group, index, e)
        observed = self._observe(adm, granted_before, charged_before)
        if self._has_changes(adm):
            try:
                self.store.commit(adm)
            except StoreUnavailable as e:
                if data_error_answer(e) is None:
                    self.in_doubt.update(adm.dirty)
                    self._mark_down(e)
                    for _, what, answer in group:
                        self._answer(answer, self._refuse, what)
                    return
                self.log.warning("The database refused the data of a group of %d changes (%s); making them "
                                 "one by one", len(group), e)
                return self._one_by_one(group, None, None)
        self.groups += 1
        self.grouped += len(group)
        self.metrics.commit_groups.observe(len(group))
        self._bump()
        self._record(observed)
        for (_, _, answer), (result, error) in zip(group, outcomes):
            if answer.done():
                continue
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(result)

    def _one_by_one(self, group: list, failed: int | None, error: BaseException | None) -> None:
        """Drop the group's uncommitted changes (reload), then make each again alone; ``failed`` gets ``error``."""
        self._load()
        for index, (fn, what, answer) in enumerate(group):
            if index == failed:
                if not answer.done():
                    answer.set_exception(error)
                continue
            self._answer(answer, self._alone, fn, what)

    def _refuse(self, what: str):
        raise self.unavailable(what)

    @staticmethod
    def _marker(adm: Admission) -> tuple:
        """What a change grows: compared around a change that raised, to tell whether it changed anything.

        Sizes, so that a group costs O(changes): a buggy change that raised after touching only what an
        earlier change of its group had already touched goes unnoticed, and is committed with the group.
        """
        return (len(adm.dirty), len(adm.budgets.pending), len(adm.dirty_reservations), len(adm.fairshare.dirty),
                len(adm.dirty_clusters))

    def _alone(self, fn: Callable[[Admission], T], what: str) -> T:
        """One change, one transaction (the lock is held)."""
        if not self.available or self.adm is None:
            raise self.unavailable(what)
        adm = self.adm
        granted_before = {r.id for r in adm.granted()}
        charged_before = {r.id: r.charged for r in adm.granted()}
        refused: Refused | None = None
        try:
            result = fn(adm)
        except Refused as e:
            refused = e
            result = None
        except APIError:
            if self._has_changes(adm):  # a bug: an APIError must come before any change
                self._load()
            raise
        except Exception:
            self.log.exception("A change failed half-way; reloading the admission state from the database")
            self._load()
            raise
        observed = self._observe(adm, granted_before, charged_before)
        if self._has_changes(adm):
            try:
                self.store.commit(adm)
            except StoreUnavailable as e:
                bad_data = data_error_answer(e)
                if bad_data is None:
                    self.in_doubt.update(adm.dirty)
                    self._mark_down(e)
                    raise self.unavailable(what) from None
                # this change's data, not the database: drop the change, keep serving everyone else
                self.log.warning("The database refused the data of a %s (%s); it was not made", what, e)
                self._load()
                raise bad_data from None
        self.groups += 1
        self.grouped += 1
        self.metrics.commit_groups.observe(1)
        self._bump()
        self._record(observed)
        if refused is not None:
            raise refused
        return result

    def _bump(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait until the next committed change, at most ``timeout`` seconds. True if one came."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    @staticmethod
    def _has_changes(adm: Admission) -> bool:
        return bool(adm.dirty or adm.budgets.pending or adm.dirty_reservations or adm.fairshare.dirty
                    or adm.dirty_clusters)

    def _observe(self, adm: Admission, granted_before: set[str], charged_before: dict[str, Fraction]):
        """What the metrics should learn from this change (recorded only once it is committed)."""
        waits = [(r.flavor, (r.granted_at or r.arrived) - r.arrived)
                 for r in adm.granted() if r.id not in granted_before]
        burn: dict[str, Fraction] = {}
        for rid in adm.dirty:
            req = adm.requests.get(rid)
            if req is None:
                continue
            delta = req.charged - charged_before.get(rid, Fraction(0))
            if delta > 0:
                burn[req.flavor] = burn.get(req.flavor, Fraction(0)) + delta
        return waits, burn

    def _record(self, observed) -> None:
        waits, burn = observed
        for flavor, wait in waits:
            self.metrics.queue_wait.labels(flavor).observe(max(wait, 0.0))
        for flavor, amount in burn.items():
            self.metrics.burn.labels(flavor).inc(float(amount))

    # -- periodic work ----------------------------------------------------------------------------
    async def tick(self) -> list[str]:
        """Meter every running session up to now, then schedule. Returns ids whose budget is spent."""

        def meter_and_schedule(adm: Admission) -> list[str]:
            spent = [r.id for r in adm.meter()]
            adm.schedule()
            return spent

        return await self.change(meter_and_schedule, "meter")

    def close(self) -> None:
        self.store.close()


class NeverBack:
    """A clock that never goes back: the latest time it has told, or the source's if that is later."""

    def __init__(self, source: Callable[[], float]):
        self.source = source
        self.latest = float("-inf")

    def __call__(self) -> float:
        now = self.source()
        if now > self.latest:
            self.latest = now
        return self.latest
