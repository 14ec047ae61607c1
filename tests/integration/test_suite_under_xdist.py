"""The suite's own machinery under pytest-xdist (``make test`` runs ``pytest -n 2``).

The summary of skipped real parts is printed by the controller from the
workers' reports: a run in parallel must still say loudly which parts were
missing (and fail them under ``NPUHUB_REQUIRE_ALL=1``), as a serial one does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

NEEDS_PARTS = textwrap.dedent("""
    import pytest
    from support.parts import require

    @pytest.mark.parametrize("i", range(3))
    def test_needs_a_thing(i):
        require(False, "the thing")

    def test_needs_another():
        require(False, "another thing")

    def test_plain_skip():
        pytest.skip("not a real part")

    def test_needs_nothing():
        pass
""")


def run_parallel(tmp_path: Path, require_all: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_parts.py").write_text(NEEDS_PARTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NPUHUB_REQUIRE_ALL"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    # only the plugins this needs (the suite's others, e.g. pytest-jupyter's, take seconds to import per worker)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if require_all:
        env["NPUHUB_REQUIRE_ALL"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-n", "2", "-p", "support.summary",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_a_parallel_run_lists_the_missing_real_parts_with_their_counts(tmp_path):
    result = run_parallel(tmp_path, require_all=False)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "created: 2/2 workers" in out or "2 workers" in out, out
    assert "real parts missing: their tests were SKIPPED, not passed" in out, out
    assert "  the thing: 3 tests skipped" in out, out
    assert "  another thing: 1 test skipped" in out, out
    assert "not a real part" not in out.split("real parts missing")[1], out
    assert "NPUHUB_REQUIRE_ALL=1" in out
    assert "1 passed, 5 skipped" in out, out


def test_a_parallel_run_with_require_all_fails_each_missing_part(tmp_path):
    result = run_parallel(tmp_path, require_all=True)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "4 failed, 1 passed, 1 skipped" in out, out
    assert "the thing is missing, and NPUHUB_REQUIRE_ALL=1 says it must be here" in out, out
    assert "real parts missing" not in out, out
