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
    assert (
        f"Compared 3 of the 4 tests measured in this run with the baseline {base} "
        f"(4 tests, {runner.backend} backend)."
    ) in lines
    grew = lines.index("Grew past the allowed increase (1):")
    assert lines[grew + 2].split()[:4] == ["test_subject.py::test_grows", "4.0MiB", "12.0MiB",
                                           "+8.0MiB"]  # fmt: skip
    improved = lines.index("Improved (1):")
    assert lines[improved + 2].split()[:4] == ["test_subject.py::test_shrinks", "8.0MiB",
                                               "2.0MiB", "-6.0MiB"]  # fmt: skip
    new = lines.index("New tests, not in the baseline (1):")
    assert lines[new + 1].startswith("  test_subject.py::test_new: ")
    gone = lines.index("Gone: in the baseline, not in this run (1):")
    assert lines[gone + 1].startswith("  test_subject.py::test_removed: ")
    assert "1 test grew past the allowed increase of 10% + 1.0MiB." in lines
    assert result.ret == pytest.ExitCode.TESTS_FAILED


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
    result.stderr.fnmatch_lines(
        ["*a version 1 document, but this pytest-memray reads layout versions 2 and 3*"]
    )


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
    result.stdout.fnmatch_lines(["Not compared, no figure on one side (4):"])
    # Nothing compared: the gate could not judge, whatever else failed.
    assert result.ret == 2
    result.stdout.fnmatch_lines(["ERROR: pytest-memray: Could not judge: compared no test: *"])


# -- a gate that compared nothing, or too little, cannot pass ----------------------------------


def _project(pytester: pytest.Pytester, grows: int = 4) -> Path:
    """A project without an ini file, in a folder with a space: ``my proj/tests/``."""
    tests = pytester.path / "my proj" / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "test_subject.py").write_text(SUITE.format(grows=grows, shrinks=8), encoding="utf-8")
    return tests


@pytest.mark.parametrize("workers", WORKERS)
def test_a_run_from_another_folder_is_judged_all_the_same(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, workers: tuple[str, ...]
) -> None:
    """The baseline is made from above (ids ``my proj/tests/test_subject.py::...``);
    the checked run starts inside ``tests`` (ids ``test_subject.py::...``), with a relative
    ``--memray-baseline ../../base.json``."""
    tests = _project(runner.pytester)
    made = runner.run("--memray", "--memray-json=base.json", "-p", "no:cacheprovider", "my proj")
    assert made.ret == 0
    ids = [
        t["nodeid"] for t in json.loads((runner.pytester.path / "base.json").read_text())["tests"]
    ]
    assert "my proj/tests/test_subject.py::test_grows" in ids
    _project(runner.pytester, grows=12)
    monkeypatch.chdir(tests)
    result = runner.run("--memray-baseline=../../base.json", "-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "Compared 3 of the 3 tests measured in this run with the baseline ../../base.json "
            f"(3 tests, {runner.backend} backend).",
            "3 tests matched by folder: the baseline's ids carry the folder 'my proj/tests/' "
            "that this run's lack (ids relative to another rootdir).",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_grows*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("workers", WORKERS)
def test_a_baseline_of_another_suite_fails_the_session_with_status_2(
    runner: Runner, workers: tuple[str, ...]
) -> None:
    runner.write("def test_elsewhere():\n    data = bytearray(1000)\n", name="test_other")
    made = runner.run("--memray", "--memray-json=other.json", "test_other.py")
    assert made.ret == 0
    runner.write(SUITE.format(grows=4, shrinks=8))
    result = runner.run("--memray-baseline=other.json", "test_subject.py", *workers)
    result.assert_outcomes(passed=3)
    assert result.ret == 2
    line = (
        "ERROR: pytest-memray: Could not judge: compared no test: this run measured 3 tests "
        "and the baseline other.json holds 1; likely cause: no test name of this run is in the "
        "baseline: it is the baseline of another suite, or every test was renamed."
    )
    assert line in result.outlines


def test_a_run_the_gate_could_not_judge_is_still_saved(runner: Runner) -> None:
    """Status 2 is pytest's number for "interrupted", but such a run is complete."""
    runner.write("def test_elsewhere():\n    data = bytearray(1000)\n", name="test_other")
    assert runner.run("--memray", "--memray-json=other.json", "test_other.py").ret == 0
    runner.write(SUITE.format(grows=4, shrinks=8))
    result = runner.run("test_subject.py", "--memray-baseline=other.json", "--memray-save")
    assert result.ret == 2
    assert "not saved" not in result.stdout.str()
    assert list((runner.pytester.path / ".memray").glob("*/*.json"))


def test_renamed_tests_compare_nothing_and_say_so(runner: Runner) -> None:
    base = _baseline(runner)
    runner.write(SUITE.replace("def test_", "def test_renamed_").format(grows=4, shrinks=8))
    result = runner.run(f"--memray-baseline={base}")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*Could not judge: compared no test: *every test was renamed*"])
    result.stdout.fnmatch_lines(["Gone: in the baseline, not in this run (4):"])


def test_growth_and_could_not_judge_give_status_2(runner: Runner) -> None:
    base = _baseline(runner)
    runner.write(SUITE.format(grows=12, shrinks=8) + "\n")
    result = runner.run(f"--memray-baseline={base}", "--memray-min-compared=4")
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        [
            "ERROR: pytest-memray: Could not judge: compared 3 tests, fewer than the 4 required "
            "(minimum 4)*"
        ]
    )


@pytest.mark.parametrize(("minimum", "status"), [("3", 0), ("4", 2), ("75%", 0), ("76%", 2)])
def test_min_compared_from_the_command_line_or_the_ini_file(
    runner: Runner, minimum: str, status: int
) -> None:
    base = _baseline(runner)
    runner.write(SUITE.format(grows=4, shrinks=8) + NEW)  # 3 of the 4 measured are compared
    assert runner.run(f"--memray-baseline={base}", f"--memray-min-compared={minimum}").ret == status
    runner.pytester.makeini(f"[pytest]\nmemray_min_compared = {minimum}\n")
    assert runner.run(f"--memray-baseline={base}").ret == status


@pytest.mark.parametrize("value", ["0", "lots", "120%"])
def test_bad_min_compared_is_a_usage_error(runner: Runner, value: str) -> None:
    runner.write(SUITE.format(grows=1, shrinks=1))
    result = runner.run(f"--memray-min-compared={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--memray-min-compared / memray_min_compared: *{value!r}*"])


def test_gone_tests_fail_the_gate_when_asked(runner: Runner) -> None:
    base = _baseline(runner)
    runner.write(SUITE.format(grows=4, shrinks=8) + "\n")
    assert runner.run(f"--memray-baseline={base}").ret == 0
    result = runner.run(f"--memray-baseline={base}", "--memray-fail-gone")
    result.assert_outcomes(passed=3)
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        [
            f"ERROR: pytest-memray: Could not judge: 1 tests of the baseline {base} did not run "
            "in this run (test_subject.py::test_removed), and gone tests fail the gate."
        ]
    )


def test_a_test_that_errors_in_setup_is_not_gone(runner: Runner) -> None:
    base = _baseline(runner)
    runner.write(
        SUITE.format(grows=4, shrinks=8)
        + "\nimport pytest\n\n@pytest.fixture\ndef broken():\n    raise RuntimeError\n\n"
        "def test_removed(broken):\n    pass\n"
    )
    result = runner.run(f"--memray-baseline={base}", "--memray-fail-gone")
    result.assert_outcomes(passed=3, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["  test_subject.py::test_removed: head: its outcome was error before its call"]
    )


def _merged_baseline(runner: Runner, expected: int) -> Path:
    base = _baseline(runner)
    document = json.loads(base.read_text(encoding="utf-8"))
    document["shards"] = {
        "expected": expected,
        "merged": [{"source": "shard-1.json", "tests": 4}],
    }
    base.write_text(json.dumps(document), encoding="utf-8")
    return base


def test_an_incomplete_merged_baseline_gives_status_2(runner: Runner) -> None:
    base = _merged_baseline(runner, expected=2)
    runner.write(SUITE.format(grows=4, shrinks=8) + REMOVED + "\n")
    result = runner.run(f"--memray-baseline={base}")
    result.assert_outcomes(passed=4)
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        [
            f"ERROR: pytest-memray: Could not judge: {base} is incomplete: merged from 1 of the 2 "
            "expected shards (shard-1.json)*"
        ]
    )
    complete = _merged_baseline(runner, expected=1)
    assert runner.run(f"--memray-baseline={complete}").ret == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ('{"version": "2", "tests": []}', "its version is the string '2', not the number 2"),
        ("null", "the top level is null, not an object"),
        (None, "(test_subject.py::test_grows).peak_bytes must be a non-negative integer or null"),
        (b"\x00\xff", "not UTF-8 text"),
    ],
    ids=["nested", "version-string", "null", "wrong-type", "binary"],
)
@pytest.mark.parametrize("workers", WORKERS)
def test_a_bad_baseline_is_one_usage_error_line_never_an_internal_error(
    runner: Runner, content: str | bytes | None, reason: str, workers: tuple[str, ...]
) -> None:
    path = runner.pytester.path / "bad base.json"
    if content is None:
        base = _baseline(runner)
        document = json.loads(base.read_text(encoding="utf-8"))
        document["tests"][0]["peak_bytes"] = "1"
        path.write_text(json.dumps(document), encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    runner.write(SUITE.format(grows=1, shrinks=1))
    result = runner.run(f"--memray-baseline={path}", *workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1
    assert errors[0].startswith(f"ERROR: --memray-baseline {path}: ")
    assert reason in errors[0]
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_version_2_baseline_is_read(runner: Runner) -> None:
    base = _baseline(runner)
    document = json.loads(base.read_text(encoding="utf-8"))
    document["version"] = 2
    del document["run"]
    for test in document["tests"]:
        del test["notes"]
    base.write_text(json.dumps(document), encoding="utf-8")
    runner.write(SUITE.format(grows=12, shrinks=8) + REMOVED + "\n")
    result = runner.run(f"--memray-baseline={base}")
    result.assert_outcomes(passed=3, failed=1)


@pytest.mark.parametrize("output", ["--memray-json", "--memray-benchmark-json"])
def test_an_output_over_the_baseline_is_refused(runner: Runner, output: str) -> None:
    base = _baseline(runner)
    before = base.read_bytes()
    result = runner.run(f"--memray-baseline={base}", f"{output}=./{base.name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*{output} '{base}' is the file --memray-baseline names: the run would overwrite "
            "its own baseline*"
        ]
    )
    assert base.read_bytes() == before


def test_noise_floor_hides_small_moves_and_is_settable(runner: Runner) -> None:
    base = _baseline(runner)
    runner.write(SUITE.format(grows=4, shrinks=7) + REMOVED + "\n")  # shrinks by 1 MiB
    result = runner.run(f"--memray-baseline={base}")
    assert result.ret == 0
    assert "Improved (1):" not in result.outlines
    assert "No peak changed by more than the noise floor." in result.outlines
    result = runner.run(f"--memray-baseline={base}", "--memray-noise-floor=512 KiB")
    assert result.ret == 0
    assert "Improved (1):" in result.outlines
    result = runner.run(f"--memray-baseline={base}", "--memray-noise-floor=much")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--memray-noise-floor / memray_noise_floor: invalid noise floor*"]
    )


@pytest.mark.parametrize("value", ["1 MiB", "10% + 1.0MiB", "512 KiB + 5%"])
def test_the_allowance_reads_the_units_the_tool_prints(runner: Runner, value: str) -> None:
    base = _baseline(runner)
    runner.write(SUITE.format(grows=12, shrinks=8) + REMOVED + "\n")
    result = runner.run(f"--memray-baseline={base}", f"--memray-max-increase={value}")
    result.assert_outcomes(passed=3, failed=1)


def test_an_empty_allowance_means_the_default_as_in_compare(runner: Runner) -> None:
    base = _baseline(runner)
    runner.write(SUITE.format(grows=5, shrinks=8) + REMOVED + "\n")  # +1 MiB of 4: within
    result = runner.run(f"--memray-baseline={base}", "--memray-max-increase=")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*(allowed increase 10% + 1.0MiB)*"])


SUBTESTS = """
import unittest

class TestWithSubtests(unittest.TestCase):
    def test_sub(self):
        data = bytearray({size} * 1024 * 1024)
        for i in range(3):
            with self.subTest(i=i):
                self.assertTrue(data is not None)

def test_subtests_fixture(subtests):
    data = bytearray({size} * 1024 * 1024)
    for i in range(3):
        with subtests.test(i=i):
            assert data is not None
"""


@pytest.mark.skipif(
    tuple(int(part) for part in pytest.__version__.split(".")[:2]) < (9, 0),
    reason="pytest reports subtests from version 9 on",
)
def test_subtests_are_not_judged_as_their_test_and_growth_still_fails(runner: Runner) -> None:
    runner.write(SUBTESTS.format(size=4))
    made = runner.run("--memray", "--memray-json=base.json")
    assert made.ret == 0
    runner.write(SUBTESTS.format(size=4) + "\n")
    same = runner.run("--memray-baseline=base.json")
    assert same.ret == 0, same.stdout.str()
    assert "SUBFAILED" not in same.stdout.str()
    runner.write(SUBTESTS.format(size=12) + "\n\n")
    grown = runner.run("--memray-baseline=base.json")
    assert "SUBFAILED" not in grown.stdout.str()
    assert grown.ret == pytest.ExitCode.TESTS_FAILED
    grown.stdout.fnmatch_lines(["Grew past the allowed increase (2):"])


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
    merge = _commands(docs, "run: python -m pytest_memray merge shards/*.json --expect 3")
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
    # Sharding: three shards' documents merge into one, then compare as before.
    (tmp_path / "shards").mkdir()
    selections = ("holds or helper", "many or within", "not (holds or helper or many or within)")
    for shard, selection in enumerate(selections):
        part = run(f'python -m pytest {args} -k "{selection}" --memray-json=shards/{shard}.json')
        assert part.returncode == 0, part.stdout + part.stderr
    # A shard missing: the merge says so (status 2), and compare refuses its document.
    (tmp_path / "shards" / "2.json").rename(tmp_path / "late.json")
    incomplete = run(merge[0].removeprefix("run: "))
    assert incomplete.returncode == 2, incomplete.stdout + incomplete.stderr
    assert "merged from 2 of the 3 expected shards" in incomplete.stderr
    refused = run(compare[-1])
    assert refused.returncode == 2, refused.stdout + refused.stderr
    (tmp_path / "late.json").rename(tmp_path / "shards" / "2.json")
    merged = run(merge[0].removeprefix("run: "))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    summary.unlink()
    again = run(compare[-1])
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary.read_text(encoding="utf-8").startswith("### Peak memory per test")
