#!/usr/bin/env python3
"""Benchmark: real projects' test suites and synthetic worst cases, with and without tracking.

Downloads the source distributions of pinned projects (jinja2, attrs, toolz, packaging) with pip,
unpacks them under ``benchmarks/.work/real/`` and gives each project two virtual environments:
one with this repository's plugin (editable install of the checkout) and one with the published
``pytest-memray`` 1.11.0. Both get the project itself and what its tests import.

Each project's tests then run under seven configurations, interleaved within every repeat:
plain pytest, "bare tracemalloc" (a four-line plugin that starts and stops tracemalloc around
each test call and does nothing else), "bare memray" (one Tracker for the session), this plugin
on each backend, this plugin's memray backend again with pytest's cache filled by a run before
(the tests it remembers to measure at once are then measured so), and the published plugin.
Every other configuration runs with ``-p no:cacheprovider``.
Two synthetic cases (a test churning ``bytes(1000)`` and a test making millions of small
function calls) run under the same configurations. The script reports medians of wall time and
of the pytest process's peak RSS, ratios against plain / bare tracemalloc / published, and every
test whose outcome (read from ``--junitxml``) differs from the plain run in the same repeat.

    python benchmarks/real_suites.py --projects jinja2,attrs --repeat 3 --output OUT.md

Linux or macOS (it reads the child's resource usage with ``os.wait4``); standard library only.
See ``benchmarks/README.md`` ("Real suites").
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

try:  # imported as part of the benchmarks package (the tests)
    from . import peak_rss, plugins
except ImportError:  # run as a script
    import peak_rss  # type: ignore[no-redef,import-not-found]
    import plugins  # type: ignore[no-redef,import-not-found]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work" / "real"
SDISTS = WORK / "sdists"
SOURCES = WORK / "src"
VENVS = WORK / "venvs"
RUNS = WORK / "runs"
PLUGIN_DIR = WORK / "plugins"
SYNTHETIC_DIR = WORK / "synthetic"
PUBLISHED_PLUGIN = "pytest-memray==1.11.0"
READY = ".bench-ready"
MIB = 1024 * 1024

# --------------------------------------------------------------------------------------------
# What runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    #: What the tests import besides the project (from its pyproject/tox test requirements).
    test_requirements: tuple[str, ...]
    #: Test paths or node ids passed to pytest, per subset; "all" is the default.
    subsets: Mapping[str, tuple[str, ...]]
    #: Arguments that keep the run deterministic for this project.
    extra_args: tuple[str, ...] = ()
    #: One line for the report: what the project is and what its tests need.
    description: str = ""


PROJECTS: dict[str, Project] = {
    project.name: project
    for project in (
        Project(
            "jinja2",
            "3.1.6",
            ("trio",),
            {"all": ("tests",)},
            description="templating; markupsafe comes with it, trio for the async tests",
        ),
        Project(
            "attrs",
            "26.1.0",
            ("hypothesis", "pympler", "cloudpickle"),
            {
                "all": ("tests",),
                # "fast" leaves out the three modules that took 9 of 14 s plain.
                "fast": (
                    "tests",
                    "--ignore=tests/test_make.py",
                    "--ignore=tests/test_funcs.py",
                    "--ignore=tests/test_3rd_party.py",
                ),
            },
            ("--hypothesis-seed=0",),
            description="class boilerplate; hypothesis tests (400 ms deadline, its conftest)",
        ),
        Project(
            "toolz",
            "1.2.0",
            (),
            {"all": ("toolz",)},
            description="functional utilities; small suite",
        ),
        Project(
            "packaging",
            "26.4",
            ("hypothesis", "pretend", "tomli_w", "pip"),
            # test_version.py holds 51,000 of the 64,000 tests.
            {"all": ("tests",), "fast": ("tests", "--ignore=tests/test_version.py")},
            ("--hypothesis-seed=0",),
            description="version and requirement parsing",
        ),
    )
}
QUICK_PROJECT = "toolz"


@dataclass(frozen=True)
class Config:
    name: str
    #: "ours" or "published": which of the target's two environments runs it.
    flavour: str
    args: tuple[str, ...]
    description: str
    #: Runs with pytest's cache, filled by one unmeasured run of the same configuration
    #: first (the others run with ``-p no:cacheprovider``): what the plugin remembers
    #: between runs (tests to measure at once) is in place, as on a developer's machine.
    warm_cache: bool = False


CONFIGS: tuple[Config, ...] = (
    Config("plain", "ours", ("-p", "no:memray"), "pytest alone (our plugin installed, disabled)"),
    Config(
        "bare-tracemalloc",
        "ours",
        ("-p", "no:memray", "-p", plugins.BARE_TRACEMALLOC),
        "tracemalloc.start()/stop() around each test call (pytest_runtest_call), nothing else",
    ),
    Config(
        "bare-memray",
        "ours",
        ("-p", "no:memray", "-p", plugins.BARE_MEMRAY_SESSION),
        "one memray Tracker from the end of collection to the end of the session, nothing else",
    ),
    Config(
        "bare-memray-call",
        "ours",
        ("-p", "no:memray", "-p", plugins.BARE_MEMRAY_CALL),
        "a memray Tracker started and stopped around each test call, nothing else",
    ),
    Config(
        "ours-memray",
        "ours",
        ("--memray", "--memray-backend=memray"),
        "this plugin, memray backend",
    ),
    Config(
        "ours-memray-cached",
        "ours",
        ("--memray", "--memray-backend=memray"),
        "this plugin, memray backend, second run with pytest's cache",
        warm_cache=True,
    ),
    Config(
        "ours-tracemalloc",
        "ours",
        ("--memray", "--memray-backend=tracemalloc"),
        "this plugin, tracemalloc backend",
    ),
    Config("published", "published", ("--memray",), f"published {PUBLISHED_PLUGIN}"),
)
CONFIG_NAMES = tuple(config.name for config in CONFIGS)
BASE_ARGS = (
    "-q",
    "-p",
    "no:randomly",
    "-o",
    "junit_logging=no",
    "-p",
    peak_rss.PLUGIN_NAME,
    "-p",
    plugins.PROBE_NAME,
)


@dataclass(frozen=True)
class Synthetic:
    name: str
    description: str
    source: str


def _churn_source(count: int) -> str:
    return (
        f"def test_churn():\n"
        f"    for _ in range({count}):\n"
        f"        data = bytes(1000)\n"
        f"    assert len(data) == 1000\n"
    )


def _calls_source(count: int) -> str:
    return (
        "def add_one(value):\n"
        "    return value + 1\n\n\n"
        "def test_calls():\n"
        "    total = 0\n"
        f"    for _ in range({count}):\n"
        "        total = add_one(total)\n"
        f"    assert total == {count}\n"
    )


SYNTHETICS: dict[str, Synthetic] = {
    case.name: case
    for case in (
        Synthetic(
            "churn-1m", "allocates and frees bytes(1000) 1,000,000 times", _churn_source(10**6)
        ),
        Synthetic(
            "churn-3m", "allocates and frees bytes(1000) 3,000,000 times", _churn_source(3 * 10**6)
        ),
        Synthetic(
            "calls-3m", "3,000,000 calls of a one-line Python function", _calls_source(3 * 10**6)
        ),
    )
}


@dataclass(frozen=True)
class Target:
    """One thing to time: a project's (subset of) tests, or a synthetic case."""

    name: str
    #: Key of the pair of environments it runs in.
    env_key: str
    cwd: Path
    args: tuple[str, ...]
    label: str


class SetupError(Exception):
    """A download, unpack or install step failed; the message says which and why."""


# --------------------------------------------------------------------------------------------
# Pure parts: junit parsing, outcome differences, statistics, tables (unit tested)
# --------------------------------------------------------------------------------------------


def parse_junit(text: str) -> dict[str, str]:
    """Map each test case in a pytest junit XML report to its outcome.

    Outcomes: ``passed``, ``failed``, ``error``, ``skipped`` and ``xfailed`` (pytest reports an
    xfail as a skip of type ``pytest.xfail``). A case with several results (a failure in the call
    and an error in teardown) gets them joined with ``+``, in document order.
    """
    root = ET.fromstring(text)
    outcomes: dict[str, str] = {}
    for case in root.iter("testcase"):
        classname = case.get("classname", "")
        name = case.get("name", "")
        key = f"{classname}::{name}" if classname else name
        if key in outcomes:
            suffix = 2
            while f"{key}#{suffix}" in outcomes:
                suffix += 1
            key = f"{key}#{suffix}"
        results: list[str] = []
        for child in case:
            if child.tag == "failure":
                results.append("failed")
            elif child.tag == "error":
                results.append("error")
            elif child.tag == "skipped":
                xfail = child.get("type") == "pytest.xfail"
                results.append("xfailed" if xfail else "skipped")
        outcomes[key] = "+".join(results) if results else "passed"
    return outcomes


@dataclass(frozen=True)
class OutcomeDiff:
    test: str
    plain: str
    other: str


def diff_outcomes(plain: Mapping[str, str], other: Mapping[str, str]) -> list[OutcomeDiff]:
    """Tests whose outcome differs between two runs; a test missing from one run is ``absent``."""
    diffs: list[OutcomeDiff] = []
    for test in sorted(set(plain) | set(other)):
        before = plain.get(test, "absent")
        after = other.get(test, "absent")
        if before != after:
            diffs.append(OutcomeDiff(test, before, after))
    return diffs


def count_outcomes(outcomes: Mapping[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return dict(sorted(counts.items()))


@dataclass
class Sample:
    target: str
    config: str
    repeat: int
    wall: float
    cpu: float
    max_rss: int
    returncode: int
    timed_out: bool
    outcomes: dict[str, str] | None
    log: str
    #: How many tests the configuration measured, out of how many calls ran ("n/a" unknown).
    measured: str = "n/a"
    #: The 1-minute load average as the run ended.
    load: float = float("nan")


@dataclass
class Summary:
    target: str
    config: str
    walls: list[float]
    max_rss: list[int]
    cpus: list[float]
    returncodes: list[int]
    timed_out: int = 0
    tests: int | None = None
    measured: str = "n/a"

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def rss(self) -> float:
        return statistics.median(self.max_rss)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


def summarise(samples: Iterable[Sample]) -> dict[tuple[str, str], Summary]:
    """Group samples by (target, config); timed-out samples count but add no figures."""
    summaries: dict[tuple[str, str], Summary] = {}
    for sample in samples:
        key = (sample.target, sample.config)
        summary = summaries.setdefault(key, Summary(sample.target, sample.config, [], [], [], []))
        summary.returncodes.append(sample.returncode)
        if sample.timed_out:
            summary.timed_out += 1
            continue
        summary.walls.append(sample.wall)
        summary.cpus.append(sample.cpu)
        summary.max_rss.append(sample.max_rss)
        if sample.outcomes is not None:
            summary.tests = len(sample.outcomes)
        summary.measured = sample.measured
    return summaries


def ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference is None or reference <= 0:
        return "n/a"
    return f"{value / reference:.2f}x"


def mib(value: float) -> str:
    return f"{value / MIB:.0f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table; columns after the first are right-aligned."""
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, the table {len(headers)} columns: {row!r}")
    align = ["---"] + ["---:"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)
    return "\n".join(lines)


TABLE_HEADERS = (
    "configuration",
    "tests measured",
    "wall (median)",
    "wall range",
    "CPU (median)",
    "x plain, wall / CPU",
    "x its floor, wall / CPU",
    "x published, wall / CPU",
    "peak RSS MiB",
    "RSS x plain",
    "exit codes",
    "outcome diffs",
)

#: What each configuration is compared with besides plain and published: the floors, what
#: the tracing library costs by itself under the same pytest run.
FLOORS: dict[str, tuple[str, ...]] = {
    "ours-tracemalloc": ("bare-tracemalloc",),
    "ours-memray": ("bare-memray", "bare-memray-call"),
    "ours-memray-cached": ("bare-memray", "bare-memray-call"),
    "published": ("bare-memray-call",),
}


def paired_ratio(
    samples: Sequence[Sample], target: str, config: str, reference: str, figure: str
) -> float | None:
    """The median, over the repeats both ran in, of ``figure`` (``"wall"`` or ``"cpu"``) of
    ``config`` over that of ``reference`` in the same repeat (the runs alternated in it)."""

    def runs(name: str) -> dict[int, float]:
        return {
            s.repeat: float(getattr(s, figure))
            for s in samples
            if s.target == target and s.config == name and not s.timed_out
        }

    mine, theirs = runs(config), runs(reference)
    values = [mine[r] / theirs[r] for r in sorted(set(mine) & set(theirs)) if theirs[r] > 0]
    return statistics.median(values) if values else None


def pair_text(samples: Sequence[Sample], target: str, config: str, reference: str) -> str:
    wall = paired_ratio(samples, target, config, reference, "wall")
    cpu = paired_ratio(samples, target, config, reference, "cpu")
    if wall is None or cpu is None:
        return "n/a"
    return f"{wall:.2f}x / {cpu:.2f}x"


def table_rows(
    target: str,
    samples: Sequence[Sample],
    diff_counts: Mapping[str, int],
    configs: Sequence[str],
) -> list[tuple[str, ...]]:
    """One row per configuration of ``target``: medians, and ratios of the runs of each
    repeat against plain, against the configuration's floors and against published."""
    summaries = summarise(s for s in samples if s.target == target)
    plain_rss = summaries.get((target, "plain"))
    rows: list[tuple[str, ...]] = []
    for config in configs:
        summary = summaries.get((target, config))
        if summary is None:
            continue
        codes = ",".join(str(code) for code in sorted(set(summary.returncodes)))
        if summary.timed_out:
            codes += f" ({summary.timed_out} timed out)"
        if not summary.walls:
            rows.append(
                (config, summary.measured, "timed out", "", "", "", "", "", "", "", codes, "")
            )
            continue
        floors = [
            f"{pair_text(samples, target, config, floor)} ({floor})"
            for floor in FLOORS.get(config, ())
            if (target, floor) in summaries
        ]
        rows.append(
            (
                config,
                summary.measured,
                f"{summary.wall:.2f} s",
                f"{min(summary.walls):.2f}–{max(summary.walls):.2f}",
                f"{summary.cpu:.2f} s",
                "1.00x" if config == "plain" else pair_text(samples, target, config, "plain"),
                "; ".join(floors) or "–",
                "1.00x"
                if config == "published"
                else pair_text(samples, target, config, "published"),
                mib(summary.rss),
                ratio(
                    summary.rss,
                    plain_rss.rss if plain_rss is not None and plain_rss.max_rss else None,
                ),
                codes,
                "—" if config == "plain" else str(diff_counts.get(config, 0)),
            )
        )
    return rows


def collect_diffs(
    samples: Sequence[Sample],
) -> dict[tuple[str, str], dict[OutcomeDiff, int]]:
    """Per (target, config): each outcome difference from the plain run of the same repeat,
    with the number of repeats in which it showed."""
    plain_runs = {
        (s.target, s.repeat): s.outcomes
        for s in samples
        if s.config == "plain" and s.outcomes is not None
    }
    found: dict[tuple[str, str], dict[OutcomeDiff, int]] = {}
    for sample in samples:
        if sample.config == "plain" or sample.outcomes is None:
            continue
        plain = plain_runs.get((sample.target, sample.repeat))
        if plain is None:
            continue
        bucket = found.setdefault((sample.target, sample.config), {})
        for diff in diff_outcomes(plain, sample.outcomes):
            bucket[diff] = bucket.get(diff, 0) + 1
    return found


def diff_lines(
    target: str,
    diffs: Mapping[tuple[str, str], Mapping[OutcomeDiff, int]],
    configs: Sequence[str],
    repeats: int,
    limit: int = 30,
) -> list[str]:
    """Markdown bullets naming each test whose outcome differs from plain."""
    lines: list[str] = []
    for config in configs:
        found = diffs.get((target, config), {})
        ordered = sorted(found.items(), key=lambda item: item[0].test)
        for diff, count in ordered[:limit]:
            lines.append(
                f"- `{config}`: `{diff.test}`: plain {diff.plain}, {config} {diff.other}"
                f" (in {count} of {repeats} repeats)"
            )
        if len(ordered) > limit:
            lines.append(f"- `{config}`: {len(ordered) - limit} more (see the junit files)")
    return lines


def rotated(items: Sequence[str], offset: int) -> list[str]:
    if not items:
        return []
    offset %= len(items)
    return list(items[offset:]) + list(items[:offset])


# --------------------------------------------------------------------------------------------
# Setup: downloads, sources, environments
# --------------------------------------------------------------------------------------------


def _run(command: Sequence[str], what: str, cwd: Path | None = None) -> str:
    """Run a setup command; on failure raise SetupError naming ``what`` with pip's last words."""
    result = subprocess.run(
        list(command), cwd=cwd, capture_output=True, text=True, env=_setup_environment()
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def _setup_environment() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def download_sdist(project: Project, base_python: str) -> Path:
    """The project's sdist under SDISTS, downloaded from the package index if missing."""
    SDISTS.mkdir(parents=True, exist_ok=True)
    spec = f"{project.name}=={project.version}"
    found = _find_sdist(project)
    if found is not None:
        return found
    _run(
        [
            base_python,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "-d",
            str(SDISTS),
            spec,
        ],
        f"downloading the sdist of {spec} from the package index",
    )
    found = _find_sdist(project)
    if found is None:
        raise SetupError(f"pip reported success but no sdist of {spec} is in {SDISTS}")
    return found


def _find_sdist(project: Project) -> Path | None:
    stem = f"{project.name}-{project.version}".lower().replace("_", "-")
    for path in sorted(SDISTS.glob("*.tar.gz")):
        if path.name[: -len(".tar.gz")].lower().replace("_", "-") == stem:
            return path
    return None


def unpack(project: Project, sdist: Path) -> Path:
    """The unpacked sdist's top folder under SOURCES (unpacked once)."""
    destination = SOURCES / f"{project.name}-{project.version}"
    if (destination / READY).exists():
        return destination
    if destination.exists():
        shutil.rmtree(destination)
    staging = SOURCES / f".staging-{project.name}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                target = (staging / member.name).resolve()
                if not str(target).startswith(str(staging.resolve())) or member.issym():
                    raise SetupError(f"{sdist.name}: refusing the archive member {member.name!r}")
            archive.extractall(staging)
    except (tarfile.TarError, OSError) as error:
        raise SetupError(f"unpacking {sdist} failed: {error}") from error
    tops = [path for path in staging.iterdir() if path.is_dir()]
    if len(tops) != 1:
        raise SetupError(f"{sdist.name}: expected one top folder, found {len(tops)}")
    tops[0].rename(destination)
    shutil.rmtree(staging)
    (destination / READY).write_text("unpacked\n")
    return destination


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _requirements_key(requirements: Sequence[str], base_python: str) -> str:
    text = json.dumps([base_python, *requirements])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_venv(
    venv: Path, base_python: str, requirements: Sequence[str], what: str, rebuild: bool
) -> None:
    """Create ``venv`` with ``requirements`` unless it already holds exactly those."""
    key = _requirements_key(requirements, base_python)
    marker = venv / READY
    if not rebuild and marker.exists() and marker.read_text().strip() == key:
        return
    if venv.exists():
        shutil.rmtree(venv)
    print(f"[setup] making {venv.relative_to(REPO)} ({what})", file=sys.stderr, flush=True)
    _run([base_python, "-m", "venv", str(venv)], f"creating the venv for {what}")
    _run(
        [str(venv_python(venv)), "-m", "pip", "install", "-q", *requirements],
        f"installing {' '.join(requirements)} for {what}",
    )
    marker.write_text(key + "\n")


def installed_versions(venv: Path, names: Sequence[str]) -> dict[str, str]:
    script = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        out[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n        out[name] = 'not installed'\n"
        "import platform\nout['python'] = platform.python_version()\nprint(json.dumps(out))\n"
    )
    output = _run(
        [str(venv_python(venv)), "-c", script, *names], f"reading versions in {venv.name}"
    )
    loaded: dict[str, str] = json.loads(output)
    return loaded


def prepare_project(project: Project, base_python: str, rebuild: bool) -> Path:
    """Download, unpack, and make both environments; returns the source folder."""
    sdist = download_sdist(project, base_python)
    source = unpack(project, sdist)
    shared = [str(source), *project.test_requirements]
    make_venv(
        VENVS / f"{project.name}-ours",
        base_python,
        ["-e", str(REPO), *shared],
        f"{project.name} with this plugin",
        rebuild,
    )
    pytest_version = installed_versions(VENVS / f"{project.name}-ours", ["pytest"])["pytest"]
    make_venv(
        VENVS / f"{project.name}-published",
        base_python,
        [PUBLISHED_PLUGIN, f"pytest=={pytest_version}", *shared],
        f"{project.name} with {PUBLISHED_PLUGIN}",
        rebuild,
    )
    return source


def prepare_synthetic(base_python: str, rebuild: bool) -> Path:
    make_venv(VENVS / "synthetic-ours", base_python, ["-e", str(REPO)], "synthetic, ours", rebuild)
    pytest_version = installed_versions(VENVS / "synthetic-ours", ["pytest"])["pytest"]
    make_venv(
        VENVS / "synthetic-published",
        base_python,
        [PUBLISHED_PLUGIN, f"pytest=={pytest_version}"],
        "synthetic, published",
        rebuild,
    )
    SYNTHETIC_DIR.mkdir(parents=True, exist_ok=True)
    _write_if_changed(SYNTHETIC_DIR / "pytest.ini", "[pytest]\n")
    for case in SYNTHETICS.values():
        _write_if_changed(SYNTHETIC_DIR / f"test_{case.name.replace('-', '_')}.py", case.source)
    return SYNTHETIC_DIR


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_plugin() -> None:
    plugins.write_plugins(PLUGIN_DIR)
    peak_rss.write_plugin(PLUGIN_DIR)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def child_environment(tmpdir: Path, peak_rss_file: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV"):
        env.pop(name, None)
    env["PYTHONHASHSEED"] = "0"
    # Same for every configuration; only bare-tracemalloc loads the module found there.
    env["PYTHONPATH"] = str(PLUGIN_DIR)
    env["TMPDIR"] = str(tmpdir)
    if peak_rss_file is not None:
        env[peak_rss.FILE_VARIABLE] = str(peak_rss_file)
    return env


def cache_dir(target: Target, config: Config) -> Path:
    """pytest's cache folder for a ``warm_cache`` configuration on ``target``."""
    return RUNS / f"{target.name}-{config.name}-cache"


def run_once(target: Target, config: Config, repeat: int, timeout: float) -> Sample:
    """One pytest process; wall time and CPU from ``os.wait4``, peak RSS from the process
    itself (see :mod:`peak_rss`), outcomes from junit."""
    stem = f"{target.name}-{config.name}-r{repeat}"
    run_dir = RUNS / stem
    if run_dir.exists():
        shutil.rmtree(run_dir)
    tmpdir = run_dir / "tmp"
    tmpdir.mkdir(parents=True)
    junit = run_dir / "junit.xml"
    log = run_dir / "pytest.log"
    pytest = VENVS / f"{target.env_key}-{config.flavour}" / "bin" / "pytest"
    cache = (
        ("-o", f"cache_dir={cache_dir(target, config)}")
        if config.warm_cache
        else ("-p", "no:cacheprovider")
    )
    command = [
        str(pytest),
        *BASE_ARGS,
        *cache,
        f"--junitxml={junit}",
        *config.args,
        *target.args,
    ]
    timed_out = False
    probe_file = run_dir / "probe.json"
    environment = child_environment(tmpdir, run_dir / "peak_rss")
    environment[plugins.PROBE_FILE_VARIABLE] = str(probe_file)
    with log.open("w") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=target.cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
        )
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
    outcomes: dict[str, str] | None = None
    if junit.exists() and not timed_out:
        try:
            outcomes = parse_junit(junit.read_text())
        except ET.ParseError:
            outcomes = None
    shutil.rmtree(tmpdir, ignore_errors=True)
    return Sample(
        target=target.name,
        config=config.name,
        repeat=repeat,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss=peak_rss.peak_rss_bytes(run_dir / "peak_rss", usage.ru_maxrss),
        returncode=process.returncode,
        timed_out=timed_out,
        outcomes=outcomes,
        log=str(log.relative_to(REPO)),
        measured=plugins.measured_text(None if timed_out else plugins.read_probe(probe_file)),
        load=load_now(),
    )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown (no /proc/cpuinfo)"


def load_now() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "not measured (os.getloadavg unavailable)"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "pytest_memray"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown (git not available)"
    if not head:
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes in pytest_memray/" if dirty else "")


def machine_section(
    command: str,
    started: str,
    load_start: str,
    load_end: str,
    minutes: float,
    versions: Mapping[str, Mapping[str, str]],
) -> str:
    lines = [
        "### Machine and versions",
        "",
        f"- Date: {started}; the whole run took {minutes:.1f} min",
        f"- Command: `{command}`",
        f"- CPU: {cpu_model()}; {os.cpu_count()} logical cores; "
        f"{platform.system()} {platform.release()} ({platform.machine()})",
        f"- Load average (1 / 5 / 15 min) at start: {load_start}; at end: {load_end}",
        f"- This plugin: checkout at {git_revision()} (editable install)",
    ]
    for env_name, found in sorted(versions.items()):
        listed = ", ".join(f"{name} {version}" for name, version in sorted(found.items()))
        lines.append(f"- `{env_name}`: {listed}")
    return "\n".join(lines)


def target_section(
    target: Target,
    diffs: Mapping[tuple[str, str], Mapping[OutcomeDiff, int]],
    samples: Sequence[Sample],
    configs: Sequence[str],
    repeats: int,
    context: str = "",
) -> str:
    diff_counts = {config: len(diffs.get((target.name, config), {})) for config in configs}
    parts = [f"### {target.label}", ""]
    parts.append(
        markdown_table(TABLE_HEADERS, table_rows(target.name, samples, diff_counts, configs))
    )
    loads = [s.load for s in samples if s.target == target.name and s.load == s.load]
    if context or loads:
        load = (
            f"load average (1 min) {min(loads):.2f} to {max(loads):.2f} as its runs ended"
            if loads
            else "load not read"
        )
        parts.extend(["", f"{context}{'; ' if context else ''}{load}."])
    published = next(
        (s for s in samples if s.target == target.name and s.config == "published"), None
    )
    if published is not None and " unittest)" in published.measured:
        parts.extend(
            [
                "",
                f"The published plugin measured {published.measured} tests: it wraps "
                "pytest_pyfunc_call and skips unittest methods, so its ratios here are not "
                "like for like.",
            ]
        )
    plain = [s for s in samples if s.target == target.name and s.config == "plain" and s.outcomes]
    if plain and plain[0].outcomes is not None:
        counts = count_outcomes(plain[0].outcomes)
        listed = ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
        parts.extend(["", f"Plain outcomes (repeat {plain[0].repeat + 1}): {listed}."])
    lines = diff_lines(target.name, diffs, configs, repeats)
    parts.append("")
    if lines:
        parts.append("Tests whose outcome differs from plain in the same repeat:")
        parts.append("")
        parts.extend(lines)
    else:
        parts.append("No test's outcome differs from plain.")
    missing = [s for s in samples if s.target == target.name and s.outcomes is None]
    for sample in missing:
        reason = "timed out" if sample.timed_out else f"exit {sample.returncode}, no junit report"
        parts.append(
            f"- `{sample.config}` repeat {sample.repeat + 1}: {reason}; log `{sample.log}`"
        )
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_projects(raw: str) -> list[tuple[Project, str]]:
    chosen: list[tuple[Project, str]] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, subset = item.partition(":")
        subset = subset or "all"
        if name not in PROJECTS:
            raise SystemExit(f"unknown project {name!r}; known: {', '.join(PROJECTS)}")
        project = PROJECTS[name]
        if subset not in project.subsets:
            known = ", ".join(project.subsets)
            raise SystemExit(f"project {name} has no subset {subset!r}; known: {known}")
        chosen.append((project, subset))
    return chosen


def _parse_names(raw: str, known: Sequence[str], what: str) -> list[str]:
    if raw.strip().lower() == "none":
        return []
    names = [part.strip() for part in raw.split(",") if part.strip()]
    for name in names:
        if name not in known:
            raise SystemExit(f"unknown {what} {name!r}; known: {', '.join(known)}")
    return names


def _known_projects() -> str:
    return ", ".join(f"{p.name} ({'/'.join(p.subsets)})" for p in PROJECTS.values())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--projects",
        default="jinja2,attrs",
        help="comma-separated NAME or NAME:SUBSET (e.g. attrs:fast); 'none' for no project; "
        f"known: {_known_projects()}",
    )
    parser.add_argument(
        "--synthetic",
        default=",".join(SYNTHETICS),
        help=f"comma-separated synthetic cases or 'none' (default: all: {', '.join(SYNTHETICS)})",
    )
    parser.add_argument(
        "--configs", default=",".join(CONFIG_NAMES), help="comma-separated configurations"
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="unmeasured plain runs per target first, to fill bytecode caches (default 1)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before a pytest run is killed"
    )
    parser.add_argument("--output", type=Path, help="also write the markdown report here")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the venvs")
    parser.add_argument("--rebuild", action="store_true", help="remake every venv")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"one small project ({QUICK_PROJECT}), one repeat, no synthetic case",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not hasattr(os, "wait4"):
        print("error: this benchmark needs os.wait4 (Linux or macOS)", file=sys.stderr)
        return 1
    if args.quick:
        args.projects, args.synthetic, args.repeat = QUICK_PROJECT, "none", 1
    projects = _parse_projects(args.projects) if args.projects.strip() != "none" else []
    synthetics = _parse_names(args.synthetic, list(SYNTHETICS), "synthetic case")
    configs = _parse_names(args.configs, CONFIG_NAMES, "configuration")
    if "plain" not in configs:
        raise SystemExit("the plain configuration is the reference; keep it in --configs")
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    command = "python benchmarks/real_suites.py " + " ".join(sys.argv[1:] if argv is None else argv)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_start = load_average()
    clock = time.monotonic()

    targets: list[Target] = []
    try:
        write_plugin()
        for project, subset in projects:
            print(f"[setup] {project.name} {project.version}", file=sys.stderr, flush=True)
            source = prepare_project(project, args.python, args.rebuild)
            name = project.name if subset == "all" else f"{project.name}-{subset}"
            label = f"{project.name} {project.version}" + (
                "" if subset == "all" else f" (subset {subset!r})"
            )
            paths = project.subsets[subset]
            label += f": `pytest {' '.join(paths)}`"
            targets.append(Target(name, project.name, source, (*project.extra_args, *paths), label))
        if synthetics:
            print("[setup] synthetic cases", file=sys.stderr, flush=True)
            folder = prepare_synthetic(args.python, args.rebuild)
            for case in synthetics:
                module = f"test_{case.replace('-', '_')}.py"
                label = f"synthetic {case}: {SYNTHETICS[case].description}"
                targets.append(Target(case, "synthetic", folder, (module,), label))
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    by_name = {config.name: config for config in CONFIGS}
    samples: list[Sample] = []
    plain = by_name["plain"]
    for target in targets:
        for index in range(args.warmup):
            print(f"[warm-up] {target.name} plain", file=sys.stderr, flush=True)
            run_once(target, plain, -1 - index, args.timeout)
        for name in configs:
            if by_name[name].warm_cache:
                shutil.rmtree(cache_dir(target, by_name[name]), ignore_errors=True)
                print(f"[cache] {target.name} {name}", file=sys.stderr, flush=True)
                run_once(target, by_name[name], -1, args.timeout)
    for repeat in range(args.repeat):
        for position, target in enumerate(targets):
            for config_name in rotated(configs, repeat + position):
                sample = run_once(target, by_name[config_name], repeat, args.timeout)
                samples.append(sample)
                print(
                    f"[run {repeat + 1}/{args.repeat}] {target.name:<16} {config_name:<17}"
                    f" {sample.wall:8.2f} s {mib(sample.max_rss):>6} MiB"
                    f" exit {sample.returncode}" + (" TIMED OUT" if sample.timed_out else ""),
                    file=sys.stderr,
                    flush=True,
                )

    diffs = collect_diffs(samples)
    versions: dict[str, dict[str, str]] = {}
    env_keys = sorted({target.env_key for target in targets})
    flavours = sorted({by_name[name].flavour for name in configs})
    for key in env_keys:
        extra = [] if key == "synthetic" else [key, *PROJECTS[key].test_requirements]
        for flavour in flavours:
            names = ["pytest", "pytest-memray", "memray", *extra]
            try:
                versions[f"{key}-{flavour}"] = installed_versions(VENVS / f"{key}-{flavour}", names)
            except SetupError as error:
                versions[f"{key}-{flavour}"] = {"error": str(error).splitlines()[0]}
    minutes = (time.monotonic() - clock) / 60
    report = [
        "## Real suites and synthetic cases (benchmarks/real_suites.py)",
        "",
        f"Medians of {args.repeat} repeat(s); configurations interleaved in each repeat (order "
        f"rotated by one per repeat); {args.warmup} unmeasured plain warm-up run(s) per target. "
        "Wall time is measured around the pytest process; CPU comes from os.wait4 for that "
        "process, peak RSS from the process itself (VmHWM, written as it exits; the rusage "
        "figure would count the runner's own memory). Every ratio is the median of the ratios "
        "of the two runs of each repeat (which ran one after the other), shown as wall / CPU; "
        "when the machine is busy the CPU ratio is the one to read. 'tests measured' is how "
        "many test calls the configuration measured out of how many ran. An outcome "
        "difference is a test whose junit outcome differs from the plain run of the same "
        "repeat.",
        "",
        "Configurations: "
        + "; ".join(f"`{c.name}`: {c.description}" for c in CONFIGS if c.name in configs)
        + ".",
        "",
    ]
    ours = versions.get("synthetic-ours") or next(
        (found for name, found in sorted(versions.items()) if name.endswith("-ours")), {}
    )
    context = (
        f"Measured {started}; {cpu_model()}, {os.cpu_count()} logical cores; Python "
        f"{ours.get('python', '?')}, pytest {ours.get('pytest', '?')}, memray "
        f"{ours.get('memray', '?')}; this plugin at {git_revision()}; published "
        f"{PUBLISHED_PLUGIN}"
    )
    for target in targets:
        report.append(target_section(target, diffs, samples, configs, args.repeat, context))
        report.append("")
    report.append(machine_section(command, started, load_start, load_average(), minutes, versions))
    text = "\n".join(report) + "\n"
    print(text)
    if args.output is not None:
        args.output.write_text(text)
        print(f"[done] report written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
