"""Run the replay: every policy on the synthetic trace and on the workshop day; table, plots and README.

    .venv/bin/python -m benchmarks.replay            # what `make replay` runs
    .venv/bin/python -m benchmarks.replay --no-write # print only
    .venv/bin/python -m benchmarks.replay --load helios:/data/Venus/cluster_log.csv --limit 5000
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from pathlib import Path

from .loaders import TraceFormatError, load_alibaba, load_helios, load_philly
from .policies import POLICIES
from .replayer import replay
from .report import plot_all, row, table, write_section
from .synthetic import SHARE_MIX, synthetic, workshop_day

ROOT = Path(__file__).resolve().parents[2]


def _load(spec: str, limit: int | None):
    kind, _, path = spec.partition(":")
    paths = [Path(p) for p in path.split(",")]
    if kind == "alibaba":
        return load_alibaba(*paths, limit=limit)
    if kind == "philly":
        return load_philly(paths[0], limit=limit)
    if kind == "helios":
        return load_helios(paths[0], limit=limit)
    raise SystemExit(f"--load: unknown kind {kind!r} "
                     "(alibaba:task[,job[,instance]], philly:file, helios:file)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replay", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--per-day", type=float, default=900, help="sessions arriving per day (synthetic)")
    p.add_argument("--days", type=int, default=2, help="days of the synthetic trace")
    p.add_argument("--nodes", type=int, default=4, help="nodes of 8 devices")
    p.add_argument("--store", default=None, help="an AdmissionStore URL (e.g. sqlite:////tmp/r.db); "
                   "default: commit in memory")
    p.add_argument("--no-write", action="store_true", help="print; leave the README and plots alone")
    p.add_argument("--load", help="replay a public trace instead: alibaba:TASK[,JOB[,INSTANCE]], "
                   "philly:cluster_job_log, helios:cluster_log.csv")
    p.add_argument("--limit", type=int, default=None, help="with --load: the first N jobs only")
    args = p.parse_args(argv)
    kw = {"nodes": args.nodes, "store_url": args.store}
    started = time.perf_counter()
    machine = f"{platform.machine()}, CPython {platform.python_version()}"

    if args.load:
        try:
            trace = _load(args.load, args.limit)
        except (OSError, TraceFormatError) as e:
            raise SystemExit(f"--load: {e}") from None
        results = [replay(trace, pol, **kw) for pol in POLICIES if not pol.reservations]
        print(f"{trace.source}: {len(trace.sessions)} sessions over {trace.days:g} days, "
              f"{args.nodes * 8} devices")
        print(table([row(r) for r in results]))
        return

    syn = synthetic(args.seed, args.per_day, args.days)
    ws = workshop_day(args.seed + 1, args.per_day)
    syn_results = [replay(syn, pol, **kw) for pol in POLICIES if not pol.reservations]
    ws_results = [replay(ws, pol, **kw) for pol in POLICIES]
    # one class on one day is one draw: the class's fate on two more workshop days
    classes = {pol.name: [row(r).get("class_served", 0) for r in ws_results if r.policy is pol]
               for pol in POLICIES}
    for seed in (args.seed + 2, args.seed + 3):
        other = workshop_day(seed, args.per_day)
        for pol in POLICIES:
            classes[pol.name].append(row(replay(other, pol, **kw)).get("class_served", 0))
    # why allocation stays under 100 % while people wait: the same trace without whole-device requests
    small = dataclasses.replace(syn, name="synthetic-fractions",
                                sessions=[s for s in syn.sessions if s.share < 1])
    small_results = [replay(small, pol, **kw) for pol in POLICIES
                     if pol.name in ("whole-noqueue", "frac-reclaim")]
    sweep: dict[str, list[tuple[float, float]]] = {}
    for per_day in (300, 600, 900, 1200, 1800):
        trace = synthetic(args.seed + 10, per_day, 1)
        for pol in POLICIES:
            if pol.name in ("whole-noqueue", "frac-fair", "frac-reclaim"):
                served = row(replay(trace, pol, **kw))["served_per_device_day"]
                sweep.setdefault(pol.name, []).append((per_day, served))
    elapsed = time.perf_counter() - started
    events = sum(r.events for r in syn_results + ws_results + small_results)
    busy = sum(r.seconds for r in syn_results + ws_results + small_results)

    mix = ", ".join(f"{share} {weight} %" for share, weight in SHARE_MIX.items())
    offered = sum(float(s.share) * s.duration for s in syn.sessions) / (args.nodes * 8 * args.days * 86400)
    text = "\n".join([
        f"Synthetic trace: {len(syn.sessions)} sessions over {args.days} days (seed {args.seed}, "
        f"{args.per_day:g} a day on average), on {args.nodes} nodes x 8 devices; shares asked: {mix}; "
        f"the shares asked times the sessions' lengths come to {100 * offered:.0f} % of the pool's "
        "device-time.",
        "",
        table([row(r) for r in syn_results]),
        "",
        f"Workshop day: {len(ws.sessions)} sessions, of which a class of 40 (a quarter device each) arrives "
        f"within five minutes of 14:00 for 90 minutes.",
        "",
        table([row(r) for r in ws_results], workshop=True),
        "",
        f"The class of 40 on three workshop days (seeds {args.seed + 1}, {args.seed + 2}, {args.seed + 3}), "
        "students served:",
        "",
        "| policy | " + " | ".join(f"day {i + 1}" for i in range(3)) + " |",
        "|---|" + "---|" * 3,
        *[f"| {pol.label} | " + " | ".join(f"{n} of 40" for n in classes[pol.name]) + " |"
          for pol in POLICIES],
        "",
        f"The synthetic trace without its whole-device requests ({len(small.sessions)} sessions):",
        "",
        table([row(r) for r in small_results]),
        "",
        f"Load sweep (1-day synthetic traces, seed {args.seed + 10}), people served per device per day:",
        "",
        "| sessions a day | " + " | ".join(sweep) + " | frac-reclaim vs whole-noqueue |",
        "|---|" + "---|" * (len(sweep) + 1),
        *[f"| {int(x)} | " + " | ".join(f"{sweep[name][i][1]:.2f}" for name in sweep)
          + f" | {sweep['frac-reclaim'][i][1] / sweep['whole-noqueue'][i][1]:.2f}x |"
          for i, (x, _) in enumerate(sweep["whole-noqueue"])],
        "",
        f"Replayer speed: {events:,} events in {busy:.1f} s of replay ({events / busy:,.0f} events/s) "
        "over the "
        f"two traces and the variant; the whole command took {elapsed:.0f} s ({machine}; "
        f"store: {args.store or 'in memory'}).",
    ])
    print(text)
    if not args.no_write:
        write_section(ROOT / "benchmarks" / "README.md", text)
        for path in plot_all(ROOT / "benchmarks" / "replay" / "plots", syn_results, ws_results, sweep):
            print("wrote", path.relative_to(ROOT))


if __name__ == "__main__":
    main()
