"""JSON outputs, the suite-wide limit and junit-xml properties."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_memray.backends.tracemalloc.pictures import HOOK_GAP_NOTE
from pytest_memray.gates.format import SCHEMA_FILE, SCHEMA_VERSION

from ..helpers import Runner, register_backend, requires_subprocess, requires_xdist

jsonschema = pytest.importorskip("jsonschema")

SUITE = """
import pytest

def test_ten():
    data = bytearray(10 * 1024 * 1024)
    assert data

@pytest.mark.limit_memory("1 MB")
def test_over():
    data = bytearray(3 * 1024 * 1024)

def test_fails():
    assert False

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

def test_skips_inside():
    pytest.skip("decided during the call")
"""


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "workers",
    [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist", marks=requires_xdist)],
)
def test_json_report_validates_and_holds_every_tracked_test(
    runner: Runner, workers: tuple[str, ...]
) -> None:
    runner.write(SUITE)
    result = runner.run("--memray", "--memray-json=out/memray.json", *workers)
    assert result.ret == 1
    document = _load(runner.pytester.path / "out" / "memray.json")
    jsonschema.validate(document, _load(SCHEMA_FILE))
    assert document["version"] == SCHEMA_VERSION
    assert document["backend"]["name"] == runner.backend
    assert document["backend"]["native_allocations"] is (runner.backend == "memray")
    tests = {test["nodeid"]: test for test in document["tests"]}
    assert set(tests) == {
        "test_subject.py::test_ten",
        "test_subject.py::test_over",
        "test_subject.py::test_fails",
        "test_subject.py::test_skips_inside",
    }
    ten = tests["test_subject.py::test_ten"]
    assert ten["outcome"] == "passed"
    assert ten["peak_bytes"] >= 10 * 1024 * 1024
    assert ten["limit_bytes"] is None
    top = ten["top_locations"][0]
    assert (top["function"], top["line"]) == ("test_ten", 4)
    assert top["file"].endswith("test_subject.py")
    assert top["bytes"] >= 10 * 1024 * 1024
    assert tests["test_subject.py::test_over"]["outcome"] == "failed"
    assert tests["test_subject.py::test_over"]["limit_bytes"] == 1024 * 1024
    assert tests["test_subject.py::test_fails"]["outcome"] == "failed"
    assert tests["test_subject.py::test_skips_inside"]["outcome"] == "skipped"


def test_json_report_from_ini(runner: Runner) -> None:
    runner.pytester.makeini("[pytest]\nmemray_json = results.json\n")
    runner.write(SUITE)
    runner.run("--memray")
    assert (runner.pytester.path / "results.json").exists()


def test_benchmark_feed(runner: Runner) -> None:
    runner.write(SUITE)
    runner.run("--memray", "--memray-benchmark-json=bench.json")
    entries = _load(runner.pytester.path / "bench.json")
    assert isinstance(entries, list)
    names = [entry["name"] for entry in entries]
    assert names == ["test_subject.py::test_ten"]
    assert entries[0]["unit"] == "bytes"
    assert entries[0]["value"] >= 10 * 1024 * 1024
    assert set(entries[0]) == {"name", "unit", "value", "extra"}


def test_json_path_that_is_a_directory(pytester: pytest.Pytester) -> None:
    pytester.mkdir("taken")
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--memray", "--memray-json=taken")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memray-json 'taken' is a directory; give a file name*"])


def test_json_path_under_a_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".txt", blocker="x")
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--memray", "--memray-json=blocker.txt/out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # The absolute path in the system's spelling (backslashes on Windows), and the part that
    # is in the way (the system's words, "File exists" or "File already exists", name none).
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --memray-json '{pytester.path / 'blocker.txt' / 'out.json'}' cannot be "
            f"written: *{os.sep}blocker.txt is a file, not a folder"
        ]
    )


def test_json_path_under_a_file_deeper(pytester: pytest.Pytester) -> None:
    pytester.makefile(".txt", blocker="x")
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--memray", "--memray-json=blocker.txt/sub/out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*sub{os.sep}out.json' cannot be written: *{os.sep}blocker.txt is a file, not a folder"]
    )


SUITE_LIMITS = """
import pytest

def test_unmarked_heavy():
    data = bytearray(10 * 1024 * 1024)

def test_unmarked_light():
    data = bytearray(1024)

@pytest.mark.limit_memory("50 MB")
def test_own_marker_wins():
    data = bytearray(10 * 1024 * 1024)

@pytest.mark.limit_leaks("50 MB")
def test_leak_marker_wins_too():
    data = bytearray(10 * 1024 * 1024)

@pytest.mark.limit_memory("50 MB")
class TestClassMarker:
    def test_in_class(self):
        data = bytearray(10 * 1024 * 1024)
"""


@pytest.mark.parametrize("how", ["cli", "ini"])
def test_suite_wide_limit_fences_unmarked_tests(runner: Runner, how: str) -> None:
    runner.write(SUITE_LIMITS)
    if how == "ini":
        runner.pytester.makeini("[pytest]\nmemray_limit = 5 MB\n")
        result = runner.run()
    else:
        result = runner.run("--memray-limit=5 MB")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_unmarked_heavy*"])
    result.stdout.fnmatch_lines(["*Test was limited to 5.0MiB but allocated 10.0MiB*"])


@pytest.mark.parametrize("value", ["24 XB", "lots", "-1 MB"])
def test_suite_wide_limit_bad_size_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest(f"--memray-limit={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--memray-limit / memray_limit: invalid memory size {value!r}*"])


@pytest.mark.parametrize(
    "workers",
    [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist", marks=requires_xdist)],
)
@pytest.mark.parametrize("flags", [("--memray",), ()], ids=["memray", "markers-only"])
def test_junit_records_the_peak(
    runner: Runner, workers: tuple[str, ...], flags: tuple[str, ...]
) -> None:
    runner.write(SUITE)
    runner.run(*flags, "--junitxml=out.xml", *workers)
    tree = ET.parse(runner.pytester.path / "out.xml")
    # the marked test is tracked with or without --memray
    over = tree.find(
        ".//testcase[@name='test_over']/properties/property[@name='memray_peak_bytes']"
    )
    assert over is not None
    assert int(over.get("value", "0")) >= 3 * 1024 * 1024
    if not flags:
        return
    tree = ET.parse(runner.pytester.path / "out.xml")
    prop = tree.find(".//testcase[@name='test_ten']/properties/property[@name='memray_peak_bytes']")
    assert prop is not None
    assert int(prop.get("value", "0")) >= 10 * 1024 * 1024


# -- what the terminal says is in the JSON -----------------------------------------------------

NOTING_BACKEND = """
from dataclasses import replace

from pytest_memray.backends.builtin import MEMRAY, TRACEMALLOC
from pytest_memray.backends.interface import Backend, Measurement
from pytest_memray.backends.registry import BackendEntry

INNER = {"memray": MEMRAY, "tracemalloc": TRACEMALLOC}[{inner!r}]


class Noting(Backend):
    '''The inner backend, with a note on every measurement.'''

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.name = "noting"
        self.version = inner.version
        self.capabilities = inner.capabilities

    def start(self, request):
        return self.inner.start(request)

    def take_results(self):
        return [
            (handle, replace(outcome, notes=[*outcome.notes, "a note about the figures"])
             if isinstance(outcome, Measurement) else outcome)
            for handle, outcome in self.inner.take_results()
        ]

    def finish(self, **kwargs):
        self.inner.finish(**kwargs)

    def recover(self, process_id):
        return self.inner.recover(process_id)

    def close(self):
        self.inner.close()


ENTRY = BackendEntry(
    name="noting",
    summary="adds a note",
    rank=0,
    unavailable_reason=lambda: None,
    build=lambda context: Noting(INNER.build(context)),
)
"""


def test_every_note_the_terminal_shows_is_in_the_json(
    pytester: pytest.Pytester, backend: str
) -> None:
    register_backend(
        pytester, "noting_backend", NOTING_BACKEND.replace("{inner!r}", repr(backend)), "noting"
    )
    pytester.makepyfile(
        test_subject="import pytest\n\n@pytest.mark.limit_memory('1 GB')\ndef test_noted():\n"
        "    data = bytearray(1024)\n\ndef test_batched():\n    pass\n"
    )
    result = pytester.runpytest(
        "--memray-backend=noting", "--memray", "--memray-json=out.json", "-rA"
    )
    assert result.ret == 0
    # The marked test is measured at once: its note is in its report's "memray note" section.
    result.stdout.fnmatch_lines(["*- memray note -*", "a note about the figures"])
    document = _load(pytester.path / "out.json")
    jsonschema.validate(document, _load(SCHEMA_FILE))
    notes = {test["nodeid"]: test["notes"] for test in document["tests"]}
    assert notes == {
        "test_subject.py::test_noted": ["a note about the figures"],
        "test_subject.py::test_batched": ["a note about the figures"],
    }
    assert document["run"] == {"rootdir": str(pytester.path), "workers": []}


@pytest.mark.parametrize(
    "workers",
    [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist", marks=requires_xdist)],
)
def test_a_real_note_is_in_the_json(runner: Runner, workers: tuple[str, ...]) -> None:
    """tracemalloc notes a peak it charged to the line after the one that allocated it (a
    loop that allocates and frees); under xdist the note crosses to the controller."""
    if runner.backend != "tracemalloc":
        pytest.skip("a tracemalloc note")
    runner.write(
        "def test_loop():\n"
        "    for _ in range(3):\n"
        "        chunk = bytearray(4 * 1024 * 1024)\n"
        "        del chunk\n"
    )
    runner.run("--memray", "--memray-json=out.json", *workers)
    document = _load(runner.pytester.path / "out.json")
    (test,) = document["tests"]
    assert test["notes"] == [HOOK_GAP_NOTE]
    assert len(document["run"]["workers"]) == (1 if workers else 0)


# -- files CI can use, through the real options ------------------------------------------------

posix_only = pytest.mark.skipif(
    sys.platform in ("win32", "emscripten", "wasi"), reason="needs POSIX modes, FIFOs and links"
)


@posix_only
@requires_subprocess
@pytest.mark.parametrize("option", ["--memray-json", "--memray-benchmark-json"])
def test_dev_stdout_prints_the_document(
    pytester: pytest.Pytester, backend: str, option: str
) -> None:
    pytester.makepyfile(test_subject="def test_ten():\n    data = bytearray(10 * 1024 * 1024)\n")
    result = pytester.runpytest_subprocess(
        f"--memray-backend={backend}", "--memray", f"{option}=/dev/stdout", "-q"
    )
    assert result.ret == 0
    text = result.stdout.str()
    start = text.index("[\n" if option == "--memray-benchmark-json" else '{\n  "version"')
    document = json.JSONDecoder().raw_decode(text[start:])[0]
    names = [e["name"] for e in document] if isinstance(document, list) else [
        t["nodeid"] for t in document["tests"]
    ]  # fmt: skip
    assert names == ["test_subject.py::test_ten"]
    assert "1 passed" in text  # the rest of the output is still there
    assert not list(pytester.path.glob("*.partial"))


@posix_only
@requires_subprocess
def test_dev_stdout_redirected_to_a_file_keeps_the_log(pytester: pytest.Pytester) -> None:
    """``pytest --memray-json=/dev/stdout > log``: the document is added to the log, which is
    neither replaced nor cut short."""
    pytester.makepyfile(test_subject="def test_ok():\n    pass\n")
    log = pytester.path / "log.txt"
    with log.open("wb") as stream:
        subprocess.run(
            [sys.executable, "-m", "pytest", "--memray", "--memray-json=/dev/stdout", "-p",
             "no:cacheprovider"],
            cwd=pytester.path, stdout=stream, stderr=subprocess.STDOUT, check=True, timeout=300,
        )  # fmt: skip
    text = log.read_text(encoding="utf-8")
    assert text.index("test session starts") < text.index('"version": 3') < text.index("1 passed")


@posix_only
def test_a_fifo_receives_the_document(runner: Runner) -> None:
    fifo = runner.pytester.path / "results.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    runner.write("def test_ok():\n    pass\n")
    result = runner.run("--memray", f"--memray-json={fifo}")
    reader.join(timeout=60)
    assert result.ret == 0
    assert json.loads(received[0])["tests"][0]["nodeid"] == "test_subject.py::test_ok"
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@posix_only
@pytest.mark.parametrize("option", ["--memray-json", "--memray-benchmark-json", "--junitxml"])
def test_outputs_follow_links_and_get_the_usual_mode(runner: Runner, option: str) -> None:
    real = runner.pytester.path / "store" / "real.out"
    real.parent.mkdir()
    link = runner.pytester.path / "link.out"
    link.symlink_to(real)
    runner.write("def test_ten():\n    data = bytearray(10 * 1024 * 1024)\n")
    old = os.umask(0o022)
    try:
        result = runner.run("--memray", f"{option}={link}")
    finally:
        os.umask(old)
    assert result.ret == 0
    assert link.is_symlink()
    assert real.is_file()
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
    text = real.read_text(encoding="utf-8")
    assert "test_ten" in text
    if option == "--junitxml":  # rewritten by the plugin to add the batched test's peak
        assert 'name="memray_peak_bytes"' in text
    # A file that exists keeps its mode when it is replaced.
    real.chmod(0o600)
    assert runner.run("--memray", f"{option}={link}").ret == 0
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert link.is_symlink()


@posix_only
def test_a_json_output_to_a_device_is_not_refused(runner: Runner) -> None:
    runner.write("def test_ok():\n    pass\n")
    result = runner.run("--memray", "--memray-json=/dev/null", "--memray-benchmark-json=/dev/null")
    assert result.ret == 0


def test_both_documents_into_one_file_is_refused(runner: Runner) -> None:
    runner.write("def test_ok():\n    pass\n")
    result = runner.run("--memray-json=out.json", "--memray-benchmark-json=./out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*both documents would go to one file*"])


# -- the benchmark feed and github-action-benchmark's ratios -----------------------------------


def test_a_peak_below_the_noise_floor_is_written_as_the_floor(runner: Runner) -> None:
    runner.write(
        "def test_nothing():\n    pass\n\ndef test_ten():\n    data = bytearray(10 * 1024 * 1024)\n"
    )
    runner.run("--memray", "--memray-benchmark-json=bench.json")
    entries = {entry["name"]: entry for entry in _load(runner.pytester.path / "bench.json")}
    nothing = entries["test_subject.py::test_nothing"]
    assert nothing["value"] == 1024 * 1024  # never 0: the next ratio would be infinite
    assert nothing["extra"].startswith("peak memory of the test call: 0 bytes (")
    assert nothing["extra"].endswith(
        "; written as 1.0MiB, the noise floor, since the measured 0.0B is below it"
    )
    ten = entries["test_subject.py::test_ten"]
    assert ten["value"] >= 10 * 1024 * 1024
    assert "written as" not in ten["extra"]
    assert f"peak memory of the test call: {ten['value']} bytes" in ten["extra"]
    # The floor's size is --memray-noise-floor's; never below one byte.
    runner.run("--memray", "--memray-benchmark-json=bench.json", "--memray-noise-floor=0%")
    values = {entry["name"]: entry["value"] for entry in _load(runner.pytester.path / "bench.json")}
    assert values["test_subject.py::test_nothing"] == 1
