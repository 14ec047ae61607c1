"""What every tier shares: the end-of-run list of real parts whose tests were skipped.

Each tier's fixtures live in its own ``conftest.py``; the helpers they share
are the ``support`` package (tests/ is on ``pythonpath``, see pyproject.toml).
"""

from __future__ import annotations

from support.summary import pytest_terminal_summary  # noqa: F401 (a hook: pytest finds it here)
