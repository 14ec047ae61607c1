"""Real parts a test needs (a proxy, PostgreSQL, Chromium, ...): skip without them here, fail in CI."""

from __future__ import annotations

import os

import pytest

#: Set by .ci/run: a missing real part fails instead of skipping.
REQUIRE_ALL = os.environ.get("NPUHUB_REQUIRE_ALL") == "1"
#: The end of every skip reason ``require`` gives; the run's summary finds the missing parts by it.
MISSING = " is missing"


def require(available: bool, what: str) -> None:
    """Skip when a real part is missing on a developer's machine; fail in CI."""
    if available:
        return
    if REQUIRE_ALL:
        pytest.fail(f"{what}{MISSING}, and NPUHUB_REQUIRE_ALL=1 says it must be here")
    pytest.skip(f"{what}{MISSING}")


def missing_parts(skip_reasons: list[str]) -> dict[str, int]:
    """The real parts named in skip reasons given by ``require``, with how many tests each skipped."""
    counts: dict[str, int] = {}
    for reason in skip_reasons:
        reason = reason.removeprefix("Skipped: ")
        if reason.endswith(MISSING):
            part = reason[: -len(MISSING)]
            counts[part] = counts.get(part, 0) + 1
    return counts
