"""Per-person Unix account names, and the control-group files that hold a server to its flavor.

The cgroup files are checked in a directory laid out like ``/sys/fs/cgroup``
(plain files in tmp_path, named as the kernel names them): what npuhub writes
and where. That the kernel then enforces them is the integration test
``tests/integration/test_isolation.py`` (a kernel past its memory is OOM-killed).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from npuhub.spawners.limits import CgroupV1, CgroupV2, cgroup_key
from npuhub.spawners.osusers import MAX_NAME, check_prefix, system_name

UNIX_NAME = re.compile(r"^[a-z_][a-z0-9_.-]*$")


@pytest.mark.parametrize("name, expected", [
    ("student1", "jupyter-student1"),
    ("guest-li-lei-k7mp", "jupyter-guest-li-lei-k7mp"),
    ("a_b", "jupyter-a_b"),
])
def test_a_safe_hub_name_is_kept(name, expected):
    assert system_name(name) == expected


@pytest.mark.parametrize("name", ["Alice", "李雷", "ada@uni.edu", "a.b", "x" * 40, "root", "-x", "student1 ", ""])
def test_every_name_becomes_a_valid_unix_name_of_at_most_32_characters(name):
    account = system_name(name)
    assert account.startswith("jupyter-") and len(account) <= MAX_NAME and UNIX_NAME.match(account), account


def test_names_never_share_an_account():
    names = ["alice", "Alice", "ALICE", "a.b", "a_b", "a-b", "李雷", "韩梅梅", "x" * 24, "x" * 25, "x" * 40,
             "x" * 41, "ada@uni.edu", "ada_uni.edu", "ada-uni-edu"]
    accounts = [system_name(n) for n in names]
    assert len(set(accounts)) == len(names), accounts
    # a name kept as it is holds no '.', so it can never be another name's hashed form
    assert all("." not in system_name(n) for n in names if re.fullmatch(r"[a-z0-9_-]{1,24}", n))
    assert all("." in system_name(n) for n in ("Alice", "a.b", "x" * 25, "李雷"))


@pytest.mark.parametrize("prefix", ["", "Jupyter-", "9x-", "a:b", "x" * 21])
def test_a_prefix_that_makes_bad_names_is_refused(prefix):
    with pytest.raises(ValueError, match="must start with"):
        check_prefix(prefix)


def fake_v1(tmp_path: Path) -> tuple[Path, Path]:
    """A /sys/fs/cgroup with the memory and cpu hierarchies (files the kernel would create on mkdir)."""
    root = tmp_path / "cgroup"
    for controller in ("memory", "cpu"):
        (root / controller / "hub").mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
    proc = tmp_path / "self-cgroup"
    proc.write_text("4:memory:/hub\n1:cpu,cpuacct:/hub\n0::/\n")
    return root, proc


def test_cgroup_v1_nests_under_the_hubs_own_group_and_writes_the_flavor(tmp_path):
    root, proc = fake_v1(tmp_path)
    limits = CgroupV1.here(root, proc)
    assert limits.memory_parent == root / "memory" / "hub" / "npuhub"
    assert limits.cpu_parent == root / "cpu" / "hub" / "npuhub"
    key = cgroup_key("jupyter-student1")
    limits.prepare(key, 1.5, 256 * 1024 ** 2)
    assert (limits.memory_parent / key / "memory.limit_in_bytes").read_text() == str(256 * 1024 ** 2)
    assert (limits.cpu_parent / key / "cpu.cfs_quota_us").read_text() == "150000"
    assert (limits.cpu_parent / key / "cpu.cfs_period_us").read_text() == "100000"
    limits.join(key, 4242)
    assert (limits.memory_parent / key / "cgroup.procs").read_text() == "4242"
    assert (limits.cpu_parent / key / "cgroup.procs").read_text() == "4242"


def test_cgroup_v2_enables_its_controllers_and_writes_the_flavor(tmp_path):
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    assert CgroupV2.available(root)
    limits = CgroupV2(root / "npuhub")
    (root / "npuhub").mkdir()
    (root / "npuhub" / "cgroup.subtree_control").write_text("")
    limits.prepare("jupyter-student1--gpu", 2.0, 1024 ** 3)
    group = root / "npuhub" / "jupyter-student1--gpu"
    assert (group / "memory.max").read_text() == str(1024 ** 3)
    assert (group / "cpu.max").read_text() == "200000 100000"
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +memory"
    limits.prepare("jupyter-student2", None, None)  # a flavor without limits: none
    assert (root / "npuhub" / "jupyter-student2" / "memory.max").read_text() == "max"


def test_a_missing_controller_means_no_cgroup_v2(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu io pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    assert not CgroupV2.available(tmp_path)


def test_a_group_key_is_one_safe_directory_name():
    assert cgroup_key("jupyter-a.b--my server/../x") == "jupyter-a.b--my_server_.._x"
    assert "/" not in cgroup_key("../../etc")
