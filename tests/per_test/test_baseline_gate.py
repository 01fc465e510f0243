"""The baseline gate in a pytest run: grown, shrunk, new, removed, other backend, bad file, xdist;
and the commands of docs/gates.rst, run as written against the demo suite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import Runner, register_backend, requires_xdist

REPO = Path(__file__).resolve().parent.parent.parent
MIB = 1024 * 1024

SUITE = """
def test_grows():
    data = bytearray({grows} * 1024 * 1024)

def test_shrinks():
    data = bytearray({shrinks} * 1024 * 1024)

def test_same():
    data = bytearray(4 * 1024 * 1024)
"""

REMOVED = """
def test_removed():
    data = bytearray(1024 * 1024)
"""

NEW = """
def test_new():
    data = bytearray(1024 * 1024)
"""


def _baseline(runner: Runner) -> Path:
    runner.write(SUITE.format(grows=4, shrinks=8) + REMOVED)
    result = runner.run("--memray", "--memray-json=base.json", "-p", "no:randomly")
    assert result.ret == 0
    return runner.pytester.path / "base.json"


WORKERS = [
    pytest.param((), id="serial"),
    pytest.param(("-n", "2"), id="xdist", marks=requires_xdist),
]


@pytest.mark.parametrize("workers", WORKERS)
def test_grown_test_fails_and_the_rest_are_listed(runner: Runner, workers: tuple[str, ...]) -> None:
    base = _baseline(runner)
    # Each rewrite changes the file's length, so no stale bytecode is used.
    runner.write(SUITE.format(grows=12, shrinks=2) + NEW + "\n")
    result = runner.run(f"--memray-baseline={base}", "--memray-max-increase=10% + 1 MB", *workers)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.re_match_lines(
        [
            r"Test peak memory grew from 4\.0MiB in the baseline to 12\.0MiB \(\+\d+\.\d%\), "
            r"more than the allowed increase of 10% \+ 1\.0MiB",
            r"MEMORY PROBLEMS test_subject.py::test_grows( - .*)?",
        ],
        consecutive=False,
    )
    assert "memray-max-memory" in result.stdout.str()
    lines = result.outlines
    new = lines.index("Tests not in the baseline, not gated (1):")
    assert lines[new + 1] == "  test_subject.py::test_new"
    gone = lines.index("Baseline tests that did not run (1):")
    assert lines[gone + 1] == "  test_subject.py::test_removed"


def test_growth_within_the_allowance_passes(runner: Runner) -> None:
    base = _baseline(runner)
    runner.write(SUITE.format(grows=5, shrinks=8) + "\n")
    result = runner.run(f"--memray-baseline={base}", "--memray-max-increase=50%")
    result.assert_outcomes(passed=3)


def test_baseline_of_another_backend_is_a_usage_error(runner: Runner) -> None:
    base = _baseline(runner)
    document = json.loads(base.read_text(encoding="utf-8"))
    other = "tracemalloc" if runner.backend == "memray" else "memray"
    document["backend"]["name"] = other
    base.write_text(json.dumps(document), encoding="utf-8")
    result = runner.run(f"--memray-baseline={base}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*measured with the {other} backend, but this run uses {runner.backend}*"]
    )


def test_baseline_of_another_schema_version_is_a_usage_error(runner: Runner) -> None:
    base = _baseline(runner)
    document = json.loads(base.read_text(encoding="utf-8"))
    document["version"] = 1
    base.write_text(json.dumps(document), encoding="utf-8")
    result = runner.run(f"--memray-baseline={base}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*a version 1 document, but this pytest-memray reads version 2*"])


@pytest.mark.parametrize("content", ["not json at all", None])
def test_bad_or_missing_baseline_is_a_usage_error_naming_the_path(
    runner: Runner, content: str | None
) -> None:
    runner.write(SUITE.format(grows=1, shrinks=1))
    path = runner.pytester.path / "broken.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = runner.run(f"--memray-baseline={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--memray-baseline {path}: *"])
    assert "Traceback" not in result.stderr.str()


def test_bad_allowance_is_a_usage_error_naming_the_value(runner: Runner) -> None:
    runner.write(SUITE.format(grows=1, shrinks=1))
    result = runner.run("--memray-max-increase=lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memray-max-increase / memray_max_increase: *'lots'*"])


UNMEASURING_BACKEND = """
from pytest_memray.backends.builtin import TRACEMALLOC
from pytest_memray.backends.interface import Backend, NotMeasured
from pytest_memray.backends.registry import BackendEntry


class Unmeasuring(Backend):
    '''tracemalloc, except that it cannot measure anything.'''

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.name = "tracemalloc"  # so that a tracemalloc baseline applies
        self.version = inner.version
        self.capabilities = inner.capabilities

    def start(self, request):
        return self.inner.start(request)

    def take_results(self):
        ready = self.inner.take_results()
        return [(handle, NotMeasured("the disk is full")) for handle, _ in ready]


ENTRY = BackendEntry(
    name="unmeasuring",
    summary="never measures",
    rank=0,
    unavailable_reason=lambda: None,
    build=lambda context: Unmeasuring(TRACEMALLOC.build(context)),
)
"""


def test_a_test_with_a_baseline_but_no_figure_fails_with_the_reason(
    pytester: pytest.Pytester,
) -> None:
    runner = Runner(pytester, "tracemalloc")
    base = _baseline(runner)
    register_backend(pytester, "unmeasuring_backend", UNMEASURING_BACKEND, "unmeasuring")
    result = pytester.runpytest("--memray-backend=unmeasuring", f"--memray-baseline={base}")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            f"*Test has a baseline peak in {base}, but its memory could not be measured: "
            "the disk is full*"
        ]
    )
    result.stdout.fnmatch_lines(["Tests not gated, no figure to compare (4):"])


# -- the docs' commands ------------------------------------------------------------------------


def _commands(text: str, start: str) -> list[str]:
    """The lines of a shell block in docs/gates.rst that start with ``start``, joined where
    they continue with a backslash."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending:
            pending += " " + line.rstrip("\\").strip()
            if not line.endswith("\\"):
                lines.append(pending)
                pending = ""
        elif line.startswith(start):
            if line.endswith("\\"):
                pending = line.rstrip("\\").strip()
            else:
                lines.append(line)
    return lines


@pytest.mark.skipif(
    sys.platform in ("win32", "emscripten", "wasi"),
    reason="runs the docs' bash commands in processes of their own",
)
def test_the_docs_example_runs_as_written_against_the_demo_suite(
    tmp_path: Path, backend: str
) -> None:
    docs = (REPO / "docs" / "gates.rst").read_text(encoding="utf-8")
    compare = _commands(docs, "python -m pytest_memray compare baseline/memray.json memray.json")
    merge = _commands(docs, "run: python -m pytest_memray merge memray.json shards/*.json")
    assert compare, "docs/gates.rst no longer shows the compare command"
    assert merge, "docs/gates.rst no longer shows the merge command"
    shutil.copytree(REPO / "demo", tmp_path / "demo")

    summary = tmp_path / "summary.md"
    environment = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}

    def run(command: str) -> subprocess.CompletedProcess[str]:
        command = command.replace("python -m", f"{sys.executable} -m")
        return subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=environment,
        )

    # The steps of the single-job workflow: main's run makes the baseline...
    args = f"--memray --memray-backend={backend} -p no:cacheprovider demo"
    main = run(f"python -m pytest {args} --memray-json=baseline/memray.json")
    assert main.returncode == 0, main.stdout + main.stderr
    # ...a pull request's run is gated on it...
    gated = run(
        f"python -m pytest {args} --memray-json=memray.json "
        '--memray-baseline=baseline/memray.json "--memray-max-increase=10% + 1 MB"'
    )
    assert gated.returncode == 0, gated.stdout + gated.stderr
    assert "memray baseline baseline/memray.json" in gated.stdout
    # ...and the table for the job summary, as the docs write it.
    table = run(compare[0])
    assert table.returncode == 0, table.stdout + table.stderr
    assert summary.read_text(encoding="utf-8").startswith("### Peak memory per test")
    # Sharding: two shards' documents merge into one, then compare as before.
    (tmp_path / "shards").mkdir()
    for shard, selection in enumerate(("holds or helper", "not (holds or helper)")):
        part = run(f'python -m pytest {args} -k "{selection}" --memray-json=shards/{shard}.json')
        assert part.returncode == 0, part.stdout + part.stderr
    merged = run(merge[0].removeprefix("run: "))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    summary.unlink()
    again = run(compare[-1])
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary.read_text(encoding="utf-8").startswith("### Peak memory per test")
