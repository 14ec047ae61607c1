"""The admission's vocabulary: requests, their states, decisions, reservations, budgets."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction

from ..pool import Grant
from ..refusals import Refusal, refusal_text

__all__ = ["State", "Request", "Decision", "Reservation", "ReservationUse", "Budget", "Refused", "CoreState"]


class State(str, enum.Enum):
    WAITING = "waiting"
    GRANTED = "granted"
    RELEASED = "released"
    CANCELLED = "cancelled"
    REFUSED = "refused"

    @property
    def final(self) -> bool:
        return self in (State.RELEASED, State.CANCELLED, State.REFUSED)


@dataclass
class Request:
    """One person's request for one flavor's share, from arrival to its end."""

    id: str
    user: str
    groups: frozenset[str]
    flavor: str
    model: str | None
    share: Fraction
    arrived: float
    charge_group: str | None = None
    state: State = State.WAITING
    reason: str | None = None
    grant: Grant | None = None
    granted_at: float | None = None
    ended_at: float | None = None
    #: who ended it: the person, her teacher or staff (their name), or None when npuhub itself did
    ended_by: str | None = None
    reservation: str | None = None
    #: device-seconds charged so far (metering accrues while granted)
    charged: Fraction = Fraction(0)
    metered_until: float | None = None
    #: arrival order among requests that arrived in the same instant
    seq: int = 0
    #: the JupyterHub server name ("" for the default server) or another holder's label
    server: str = ""
    #: the Dask cluster this request is the scheduler or a worker of (``npuhub.admission.clusters``); None: a notebook
    cluster: str | None = None
    #: ``share`` as a float, for the estimates (converting a Fraction is slow, and they do it per step)
    share_float: float = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        self.share_float = float(self.share)

    @property
    def active(self) -> bool:
        return self.state in (State.WAITING, State.GRANTED)


@dataclass(frozen=True)
class Decision:
    """What happened to a request: granted, waiting (with position and estimate) or refused."""

    request: str
    state: State
    reason: str | None = None
    position: int | None = None
    eta: float | None = None
    retry_at: float | None = None


class Refused(Refusal):
    """A request the policy refuses outright (quota spent, limit reached, flavor impossible).

    The core gives the machine ``detail``; the sentence is made from it once, here.
    """

    def __init__(self, reason: str, detail: dict | None = None, retry_at: float | None = None):
        self.detail = detail or {}
        extra = {"account": str(self.detail.get("account", ""))} if reason == "quota_spent" else {}
        super().__init__(reason, refusal_text(reason, self.detail, retry_at), retry_at=retry_at, **extra)


@dataclass(frozen=True)
class Reservation:
    """A teacher holds ``count`` slices of ``flavor`` for ``group`` from ``starts`` to ``ends``."""

    id: str
    group: str
    flavor: str
    count: int
    starts: float
    ends: float
    created_by: str
    #: seconds from the start during which unused reserved slices are not lent to others
    hold: float = 600.0

    def active(self, now: float) -> bool:
        return self.starts <= now < self.ends


@dataclass
class Budget:
    """Device-seconds an account may still spend this period, renewed by a rule."""

    account: str
    balance: Fraction
    grant_per_period: Fraction
    cap: Fraction
    period: float
    period_start: float
    ledger: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class ReservationUse:
    """How a reservation is used now: members' sessions on its slices, placeholders held, lent or not."""

    in_use: int
    held: int
    #: the hold is over: unused reserved slices went to everyone
    lent: bool


@dataclass(frozen=True)
class CoreState:
    """What the admission core keeps beyond requests, reservations, budgets and usage (``snapshot``)."""

    #: the last arrival number given out
    seq: int
    #: the observed mean session length (seconds), for the estimates
    session_mean: float
