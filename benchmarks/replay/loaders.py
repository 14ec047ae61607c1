"""Loaders for the public GPU cluster traces an operator may have, into the replayer's sessions.

Column layouts as the traces' own READMEs document them:

- Alibaba PAI, ``cluster-trace-gpu-v2020`` (Weng et al., NSDI '22): CSV files
  without a header line (the header is shipped apart, as ``*.header``);
  ``pai_task_table``: job_name, task_name, inst_num, status, start_time,
  end_time, plan_cpu, plan_mem, plan_gpu, gpu_type (``plan_gpu`` in percent of
  one GPU per instance: 50 is half a GPU); ``pai_job_table``: job_name,
  inst_id, user, status, start_time (the submission), end_time;
  ``pai_instance_table``: job_name, task_name, inst_name, worker_name, inst_id,
  status, start_time, end_time, machine. Times are seconds.
- Microsoft Philly (Jeon et al., ATC '19), ``cluster_job_log``: one JSON list
  of jobs, each with ``status``, ``vc``, ``jobid``, ``user``,
  ``submitted_time`` ("YYYY-MM-DD HH:MM:SS") and ``attempts``, each with
  ``start_time``, ``end_time`` and ``detail`` (servers, each with its list of
  ``gpus``); a time may be missing or "None".
- SenseTime Helios (Hu et al., SC '21), ``cluster_log.csv`` with a header:
  job_id, user, vc, gpu_num, cpu_num, node_num, state, submit_time,
  start_time, end_time, duration, queue.

What becomes of a job: one session per GPU job (CPU-only jobs are left out),
arriving when it was submitted (times from the trace's first arrival), asking
for the GPUs it held (a fraction for Alibaba's ``plan_gpu`` below 100; the
replayer rounds a share up to its menu), held for the time it ran. The group
is the virtual cluster (Philly, Helios) or the user (Alibaba, which has no
teams). These traces record batch jobs, not people at a notebook: there is no
idle time in them (every session is active throughout, so idle reclaim finds
nothing) and no patience (``patience`` applies to all).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Iterable

from .trace import Session, Trace

__all__ = ["load_alibaba", "load_philly", "load_helios", "TraceFormatError", "PAI_TASK", "PAI_JOB",
           "PAI_INSTANCE", "HELIOS"]

PAI_TASK = ["job_name", "task_name", "inst_num", "status", "start_time", "end_time", "plan_cpu", "plan_mem",
            "plan_gpu", "gpu_type"]
PAI_JOB = ["job_name", "inst_id", "user", "status", "start_time", "end_time"]
PAI_INSTANCE = ["job_name", "task_name", "inst_name", "worker_name", "inst_id", "status", "start_time",
                "end_time", "machine"]
HELIOS = ["job_id", "user", "vc", "gpu_num", "cpu_num", "node_num", "state", "submit_time", "start_time",
          "end_time", "duration", "queue"]


class TraceFormatError(ValueError):
    """A trace file that does not have the documented layout; the message names the file and the line."""


def _rows(path: Path, columns: list[str]) -> Iterable[tuple[int, dict]]:
    """Rows of a CSV file as dicts; a first line equal to the column names is taken as a header."""
    with open(path, newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or (number == 1 and [c.strip() for c in row] == columns):
                continue
            if len(row) != len(columns):
                raise TraceFormatError(f"{path}: line {number}: {len(row)} columns, expected {len(columns)} "
                                       f"({', '.join(columns)})")
            yield number, dict(zip(columns, (c.strip() for c in row)))


def _number(value: str) -> float | None:
    if value in ("", "None", "nan", "NaN", "NULL"):
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _finish(name: str, rows: list[tuple[float, str, str, Fraction, float]], patience: float, source: str,
            limit: int | None) -> Trace:
    """Sessions from (arrival, user, group, share, duration), times from the first arrival."""
    rows.sort(key=lambda r: r[0])
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        return Trace(name, [], 1.0, source)
    t0 = rows[0][0]
    sessions = [Session(id=f"{name}{i}", user=user, group=group, arrival=round(at - t0, 3), share=share,
                        duration=round(duration, 3), activity=((0.0, round(duration, 3)),), patience=patience)
                for i, (at, user, group, share, duration) in enumerate(rows)]
    span = sessions[-1].arrival / 86400.0
    return Trace(name, sessions, max(1.0, math.ceil(span)), source)


def load_alibaba(task_table: Path, job_table: Path | None = None, instance_table: Path | None = None,
                 patience: float = 3600.0, limit: int | None = None) -> Trace:
    """Sessions from ``pai_task_table`` (with users and submission times from ``pai_job_table`` and the
    instances' actual run times from ``pai_instance_table``, when given)."""
    jobs: dict[str, tuple[str, float | None]] = {}
    if job_table is not None:
        for _, row in _rows(job_table, PAI_JOB):
            jobs[row["job_name"]] = (row["user"], _number(row["start_time"]))
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    if instance_table is not None:
        for _, row in _rows(instance_table, PAI_INSTANCE):
            start, end = _number(row["start_time"]), _number(row["end_time"])
            if start is None or end is None:
                continue
            key = (row["job_name"], row["task_name"])
            low, high = spans.get(key, (start, end))
            spans[key] = (min(low, start), max(high, end))
    rows = []
    for _, row in _rows(task_table, PAI_TASK):
        gpu, instances = _number(row["plan_gpu"]), _number(row["inst_num"])
        start, end = spans.get((row["job_name"], row["task_name"]),
                               (_number(row["start_time"]), _number(row["end_time"])))
        if not gpu or gpu <= 0 or start is None or end is None or end <= start:
            continue
        user, submitted = jobs.get(row["job_name"], (row["job_name"], None))
        share = Fraction(round(gpu * max(1, int(instances or 1))), 100)
        arrival = submitted if submitted is not None and submitted <= start else start
        rows.append((arrival, user, f"user-{user}", share, end - start))
    return _finish("pai", rows, patience, f"alibaba:{task_table}", limit)


def _philly_time(value) -> float | None:
    if not value or value == "None":
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return None


def load_philly(job_log: Path, patience: float = 3600.0, limit: int | None = None) -> Trace:
    """Sessions from Philly's ``cluster_job_log``: a job's GPUs are those of its first attempt with any;
    it runs from its first attempt's start to its last attempt's end."""
    try:
        jobs = json.loads(Path(job_log).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TraceFormatError(f"{job_log}: not JSON ({e})") from None
    if not isinstance(jobs, list):
        raise TraceFormatError(f"{job_log}: expected a JSON list of jobs")
    rows = []
    for job in jobs:
        if not isinstance(job, dict):
            continue
        attempts = [a for a in job.get("attempts") or [] if isinstance(a, dict)]
        gpus = next((sum(len(d.get("gpus") or []) for d in a.get("detail") or []) for a in attempts
                     if any(d.get("gpus") for d in a.get("detail") or [])), 0)
        submitted = _philly_time(job.get("submitted_time"))
        starts = [t for t in (_philly_time(a.get("start_time")) for a in attempts) if t is not None]
        ends = [t for t in (_philly_time(a.get("end_time")) for a in attempts) if t is not None]
        if not gpus or submitted is None or not starts or not ends or max(ends) <= min(starts):
            continue
        rows.append((submitted, str(job.get("user", "")), f"vc-{job.get('vc', '')}", Fraction(gpus),
                     max(ends) - min(starts)))
    return _finish("philly", rows, patience, f"philly:{job_log}", limit)


def load_helios(cluster_log: Path, patience: float = 3600.0, limit: int | None = None) -> Trace:
    """Sessions from a Helios ``cluster_log.csv`` (GPU jobs only)."""
    rows = []
    for _, row in _rows(cluster_log, HELIOS):
        gpus = _number(row["gpu_num"])
        submitted = _philly_time(row["submit_time"])
        duration = _number(row["duration"])
        if duration is None:
            start, end = _philly_time(row["start_time"]), _philly_time(row["end_time"])
            duration = end - start if start is not None and end is not None else None
        if not gpus or gpus <= 0 or submitted is None or not duration or duration <= 0:
            continue
        rows.append((submitted, row["user"], row["vc"], Fraction(int(gpus)), duration))
    return _finish("helios", rows, patience, f"helios:{cluster_log}", limit)
