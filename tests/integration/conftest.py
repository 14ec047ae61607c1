"""Fixtures of the integration tier: the real databases, and the embedded stack on the one-device site."""

from __future__ import annotations

import pytest

from support.postgres import db_url, postgres_url  # noqa: F401 (fixtures)
from support.sites import make_site
from support.stacks import EmbeddedStack


@pytest.fixture(scope="module")
def one_device_stack(tmp_path_factory):
    """`npuhub up` on the default test site (one device), shared by the tests of a module."""
    stack = EmbeddedStack(tmp_path_factory.mktemp("stack"), make_site()).start()
    yield stack
    stack.stop()
