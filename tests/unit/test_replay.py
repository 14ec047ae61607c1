"""The workload replayer (benchmarks/replay): its metrics on hand-made traces with known answers, its
loaders on samples written here, and its determinism."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from benchmarks.replay.loaders import TraceFormatError, load_alibaba, load_helios, load_philly
from benchmarks.replay.metrics import jain, percentile, summarize
from benchmarks.replay.policies import POLICIES, flavor_for
from benchmarks.replay.replayer import replay
from benchmarks.replay.report import BEGIN, END, row, table, write_section
from benchmarks.replay.synthetic import synthetic, workshop_day
from benchmarks.replay.trace import Session, Trace, dump, idle_seconds, last_active, load

ROOT = Path(__file__).resolve().parents[2]
POLICY = {p.name: p for p in POLICIES}
HALF, QUARTER = Fraction(1, 2), Fraction(1, 4)


def s(id, arrival, share, duration, *, group="lab-x", patience=7200.0, activity=None, tag=""):
    return Session(id=id, user=f"u-{id}", group=group, arrival=arrival, share=Fraction(share),
                   duration=duration, activity=activity if activity is not None else ((0.0, duration),),
                   patience=patience, tag=tag)


def run(sessions, policy, workshops=(), **kw):
    result = replay(Trace("t", list(sessions), 1.0, workshops=list(workshops)), POLICY[policy],
                    nodes=1, devices_per_node=1, **kw)
    return result, {r.session.id: r for r in result.records}


# -- the plain functions ----------------------------------------------------------------------
def test_percentile_is_linear_between_ranks():
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    assert percentile([0, 0, 3540], 50) == 0
    assert percentile([0, 0, 3540], 95) == pytest.approx(3186)
    assert percentile([4, 1, 3, 2], 50) == 2.5


def test_jain_index():
    assert jain([1, 1, 1, 1]) == 1
    assert jain([1, 0, 0, 0]) == 0.25
    assert jain([0.25, 0.5]) == pytest.approx(0.9)
    assert jain([]) is None and jain([0, 0]) is None


def test_activity_reads():
    periods = ((0.0, 60.0), (300.0, 400.0))
    assert last_active(periods, 30) == 30 and last_active(periods, 200) == 60
    assert last_active(periods, 500) == 400
    assert idle_seconds(periods, 0, 500) == 340
    assert idle_seconds(periods, 50, 350) == 240


def test_flavor_for_rounds_up_to_the_menu():
    assert flavor_for(Fraction(3, 10), whole=False) == "half"
    assert flavor_for(QUARTER, whole=True) == "one"
    assert flavor_for(Fraction(3), whole=True) == "four"


# -- the replay on hand-made traces ---------------------------------------------------------------
def test_fair_queue_on_one_device_known_answers():
    """A and B hold the device's two halves for an hour; C waits for A's half; D gives up after a minute."""
    sessions = [s("a", 0, HALF, 3600, activity=((0.0, 1800.0),)), s("b", 0, HALF, 3600, group="lab-y"),
                s("c", 60, HALF, 600), s("d", 120, HALF, 600, patience=60)]
    result, rec = run(sessions, "frac-fair")
    assert [rec[k].served for k in "abcd"] == [True, True, True, False]
    assert rec["c"].waits == [3540.0] and rec["d"].gave_up
    row_ = summarize(result.records, result.observer, 1, 1.0, ["lab-x", "lab-y"])
    assert row_["served"] == 3 and row_["served_per_device_day"] == 3
    assert row_["gave_up_pct"] == 25
    assert row_["wait_median_min"] == 0 and row_["wait_p95_min"] == pytest.approx(3186 / 60)
    assert row_["contention_h"] == pytest.approx(3540 / 3600)
    assert row_["alloc_waiting_pct"] == pytest.approx(100)
    assert row_["unplaceable_pct"] == 0 and row_["held_back_pct"] == 0
    # while C waited, lab-x (weight 2) and lab-y (weight 1) each held half: x = 1/4 and 1/2
    assert row_["jain"] == pytest.approx(0.9)
    # A idled her second half hour on half a device
    assert row_["idle_device_h_per_day"] == pytest.approx(0.25)
    # C was told the truth: both halves were expected back after an hour
    assert rec["c"].shown_wait == pytest.approx(3540)
    assert row_["eta_n"] == 1 and row_["eta_abs_err_median_min"] == pytest.approx(0)


def test_no_queue_retries_until_her_patience_runs_out():
    result, rec = run([s("a", 0, HALF, 3600), s("b", 10, HALF, 600, patience=400)], "whole-noqueue")
    assert rec["a"].served and not rec["b"].served and rec["b"].gave_up
    assert rec["b"].requests == 2  # at 10 s and again at 310 s; 610 s is past her patience
    row_ = summarize(result.records, result.observer, 1, 1.0)
    assert row_["gave_up_pct"] == 50 and row_["eta_n"] == 0
    # while she tried, a whole device was held: all of the pool
    assert row_["alloc_waiting_pct"] == pytest.approx(100)


def test_whole_devices_hold_the_rest_of_a_device_back():
    """Under whole devices, A's half takes a whole device: B cannot start until A ends."""
    _, rec = run([s("a", 0, HALF, 3600), s("b", 60, HALF, 600)], "whole-fcfs")
    assert rec["b"].waits == [3540.0]
    _, rec = run([s("a", 0, HALF, 3600), s("b", 60, HALF, 600)], "frac-fair")
    assert rec["b"].waits == [0.0]


def test_idle_reclaim_stops_the_idle_after_limit_and_grace_and_she_comes_back():
    """A works one minute, then idles; B waits. The service: idle 30 min, a warning, a stop 10 min later."""
    sessions = [s("a", 0, 1, 3600, activity=((0.0, 60.0), (3000.0, 3600.0))), s("b", 100, 1, 100)]
    result, rec = run(sessions, "frac-reclaim")
    assert rec["a"].reclaimed == 1
    assert rec["b"].waits == [2460.0 - 100]  # warned at 60 + 1800 s, stopped at the tick after the grace
    assert rec["a"].waits == [0.0, 0.0]  # back at 3000 s, when the device is free again
    assert row(result)["reclaimed"] == 1
    _, rec = run(sessions, "frac-fair")
    assert rec["a"].reclaimed == 0 and rec["b"].waits == [3500.0]


def test_reservations_hold_slices_for_the_class():
    """X holds half the device; the teacher's window opens at 1800 s; Y asks for half at 3000 s, the class
    of two at 3600 s."""
    sessions = [s("x", 0, HALF, 7200), s("y", 3000, HALF, 900),
                s("w0", 3600, QUARTER, 1800, group="workshop", tag="class"),
                s("w1", 3601, QUARTER, 1800, group="workshop", tag="class")]
    workshop = {"group": "workshop", "share": "1/4", "count": 2, "starts": 1800.0, "ends": 6000.0,
                "hold": 2400.0}
    result, rec = run(sessions, "frac-reserve", [workshop])
    assert rec["w0"].waits == [0.0] and rec["w1"].waits == [0.0]
    assert rec["y"].waits == [5401.0 - 3000]  # the class's slices come back when the class ends
    assert row(result)["class_served"] == 2
    # no reservation: Y takes the free half, the class waits
    _, rec = run(sessions, "frac-reclaim", [workshop])
    assert rec["y"].waits == [0.0] and rec["w0"].waits == [300.0] and rec["w1"].waits == [299.0]


def test_the_store_gives_the_same_answers_as_memory(tmp_path):
    day = synthetic(seed=5, per_day=240, days=1)
    trace = Trace("t", [x for x in day.sessions if 9 * 3600 <= x.arrival < 12 * 3600], 0.5)
    memory = row(replay(trace, POLICY["frac-reclaim"], nodes=1, tick=300))
    stored = row(replay(trace, POLICY["frac-reclaim"], nodes=1, tick=300,
                        store_url=f"sqlite:///{tmp_path}/replay.db"))
    assert memory["served"] > 10 and memory["gave_up_pct"] > 0 and memory["reclaimed"] > 0
    for key in ("events", "events_per_s"):
        memory.pop(key), stored.pop(key)
    assert stored == memory


# -- determinism -----------------------------------------------------------------------------------
def test_same_seed_same_table():
    def tables():
        trace = workshop_day(seed=3, per_day=100)
        return table([row(replay(trace, p, nodes=1, tick=300)) for p in POLICIES], speed=False, workshop=True)

    first = tables()
    assert tables() == first
    assert "| whole devices, no queue (z2jh today) |" in first and "events/s" not in first
    assert synthetic(7, 100, 1).sessions == synthetic(7, 100, 1).sessions
    assert synthetic(7, 100, 1).sessions != synthetic(8, 100, 1).sessions


def test_workshop_day_has_a_class_of_forty_within_five_minutes():
    trace = workshop_day(seed=2, per_day=100)
    cls = [x for x in trace.sessions if x.tag == "class"]
    assert len(cls) == 40 and max(x.arrival for x in cls) - min(x.arrival for x in cls) <= 300
    assert trace.workshops[0]["count"] == 40


def test_trace_file_round_trip(tmp_path):
    trace = workshop_day(seed=2, per_day=50)
    dump(trace, tmp_path / "t.jsonl")
    again = load(tmp_path / "t.jsonl")
    assert again.sessions == trace.sessions and again.workshops == trace.workshops
    assert again.days == trace.days


def test_readme_section_is_replaced_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nintro\n")
    write_section(readme, "first")
    write_section(readme, "second")
    text = readme.read_text()
    assert text.count(BEGIN) == 1 and "second" in text and "first" not in text
    assert text.startswith("# Benchmarks")
    assert text.index(BEGIN) < text.index("second") < text.index(END)


# -- loaders, on samples in the documented layouts ----------------------------------------------------
def test_alibaba_pai_tables(tmp_path):
    task = tmp_path / "pai_task_table.csv"
    task.write_text(
        "j1,tensorflow,1.0,Terminated,1000.0,4600.0,600.0,29.3,50.0,MISC\n"
        "j2,worker,2.0,Terminated,2000.0,2600.0,400.0,10.0,100.0,V100\n"
        "j3,ps,1.0,Terminated,2100.0,2200.0,600.0,10.0,,MISC\n"  # no GPU: left out
        "j4,worker,1.0,Running,3000.0,,400.0,10.0,25.0,T4\n")  # no end: left out
    job = tmp_path / "pai_job_table.csv"
    job.write_text("job_name,inst_id,user,status,start_time,end_time\n"
                   "j1,i1,alice,Terminated,900.0,4600.0\nj2,i2,bob,Terminated,1990.0,2600.0\n")
    trace = load_alibaba(task, job)
    assert [(x.user, x.group, x.arrival, x.share, x.duration) for x in trace.sessions] == [
        ("alice", "user-alice", 0.0, HALF, 3600.0), ("bob", "user-bob", 1090.0, Fraction(2), 600.0)]
    instance = tmp_path / "pai_instance_table.csv"
    instance.write_text("j1,tensorflow,n0,w0,i1,Terminated,1100.0,4000.0,m1\n")
    assert load_alibaba(task, job, instance).sessions[0].duration == 2900.0
    bad = tmp_path / "bad.csv"
    bad.write_text("j1,tensorflow,1.0\n")
    with pytest.raises(TraceFormatError, match="line 1: 3 columns, expected 10"):
        load_alibaba(bad)


def test_philly_job_log(tmp_path):
    log = tmp_path / "cluster_job_log"
    log.write_text(json.dumps([
        {"status": "Pass", "vc": "ee9e8c", "jobid": "a1", "user": "ce2f4c",
         "submitted_time": "2017-10-07 01:11:39",
         "attempts": [{"start_time": "2017-10-07 01:12:09", "end_time": "2017-10-07 01:13:23",
                       "detail": [{"ip": "m47", "gpus": ["gpu0", "gpu1"]}]},
                      {"start_time": "2017-10-07 01:13:30", "end_time": "2017-10-07 02:12:09",
                       "detail": [{"ip": "m412", "gpus": ["gpu0", "gpu1"]}]}]},
        {"status": "Killed", "vc": "ee9e8c", "jobid": "a2", "user": "u2",
         "submitted_time": "2017-10-07 01:20:00",
         "attempts": []},  # never scheduled: left out
        {"status": "Pass", "vc": "b", "jobid": "a3", "user": "u3", "submitted_time": "2017-10-07 01:41:39",
         "attempts": [{"start_time": "2017-10-07 01:42:00", "end_time": "None",
                       "detail": [{"gpus": ["gpu0"]}]},
                      {"start_time": "None", "end_time": "2017-10-07 01:52:00", "detail": []}]},
    ]))
    trace = load_philly(log)
    assert [(x.user, x.group, x.arrival, x.share, x.duration) for x in trace.sessions] == [
        ("ce2f4c", "vc-ee9e8c", 0.0, Fraction(2), 3600.0), ("u3", "vc-b", 1800.0, Fraction(1), 600.0)]
    (tmp_path / "nonsense").write_text("{")
    with pytest.raises(TraceFormatError, match="not JSON"):
        load_philly(tmp_path / "nonsense")


def test_helios_cluster_log(tmp_path):
    log = tmp_path / "cluster_log.csv"
    log.write_text(
        "job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue\n"
        "1425511,uXBbc,vcJkd,1,1,1,COMPLETED,2020-06-09 18:41:01,2020-06-09 18:41:01,"
        "2020-06-10 04:55:09,36848,0\n"
        "1425512,uVMrF,vchbv,0,16,1,FAILED,2020-06-09 18:41:27,2020-06-09 18:41:27,"
        "2020-06-09 18:45:36,249,0\n"
        "1425513,uzqls,vcpDC,4,1,1,CANCELLED,2020-06-09 18:41:28,2020-06-09 18:41:30,"
        "2020-06-09 18:51:30,,2\n")
    trace = load_helios(log)
    assert [(x.user, x.group, x.arrival, x.share, x.duration) for x in trace.sessions] == [
        ("uXBbc", "vcJkd", 0.0, Fraction(1), 36848.0), ("uzqls", "vcpDC", 27.0, Fraction(4), 600.0)]
    result = replay(trace, POLICY["frac-fair"], nodes=1)
    assert row(result)["served"] == 2  # a loaded trace replays like any other


def test_replaying_a_public_trace_from_the_command_line(tmp_path, capsys):
    from benchmarks.replay.__main__ import main

    log = tmp_path / "cluster_log.csv"
    log.write_text("1,u1,vcA,1,1,1,COMPLETED,2020-06-09 18:41:01,2020-06-09 18:41:01,2020-06-09 19:41:01,3600,0\n")
    main(["--load", f"helios:{log}", "--nodes", "1"])
    out = capsys.readouterr().out
    assert "1 sessions over 1 days, 8 devices" in out and "| fractional + fair queue | 0.12 |" in out
    with pytest.raises(SystemExit, match="--load: .*No such file"):
        main(["--load", f"helios:{tmp_path}/missing.csv"])
    with pytest.raises(SystemExit, match="unknown kind 'slurm'"):
        main(["--load", f"slurm:{log}"])
