"""Slows down guessing of workshop codes at /hub/join: a few wrong codes free, then waits that double."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["JoinThrottle"]


@dataclass
class _Client:
    wrong: deque = field(default_factory=deque)  # when her recent wrong codes came
    strikes: int = 0  # waits imposed since her last quiet window
    blocked_until: float = 0.0


class JoinThrottle:
    """Per client (an address), ``free`` wrong codes per ``window`` seconds; each one beyond imposes a wait.

    The first wait is ``first_wait`` seconds and doubles with every further
    wrong code, up to ``max_wait``; a window without a wrong code forgives
    them all. Generous on purpose: a whole class often reaches the hub from
    one address, and mistypes now and then. Only wrong codes count: a right
    code, even refused (full, expired), tells a guesser nothing new. At most
    ``max_clients`` are remembered, the quietest forgotten first.
    """

    def __init__(self, *, free: int = 10, window: float = 60, first_wait: float = 1, max_wait: float = 300,
                 max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.free, self.window = free, window
        self.first_wait, self.max_wait = first_wait, max_wait
        self.max_clients = max_clients
        self.clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def _forget_old(self, client: _Client, now: float) -> None:
        while client.wrong and client.wrong[0] <= now - self.window:
            client.wrong.popleft()
        if not client.wrong and now >= client.blocked_until:
            client.strikes = 0

    def retry_after(self, key: str) -> float | None:
        """Seconds ``key`` must still wait before trying a code, or None."""
        client = self._clients.get(key)
        if client is None:
            return None
        now = self.clock()
        self._forget_old(client, now)
        return client.blocked_until - now if now < client.blocked_until else None

    def wrong_code(self, key: str) -> None:
        """``key`` tried a code that does not exist."""
        now = self.clock()
        client = self._clients.pop(key, None) or _Client()
        self._clients[key] = client  # most recent last: the quietest are first to go
        self._forget_old(client, now)
        client.wrong.append(now)
        if len(client.wrong) > self.free:
            client.strikes += 1
            client.blocked_until = now + min(self.first_wait * 2 ** (client.strikes - 1), self.max_wait)
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
