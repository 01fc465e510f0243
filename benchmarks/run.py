#!/usr/bin/env python3
"""Benchmark: what measuring memory per test costs, against its floors and the published plugin.

Four measures, each from runs that alternate between the configurations compared (the order
rotated every round), reported as ratios or differences of runs of the same round:

* **off-cost**: ``pytest --co`` of a 3-test file with the plugin installed but not asked for,
  against ``-p no:memray`` (wall and CPU milliseconds, peak RSS in MB);
* **first run of a heavy test**: one test that allocates and frees ``bytes(1000)`` a million
  times, with no pytest cache and no ``__pycache__`` (a fresh checkout), on the memray backend
  against the published pytest-memray 1.11.0; the second run (cache kept) alongside;
* **suites**: generated suites under plain pytest, the bare floors (tracemalloc around each
  call; a memray Tracker around each call; one memray Tracker for the session), this plugin on
  each backend and the published plugin; each line says how many tests it measured;
* **memory per 1,000 tests**: the growth of the pytest process's resident memory over a suite
  of many trivial tests, read every few tests inside the process.

``--quick`` runs a small version of each (under five minutes on 2 cores) for CI; it prints the
figures beside the goals of issue 23 but never fails on them (the exit status is 1 only when a
pytest run failed or an environment could not be built).

Our plugin and the published one never share a virtual environment: both register the
``memray`` pytest11 entry point. The script makes both environments itself under
``benchmarks/.work/`` (see ``benchmarks/README.md``). POSIX only (it reads each child's
resource usage with ``os.wait4``).

    python benchmarks/run.py [--quick] [--sections ...] [--suites ...] [--markdown OUT.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

try:  # imported as part of the benchmarks package (the tests)
    from . import figures, peak_rss, plugins, suites
except ImportError:  # run as a script
    import figures  # type: ignore[no-redef,import-not-found]
    import peak_rss  # type: ignore[no-redef,import-not-found]
    import plugins  # type: ignore[no-redef,import-not-found]
    import suites  # type: ignore[no-redef,import-not-found]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
SUITES_DIR = WORK / "suites"
TMP_ROOT = WORK / "tmp"
#: Holds the peak-RSS plugin, the floors and the probe, on the children's PYTHONPATH.
PLUGIN_DIR = WORK / "plugins"
LOGS = WORK / "logs"
VENV_OURS = WORK / "venv-ours"
VENV_PUBLISHED = WORK / "venv-published"
PUBLISHED_VERSION = "1.11.0"
PUBLISHED_REQUIREMENT = f"pytest-memray=={PUBLISHED_VERSION}"
READY_MARKER = ".benchmark-ready"
INSTALLED_REVISION = ".installed-revision"
SAMPLE_INTERVAL = 0.05  # seconds between two looks at the size of a run's TMPDIR

# --------------------------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    name: str
    #: Which environment runs it: "ours" or "published".
    venv: str
    args: tuple[str, ...]
    description: str


CONFIGS: dict[str, Config] = {
    config.name: config
    for config in (
        Config("plain", "ours", ("-p", "no:memray"), "pytest alone (plugin disabled)"),
        Config(
            "bare-tracemalloc",
            "ours",
            ("-p", "no:memray", "-p", plugins.BARE_TRACEMALLOC),
            "tracemalloc started and stopped around each test call (pytest_runtest_call)",
        ),
        Config(
            "bare-memray-call",
            "ours",
            ("-p", "no:memray", "-p", plugins.BARE_MEMRAY_CALL),
            "a memray Tracker started and stopped around each test call",
        ),
        Config(
            "bare-memray",
            "ours",
            ("-p", "no:memray", "-p", plugins.BARE_MEMRAY_SESSION),
            "one memray Tracker for the whole session, nothing else",
        ),
        Config(
            "ours-memray",
            "ours",
            ("--memray", "--memray-backend=memray"),
            "this plugin, memray backend",
        ),
        Config(
            "ours-tracemalloc",
            "ours",
            ("--memray", "--memray-backend=tracemalloc"),
            "this plugin, tracemalloc backend",
        ),
        Config(
            "published",
            "published",
            ("--memray",),
            f"published pytest-memray {PUBLISHED_VERSION} (measures pytest_pyfunc_call only)",
        ),
        Config(
            "plain-published",
            "published",
            ("-p", "no:memray"),
            "pytest alone in the published plugin's venv (sanity check)",
        ),
    )
}
DEFAULT_CONFIGS = (
    "plain",
    "bare-tracemalloc",
    "bare-memray-call",
    "bare-memray",
    "ours-memray",
    "ours-tracemalloc",
    "published",
)
BASE_PYTEST_ARGS = (
    "-p",
    "no:cacheprovider",
    "-q",
    "-p",
    peak_rss.PLUGIN_NAME,
    "-p",
    plugins.PROBE_NAME,
)


# --------------------------------------------------------------------------------------------
# Suites
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# Environments
# --------------------------------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run_checked(command: Sequence[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def _pip(venv: Path, *args: str) -> None:
    _run_checked([str(venv_python(venv)), "-m", "pip", "install", "--quiet", *args])


def _create_venv(venv: Path, base_python: str) -> None:
    if not venv_python(venv).exists():
        _run_checked([base_python, "-m", "venv", str(venv)])


def installed_versions(venv: Path) -> dict[str, str | None]:
    code = textwrap.dedent(
        """\
        import json, platform
        from importlib import metadata

        def version(name):
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                return None

        info = {name: version(name) for name in ("pytest", "memray", "numpy", "pytest-memray")}
        info["python"] = platform.python_version()
        info["implementation"] = platform.python_implementation()
        print(json.dumps(info))
        """
    )
    output = subprocess.run(
        [str(venv_python(venv)), "-c", code], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, str | None] = json.loads(output)
    return result


def prepare_ours(base_python: str, reinstall: bool, numpy: bool) -> None:
    """Our plugin (a regular, non-editable install of this repository), numpy if asked for."""
    fresh = not venv_python(VENV_OURS).exists()
    _create_venv(VENV_OURS, base_python)
    marker = VENV_OURS / READY_MARKER
    revision = _git_revision()
    if fresh or not marker.exists():
        _pip(VENV_OURS, str(REPO))
        marker.write_text("ok\n")
    elif reinstall:
        # Pick up the repository as it is now; the dependencies stay as they were.
        _pip(VENV_OURS, "--force-reinstall", "--no-deps", str(REPO))
    (VENV_OURS / INSTALLED_REVISION).write_text(revision + "\n")
    if numpy and installed_versions(VENV_OURS).get("numpy") is None:
        _pip(VENV_OURS, "numpy")


def installed_revision() -> str:
    """The repository's revision when our plugin was last installed into its venv."""
    try:
        return (VENV_OURS / INSTALLED_REVISION).read_text().strip()
    except OSError:
        return "unknown"


def prepare_published(base_python: str, ours: Mapping[str, str | None], numpy: bool) -> None:
    """The published plugin, with the same pytest, memray (and numpy) as ours where possible."""
    _create_venv(VENV_PUBLISHED, base_python)
    names = ("pytest", "memray", "numpy") if numpy else ("pytest", "memray")
    pins = [f"{name}=={ours[name]}" for name in names if ours.get(name)]
    wanted = " ".join([PUBLISHED_REQUIREMENT, *pins])
    marker = VENV_PUBLISHED / READY_MARKER
    if marker.exists() and wanted in marker.read_text().splitlines():
        return
    try:
        _pip(VENV_PUBLISHED, PUBLISHED_REQUIREMENT, *pins)
    except subprocess.CalledProcessError:
        print("warning: could not match our versions; installing the latest ones", flush=True)
        _pip(VENV_PUBLISHED, PUBLISHED_REQUIREMENT, "pytest", *(["numpy"] if numpy else []))
    with marker.open("a") as out:
        out.write(wanted + "\n")


# --------------------------------------------------------------------------------------------
# Measuring one run
# --------------------------------------------------------------------------------------------


def tree_size(root: Path) -> int:
    """Apparent size in bytes of all files under ``root``; files may vanish while we look."""
    total = 0
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


class DiskSampler(threading.Thread):
    """Keeps the largest size seen of a directory tree, looking every ``interval`` seconds."""

    def __init__(self, root: Path, interval: float = SAMPLE_INTERVAL) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.maximum = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.maximum = max(self.maximum, tree_size(self.root))
            self._stop_event.wait(self.interval)

    def finish(self) -> int:
        """Stop looking; returns the size now (what the run left behind)."""
        self._stop_event.set()
        self.join()
        left = tree_size(self.root)
        self.maximum = max(self.maximum, left)
        return left


def child_environment(
    tmpdir: Path, peak_rss_file: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    # Bytecode caching on, as most users have it: imports then read .pyc files instead of
    # compiling, and pytest caches its rewritten test modules.
    for name in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS", "PYTHONHOME"):
        env.pop(name, None)
    # VIRTUAL_ENV of the calling shell must not leak into the children.
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)  # both plugins load by entry point
    env["TMPDIR"] = str(tmpdir)
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = str(PLUGIN_DIR)  # the floors, the probe and the peak-RSS plugin
    env[peak_rss.FILE_VARIABLE] = str(peak_rss_file)
    env.update(extra or {})
    return env


def run_pytest(
    label: str,
    config: Config,
    cwd: Path,
    repeat: int,
    *,
    base_args: Sequence[str] = BASE_PYTEST_ARGS,
    extra_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
) -> figures.Sample:
    """One pytest process in ``cwd``: wall and CPU time, peak RSS, TMPDIR use, the probe."""
    venv = VENV_OURS if config.venv == "ours" else VENV_PUBLISHED
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{label}-{config.name}")
    tmpdir = TMP_ROOT / stem
    shutil.rmtree(tmpdir, ignore_errors=True)
    tmpdir.mkdir(parents=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{stem}.log"
    command = [
        str(venv_python(venv)),
        "-m",
        "pytest",
        *base_args,
        *config.args,
        *extra_args,
    ]
    peak_file = TMP_ROOT / f"{stem}.peak_rss"
    probe_file = TMP_ROOT / f"{stem}.probe.json"
    peak_file.unlink(missing_ok=True)
    probe_file.unlink(missing_ok=True)
    env = {plugins.PROBE_FILE_VARIABLE: str(probe_file), **(extra_env or {})}
    sampler = DiskSampler(tmpdir)
    sampler.start()
    with log.open("w") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=child_environment(tmpdir, peak_file, env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    exit_code = os.waitstatus_to_exitcode(status)
    process.returncode = exit_code  # already reaped: keep Popen from waiting again
    left = sampler.finish()
    shutil.rmtree(tmpdir, ignore_errors=True)
    max_rss = peak_rss.peak_rss_bytes(peak_file, usage.ru_maxrss)
    peak_file.unlink(missing_ok=True)
    probe = plugins.read_probe(probe_file)
    probe_file.unlink(missing_ok=True)
    return figures.Sample(
        load=load_now(),
        suite=label,
        config=config.name,
        repeat=repeat,
        wall=wall,
        cpu_user=usage.ru_utime,
        cpu_sys=usage.ru_stime,
        max_rss=max_rss,
        tmp_peak=sampler.maximum,
        tmp_left=left,
        exit_code=exit_code,
        calls=None if probe is None else probe.calls,
        measured=None if probe is None else probe.measured,
        measured_text=plugins.measured_text(probe),
        probe=probe,
    )


# --------------------------------------------------------------------------------------------
# Context written beside every table
# --------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return platform.processor() or platform.machine()


def _git_revision() -> str:
    try:
        revision = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            # Only what goes into the installed package counts.
            [
                "git",
                "-C",
                str(REPO),
                "status",
                "--porcelain",
                "--",
                "pytest_memray",
                "pyproject.toml",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return revision + (" (with uncommitted changes to the package)" if dirty else "")


def load_now() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


@dataclass
class Context:
    """What every table is written beside: date, machine, versions, load during it."""

    ours: dict[str, str | None]
    published: dict[str, str | None] | None

    def machine(self) -> str:
        return (
            f"{cpu_model()}, {os.cpu_count()} logical cores, "
            f"{platform.system()} {platform.release()} ({platform.machine()})"
        )

    def versions(self) -> str:
        ours = self.ours
        text = (
            f"{ours.get('implementation')} {ours.get('python')}, pytest {ours.get('pytest')}, "
            f"memray {ours.get('memray')}"
            + (f", numpy {ours.get('numpy')}" if ours.get("numpy") else "")
            + f"; this plugin {ours.get('pytest-memray')} at {installed_revision()}"
        )
        if self.published is not None:
            published = self.published
            text += (
                f"; published pytest-memray {published.get('pytest-memray')} "
                f"(pytest {published.get('pytest')}, memray {published.get('memray')})"
            )
        return text

    def line(self, started: str, samples: Sequence[figures.Sample], note: str) -> str:
        """The context of a table: date, machine, versions, and the load its runs saw."""
        low, high = figures.load_range(samples)
        return (
            f"Measured {started}; {self.machine()}; {self.versions()}; load average (1 min) "
            f"{low:.2f} to {high:.2f} as the runs ended; {note}"
        )


def now_text() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def rotated(items: Sequence[Config], offset: int) -> list[Config]:
    if not items:
        return []
    offset %= len(items)
    return list(items[offset:]) + list(items[:offset])


def _progress(label: str, sample: figures.Sample) -> None:
    flag = "" if sample.exit_code == 0 else f"  EXIT {sample.exit_code}, see .work/logs"
    print(
        f"  [{label}] {sample.config:17s} wall {sample.wall:6.2f} s  cpu {sample.cpu:6.2f} s"
        f"  rss {sample.max_rss / figures.MIB:5.0f} MiB  measured {sample.measured_text}{flag}",
        file=sys.stderr,
        flush=True,
    )


# --------------------------------------------------------------------------------------------
# The measures
# --------------------------------------------------------------------------------------------


def _alternate(
    label: str,
    pairs: Sequence[tuple[Config, Config]],
    folder: Path,
    rounds: int,
    base: Sequence[str],
    warmup: int = 2,
) -> list[figures.Sample]:
    """Runs of each pair, the two alternating (which goes first swaps every round)."""
    for warm in range(warmup):  # writes the .pyc files of what each imports
        for on, off in pairs:
            for config in (on, off):
                run_pytest(label, config, folder, -1 - warm, base_args=base)
    samples: list[figures.Sample] = []
    for round_ in range(rounds):
        for on, off in pairs:
            for config in (on, off) if round_ % 2 == 0 else (off, on):
                samples.append(run_pytest(label, config, folder, round_, base_args=base))
    return samples


def _ms_interval(
    samples: Sequence[figures.Sample],
    on: str,
    off: str,
    figure: Callable[[figures.Sample], float],
) -> str:
    """The median of the pairs' differences in ms, with its 95% bootstrap interval."""
    values = figures.paired_values(samples, on, off, figure, lambda a, b: a - b)
    if not values:
        return "n/a"
    low, high = figures.median_interval(values)
    median = statistics.median(values)
    return f"{median * 1000:+.1f} ms [{low * 1000:+.1f}, {high * 1000:+.1f}]"


def _mb(found: figures.Paired | None) -> str:
    if found is None:
        return "n/a"
    mb = figures.MB
    return f"{found.median / mb:+.2f} MB ({found.low / mb:+.2f} to {found.high / mb:+.2f})"


def _min_difference(samples: Sequence[figures.Sample], on: str, off: str) -> str:
    """Difference of the fastest run of each: the load only ever adds time."""
    mine = [s.cpu for s in samples if s.config == on and s.exit_code == 0]
    theirs = [s.cpu for s in samples if s.config == off and s.exit_code == 0]
    if not mine or not theirs:
        return "n/a"
    return f"{(min(mine) - min(theirs)) * 1000:+.1f} ms"


_DIFFERENCE_HEADER = (
    "configuration",
    "reference (median)",
    "wall, median difference [95% interval]",
    "CPU, median difference [95% interval]",
    "CPU, fastest minus fastest",
    "peak RSS difference",
)


def _difference_row(
    samples: Sequence[figures.Sample], on: Config, off: Config, title: str
) -> list[str]:
    reference = [s for s in samples if s.config == off.name]
    base_wall = statistics.median(s.wall for s in reference)
    base_rss = statistics.median(s.max_rss for s in reference)
    return [
        title,
        f"{base_wall * 1000:.0f} ms, {base_rss / figures.MB:.1f} MB",
        _ms_interval(samples, on.name, off.name, figures.wall_of),
        _ms_interval(samples, on.name, off.name, figures.cpu_of),
        _min_difference(samples, on.name, off.name),
        _mb(figures.paired_difference(samples, on.name, off.name, figures.rss_of)),
    ]


def measure_off_cost(
    context: Context, pairs: int, full: bool
) -> tuple[figures.Section, list[figures.Goal], list[figures.Sample]]:
    """``pytest --co -q`` of a 3-test file: installed but not asked for, vs -p no:memray.

    The full mode adds the published plugin's off-cost, and what starting a measured session
    costs (the 3 tests run with ``--memray`` on each backend, against the same run plain).
    """
    folder = suites.write_files(SUITES_DIR, "off", {"test_off.py": suites.OFF_SOURCE})
    collect = ("--co", "-q", "-p", "no:cacheprovider", "-p", peak_rss.PLUGIN_NAME)
    installed = Config("installed, not asked for", "ours", (), "")
    disabled = Config("-p no:memray", "ours", ("-p", "no:memray"), "")
    published_pair = (
        Config("published, not asked for", "published", (), ""),
        Config("published -p no:memray", "published", ("-p", "no:memray"), ""),
    )
    started = now_text()
    kinds = [(installed, disabled), *([published_pair] if full else [])]
    samples = _alternate("off", kinds, folder, pairs, collect)
    # Which modules the plugin brings in, from one more run of each with the probe.
    modules: dict[str, set[str]] = {}
    for config in (installed, disabled):
        probe = run_pytest(
            "off-modules",
            config,
            folder,
            0,
            base_args=(*collect, "-p", plugins.PROBE_NAME),
            extra_env={plugins.PROBE_MODULES_VARIABLE: "1"},
        ).probe
        modules[config.name] = set(probe.modules) if probe is not None else set()
    extra = sorted(modules[installed.name] - modules[disabled.name])

    section = figures.Section(
        f"Off-cost: `pytest --co -q` of a 3-test file, the plugin installed but not asked for, "
        f"against `-p no:memray` ({pairs} alternating pairs)"
    )
    rows = [_difference_row(samples, on, off, f"{on.name} vs {off.name}") for on, off in kinds]
    section.table(_DIFFERENCE_HEADER, rows)
    shown = ", ".join(extra[:12]) + (f", and {len(extra) - 12} more" if len(extra) > 12 else "")
    section.line(
        "Modules imported with the plugin installed but not asked for, beyond `-p no:memray`: "
        f"{len(extra)} ({shown or 'none'})."
    )
    section.line(
        context.line(
            started,
            samples,
            "PYTHONDONTWRITEBYTECODE unset, 2 warm-up runs of each first (bytecode caches "
            "written); each difference is of the two runs of one pair; the interval is a "
            "bootstrap 95% interval of the median difference",
        )
    )
    goals: list[figures.Goal] = []
    wall = figures.paired_difference(samples, installed.name, disabled.name, figures.wall_of)
    cpu = figures.paired_difference(samples, installed.name, disabled.name, figures.cpu_of)
    rss = figures.paired_difference(samples, installed.name, disabled.name, figures.rss_of)
    on_cpu = figures.judged_on_cpu(samples, os.cpu_count() or 1)
    if wall is not None and cpu is not None:
        judged = cpu if on_cpu else wall
        figure = figures.cpu_of if on_cpu else figures.wall_of
        interval = _ms_interval(samples, installed.name, disabled.name, figure).split(" ms ")[-1]
        goals.append(
            figures.Goal(
                "off-cost, time (pytest --co, installed but not asked for)",
                f"{wall.median * 1000:+.1f} ms wall, {cpu.median * 1000:+.1f} ms CPU "
                f"(verdict on {'CPU' if on_cpu else 'wall'}, 95% interval {interval} ms)",
                "<= 10 ms",
                judged.median <= 0.010,
            )
        )
    if rss is not None:
        goals.append(
            figures.Goal(
                "off-cost, memory (peak RSS)",
                f"{rss.median / figures.MB:+.2f} MB",
                "<= 1 MB",
                rss.median <= figures.MB,
            )
        )
    if full:
        start_section, start_samples = _measure_start_cost(context, folder, pairs)
        section.text.extend(["", *start_section.text])
        section.markdown.extend([f"### {start_section.title}", "", *start_section.markdown])
        samples.extend(start_samples)
    return section, goals, samples


def _measure_start_cost(
    context: Context, folder: Path, pairs: int
) -> tuple[figures.Section, list[figures.Sample]]:
    """What a measured session costs before its first test: 3 tests, each configuration
    against plain pytest (fixed costs: imports, the backend's start, the report)."""
    run = ("-q", "-p", "no:cacheprovider", "-p", peak_rss.PLUGIN_NAME)
    plain = Config("plain, 3 tests", "ours", CONFIGS["plain"].args, "")
    kinds = [
        (Config(f"{name}, 3 tests", CONFIGS[name].venv, CONFIGS[name].args, ""), plain)
        for name in (
            "bare-tracemalloc",
            "ours-tracemalloc",
            "bare-memray",
            "ours-memray",
            "published",
        )
    ]
    started = now_text()
    samples: list[figures.Sample] = []
    for index, pair in enumerate(kinds):
        # The plain runs pair with each configuration in turn: one label per pair.
        mine = _alternate(f"start-{index}", [pair], folder, max(pairs // 2, 3), run, warmup=1)
        for sample in mine:
            if sample.config == plain.name:
                sample.config = f"plain (paired with {pair[0].name})"
        samples.extend(mine)
    section = figures.Section(
        "Start-up cost of a measured session: 3 trivial tests run, against the same run plain"
    )
    rows = [
        _difference_row(
            samples,
            on,
            Config(f"plain (paired with {on.name})", "ours", (), ""),
            f"{on.name} vs plain",
        )
        for on, _ in kinds
    ]
    section.table(_DIFFERENCE_HEADER, rows)
    section.line(
        context.line(
            started,
            samples,
            "fixed costs a session pays once (imports, the backend's start, the report); "
            "they weigh on the ratios of small suites",
        )
    )
    return section, samples


def measure_first_run(
    context: Context, rounds: int, full: bool
) -> tuple[figures.Section, list[figures.Goal], list[figures.Sample]]:
    """The heavy test on a fresh checkout (no pytest cache, no __pycache__) vs published."""
    folder = suites.write_files(SUITES_DIR, "churn", {"test_churn.py": suites.CHURN_SOURCE})
    cache_first = WORK / "cache-first-run"
    cache_kept = WORK / "cache-second-run"
    first = Config("ours-memray, first run", "ours", CONFIGS["ours-memray"].args, "")
    second = Config("ours-memray, second run", "ours", CONFIGS["ours-memray"].args, "")
    published = Config("published", "published", CONFIGS["published"].args, "")
    plain = Config("plain", "ours", CONFIGS["plain"].args, "")
    configs = [plain, first, second, published]
    if full:
        configs.append(Config("bare-memray-call", "ours", CONFIGS["bare-memray-call"].args, ""))
        configs.append(Config("ours-tracemalloc", "ours", CONFIGS["ours-tracemalloc"].args, ""))
    base = ("-q", "-p", peak_rss.PLUGIN_NAME, "-p", plugins.PROBE_NAME)

    def run(config: Config, round_: int) -> figures.Sample:
        cache = cache_kept if config is second else cache_first
        if config is not second:  # a fresh checkout: no pytest cache, no __pycache__
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(folder / "__pycache__", ignore_errors=True)
        return run_pytest(
            "first-run",
            config,
            folder,
            round_,
            base_args=base,
            extra_args=("-o", f"cache_dir={cache}"),
        )

    started = now_text()
    shutil.rmtree(cache_kept, ignore_errors=True)
    for config in configs:  # warm-up; fills the second run's cache
        run(config, -1)
    samples: list[figures.Sample] = []
    for round_ in range(rounds):
        for config in rotated(configs, round_):
            sample = run(config, round_)
            samples.append(sample)
            _progress(f"first run {round_ + 1}/{rounds}", sample)

    section = figures.Section(
        f"First run of a heavy test: {suites.HEAVY_ALLOCATIONS:,} allocate-and-free pairs "
        f"(`bytes(1000)`) in one test, no pytest cache, against the published plugin "
        f"({rounds} rounds, order rotated)"
    )
    rows: list[list[str]] = []
    for config in configs:
        cell = [s for s in samples if s.config == config.name]
        if not cell:
            continue
        summary = figures.summarise(cell)
        is_reference = config is published
        rows.append(
            [
                config.name,
                f"{summary.wall:.2f} ({summary.wall_min:.2f}–{summary.wall_max:.2f})",
                f"{summary.cpu:.2f}",
                f"{summary.max_rss / figures.MIB:.0f}",
                "1.00x"
                if is_reference
                else figures.ratio_text(
                    figures.paired_ratio(samples, config.name, published.name, figures.wall_of)
                ),
                "1.00x"
                if is_reference
                else figures.ratio_text(
                    figures.paired_ratio(samples, config.name, published.name, figures.cpu_of)
                ),
                "+0.0"
                if is_reference
                else _mib_difference(
                    figures.paired_difference(samples, config.name, published.name, figures.rss_of)
                ),
                summary.measured,
            ]
        )
    section.table(
        (
            "configuration",
            "wall s (range)",
            "CPU s",
            "peak RSS MiB",
            "wall × published (range)",
            "CPU × published (range)",
            "RSS − published, MiB",
            "tests measured",
        ),
        rows,
    )
    section.line(
        context.line(
            started,
            samples,
            "every run but the second run starts without a pytest cache or __pycache__; "
            "the second run keeps the cache its previous run wrote",
        )
    )
    goals: list[figures.Goal] = []
    on_cpu = figures.judged_on_cpu(samples, os.cpu_count() or 1)

    def ratio(config: Config, figure: Callable[[figures.Sample], float]) -> figures.Paired | None:
        return figures.paired_ratio(samples, config.name, published.name, figure)

    found = figures.time_goal(
        "first run of the heavy test, time against the published plugin",
        ratio(first, figures.wall_of),
        ratio(first, figures.cpu_of),
        1.10,
        on_cpu,
    )
    if found is not None:
        goals.append(found)
    rss = figures.paired_difference(samples, first.name, published.name, figures.rss_of)
    if rss is not None:
        goals.append(
            figures.Goal(
                "first run of the heavy test, peak RSS against the published plugin",
                f"{rss.median / figures.MIB:+.1f} MiB",
                "within 16 MiB",
                abs(rss.median) <= 16 * figures.MIB,
            )
        )
    found = figures.time_goal(
        "second run of the heavy test (pytest's cache kept), against the published plugin",
        ratio(second, figures.wall_of),
        ratio(second, figures.cpu_of),
        1.10,
        on_cpu,
    )
    if found is not None:
        goals.append(found)
    return section, goals, samples


def _mib_difference(found: figures.Paired | None) -> str:
    if found is None:
        return "n/a"
    return f"{found.median / figures.MIB:+.1f}"


def measure_suites(
    context: Context,
    chosen: Sequence[suites.Suite],
    configs: Sequence[Config],
    repeats: int,
    warmup: int,
    excluded: set[str],
) -> tuple[figures.Section, list[figures.Goal], list[figures.Sample]]:
    folders = {
        suite.name: suites.write_files(SUITES_DIR, suite.name, suite.files) for suite in chosen
    }
    started = now_text()

    def order(suite: suites.Suite, round_: int) -> list[Config]:
        return [c for c in rotated(configs, round_) if f"{suite.name}:{c.name}" not in excluded]

    for warm in range(warmup):
        for suite in chosen:
            for config in order(suite, warm):
                run_pytest(suite.name, config, folders[suite.name], -1 - warm)
    samples: list[figures.Sample] = []
    for round_ in range(repeats):
        for suite in chosen:
            for config in order(suite, round_):
                sample = run_pytest(suite.name, config, folders[suite.name], round_)
                samples.append(sample)
                _progress(f"suite {suite.name} {round_ + 1}/{repeats}", sample)

    section = figures.Section(
        f"Suites: this plugin against its floors and the published plugin ({repeats} rounds "
        f"after {warmup} warm-up run(s) per cell, configurations alternating in each round)"
    )
    goals: list[figures.Goal] = []
    names = [c.name for c in configs]
    cores = os.cpu_count() or 1
    for suite in chosen:
        mine = [s for s in samples if s.suite == suite.name]
        section.text.append(f"  suite {suite.name}: {suite.description}")
        section.markdown.extend([f"### Suite {suite.name}: {suite.description}", ""])
        section.table(figures.SUITE_HEADER, figures.suite_rows(mine, names, suite.tests))
        section.text.append("  each configuration over its floor, run by run:")
        section.table(figures.LAYER_HEADER, figures.layer_rows(mine))
        published = next((s for s in mine if s.config == "published"), None)
        if (
            published is not None
            and published.measured is not None
            and published.calls
            and published.measured < published.calls
        ):
            section.line(
                f"The published plugin measured {published.measured} of the "
                f"{published.calls} tests (it wraps pytest_pyfunc_call, so unittest methods "
                "are not measured): its ratios on this suite are not like for like."
            )
        on_cpu = figures.judged_on_cpu(mine, cores)
        section.line(
            context.line(
                started,
                mine,
                f"verdicts on {'CPU' if on_cpu else 'wall'} time",
            )
        )
        for ours, floor, goal in figures.LAYER_RATIOS:
            if goal is None:
                continue
            found = figures.time_goal(
                f"suite {suite.name}: {ours} over {floor}",
                figures.paired_ratio(mine, ours, floor, figures.wall_of),
                figures.paired_ratio(mine, ours, floor, figures.cpu_of),
                goal,
                on_cpu,
            )
            if found is not None:
                goals.append(found)
    section.line(
        "Time goals are judged on CPU time (user + system of the pytest process) when the load "
        "reached the number of cores during the runs, and on wall time otherwise."
    )
    return section, goals, samples


MEMORY_CONFIGS = ("plain", "bare-tracemalloc", "bare-memray", "ours-memray", "ours-tracemalloc")


def measure_memory(
    context: Context, tests: int, repeats: int, census: bool = False
) -> tuple[figures.Section, list[figures.Goal], list[figures.Sample]]:
    """Growth of the pytest process's memory per 1,000 trivial tests, read inside it."""
    name = f"memory-{tests}"
    folder = suites.write_files(SUITES_DIR, name, suites.trivial_suite(tests))
    every = max(tests // 40, 50)
    env = {plugins.PROBE_EVERY_VARIABLE: str(every)}
    if census:
        env[plugins.PROBE_CENSUS_VARIABLE] = "1"
    configs = [CONFIGS[config_name] for config_name in MEMORY_CONFIGS]
    started = now_text()
    for each in configs:  # warm-up: rewritten test modules cached
        run_pytest(name, each, folder, -1, extra_env=env)
    samples: list[figures.Sample] = []
    for round_ in range(repeats):
        for each in rotated(configs, round_):
            sample = run_pytest(name, each, folder, round_, extra_env=env)
            samples.append(sample)
            _progress(f"memory {round_ + 1}/{repeats}", sample)

    def median_slope(config: str, figure: str) -> float | None:
        values = [
            slope
            for s in samples
            if s.config == config and s.exit_code == 0
            for slope in [figures.memory_slopes(s.probe)[figure]]
            if slope is not None
        ]
        return statistics.median(values) if values else None

    section = figures.Section(
        f"Memory per 1,000 tests: {tests:,} trivial tests, the pytest process's own memory read "
        f"every {every} tests, least-squares growth from test {tests // 4:,} on ({repeats} "
        "round(s))"
    )
    plain_rate = median_slope("plain", "resident")
    floors = {"ours-memray": "bare-memray", "ours-tracemalloc": "bare-tracemalloc"}
    rows: list[list[str]] = []
    goals: list[figures.Goal] = []
    for config in MEMORY_CONFIGS:
        cell = [s for s in samples if s.config == config]
        if not cell:
            continue
        rate = median_slope(config, "resident")
        over_plain = None if rate is None or plain_rate is None else rate - plain_rate
        floor = floors.get(config)
        floor_rate = None if floor is None else median_slope(floor, "resident")
        over_floor = None if rate is None or floor_rate is None else rate - floor_rate
        blocks = median_slope(config, "blocks")
        gc_objects = median_slope(config, "gc_objects")
        used = median_slope(config, "heap_used")
        free = median_slope(config, "heap_free")
        rows.append(
            [
                config,
                figures.summarise(cell).measured,
                _per(rate, figures.MIB, "MiB"),
                _per(over_plain, figures.MIB, "MiB", sign=True),
                _per(over_floor, figures.MIB, "MiB", sign=True),
                "–" if blocks is None else f"{blocks:,.0f}",
                "–" if gc_objects is None else f"{gc_objects:,.0f}",
                _per(used, 1024, "KiB"),
                _per(free, 1024, "KiB"),
                f"{statistics.median(s.max_rss for s in cell) / figures.MIB:.0f}",
            ]
        )
        if config.startswith("ours-") and over_plain is not None and not census:
            goals.append(
                figures.Goal(
                    f"plugin memory per 1,000 tests, {config[5:]} backend ({tests:,} tests)",
                    f"{over_plain / figures.MIB:+.2f} MiB over plain"
                    + (
                        ""
                        if over_floor is None
                        else f" ({over_floor / figures.MIB:+.2f} over {floor})"
                    ),
                    "<= 1 MiB",
                    over_plain <= figures.MIB,
                )
            )
    section.table(
        (
            "config",
            "tests measured",
            "resident / 1,000 tests",
            "over plain",
            "over its floor",
            "Python blocks / 1,000",
            "gc objects / 1,000",
            "heap in use / 1,000",
            "heap free / 1,000",
            "peak RSS MiB",
        ),
        rows,
    )
    section.line(
        "Resident: VmRSS; Python blocks: sys.getallocatedblocks(); gc objects: "
        "len(gc.get_objects()); heap: glibc's mallinfo2 (in use: uordblks, free: fordblks). "
        "Floors: bare-memray for the memray backend, bare-tracemalloc for tracemalloc."
    )
    section.line(context.line(started, samples, "peak RSS from VmHWM"))
    if census:
        section.line(
            "With --census the objects are counted at test "
            f"{tests // 4:,} and at the end; the count itself moves the resident figures, so "
            "this run judges no goal (run without --census for the figures)."
        )
        for config in MEMORY_CONFIGS:
            probe = next((s.probe for s in samples if s.config == config and s.probe), None)
            if probe is None or not probe.census:
                continue
            first, last = probe.census[0][0], probe.census[-1][0]
            rows = [
                [kind, f"{count:+,.0f}", f"{size / 1024:+,.1f} KiB"]
                for kind, count, size in plugins.census_growth(probe.census, top=12)
            ]
            section.line(
                f"Python objects that grew most from test {first:,} to test {last:,}, "
                f"{config} (garbage-collected objects and what they hold, by sys.getsizeof):"
            )
            section.table(("type", "objects / 1,000 tests", "bytes / 1,000 tests"), rows)
    return section, goals, samples


def _per(value: float | None, unit: float, name: str, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value / unit:+.2f} {name}" if sign else f"{value / unit:.2f} {name}"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

SECTIONS = ("off", "first-run", "suites", "memory")


def _names(raw: str, known: Sequence[str], what: str) -> list[str]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        shown = ", ".join(unknown) or repr(raw)
        raise SystemExit(f"unknown {what}: {shown}; known: {', '.join(known)}")
    return names


@dataclass(frozen=True)
class Plan:
    sections: tuple[str, ...]
    suites: tuple[str, ...]
    configs: tuple[str, ...]
    repeats: int
    warmup: int
    off_pairs: int
    first_run_rounds: int
    memory_tests: int
    memory_repeats: int


def plan_of(args: argparse.Namespace) -> Plan:
    """What to run: the full defaults, or the quick ones, each overridable."""
    quick = bool(args.quick)
    return Plan(
        sections=tuple(_names(args.sections or ",".join(SECTIONS), SECTIONS, "section")),
        suites=tuple(
            _names(
                args.suites or ",".join(suites.QUICK_SUITES if quick else suites.FULL_SUITES),
                list(suites.all_suites()),
                "suite",
            )
        ),
        configs=tuple(_names(args.configs or ",".join(DEFAULT_CONFIGS), list(CONFIGS), "config")),
        repeats=args.repeats or (3 if quick else 5),
        warmup=1 if args.warmup is None else args.warmup,
        off_pairs=args.off_pairs or (20 if quick else 40),
        first_run_rounds=args.first_run_rounds or (4 if quick else 7),
        memory_tests=args.memory_tests or (4_000 if quick else 20_000),
        memory_repeats=args.memory_repeats or (1 if quick else 2),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small versions of every measure (under five minutes on 2 cores), for CI",
    )
    parser.add_argument("--sections", help=f"comma-separated, from: {', '.join(SECTIONS)}")
    parser.add_argument("--suites", help="comma-separated, from: " + ", ".join(suites.all_suites()))
    parser.add_argument("--repeats", type=int, help="measured rounds of the suites")
    parser.add_argument("--configs", help=f"comma-separated, from: {', '.join(CONFIGS)}")
    parser.add_argument(
        "--exclude",
        default="",
        help="comma-separated SUITE:CONFIG cells to skip, e.g. b:ours-tracemalloc",
    )
    parser.add_argument("--warmup", type=int, help="unmeasured runs per suite cell first")
    parser.add_argument("--off-pairs", type=int, help="alternating pairs of the off-cost")
    parser.add_argument("--first-run-rounds", type=int, help="rounds of the heavy first run")
    parser.add_argument("--memory-tests", type=int, help="tests in the memory suite")
    parser.add_argument("--memory-repeats", type=int, help="rounds of the memory suite")
    parser.add_argument(
        "--census",
        action="store_true",
        help="count the objects by type at each memory checkpoint (slower; for investigating)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the results as Markdown here")
    parser.add_argument("--json", type=Path, help="also write every sample as JSON here")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter the venvs are made from"
    )
    parser.add_argument(
        "--no-reinstall",
        action="store_true",
        help="do not reinstall our plugin from the repository into its venv",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not hasattr(os, "wait4"):
        raise SystemExit("this benchmark needs os.wait4 (Linux or macOS)")
    plan = plan_of(args)
    known_suites = suites.all_suites()
    chosen = [known_suites[name] for name in plan.suites] if "suites" in plan.sections else []
    configs = [CONFIGS[name] for name in plan.configs]
    excluded = {cell.strip() for cell in args.exclude.split(",") if cell.strip()}
    began = time.perf_counter()
    started = now_text()
    load_start = load_now()

    numpy = any(suite.numpy for suite in chosen)
    prepare_ours(args.python, reinstall=not args.no_reinstall, numpy=numpy)
    ours_versions = installed_versions(VENV_OURS)
    needs_published = (
        "off" in plan.sections
        or "first-run" in plan.sections
        or any(config.venv == "published" for config in configs)
    )
    published_versions: dict[str, str | None] | None = None
    if needs_published:
        prepare_published(args.python, ours_versions, numpy)
        published_versions = installed_versions(VENV_PUBLISHED)
    peak_rss.write_plugin(PLUGIN_DIR)
    plugins.write_plugins(PLUGIN_DIR)
    context = Context(ours_versions, published_versions)

    sections: list[figures.Section] = []
    goals: list[figures.Goal] = []
    samples: list[figures.Sample] = []
    quick = bool(args.quick)
    for name in plan.sections:
        print(f"[{name}] measuring (load {load_now():.2f})", file=sys.stderr, flush=True)
        if name == "off":
            section, found, done = measure_off_cost(context, plan.off_pairs, not quick)
        elif name == "first-run":
            section, found, done = measure_first_run(context, plan.first_run_rounds, not quick)
        elif name == "suites":
            section, found, done = measure_suites(
                context, chosen, configs, plan.repeats, plan.warmup, excluded
            )
        else:
            section, found, done = measure_memory(
                context, plan.memory_tests, plan.memory_repeats, census=args.census
            )
        sections.append(section)
        goals.extend(found)
        samples.extend(done)
        print(f"\n== {section.title}\n" + "\n".join(section.text), flush=True)
    elapsed = time.perf_counter() - began

    title = "pytest-memray benchmarks" + (" (--quick)" if quick else "")
    header = [
        f"- Started {started}; took {elapsed / 60:.1f} min; load average (1 min) "
        f"{load_start:.2f} at the start, {load_now():.2f} at the end",
        f"- Machine: {context.machine()}",
        f"- Versions: {context.versions()}",
        "- Command: `python benchmarks/run.py "
        + " ".join(sys.argv[1:] if argv is None else argv)
        + "`",
    ]
    print("\n== Against the goals of issue 23 (figures, not a pass/fail test)\n")
    print(figures.render_text(figures.GOAL_HEADER, figures.goal_rows(goals), indent="  "))
    print("\n" + "\n".join(header))
    failed = [s for s in samples if s.exit_code != 0]
    if failed:
        cells = sorted({f"{s.suite}:{s.config}" for s in failed})
        print(f"\n{len(failed)} pytest run(s) failed: {', '.join(cells)} (see {LOGS})")
    if args.markdown is not None:
        parts = [f"# {title}", "", *header, "", "## Against the goals of issue 23", ""]
        parts.extend([figures.render_markdown(figures.GOAL_HEADER, figures.goal_rows(goals)), ""])
        for section in sections:
            parts.extend([f"## {section.title}", "", *section.markdown])
        args.markdown.write_text("\n".join(parts).rstrip() + "\n")
    if args.json is not None:
        rows = []
        for sample in samples:
            row = asdict(sample)
            row.pop("probe", None)
            rows.append(row)
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
