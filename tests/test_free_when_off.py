"""Installed but not asked for, the plugin loads nothing heavy: no memray, no backend, no
report or gate module. A memory marker, or an option that asks for measuring, loads them."""

from __future__ import annotations

import json

import pytest

from .helpers import requires_subprocess

#: The modules of the plugin every pytest session loads: the wiring, the settings it reads,
#: and the small modules those import.
ALWAYS = {
    "pytest_memray",
    "pytest_memray.gates",
    "pytest_memray.options",
    "pytest_memray.plugin",
    "pytest_memray.reporting",
    "pytest_memray.reporting.wire",
    "pytest_memray.settings",
    "pytest_memray.sizes",
}

#: Writes the names of the plugin's modules (and memray's) loaded by the end of the session.
CONFTEST = """
import json
import sys

def pytest_unconfigure(config):
    names = sorted(
        name for name in sys.modules
        if name.split(".")[0] in ("pytest_memray", "memray", "rich")
    )
    with open("modules.json", "w") as out:
        json.dump(names, out)
"""

PLAIN = """
def test_one():
    pass

def test_two():
    pass
"""

MARKED = """
import pytest

def test_plain():
    pass

@pytest.mark.limit_memory("100 MB")
def test_marked():
    pass
"""


def _modules(pytester: pytest.Pytester, *args: str) -> set[str]:
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret in (0, pytest.ExitCode.NO_TESTS_COLLECTED), result.stdout.str()
    names: list[str] = json.loads((pytester.path / "modules.json").read_text(encoding="utf-8"))
    return set(names)


@requires_subprocess
@pytest.mark.parametrize("args", [("--co", "-q"), ("-q",)], ids=["collect-only", "run"])
def test_without_memray_nothing_heavy_is_loaded(
    pytester: pytest.Pytester, args: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    assert _modules(pytester, *args) == ALWAYS


@requires_subprocess
def test_a_marked_test_loads_what_it_needs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_marked=MARKED)
    loaded = _modules(pytester, "-q", "--memray-backend=tracemalloc")
    assert "pytest_memray.activation" in loaded
    assert "pytest_memray.backends.tracemalloc.backend" in loaded
    assert "memray" not in loaded  # the backend chosen by name is all that is built
    assert "pytest_memray.backends.memray.backend" not in loaded


@requires_subprocess
def test_memray_loads_the_parts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    loaded = _modules(pytester, "-q", "--memray", "--memray-backend=tracemalloc")
    assert {"pytest_memray.activation", "pytest_memray.reporting.outputs"} <= loaded


#: Modules a measured session loads only for the gate (``--memray-baseline``: the first
#: three) or the output (``--junitxml``: the last) that needs them.
ON_REQUEST = {
    "pytest_memray.gates.baseline",
    "pytest_memray.gates.compare",
    "pytest_memray.per_test.baseline_gate",
    "pytest_memray.reporting.junit",
}


@requires_subprocess
def test_a_measured_session_loads_the_gate_and_junit_parts_only_when_asked(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    baseline = pytester.path / "baseline.json"
    loaded = _modules(pytester, "-q", "--memray", "--memray-backend=tracemalloc")
    assert not loaded & ON_REQUEST
    pytester.runpytest_subprocess(
        "-q", "--memray", "--memray-backend=tracemalloc", f"--memray-json={baseline}"
    )
    asked = _modules(
        pytester,
        "-q",
        "--memray-backend=tracemalloc",
        f"--memray-baseline={baseline}",
        f"--junitxml={pytester.path / 'junit.xml'}",
    )
    assert asked >= ON_REQUEST
