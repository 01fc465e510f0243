"""The plugin's options, declared as data, and the settings read from them once per session.

Each :class:`Option` row names a command-line flag, its ini key (or none), how its value is
read, and its help. :func:`add_options` registers the rows under a ``memray`` heading;
:func:`read_settings` reads every row once (the command line wins over the ini file), checks
the values and returns a frozen :class:`Settings`, raising ``pytest.UsageError`` naming the
option and the value for a bad one. Reading has no side effects: folders are made, and
backends looked up, by the code that uses them.

This module is imported whenever pytest loads the plugin, with or without ``--memray``, so it
imports nothing but pytest, :mod:`pytest_memray.sizes` and constants of
:mod:`pytest_memray.gates` (the gates' values are checked where they are read), and
:mod:`pytest_memray.files` only when an output file is given.
"""

from __future__ import annotations

import argparse
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pytest

from pytest_memray.gates import DEFAULT_MAX_INCREASE, DEFAULT_MIN_COMPARED, DEFAULT_NOISE_FLOOR
from pytest_memray.sizes import parse_size

DEFAULT_MOST_ALLOCATIONS = 5
#: Where --memray-flamegraphs writes its pages when it is given no folder.
DEFAULT_FLAMEGRAPHS = "memray-flamegraphs"
DEFAULT_STACKS = 1

#: The published plugin's registration name for its per-test object: ``-p no:memray_manager``
#: and ``config.pluginmanager.get_plugin("memray_manager")`` work as they did.
PLUGIN_NAME = "memray_manager"

#: The memory markers and their help lines (registered always, so --strict-markers passes).
MARKERS = {
    "limit_memory": (
        "limit_memory(limit, *, current_thread_only=False): fail the test if the peak memory "
        "of its call reaches limit, a size such as '24 MB'."
    ),
    "limit_leaks": (
        "limit_leaks(location_limit, *, filter_fn=None, current_thread_only=False): fail the "
        "test if one call stack leaks at least location_limit during its call."
    ),
    "limit_leaked_objects": (
        "limit_leaked_objects(*, filter_fn=None): fail the test if Python objects created "
        "during its call are still alive after it."
    ),
}

#: ``optional``: a flag that may take a value (``--memray-save`` or ``--memray-save=NAME``).
Kind = Literal["flag", "text", "count", "positive", "optional"]


class Option(NamedTuple):
    """One option: its flag, its ini key, how its value reads, and its help."""

    flag: str | None
    ini: str | None
    kind: Kind
    help: str
    metavar: str | None = None
    #: The ini key's own help, where it differs from the flag's.
    ini_help: str | None = None

    @property
    def dest(self) -> str:
        assert self.flag is not None
        return self.flag.lstrip("-").replace("-", "_")


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


_MINIMUM: dict[Kind, int] = {"count": 0, "positive": 1}

OPTIONS: tuple[Option, ...] = (
    Option("--memray", "memray", "flag", "Activate memray tracking of every test, and print a "
           "report at the end."),
    Option("--memray-backend", "memray_backend", "text", "How memory is measured: auto "
           "(default: memray where it can run, else tracemalloc), memray (every allocation, "
           "native ones included; Linux and macOS, CPython), tracemalloc (allocations through "
           "Python's allocators; everywhere), or a backend another distribution registers.",
           metavar="NAME"),
    Option("--memray-bin-path", None, "text", "Path where to write the memray binary dumps: "
           "one capture file per test in DIR, created if missing (default: a temporary "
           "folder, removed at exit).", metavar="DIR"),
    Option("--memray-bin-prefix", None, "text", "Prefix to use for the binary dump file "
           "names (default: a random id); a name, not a path: no '/', '\\' or '..'.",
           metavar="PREFIX"),
    Option("--hide-memray-summary", "hide_memray_summary", "flag", "Hide the memray summary: "
           "no report at the end of the run."),
    Option("--most-allocations", "most_allocations", "count", "Show the N tests that allocate "
           f"most memory: the report lists the N highest peaks; 0 lists all (default "
           f"{DEFAULT_MOST_ALLOCATIONS}).", metavar="N"),
    Option("--stacks", "stacks", "positive", "Show the N stack entries of each allocation "
           f"listed in a failure (default {DEFAULT_STACKS}; leaks show at least 5).",
           metavar="N"),
    Option("--native", "native", "flag", "Show native frames (C, C++, Rust) in the stacks of "
           "allocations (memray backend; slower)."),
    Option("--trace-python-allocators", "trace_python_allocators", "flag", "Record "
           "allocations made by the Pymalloc allocator one by one, not only the arenas it "
           "takes (memray backend; slower)."),
    Option("--fail-on-increase", "fail-on-increase", "flag", "Fail a test with the "
           "limit_memory marker if its peak is higher than the one recorded in pytest's "
           "cache (memray/<test id>) at its previous run."),
    Option("--memray-limit", "memray_limit", "text", "Give every test without a memory "
           "marker of its own limit_memory(SIZE), e.g. '100 MB'.", metavar="SIZE"),
    Option("--memray-json", "memray_json", "text", "Write the results as a JSON document to "
           "PATH at the end of the run.", metavar="PATH"),
    Option("--memray-benchmark-json", "memray_benchmark_json", "text", "Write each passing "
           "test's peak to PATH in github-action-benchmark's customSmallerIsBetter format.",
           metavar="PATH"),
    Option("--memray-baseline", "memray_baseline", "text", "Fail every measured test whose "
           "peak grew past --memray-max-increase over its peak in PATH, a document written "
           "by --memray-json in an earlier run.", metavar="PATH"),
    Option("--memray-max-increase", "memray_max_increase", "text", "How much a peak may grow "
           "over its baseline: a percentage (10%), a size (512 KB) or both (10% + 64 KB). "
           f"Default: {DEFAULT_MAX_INCREASE}.", metavar="VALUE"),
    Option("--memray-save", None, "optional", "Save this run's JSON document in the storage "
           "folder (--memray-storage), named with a counter, the git commit, the date and "
           "NAME if given; compare with it later by --memray-compare, and see the trend with "
           "'pytest-memray history'. Write --memray-save=NAME (with '=').", metavar="NAME"),
    Option("--memray-compare", None, "optional", "Fail every measured test whose peak grew "
           "past --memray-max-increase over a saved run of this platform, Python and "
           "backend: latest (the default), a counter (7) or a name given to --memray-save. "
           "Write --memray-compare=WHICH (with '=').", metavar="WHICH"),
    Option("--memray-storage", "memray_storage", "text", "The folder of saved runs, relative "
           "to the rootdir (default .memray).", metavar="DIR"),
    Option("--memray-save-keep", "memray_save_keep", "positive", "Keep only the N newest "
           "saved runs of this platform, Python and backend when saving (default: all).",
           metavar="N"),
    Option("--memray-html", "memray_html", "text", "Write the self-contained HTML report to "
           "PATH at the end of the run: every test, a chart of the biggest peaks, the changes "
           "against the baseline and the trend over saved runs.", metavar="PATH"),
    Option("--memray-flamegraphs", None, "optional", "Draw where the memory of each test that "
           "failed a memory limit or the baseline went, as an HTML page in DIR (default "
           f"{DEFAULT_FLAMEGRAPHS}): memray's flamegraph, or the top allocation sites and their "
           "stacks on tracemalloc. 'all' draws every measured test's (each is then measured on "
           "its own: slower); 'all:DIR' does so in DIR.", metavar="DIR"),
    Option("--memray-noise-floor", "memray_noise_floor", "text", "Changes of a peak up to "
           "this much, either way, count as unchanged in the baseline gate's tables (and "
           "peaks below its size are written as it to --memray-benchmark-json): a size, a "
           f"percentage or both. Default: {DEFAULT_NOISE_FLOOR}.", metavar="VALUE"),
    Option("--memray-min-compared", "memray_min_compared", "text", "The baseline gate "
           "fails the session (exit status 2) unless it compared at least N tests, or N% of "
           f"the measured tests, with the baseline. Default: {DEFAULT_MIN_COMPARED}.",
           metavar="N"),
    Option("--memray-fail-gone", "memray_fail_gone", "flag", "The baseline gate fails the "
           "session (exit status 2) when tests of the baseline did not run."),
    Option(None, "verbosity_memray", "text", "Verbosity level for limit_memory failure "
           "reports: below 0 the summary line only, 0 or 1 the ten largest allocations, 2 "
           "and up all of them. Default follows -v/-q."),
)  # fmt: skip


def add_options(parser: pytest.Parser) -> None:
    """Register every :data:`OPTIONS` row under a ``memray`` heading."""
    group = parser.getgroup("memray")
    for option in OPTIONS:
        if option.flag is not None:
            extra: dict[str, Any] = {"default": None, "dest": option.dest}
            if option.kind == "flag":
                extra["action"] = "store_true"
            elif option.kind == "optional":
                extra.update(nargs="?", const="", metavar=option.metavar)
            else:
                extra["metavar"] = option.metavar
                if option.kind in _MINIMUM:
                    extra["type"] = whole_number_at_least(_MINIMUM[option.kind])
            group.addoption(option.flag, help=option.help.replace("%", "%%"), **extra)
        if option.ini is not None:
            flag = f" (like {option.flag})" if option.flag else ""
            help_text = (option.ini_help or option.help) + flag
            if option.kind == "flag":
                parser.addini(option.ini, help_text, type="bool")
            else:
                parser.addini(option.ini, help_text, default="")


class Settings(NamedTuple):
    """Every option's value, read once (named tuples: this module loads with every pytest)."""

    enabled: bool
    #: ``auto`` or a backend's name, as given; checked against the registry when it is used.
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
    #: The baseline document (--memray-baseline), as given; read by the baseline gate.
    baseline: str | None
    #: The allowance over the baseline (--memray-max-increase), as given; None for the default.
    max_increase: str | None
    #: --memray-save: None when not given, "" without a name, else the name.
    save_name: str | None = None
    #: --memray-compare: None when not given, else which saved run ("" for the latest).
    compare: str | None = None
    #: The storage folder of saved runs, as given (--memray-storage); None for the default.
    storage: str | None = None
    #: How many saved runs to keep (--memray-save-keep); None keeps all.
    save_keep: int | None = None
    html_path: Path | None = None
    #: Where --memray-flamegraphs writes its pages; None without the option.
    flamegraph_dir: Path | None = None
    #: Every measured test gets one (--memray-flamegraphs=all), not only memory failures.
    flamegraphs_for_all: bool = False
    #: The noise floor (--memray-noise-floor), as given; None for the default.
    noise_floor: str | None = None
    #: The fewest tests the gate must compare (--memray-min-compared), as given.
    min_compared: str | None = None
    #: Baseline tests that did not run fail the gate (--memray-fail-gone).
    fail_gone: bool = False

    @property
    def measures_every_test(self) -> bool:
        """Whether every test is measured, marked or not (else only marked tests are)."""
        return (
            self.enabled
            or self.baseline is not None
            or self.compare is not None
            or self.default_limit is not None
        )

    @property
    def needs_session_parts(self) -> bool:
        """Whether the plugin's parts are needed before any marked test runs: to measure every
        test, or to write or judge something at the end."""
        return (
            self.measures_every_test
            or self.json_path is not None
            or self.benchmark_json_path is not None
            or self.max_increase is not None
            or self.save_name is not None
            or self.html_path is not None
            or self.noise_floor is not None
            or self.min_compared is not None
        )


def _value(config: pytest.Config, option: Option) -> Any:
    """The raw value: the command line's when given, else the ini file's (None when unset)."""
    value = None if option.flag is None else config.getoption(option.dest)
    if value is None and option.ini is not None:
        value = config.getini(option.ini)
        if option.kind != "flag":
            value = str(value).strip() or None
    return value


def _read(config: pytest.Config, option: Option) -> Any:
    value = _value(config, option)
    if option.kind == "flag":
        return bool(value)
    if option.kind in _MINIMUM and isinstance(value, str):
        try:
            return _whole_number(value, _MINIMUM[option.kind])
        except ValueError as exc:
            raise pytest.UsageError(f"ini option {option.ini}: {exc}") from None
    return value


def read_settings(config: pytest.Config) -> Settings:
    """Read and check every option; a bad value raises ``pytest.UsageError`` naming it."""
    raw = {option.flag or option.ini: _read(config, option) for option in OPTIONS}
    backend = raw["--memray-backend"] or "auto"
    most = raw["--most-allocations"]
    stacks = raw["--stacks"]
    bin_path = raw["--memray-bin-path"]
    workerinput = getattr(config, "workerinput", {})
    prefix = _bin_prefix(raw["--memray-bin-prefix"]) or workerinput.get("memray_bin_prefix")
    json_path = _output_file(raw["--memray-json"], "--memray-json")
    benchmark_path = _output_file(raw["--memray-benchmark-json"], "--memray-benchmark-json")
    baseline = raw["--memray-baseline"]
    _check_not_the_same(json_path, benchmark_path, baseline)
    return Settings(
        enabled=raw["--memray"],
        backend=str(backend),
        bin_path=None if bin_path is None else _absolute(bin_path),
        bin_prefix=prefix or uuid.uuid4().hex[:8],
        hide_summary=raw["--hide-memray-summary"],
        most_allocations=DEFAULT_MOST_ALLOCATIONS if most is None else most,
        stacks=DEFAULT_STACKS if stacks is None else stacks,
        native=raw["--native"],
        trace_python_allocators=raw["--trace-python-allocators"],
        fail_on_increase=raw["--fail-on-increase"],
        verbosity=_verbosity(config, raw["verbosity_memray"]),
        default_limit=_size(raw["--memray-limit"], "--memray-limit / memray_limit"),
        json_path=json_path,
        benchmark_json_path=benchmark_path,
        baseline=baseline,
        max_increase=raw["--memray-max-increase"],
        save_name=_save_name(raw["--memray-save"]),
        compare=raw["--memray-compare"],
        storage=raw["--memray-storage"],
        save_keep=raw["--memray-save-keep"],
        html_path=_output_file(raw["--memray-html"], "--memray-html"),
        **_flamegraphs(raw["--memray-flamegraphs"]),
        noise_floor=raw["--memray-noise-floor"],
        min_compared=raw["--memray-min-compared"],
        fail_gone=raw["--memray-fail-gone"],
    )


def _flamegraphs(raw: str | None) -> dict[str, Any]:
    """``--memray-flamegraphs``: nothing, a folder, ``all`` or ``all:DIR``."""
    if raw is None:
        return {}
    for_all = raw == "all" or raw.startswith("all:")
    folder = raw[len("all:") :] if raw.startswith("all:") else ("" if raw == "all" else raw)
    path = _absolute(folder or DEFAULT_FLAMEGRAPHS)
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(f"--memray-flamegraphs {raw!r}: {str(path)!r} is not a folder")
    return {"flamegraph_dir": path, "flamegraphs_for_all": for_all}


def _save_name(raw: str | None) -> str | None:
    if not raw:
        return raw
    from pytest_memray.gates.storage import StorageError, check_name

    try:
        return check_name(raw)
    except StorageError as exc:
        hint = ""
        if os.path.exists(raw):
            hint = f" ({raw!r} is a path: put the paths to test before --memray-save)"
        raise pytest.UsageError(f"--memray-save={raw}: {exc}{hint}") from None


def _verbosity(config: pytest.Config, raw: str | None) -> int:
    if raw in (None, "auto"):
        # getattr: with -p no:terminal there is no -v option at all.
        return int(getattr(config.option, "verbose", 0) or 0)
    try:
        return int(str(raw))
    except ValueError:
        raise pytest.UsageError(
            f"ini option verbosity_memray = {raw!r} is not a whole number"
        ) from None


def _size(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    try:
        return parse_size(raw)
    except ValueError as exc:
        raise pytest.UsageError(f"{name}: {exc}") from None


def _absolute(raw: str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(raw)))


def _output_file(raw: str | None, option: str) -> Path | None:
    if raw is None:
        return None
    path = _absolute(raw)
    if path.is_dir():
        raise pytest.UsageError(f"{option} {raw!r} is a directory; give a file name")
    return path


def _bin_prefix(raw: str | None) -> str | None:
    """The capture file prefix: a name, never a path (it would put files outside the folder,
    or be turned into a hidden ``.._x`` name)."""
    if raw is None or raw == "":
        return None
    if any(part in raw for part in ("/", "\\", "..", "\0")) or raw.strip(" .") == "":
        raise pytest.UsageError(
            f"--memray-bin-prefix {raw!r}: a prefix is the start of a file name, not a path: "
            "no '/', '\\' or '..'; choose the folder with --memray-bin-path"
        )
    return raw


def _regular_or_new(path: Path) -> bool:
    """Whether writing ``path`` makes or replaces a regular file (not a stream or device)."""
    from pytest_memray.files import stream_fd  # only when an output is given

    if stream_fd(path) is not None:
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def _check_not_the_same(
    json_path: Path | None, benchmark: Path | None, baseline: str | None
) -> None:
    """Refuse an output that would overwrite the baseline, or two outputs in one file."""
    if json_path is None and benchmark is None:
        return
    from pytest_memray.files import same_file  # only when an output is given

    pairs = [
        ("--memray-json", json_path, "--memray-baseline", baseline),
        ("--memray-benchmark-json", benchmark, "--memray-baseline", baseline),
        ("--memray-json", json_path, "--memray-benchmark-json", benchmark),
    ]
    for out_option, out, other_option, other in pairs:
        if out is None or other is None or not _regular_or_new(out):
            continue
        if same_file(out, other):
            harm = (
                "the run would overwrite its own baseline"
                if other_option == "--memray-baseline"
                else "both documents would go to one file"
            )
            raise pytest.UsageError(
                f"{out_option} {str(out)!r} is the file {other_option} names: {harm}; "
                "write it to another file"
            )
