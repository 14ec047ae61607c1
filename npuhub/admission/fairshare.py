"""Fair share: recent usage, decayed, against each group's weight (in the spirit of Slurm's factor)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["FairShare"]


@dataclass
class FairShare:
    """Decayed device-seconds per account and the priority factor they give.

    The factor is ``2 ** -(usage share / weight share)``: 1.0 for an account
    that used nothing, 0.5 for one that used exactly its fair part, towards 0
    for one that used far more. Usage halves every ``half_life`` seconds.
    """

    half_life: float = 7 * 86400.0
    weights: dict[str, float] = field(default_factory=dict)
    _usage: dict[str, tuple[float, float]] = field(default_factory=dict)  # account -> (value, at)
    dirty: set[str] = field(default_factory=set)  # accounts changed since the store last saved

    def _decayed(self, value: float, at: float, now: float) -> float:
        if now <= at:
            return value
        return value * math.pow(0.5, (now - at) / self.half_life)

    def usage(self, account: str, now: float) -> float:
        value, at = self._usage.get(account, (0.0, now))
        return self._decayed(value, at, now)

    def add(self, account: str, device_seconds: float, now: float) -> None:
        self._usage[account] = (self.usage(account, now) + device_seconds, now)
        self.dirty.add(account)

    def load(self, account: str, value: float, at: float) -> None:
        self._usage[account] = (value, at)

    def raw(self, account: str) -> tuple[float, float]:
        return self._usage[account]

    def weight(self, account: str) -> float:
        return self.weights.get(account, 1.0)

    def factor(self, account: str, now: float, accounts: set[str] | None = None) -> float:
        """Priority factor of ``account`` among ``accounts`` (default: every account with usage)."""
        if self._usage.get(account, (0.0, now))[0] <= 0 and self.weight(account) > 0:
            return 1.0  # 2 ** -(0 / anything): no need to total everyone's usage (new people join often)
        return self.factors(set(accounts or ()) | {account}, now)[account]

    def factors(self, accounts: set[str], now: float) -> dict[str, float]:
        """Priority factors of ``accounts``, shares taken among them and every account with usage."""
        everyone = set(accounts) | set(self._usage)
        usage = {a: self.usage(a, now) for a in everyone}
        total_usage = sum(usage.values())
        if total_usage <= 0:
            return {a: 1.0 for a in accounts}
        total_weight = sum(self.weight(a) for a in everyone)
        return {
            a: math.pow(2.0, -(usage[a] / total_usage) / (self.weight(a) / total_weight))
            for a in accounts
        }

    def snapshot(self, now: float) -> dict[str, float]:
        return {a: self.usage(a, now) for a in self._usage}
