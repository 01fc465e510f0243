"""The settings of a session, read once from the options (:mod:`.options`).

:func:`read_settings` reads every option once (the command line wins over the ini file), checks
the values and returns a frozen :class:`Settings`, raising ``pytest.UsageError`` naming the
option and the value for a bad one. Reading has no side effects: folders are made, and
backends looked up, by the code that uses them.

This module is imported whenever pytest loads the plugin, with or without ``--memray``, so it
imports nothing but pytest, :mod:`.options`, :mod:`pytest_memray.sizes`, and
:mod:`pytest_memray.files` only when an output file is given.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pytest_memray.options import (
    BUILTIN_BACKENDS,
    DEFAULT_FLAMEGRAPHS,
    DEFAULT_MOST_ALLOCATIONS,
    DEFAULT_STACKS,
    MINIMUM,
    OPTIONS,
    Option,
    quoted,
    whole_number,
)
from pytest_memray.sizes import parse_size


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
    if option.kind in MINIMUM and isinstance(value, str):
        try:
            return whole_number(value, MINIMUM[option.kind])
        except ValueError as exc:
            raise pytest.UsageError(f"ini option {option.ini}: {exc}") from None
    return value


def read_settings(config: pytest.Config) -> Settings:
    """Read and check every option; a bad value raises ``pytest.UsageError`` naming it."""
    raw = {option.flag or option.ini: _read(config, option) for option in OPTIONS}
    backend = _backend_name(raw["--memray-backend"] or "auto")
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


def _backend_name(name: str) -> str:
    """``name`` when it names a backend; the registry is read only for a name that is not one
    of this distribution's, so that a session that needs no backend loads none."""
    if name in BUILTIN_BACKENDS:
        return name
    from pytest_memray.backends.registry import check_backend_name

    try:
        check_backend_name(name)
    except ValueError as exc:
        raise pytest.UsageError(f"--memray-backend / memray_backend: {exc}") from None
    return name


def _flamegraphs(raw: str | None) -> dict[str, Any]:
    """``--memray-flamegraphs``: nothing, a folder, ``all`` or ``all:DIR``."""
    if raw is None:
        return {}
    for_all = raw == "all" or raw.startswith("all:")
    folder = raw[len("all:") :] if raw.startswith("all:") else ("" if raw == "all" else raw)
    path = _absolute(folder or DEFAULT_FLAMEGRAPHS)
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(
            f"--memray-flamegraphs {quoted(raw)}: {quoted(path)} is not a folder"
        )
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
            hint = f" ({quoted(raw)} is a path: put the paths to test before --memray-save)"
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
        raise pytest.UsageError(f"{option} {quoted(raw)} is a directory; give a file name")
    return path


def _bin_prefix(raw: str | None) -> str | None:
    """The capture file prefix: a name, never a path (it would put files outside the folder,
    or be turned into a hidden ``.._x`` name)."""
    if raw is None or raw == "":
        return None
    if any(part in raw for part in ("/", "\\", "..", "\0")) or raw.strip(" .") == "":
        raise pytest.UsageError(
            f"--memray-bin-prefix {quoted(raw)}: a prefix is the start of a file name, not a path: "
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
                f"{out_option} {quoted(out)} is the file {other_option} names: {harm}; "
                "write it to another file"
            )
