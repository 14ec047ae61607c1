"""The unit tier is pure: no test here may start a process (those belong to the integration tiers)."""

from __future__ import annotations

import subprocess

import pytest


class ProcessStarted(AssertionError):
    """A unit test tried to start a process."""


@pytest.fixture(autouse=True)
def no_processes(monkeypatch):
    """Make any ``subprocess`` start (asyncio's included, which goes through ``Popen``) fail the test."""

    def refuse(*args, **kwargs):
        raise ProcessStarted(f"a unit test started a process: {args[:1]}; move it to an integration tier")

    monkeypatch.setattr(subprocess, "Popen", refuse)
