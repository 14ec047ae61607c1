"""The replay's report: a table per trace (markdown), the plots (PNG), its part of benchmarks/README.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from .metrics import summarize
from .replayer import ReplayResult
from .synthetic import GROUPS

__all__ = ["row", "table", "write_section", "plot_all", "BEGIN", "END"]

BEGIN, END = "<!-- replay-table:begin -->", "<!-- replay-table:end -->"


def row(result: ReplayResult) -> dict:
    """The summary of one replay, plus its speed."""
    groups = [g for g in GROUPS if any(r.session.group == g for r in result.records)] or None
    out = summarize(result.records, result.observer, result.devices, result.days, groups)
    out.update(policy=result.policy.name, label=result.policy.label, events=result.events,
               events_per_s=result.events / result.seconds if result.seconds else None)
    return out


def _f(value, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    return f"{value:,.{digits}f}{suffix}"


def table(rows: Sequence[dict], speed: bool = True, workshop: bool = False) -> str:
    """A markdown table of replays of one trace; ratios against the first row (whole devices, no queue)."""
    base = rows[0]["served_per_device_day"] or None
    head = ["policy", "served / device / day", "vs no queue", "wait median", "wait p95", "gave up",
            "alloc. while anyone waits", "free, unplaceable", "free, held back", "Jain (groups)",
            "idle device-h / day", "reclaims", "estimate error median / p90 (bias)"]
    if workshop:
        head += ["class served", "class wait median / p95"]
    if speed:
        head += ["events", "events/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ratio = r["served_per_device_day"] / base if base else None
        eta = ("–" if r["eta_n"] == 0 else
               f"{_f(r['eta_abs_err_median_min'])} / {_f(r['eta_abs_err_p90_min'])} min "
               f"({_f(r['eta_err_median_min'], suffix=' min')}, n={r['eta_n']})")
        cells = [r["label"], _f(r["served_per_device_day"], 2), _f(ratio, 2, "x"),
                 _f(r["wait_median_min"], suffix=" min"), _f(r["wait_p95_min"], suffix=" min"),
                 _f(r["gave_up_pct"], suffix=" %"), _f(r["alloc_waiting_pct"], suffix=" %"),
                 _f(r["unplaceable_pct"], suffix=" %"), _f(r["held_back_pct"], suffix=" %"), _f(r["jain"], 3),
                 _f(r["idle_device_h_per_day"], 0), _f(r["reclaimed"]), eta]
        if workshop:
            cells += [f"{r.get('class_served', 0)} of {r.get('class_size', 0)}",
                      f"{_f(r.get('class_wait_median_min'))} / "
                      f"{_f(r.get('class_wait_p95_min'), suffix=' min')}"]
        if speed:
            cells += [_f(r["events"]), _f(r["events_per_s"], 0)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_section(readme: Path, text: str) -> None:
    """Replace what stands between the replay's markers in the README (appended the first time)."""
    old = readme.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{text.strip()}\n{END}"
    if BEGIN in old and END in old:
        new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(new, encoding="utf-8")


def plot_all(out: Path, synthetic: Sequence[ReplayResult], workshop: Sequence[ReplayResult],
             sweep: dict[str, list[tuple[float, float]]]) -> list[Path]:
    """The PNGs: people served, waits, the pool over time, the load sweep, estimates against waits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = []

    def save(fig, name):
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=110, metadata={"Software": None})
        plt.close(fig)
        paths.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, results, title in ((axes[0], synthetic, "synthetic trace"), (axes[1], workshop, "workshop day")):
        rows = [row(r) for r in results]
        ax.barh([r["policy"] for r in rows], [r["served_per_device_day"] for r in rows], color="#4c72b0")
        ax.invert_yaxis()
        ax.set_xlabel("people served per device per day")
        ax.set_title(title)
    save(fig, "replay-served.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in synthetic:
        waits = sorted(rec.waits[0] / 60 for rec in r.records if rec.served)
        if waits:
            shares = [(i + 1) / len(r.records) for i in range(len(waits))]
            ax.step(waits, shares, where="post", label=r.policy.name)
    ax.set_xlabel("wait before the start (minutes)")
    ax.set_ylabel("share of all sessions served by then")
    ax.set_xlim(0, 60)
    ax.legend(fontsize=8)
    ax.set_title("waits, synthetic trace (the curve ends at the share ever served)")
    save(fig, "replay-waits.png")

    fig, axes = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    for r in synthetic:
        if r.policy.name not in ("whole-noqueue", "frac-fair", "frac-reclaim"):
            continue
        hours = [t / 3600 for t, _, _ in r.observer.series]
        axes[0].plot(hours, [held for _, held, _ in r.observer.series], label=r.policy.name, lw=1)
        axes[1].plot(hours, [w for _, _, w in r.observer.series], label=r.policy.name, lw=1)
    axes[0].axhline(synthetic[0].devices, color="grey", ls=":", lw=1)
    axes[0].set_ylabel("devices held by people")
    axes[1].set_ylabel("people waiting")
    axes[1].set_xlabel("hours since the trace's start")
    axes[0].legend(fontsize=8)
    save(fig, "replay-pool.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, points in sweep.items():
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=name)
    ax.set_xlabel("sessions arriving per day (32 devices)")
    ax.set_ylabel("people served per device per day")
    ax.legend(fontsize=8)
    ax.set_title("load sweep, synthetic trace (1 day each)")
    save(fig, "replay-sweep.png")

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for r in synthetic:
        if r.policy.name not in ("whole-fcfs", "frac-reclaim"):
            continue
        pts = [(rec.shown_wait / 60, rec.waits[0] / 60) for rec in r.records
               if rec.served and rec.shown_wait is not None and rec.waits[0] > 0]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=6, alpha=0.5, label=r.policy.name)
    top = 120
    ax.plot([0, top], [0, top], color="grey", lw=1, ls=":")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("estimated wait shown on joining (min)")
    ax.set_ylabel("actual wait (min)")
    ax.legend(fontsize=8)
    save(fig, "replay-estimates.png")
    return paths
