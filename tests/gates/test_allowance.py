"""``--memray-max-increase`` values: what parses, what each permits, and what is refused."""

from __future__ import annotations

from fractions import Fraction

import pytest

from pytest_memray.gates import DEFAULT_MAX_INCREASE, DEFAULT_NOISE_FLOOR
from pytest_memray.gates.allowance import (
    DEFAULT_ALLOWANCE,
    DEFAULT_FLOOR,
    Allowance,
    allowance_or_default,
    parse_allowance,
)


@pytest.mark.parametrize(
    ("text", "percent", "extra"),
    [
        ("10%", Fraction(10), 0),
        ("0%", Fraction(0), 0),
        ("2.5 %", Fraction(5, 2), 0),
        (".5%", Fraction(1, 2), 0),
        ("512 KB", Fraction(0), 512 * 1024),
        ("0 B", Fraction(0), 0),
        ("10% + 64 KB", Fraction(10), 64 * 1024),
        ("64 KB + 10%", Fraction(10), 64 * 1024),
        ("  10%+64KB  ", Fraction(10), 64 * 1024),
        ("150% + 1.5 MB", Fraction(150), int(1.5 * 1024**2)),
        ("1 MiB", Fraction(0), 1024**2),
        ("10% + 1.0MiB", Fraction(10), 1024**2),  # as the tool prints it
        ("64 KiB + 5%", Fraction(5), 64 * 1024),
        ("2 GiB", Fraction(0), 2 * 1024**3),
    ],
)
def test_parse_allowance_accepts(text: str, percent: Fraction, extra: int) -> None:
    assert parse_allowance(text) == Allowance(percent, extra)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "10",
        "-10%",
        "-1 KB",
        "10% + -1 KB",
        "10% + 20%",
        "1 KB + 2 KB",
        "10% +",
        "+ 10%",
        "10% + 1 KB + 5%",
        "ten percent",
        "\u0661\u0660%",  # Arabic-Indic digits: not ASCII
        "\uff11\uff10%",  # full-width digits
        "1\u0660 KB",
        "10%%",
        "inf%",
        "nan%",
        "1e3%",
        "10% 64 KB",
    ],
)
def test_parse_allowance_rejects_and_names_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="invalid allowance") as info:
        parse_allowance(text)
    assert repr(text) in str(info.value)
    assert "'10% + 64 KB'" in str(info.value)


def test_parse_allowance_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="got int"):
        parse_allowance(10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "old", "largest_passing"),
    [
        ("10%", 1000, 1100),
        ("10%", 0, 0),
        ("512 KB", 0, 512 * 1024),
        ("10% + 1 KB", 1000, 1100 + 1024),
        ("0%", 5000, 5000),
        ("2.5%", 1000, 1025),
        ("33.3%", 1000, 1333),
    ],
)
def test_permits_up_to_and_including_the_ceiling(text: str, old: int, largest_passing: int) -> None:
    allowance = parse_allowance(text)
    assert allowance.permits(old, largest_passing)
    assert not allowance.permits(old, largest_passing + 1)
    assert allowance.permits(old, old - 1)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("10%", "10%"),
        ("512 KB", "512.0KiB"),
        ("64 KB + 10%", "10% + 64.0KiB"),
        ("2.50%", "2.5%"),
        ("0%", "0%"),
        ("0 B", "0%"),
    ],
)
def test_str_form(text: str, shown: str) -> None:
    assert str(parse_allowance(text)) == shown


def test_default_absorbs_one_pymalloc_arena_on_a_tiny_test() -> None:
    # Measured: reordering a suite moved small tests' memray peaks by exactly 1 MiB.
    assert DEFAULT_MAX_INCREASE == "10% + 1 MB"
    assert DEFAULT_ALLOWANCE.permits(100_000, 100_000 + 1024**2)
    assert not DEFAULT_ALLOWANCE.permits(100_000, 100_000 + 1024**2 + 10_001)
    # On large tests the percentage dominates.
    assert not DEFAULT_ALLOWANCE.permits(100 * 1024**2, 112 * 1024**2)


@pytest.mark.parametrize("text", [None, "", "   "])
def test_an_empty_value_means_the_default(text: str | None) -> None:
    assert allowance_or_default(text, DEFAULT_MAX_INCREASE) == DEFAULT_ALLOWANCE
    assert allowance_or_default(text, DEFAULT_NOISE_FLOOR, "noise floor") == DEFAULT_FLOOR


def test_a_bad_noise_floor_is_named_as_such() -> None:
    with pytest.raises(ValueError, match="invalid noise floor 'x'"):
        allowance_or_default("x", DEFAULT_NOISE_FLOOR, "noise floor")


@pytest.mark.parametrize(
    ("old", "new", "noise"),
    [
        (1000, 1000, True),
        (0, 1024**2, True),  # one pymalloc arena more, from nothing
        (1024**2, 1, True),  # one arena less (memray, two runs of one suite)
        (1_619_310, 596_387, True),  # the largest move of two tracemalloc runs measured
        (0, 1024**2 + 1, False),
        (1_079_912, 18_992, True),  # memray, serial and under xdist: an arena and 12 KiB
        (100 * 1024**2, 103 * 1024**2, True),  # 2% + 1 MiB of 100 MiB is 3 MiB
        (100 * 1024**2, 103 * 1024**2 + 1, False),
        (100 * 1024**2, 97 * 1024**2 - 1, False),
    ],
)
def test_the_default_noise_floor(old: int, new: int, noise: bool) -> None:
    assert DEFAULT_FLOOR.covers(old, new) is noise
