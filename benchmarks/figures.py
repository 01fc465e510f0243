"""The pure parts of ``benchmarks/run.py``: samples, figures paired round by round, tables.

No subprocess and no clock here (``tests/test_benchmark_runner.py`` tests these with samples
made by hand). Every comparison is of runs of the same round: configurations alternate within
a round, so a ratio of two runs of one round shares the load both saw, and the median of those
per-round ratios (with their range) is reported, never a ratio of two separate medians.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

try:  # imported as part of the benchmarks package (the tests)
    from . import plugins
except ImportError:  # run as a script
    import plugins  # type: ignore[no-redef,import-not-found]

MIB = 1024 * 1024
MB = 1000 * 1000

#: The layer ratios the suites section reports: (ours, floor, goal or None).
LAYER_RATIOS = (
    ("ours-memray", "bare-memray-call", 1.05),
    ("ours-memray", "bare-memray", None),
    ("ours-tracemalloc", "bare-tracemalloc", 1.10),
    ("published", "bare-memray-call", None),
)


@dataclass
class Sample:
    suite: str
    config: str
    repeat: int
    wall: float
    cpu_user: float
    cpu_sys: float
    max_rss: int
    tmp_peak: int
    tmp_left: int
    exit_code: int
    #: Test calls that ran, and how many the configuration measured (None: not one by one).
    calls: int | None = None
    measured: int | None = None
    measured_text: str = "n/a"
    #: The 1-minute load average as the run ended.
    load: float = float("nan")
    probe: plugins.Probe | None = field(default=None, repr=False)

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys


@dataclass(frozen=True)
class Paired:
    """A figure of one configuration against a reference, round by round."""

    #: The median of the per-round ratios (or differences), and their smallest and largest.
    median: float
    low: float
    high: float
    rounds: int


def _by_round(samples: Iterable[Sample], config: str) -> dict[int, Sample]:
    return {s.repeat: s for s in samples if s.config == config and s.exit_code == 0}


def paired(
    samples: Sequence[Sample],
    config: str,
    reference: str,
    figure: Callable[[Sample], float],
    combine: Callable[[float, float], float],
) -> Paired | None:
    """``combine(figure(config), figure(reference))`` for every round both ran in (the two
    runs alternated within it): its median and range; None when no round has both."""
    values = paired_values(samples, config, reference, figure, combine)
    if not values:
        return None
    return Paired(statistics.median(values), min(values), max(values), len(values))


def paired_values(
    samples: Sequence[Sample],
    config: str,
    reference: str,
    figure: Callable[[Sample], float],
    combine: Callable[[float, float], float],
) -> list[float]:
    """``combine(figure(config), figure(reference))`` of every round both ran in."""
    mine = _by_round(samples, config)
    theirs = _by_round(samples, reference)
    return [
        combine(figure(mine[round_]), figure(theirs[round_]))
        for round_ in sorted(set(mine) & set(theirs))
    ]


def median_interval(
    values: Sequence[float], level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """A bootstrap interval of the median of ``values``: how far the median could move
    had other rounds been drawn (seeded, so the same values give the same interval)."""
    if not values:
        return float("nan"), float("nan")
    draw = random.Random(seed)
    medians = sorted(
        statistics.median(draw.choices(values, k=len(values))) for _ in range(resamples)
    )
    tail = (1 - level) / 2
    return medians[int(tail * (resamples - 1))], medians[int((1 - tail) * (resamples - 1))]


def paired_ratio(
    samples: Sequence[Sample], config: str, reference: str, figure: Callable[[Sample], float]
) -> Paired | None:
    return paired(samples, config, reference, figure, lambda a, b: a / b if b > 0 else float("nan"))


def paired_difference(
    samples: Sequence[Sample], config: str, reference: str, figure: Callable[[Sample], float]
) -> Paired | None:
    return paired(samples, config, reference, figure, lambda a, b: a - b)


def wall_of(sample: Sample) -> float:
    return sample.wall


def cpu_of(sample: Sample) -> float:
    return sample.cpu


def rss_of(sample: Sample) -> float:
    return float(sample.max_rss)


def ratio_text(found: Paired | None) -> str:
    if found is None:
        return "n/a"
    if found.rounds == 1:
        return f"{found.median:.2f}x"
    return f"{found.median:.2f}x ({found.low:.2f}–{found.high:.2f})"


@dataclass
class Summary:
    suite: str
    config: str
    runs: int
    wall: float
    wall_min: float
    wall_max: float
    cpu: float
    max_rss: float
    tmp_peak: float
    tmp_left: float
    failed_runs: int
    measured: str


def summarise(samples: Sequence[Sample]) -> Summary:
    first = samples[0]
    walls = [s.wall for s in samples]
    texts = sorted({s.measured_text for s in samples})
    return Summary(
        suite=first.suite,
        config=first.config,
        runs=len(samples),
        wall=statistics.median(walls),
        wall_min=min(walls),
        wall_max=max(walls),
        cpu=statistics.median(s.cpu for s in samples),
        max_rss=statistics.median(s.max_rss for s in samples),
        tmp_peak=statistics.median(s.tmp_peak for s in samples),
        tmp_left=statistics.median(s.tmp_left for s in samples),
        failed_runs=sum(1 for s in samples if s.exit_code != 0),
        measured=" / ".join(texts),
    )


def _size(value: float) -> str:
    if value == 0:
        return "0"
    if value < MIB:
        return f"{value / 1024:.0f} KiB"
    return f"{value / MIB:.1f} MiB"


SUITE_HEADER = (
    "config",
    "tests measured",
    "wall s (median)",
    "wall min–max",
    "wall × plain",
    "CPU s",
    "CPU × plain",
    "ms/test over plain (CPU)",
    "peak RSS MiB",
    "TMPDIR peak",
    "TMPDIR left",
)


def suite_rows(samples: Sequence[Sample], configs: Sequence[str], tests: int) -> list[list[str]]:
    """One row per configuration: medians, and ratios to plain of runs of the same round."""
    rows: list[list[str]] = []
    for config in configs:
        cell = [s for s in samples if s.config == config]
        if not cell:
            continue
        s = summarise(cell)
        cpu_over = paired_difference(samples, config, "plain", cpu_of)
        name = s.config if s.failed_runs == 0 else f"{s.config} ({s.failed_runs} runs failed!)"
        rows.append(
            [
                name,
                s.measured,
                f"{s.wall:.2f}",
                f"{s.wall_min:.2f}–{s.wall_max:.2f}",
                "1.00x"
                if config == "plain"
                else ratio_text(paired_ratio(samples, config, "plain", wall_of)),
                f"{s.cpu:.2f}",
                "1.00x"
                if config == "plain"
                else ratio_text(paired_ratio(samples, config, "plain", cpu_of)),
                "–" if cpu_over is None else f"{cpu_over.median / tests * 1000:.2f}",
                f"{s.max_rss / MIB:.0f}",
                _size(s.tmp_peak),
                _size(s.tmp_left),
            ]
        )
    return rows


LAYER_HEADER = ("ratio", "wall (range)", "CPU (range)", "goal", "tests measured")


def layer_rows(samples: Sequence[Sample]) -> list[list[str]]:
    """Each configuration over its floor, from runs of the same round."""
    rows: list[list[str]] = []
    configs = {s.config for s in samples}
    for ours, floor, goal in LAYER_RATIOS:
        if ours not in configs or floor not in configs:
            continue
        measured = {s.config: s.measured_text for s in samples if s.config in (ours, floor)}
        rows.append(
            [
                f"{ours} / {floor}",
                ratio_text(paired_ratio(samples, ours, floor, wall_of)),
                ratio_text(paired_ratio(samples, ours, floor, cpu_of)),
                "–" if goal is None else f"<= {goal:.2f}x",
                f"{measured.get(ours, 'n/a')} vs {measured.get(floor, 'n/a')}",
            ]
        )
    return rows


def render_text(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    table = [list(header), *[list(row) for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for index, row in enumerate(table):
        lines.append(indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if index == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def render_markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


@dataclass(frozen=True)
class Goal:
    """One goal of issue 23, its figure, and whether the figure is within it."""

    name: str
    figure: str
    goal: str
    within: bool | None

    @property
    def verdict(self) -> str:
        if self.within is None:
            return "not measured"
        return "within the goal" if self.within else "over the goal"


def load_range(samples: Iterable[Sample]) -> tuple[float, float]:
    """The lowest and highest load average seen as the runs ended."""
    loads = [s.load for s in samples if s.load == s.load]  # NaN: not read
    if not loads:
        return float("nan"), float("nan")
    return min(loads), max(loads)


def judged_on_cpu(samples: Iterable[Sample], cores: int) -> bool:
    """Whether time goals are judged on CPU time: when the load reached the number of cores
    the pytest process waited for a core, which wall time counts and CPU time does not."""
    return load_range(samples)[1] >= cores


def time_goal(
    name: str,
    wall: Paired | None,
    cpu: Paired | None,
    limit: float,
    on_cpu: bool,
) -> Goal | None:
    """A goal on a ratio of times: both ratios shown, the verdict on the one the load allows."""
    if wall is None or cpu is None:
        return None
    judged = cpu if on_cpu else wall
    basis = "CPU" if on_cpu else "wall"
    return Goal(
        name,
        f"{wall.median:.2f}x wall, {cpu.median:.2f}x CPU (verdict on {basis})",
        f"<= {limit:.2f}x",
        judged.median <= limit,
    )


GOAL_HEADER = ("goal", "measured", "target", "verdict")


def goal_rows(goals: Sequence[Goal]) -> list[list[str]]:
    return [[g.name, g.figure, g.goal, g.verdict] for g in goals]


def memory_slopes(
    probe: plugins.Probe | None, start_fraction: float = 0.25
) -> dict[str, float | None]:
    """Growth per 1,000 tests of each figure the probe read, from its checkpoints after the
    first ``start_fraction`` of the tests (imports and first-test work are over by then)."""
    empty: dict[str, float | None] = {
        "resident": None,
        "blocks": None,
        "gc_objects": None,
        "heap_used": None,
        "heap_free": None,
    }
    if probe is None or not probe.checkpoints:
        return empty
    last = probe.checkpoints[-1].tests
    kept = [c for c in probe.checkpoints if c.tests >= last * start_fraction]
    slope = plugins.slope_per_thousand
    return {
        "resident": slope([(c.tests, c.resident) for c in kept if c.resident is not None]),
        "blocks": slope([(c.tests, c.blocks) for c in kept]),
        "gc_objects": slope([(c.tests, c.gc_objects) for c in kept]),
        "heap_used": slope([(c.tests, c.heap[0]) for c in kept if c.heap is not None]),
        "heap_free": slope([(c.tests, c.heap[1]) for c in kept if c.heap is not None]),
    }


@dataclass
class Section:
    """One measure's output: its title, tables (text and Markdown) and context line."""

    title: str
    text: list[str] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.text.append(render_text(header, rows, indent="  "))
        self.markdown.extend([render_markdown(header, rows), ""])

    def line(self, text: str) -> None:
        self.text.append("  " + text)
        self.markdown.extend([text, ""])
