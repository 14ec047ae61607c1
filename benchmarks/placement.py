"""Placement: npuhub's fragmentation-aware pool against naive first-fit, side by side in one run.

Replays the same random churn of notebook sessions (mostly 1/8 and 1/4
slices, some whole devices) on both placers and reports:
- how often a request was refused while the pool had enough free capacity in
  total (capacity stranded by fragmentation), and
- placement decisions per second.
Run: make bench (or .venv/bin/python benchmarks/placement.py).
"""

from __future__ import annotations

import platform
import random
import time
from fractions import Fraction

from npuhub.pool import NoCapacity, NodeSpec, Pool, Slice

MODEL = "Ascend 910B"
MIX = [Fraction(1, 8)] * 30 + [Fraction(1, 4)] * 40 + [Fraction(1, 2)] * 15 + [Fraction(1)] * 10 + [Fraction(2)] * 5


class FirstFitPool(Pool):
    """The baseline: the first device (or node) with room, no packing."""

    def _find_fraction(self, model, share):
        for (node, device), used in self._used.items():
            if self.nodes[node].model == model and 1 - used >= share:
                return [Slice(node, device, share)]
        return None

    def _find_whole(self, model, count):
        for name, spec in self.nodes.items():
            free = [d for d in range(spec.devices) if self._used[(name, d)] == 0]
            if spec.model == model and len(free) >= count:
                return [Slice(name, d, Fraction(1)) for d in free[:count]]
        return None


class SpreadPool(FirstFitPool):
    """Least-allocated first, the way a default scheduler spreads load."""

    def _find_fraction(self, model, share):
        best = None
        for (node, device), used in self._used.items():
            if self.nodes[node].model == model and 1 - used >= share and (best is None or used < best[0]):
                best = (used, node, device)
        return [Slice(best[1], best[2], share)] if best else None


def replay(pool_class, nodes: int, steps: int, seed: int) -> dict:
    rng = random.Random(seed)
    pool = pool_class([NodeSpec(f"n{i}", MODEL, 8) for i in range(nodes)])
    live: list[str] = []
    refused = stranded = decisions = 0
    started = time.perf_counter()
    for _ in range(steps):
        if live and rng.random() < 0.45:
            pool.release(live.pop(rng.randrange(len(live))))
            continue
        share = rng.choice(MIX)
        decisions += 1
        try:
            live.append(pool.place("u", MODEL, share).id)
        except NoCapacity:
            refused += 1
            # refused although the pool had that much free in total: fragmentation
            if pool.capacity(MODEL) - pool.held(MODEL) >= share:
                stranded += 1
    elapsed = time.perf_counter() - started
    return {"refused": refused, "stranded": stranded, "decisions": decisions, "per_s": decisions / elapsed}


def main() -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print(f"{'pool':>10} {'placer':>10} {'refused':>8} {'stranded':>9} {'decisions/s':>12}")
    for nodes, steps in [(2, 20000), (16, 20000), (64, 10000)]:
        results = {}
        for name, cls in [("npuhub", Pool), ("first-fit", FirstFitPool), ("spread", SpreadPool)]:
            results[name] = r = replay(cls, nodes, steps, seed=nodes)
            print(f"{nodes:>4}x8 NPU {name:>10} {r['refused']:>8} {r['stranded']:>9} {r['per_s']:>12.0f}")
        a = results["npuhub"]
        for other in ("first-fit", "spread"):
            b = results[other]
            print(f"{'':>10} npuhub/{other}: stranded x{a['stranded'] / max(b['stranded'], 1):.2f}, "
                  f"speed x{a['per_s'] / b['per_s']:.2f}")


if __name__ == "__main__":
    main()
