"""The plugin's options and markers, declared as data.

Each :class:`Option` row names a command-line flag, its ini key (or none), how its value is
read, and its help; :func:`add_options` registers the rows under a ``memray`` heading, and
:mod:`.settings` reads them. The markers' help lines are here too: pytest registers them in
every session, so that ``--strict-markers`` passes.

Imported whenever pytest loads the plugin, with or without ``--memray``: it imports nothing
but pytest and constants of :mod:`pytest_memray.gates`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import pytest

from pytest_memray.gates import DEFAULT_MAX_INCREASE, DEFAULT_MIN_COMPARED, DEFAULT_NOISE_FLOOR

DEFAULT_MOST_ALLOCATIONS = 5
#: The backends this distribution registers (backends/builtin.py; a test keeps the two in
#: step): a name among them, or auto, is known without reading the entry points.
BUILTIN_BACKENDS = ("auto", "memray", "tracemalloc")
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


def quoted(value: str | os.PathLike[str]) -> str:
    r"""A path or an option's value in a message: in single quotes, as the user types it.

    ``repr()`` doubles every backslash, so on Windows it shows ``'C:\\tmp\\out.json'`` for
    ``C:\tmp\out.json``: a name that is not the user's. ``repr()`` is kept only for a value
    that holds a quote or an unprintable character, which plain quotes would hide.
    """
    text = os.fspath(value)
    if text.isprintable() and "'" not in text:
        return f"'{text}'"
    return repr(text)


def whole_number(text: str, minimum: int) -> int:
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

    def checked(text: str) -> int:
        try:
            return whole_number(text, minimum)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return checked


MINIMUM: dict[Kind, int] = {"count": 0, "positive": 1}

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
                if option.kind in MINIMUM:
                    extra["type"] = whole_number_at_least(MINIMUM[option.kind])
            group.addoption(option.flag, help=option.help.replace("%", "%%"), **extra)
        if option.ini is not None:
            flag = f" (like {option.flag})" if option.flag else ""
            help_text = (option.ini_help or option.help) + flag
            if option.kind == "flag":
                parser.addini(option.ini, help_text, type="bool")
            else:
                parser.addini(option.ini, help_text, default="")
