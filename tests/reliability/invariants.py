"""Invariants a fault must never break, checked from the admission database (and the API); each returns violations.

Every checker returns a list of sentences, one per violation (empty: the
invariant holds), so a test can run them all, print counts, and assert the
whole list is empty. They read what a fault leaves behind, never the
service's memory:

- ``lost``: every request a client was told about is in the database, as
  hers, and at least as far along as she was told (granted, ended);
- ``over_capacity``: at no instant did a device hold more than it has, nor a
  person more than her groups' limit, nor two requests one grant;
- ``charges``: each request was charged once: the ledger's charges and
  refunds for it net to what the request says it was charged, on every
  account it drew on; nothing negative was charged; and the amount is
  exact (share times the time its server held the slice, or nothing for a
  slice no server used), within one accrual interval for a session still
  running; and each account's ledger entries follow one from another
  (``ledger_chain``);
- ``unserved``: every granted request has a server the hub runs or starts;
- ``api_disagrees``: the API tells each request's state as the database has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from npuhub.admission.core import price_of
from npuhub.admission.model import Request, State
from npuhub.admission.store import AdmissionStore
from npuhub.site_config import SiteConfig

#: How far along a client was told a request is; a checker compares it with the database.
SUBMITTED, GRANTED, ENDED = "submitted", "granted", "ended"
_RANK = {SUBMITTED: 0, GRANTED: 1, ENDED: 2}

#: Metering charges whole milliseconds per tick: a session's total may fall short of share x length by
#: less than a millisecond per tick; two milliseconds of slack per session is the storm tests' tolerance.
ROUNDING = Fraction(2, 1000)


@dataclass
class History:
    """Everything the database holds about requests and money, read after a fault."""

    requests: dict[str, Request]
    ledger: list[dict]


def read_history(db_url: str) -> History:
    store = AdmissionStore(db_url)
    try:
        return History({r.id: r for r in store.requests(limit=10**6)}, store.ledger(limit=10**7))
    finally:
        store.close()


class Heard:
    """What the clients were told, request by request: whose it is and the furthest state acknowledged."""

    def __init__(self):
        self.owner: dict[str, str] = {}
        self.furthest: dict[str, str] = {}

    def tell(self, request_id: str, user: str, state: str) -> None:
        """Record an answer (``state`` as the API said it) the client received for ``request_id``."""
        told = ENDED if state in ("released", "cancelled", "refused") else GRANTED if state == "granted" \
            else SUBMITTED
        self.owner[request_id] = user
        if _RANK[told] >= _RANK[self.furthest.get(request_id, SUBMITTED)]:
            self.furthest[request_id] = told

    def __len__(self) -> int:
        return len(self.owner)


def lost(history: History, heard: Heard) -> list[str]:
    """Acknowledged requests that are missing, someone else's, or went back on what their client was told."""
    found = []
    for rid, user in heard.owner.items():
        req = history.requests.get(rid)
        if req is None:
            found.append(f"request {rid} of {user} was acknowledged and is not in the database")
            continue
        if req.user != user:
            found.append(f"request {rid} of {user} is stored as {req.user}'s")
        told = heard.furthest[rid]
        if told == GRANTED and req.granted_at is None:
            found.append(f"request {rid} of {user} was acknowledged as granted; the database never granted it "
                         f"({req.state.value})")
        if told == ENDED and not req.state.final:
            found.append(f"request {rid} of {user} was acknowledged as ended and is {req.state.value} again")
    return found


def over_capacity(history: History, site: SiteConfig) -> list[str]:
    """Instants at which a device was over-full, a person over her limit, or one grant held twice."""
    found = []
    events = []
    grant_ids: dict[str, str] = {}
    for req in history.requests.values():
        if req.granted_at is None or req.grant is None:
            continue
        if req.grant.id in grant_ids:
            found.append(f"grant {req.grant.id} given to both {grant_ids[req.grant.id]} and {req.id}")
        grant_ids[req.grant.id] = req.id
        ends = req.ended_at if req.ended_at is not None else float("inf")
        if ends < req.granted_at:
            found.append(f"request {req.id} ended ({ends}) before it was granted ({req.granted_at})")
        limit = site.limits.max_share_for(set(req.groups))
        for s in req.grant.slices:
            events.append((req.granted_at, 1, (s.node, s.device), s.fraction, req.user, limit, req.id))
            events.append((ends, 0, (s.node, s.device), -s.fraction, req.user, limit, req.id))
    events.sort(key=lambda e: (e[0], e[1]))  # at the same instant, releases first
    used: dict = {}
    held: dict = {}
    for at, _, device, fraction, user, limit, rid in events:
        used[device] = used.get(device, Fraction(0)) + fraction
        held[user] = held.get(user, Fraction(0)) + fraction
        if used[device] > 1:
            found.append(f"device {device} held {used[device]} at {at:.3f} (with request {rid})")
        if held[user] > limit:
            found.append(f"{user} held {held[user]} > her limit {limit} at {at:.3f} (with request {rid})")
    return found


def charges(history: History, site: SiteConfig, served: Callable[[Request], bool], now: float,
            accrual_interval: float, accounts: Iterable[str] | None = None,
            died: Iterable[float] = ()) -> list[str]:
    """Requests charged other than once and exactly.

    ``served(req)`` says whether a server used the request's slice (the test
    knows: a serverless API storm has none; a real server seen running has).
    A served request is charged its price times the seconds it held the slice;
    one never served ends charged nothing (what metering charged is refunded).
    A grant still held at ``now`` is charged up to within ``accrual_interval``.
    ``accounts``: check only ledger entries of these accounts (None: all).
    ``died``: when service processes were killed. A grant that outlived the
    process that made it cannot be told from one whose server ran (the next
    process never saw the hub run it, and meters it as served): it may be charged
    anything from nothing to its price for the time it was held, never more.
    """
    deaths = sorted(died)
    found = []
    wanted = set(accounts) if accounts is not None else None
    net: dict[str, dict[str, Fraction]] = {}
    for entry in history.ledger:
        if wanted is not None and entry["account"] not in wanted:
            continue
        amount = Fraction(entry["amount"])
        if entry["kind"] == "charge" and amount > 0 or entry["kind"] == "refund" and amount < 0:
            found.append(f"ledger entry {entry['id']} ({entry['kind']}) of {entry['account']} moves {amount} "
                         "the wrong way")
        if entry["request"] is not None and entry["kind"] in ("charge", "refund"):
            per_account = net.setdefault(entry["request"], {})
            per_account[entry["account"]] = per_account.get(entry["account"], Fraction(0)) - amount
    for req in history.requests.values():
        if req.granted_at is None:
            if req.charged or req.id in net and any(net[req.id].values()):
                found.append(f"request {req.id} was never granted and is charged {req.charged}")
            continue
        for account, amount in net.get(req.id, {}).items():
            if amount != req.charged:
                found.append(f"request {req.id} says it was charged {req.charged}; the ledger of {account} "
                             f"says {amount}")
        if req.charged < 0:
            found.append(f"request {req.id} is charged a negative amount {req.charged}")
        rate = price_of(site.catalogue, req.flavor, req.share)
        if not served(req):
            death = next((t for t in deaths if req.granted_at < t < (req.ended_at or now)), None)
            if death is not None:
                held = Fraction((req.ended_at or now) - req.granted_at)
                if req.charged > rate * held + rate * ROUNDING:
                    found.append(f"request {req.id} held {float(held):.3f}s across a service's death and is "
                                 f"charged {float(req.charged / rate):.3f}s worth")
            elif req.state.final and req.charged:
                found.append(f"request {req.id} had no server and is charged {req.charged}")
            continue
        if req.state.final:
            exact = rate * Fraction(req.ended_at - req.granted_at)
            if abs(req.charged - exact) > rate * ROUNDING:
                found.append(f"request {req.id} held {float(exact / rate):.3f}s and is charged "
                             f"{float(req.charged / rate):.3f}s worth")
        else:
            upto = rate * Fraction(now - req.granted_at)
            at_least = rate * Fraction(max(0.0, now - req.granted_at - accrual_interval))
            if not at_least - rate * ROUNDING <= req.charged <= upto + rate * ROUNDING:
                found.append(f"running request {req.id} held {now - req.granted_at:.3f}s and is charged "
                             f"{float(req.charged / rate):.3f}s worth (interval {accrual_interval}s)")
    return found


def ledger_chain(history: History) -> list[str]:
    """Ledger entries that do not follow from the one before on their account (one lost, doubled or altered)."""
    found = []
    last: dict[str, Fraction] = {}
    for entry in sorted(history.ledger, key=lambda e: e["id"]):
        account = entry["account"]
        before, amount, after = (Fraction(entry[k]) for k in ("before", "amount", "after"))
        if before + amount != after:
            found.append(f"ledger entry {entry['id']} of {account}: {before} + {amount} != {after}")
        if account in last and last[account] != before:
            found.append(f"ledger entry {entry['id']} of {account} starts from {before}, the entry before ended "
                         f"at {last[account]}")
        last[account] = after
    return found


def unserved(history: History, active: set[tuple[str, str]], granted_before: float | None = None) -> list[str]:
    """Granted requests whose server the hub neither runs nor starts (``active``: its (user, server) pairs).

    ``granted_before``: only requests granted before then (the time of the
    hub's listing less one reconciliation round: a grant may wait that long
    for the service to notice its start was forgotten).
    """
    return [f"request {req.id} of {req.user} holds a slice and the hub has no server {req.server!r} for it"
            for req in history.requests.values()
            if req.state is State.GRANTED and req.share and (req.user, req.server) not in active
            and (granted_before is None or req.granted_at < granted_before)]


def api_disagrees(history: History, api_states: Mapping[str, str]) -> list[str]:
    """Requests whose state the API tells (``api_states``: id to state) differently from the database."""
    found = []
    for rid, state in api_states.items():
        req = history.requests.get(rid)
        stored = req.state.value if req is not None else "missing"
        if state != stored:
            found.append(f"the API says request {rid} is {state}; the database says {stored}")
    return found


def hub_active(hub_api) -> set[tuple[str, str]]:
    """The (user, server) pairs the hub runs or starts, from its REST API (an admin's ``HubAPI``)."""
    r = hub_api("GET", "/users", params={"state": "active"})
    r.raise_for_status()
    return {(user["name"], name) for user in r.json() for name, server in (user.get("servers") or {}).items()
            if server.get("ready") or server.get("pending")}


@dataclass
class Tally:
    """The numbers of a run, for its summary line: storms, kills, requests checked, violations."""

    storms: int = 0
    kills: int = 0
    checked: int = 0
    violations: int = 0

    def line(self, what: str, seed: int) -> str:
        return (f"[reliability] {what}: seed={seed} storms={self.storms} kills={self.kills} "
                f"requests_checked={self.checked} violations={self.violations}")
