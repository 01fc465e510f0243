"""What the tests of the tracemalloc backend share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_memray.backends.tracemalloc.tracing import TRACING


@pytest.fixture(autouse=True)
def _session_ends() -> Iterator[None]:
    """The tests here make backends and track calls, but never end the session: where the
    backends keep tracing on between calls (a free-threaded build), it is stopped before and
    after each test, as at the end of a session, so that each test begins as a session does
    (whatever the tests before it in this process left)."""
    TRACING.close()
    yield
    TRACING.close()
