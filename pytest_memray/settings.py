"""The plugin's settings, read once from the command line and the ini file (CLI wins)."""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_memray.backends.registry import BackendEntry, backend_names
from pytest_memray.gates.allowance import DEFAULT_MAX_INCREASE
from pytest_memray.sizes import parse_size

DEFAULT_MOST_ALLOCATIONS = 5
DEFAULT_STACKS = 1


def _whole_number(text: str, minimum: int) -> int:
    """``text`` as an int of at least ``minimum``; ValueError naming ``text`` otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise ValueError(f"{text!r} must be at least {minimum}")
    return value


def whole_number_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for whole numbers of at least ``minimum``."""

    def whole_number(text: str) -> int:
        try:
            return _whole_number(text, minimum)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return whole_number


def add_options(parser: pytest.Parser, backends: Mapping[str, BackendEntry]) -> None:
    """Register the command-line and ini options under a ``memray`` heading."""
    group = parser.getgroup("memray")
    names = backend_names(backends)
    described = "; ".join(f"{entry.name}: {entry.summary}" for entry in backends.values())
    group.addoption(
        "--memray",
        action="store_true",
        default=None,
        help="Activate memray tracking of every test, and print a report at the end.",
    )
    group.addoption(
        "--memray-backend",
        choices=names,
        default=None,
        help="How memory is measured: auto (default: the first of the following that can run "
        f"here), or one of them by name. {described}.",
    )
    group.addoption(
        "--memray-bin-path",
        metavar="DIR",
        default=None,
        help="Path where to write the memray binary dumps: one capture file per test in DIR, "
        "created if missing (default: a temporary folder, removed at exit).",
    )
    group.addoption(
        "--memray-bin-prefix",
        metavar="PREFIX",
        default=None,
        help="Prefix to use for the binary dump file names (default: a random id).",
    )
    group.addoption(
        "--hide-memray-summary",
        action="store_true",
        default=None,
        help="Hide the memray summary: no report at the end of the run.",
    )
    group.addoption(
        "--most-allocations",
        metavar="N",
        type=whole_number_at_least(0),
        default=None,
        help=f"Show the N tests that allocate most memory: the report lists the N highest "
        f"peaks; 0 lists all (default {DEFAULT_MOST_ALLOCATIONS}).",
    )
    group.addoption(
        "--stacks",
        metavar="N",
        type=whole_number_at_least(1),
        default=None,
        help=f"Show the N stack entries of each allocation listed in a failure "
        f"(default {DEFAULT_STACKS}; leaks show at least 5).",
    )
    group.addoption(
        "--native",
        action="store_true",
        default=None,
        help="Show native frames (C, C++, Rust) in the stacks of allocations "
        "(memray backend; slower).",
    )
    group.addoption(
        "--trace-python-allocators",
        action="store_true",
        default=None,
        help="Record allocations made by the Pymalloc allocator one by one, not only the arenas "
        "it takes (memray backend; slower).",
    )
    group.addoption(
        "--fail-on-increase",
        action="store_true",
        default=None,
        help="Fail a test with the limit_memory marker if its peak is higher than the one "
        "recorded in pytest's cache (memray/<test id>) at its previous run.",
    )
    group.addoption(
        "--memray-limit",
        metavar="SIZE",
        default=None,
        help="Give every test without a memory marker of its own limit_memory(SIZE), "
        "e.g. '100 MB'.",
    )
    group.addoption(
        "--memray-json",
        metavar="PATH",
        default=None,
        help="Write the results as a JSON document to PATH at the end of the run.",
    )
    group.addoption(
        "--memray-benchmark-json",
        metavar="PATH",
        default=None,
        help="Write each passing test's peak to PATH in github-action-benchmark's "
        "customSmallerIsBetter format.",
    )
    parser.addini("memray", "Activate memray tracking of every test, like --memray.", type="bool")
    parser.addini("memray_limit", "limit_memory for every unmarked test (like --memray-limit).")
    parser.addini("memray_json", "Write the JSON results here (like --memray-json).")
    group.addoption(
        "--memray-baseline",
        metavar="PATH",
        default=None,
        help="Fail every measured test whose peak grew past --memray-max-increase over its "
        "peak in PATH, a document written by --memray-json in an earlier run.",
    )
    group.addoption(
        "--memray-max-increase",
        metavar="VALUE",
        default=None,
        help="How much a peak may grow over its baseline: a percentage (10%%), a size "
        f"(512 KB) or both (10%% + 64 KB). Default: {DEFAULT_MAX_INCREASE.replace('%', '%%')}.",
    )
    parser.addini("memray_benchmark_json", "Write peaks for github-action-benchmark here.")
    parser.addini("memray_baseline", "Baseline document for the gate (like --memray-baseline).")
    parser.addini(
        "memray_max_increase",
        "How much a peak may grow over its baseline (like --memray-max-increase).",
    )
    parser.addini("memray_backend", f"{', '.join(names)} (like --memray-backend).", default="auto")
    parser.addini(
        "hide_memray_summary", "Hide the memray summary, like --hide-memray-summary.", type="bool"
    )
    parser.addini(
        "most_allocations",
        "Show the N tests that allocate most memory, like --most-allocations; 0 = all.",
        default="",
    )
    parser.addini(
        "stacks",
        "Show the N stack entries of each allocation in failures, like --stacks.",
        default="",
    )
    parser.addini("native", "Show native frames in stacks, like --native.", type="bool")
    parser.addini(
        "trace_python_allocators",
        "Record allocations made by the Pymalloc allocator, like --trace-python-allocators.",
        type="bool",
    )
    parser.addini(
        "fail-on-increase",
        "Fail a test with the limit_memory marker if its peak grew, like --fail-on-increase.",
        type="bool",
    )
    parser.addini(
        "verbosity_memray",
        "Verbosity level for limit_memory failure reports: below 0 the summary line only, "
        "0 or 1 the ten largest allocations, 2 and up all of them. Default follows -v/-q.",
        default="",
    )


@dataclass(frozen=True)
class Settings:
    enabled: bool
    backend: str
    bin_path: Path | None
    bin_prefix: str
    hide_summary: bool
    most_allocations: int
    stacks: int
    native: bool
    trace_python_allocators: bool
    fail_on_increase: bool
    verbosity: int
    #: limit_memory for every test without a memory marker of its own (--memray-limit).
    default_limit: int | None
    json_path: Path | None
    benchmark_json_path: Path | None
    #: The baseline document (--memray-baseline), as given; read by the plugin.
    baseline: str | None
    #: The allowance over the baseline (--memray-max-increase), as given; None for the default.
    max_increase: str | None


def _flag(config: pytest.Config, option: str, ini: str) -> bool:
    value = config.getoption(option)
    return bool(config.getini(ini)) if value is None else bool(value)


def _ini_int(config: pytest.Config, ini: str, default: int, minimum: int) -> int:
    raw = str(config.getini(ini)).strip()
    if not raw:
        return default
    try:
        return _whole_number(raw, minimum)
    except ValueError as exc:
        raise pytest.UsageError(f"ini option {ini}: {exc}") from None


def _unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (created if missing), or None if they can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".pytest-memray-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _checked_bin_path(raw: str) -> Path:
    path = Path(os.path.abspath(os.path.expanduser(raw)))
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(f"--memray-bin-path {raw!r} is a file, not a directory")
    reason = _unwritable_reason(path)
    if reason is not None:
        raise pytest.UsageError(f"--memray-bin-path {raw!r} is not writable: {reason}")
    return path


def _checked_output_file(raw: str, option: str) -> Path:
    path = Path(os.path.abspath(os.path.expanduser(raw)))
    if path.is_dir():
        raise pytest.UsageError(f"{option} {raw!r} is a directory; give a file name")
    reason = _unwritable_reason(path.parent)
    if reason is not None:
        raise pytest.UsageError(f"{option} {raw!r} cannot be written: {reason}")
    return path


def _option_or_ini(config: pytest.Config, option: str, ini: str) -> str | None:
    value = config.getoption(option)
    if value is None:
        return str(config.getini(ini)).strip() or None
    return str(value)


def read_settings(config: pytest.Config, backends: Mapping[str, BackendEntry]) -> Settings:
    """Read and check every option; a bad value raises ``pytest.UsageError`` naming it."""
    names = backend_names(backends)
    backend = config.getoption("memray_backend") or str(config.getini("memray_backend")).strip()
    if backend not in names:
        raise pytest.UsageError(
            f"ini option memray_backend = {backend!r} is not one of {', '.join(names)}"
        )
    most = config.getoption("most_allocations")
    if most is None:
        most = _ini_int(config, "most_allocations", DEFAULT_MOST_ALLOCATIONS, 0)
    stacks = config.getoption("stacks")
    if stacks is None:
        stacks = _ini_int(config, "stacks", DEFAULT_STACKS, 1)
    raw_verbosity = str(config.getini("verbosity_memray")).strip()
    if raw_verbosity in ("", "auto"):
        # getattr: with -p no:terminal there is no -v option at all.
        verbosity = int(getattr(config.option, "verbose", 0) or 0)
    else:
        try:
            verbosity = int(raw_verbosity)
        except ValueError:
            raise pytest.UsageError(
                f"ini option verbosity_memray = {raw_verbosity!r} is not a whole number"
            ) from None
    raw_path = config.getoption("memray_bin_path")
    bin_path = None if raw_path is None else _checked_bin_path(raw_path)
    workerinput = getattr(config, "workerinput", {})
    prefix = config.getoption("memray_bin_prefix") or workerinput.get("memray_bin_prefix")
    return Settings(
        enabled=_flag(config, "memray", "memray"),
        backend=backend,
        bin_path=bin_path,
        bin_prefix=prefix or uuid.uuid4().hex[:8],
        hide_summary=_flag(config, "hide_memray_summary", "hide_memray_summary"),
        most_allocations=most,
        stacks=stacks,
        native=_flag(config, "native", "native"),
        trace_python_allocators=_flag(config, "trace_python_allocators", "trace_python_allocators"),
        fail_on_increase=_flag(config, "fail_on_increase", "fail-on-increase"),
        verbosity=verbosity,
        default_limit=_default_limit(config),
        json_path=_output(config, "memray_json", "memray_json", "--memray-json"),
        benchmark_json_path=_output(
            config, "memray_benchmark_json", "memray_benchmark_json", "--memray-benchmark-json"
        ),
        baseline=_option_or_ini(config, "memray_baseline", "memray_baseline"),
        max_increase=_option_or_ini(config, "memray_max_increase", "memray_max_increase"),
    )


def _default_limit(config: pytest.Config) -> int | None:
    raw = _option_or_ini(config, "memray_limit", "memray_limit")
    if raw is None:
        return None
    try:
        return parse_size(raw)
    except ValueError as exc:
        raise pytest.UsageError(f"--memray-limit / memray_limit: {exc}") from None


def _output(config: pytest.Config, option: str, ini: str, flag: str) -> Path | None:
    raw = _option_or_ini(config, option, ini)
    return None if raw is None else _checked_output_file(raw, flag)
