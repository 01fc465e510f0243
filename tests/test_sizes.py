"""Size strings in, byte counts out, and byte counts printed back."""

from __future__ import annotations

import pytest

from pytest_memray.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 B", 0),
        ("512 B", 512),
        ("1KB", 1024),
        ("1 kb", 1024),
        ("24 MB", 24 * 1024**2),
        ("  +10 MB  ", 10 * 1024**2),
        ("1.5 GB", int(1.5 * 1024**3)),
        (".5 KB", 512),
        ("2 TB", 2 * 1024**4),
        ("1 PB", 1024**5),
        ("1 MiB", 1024**2),
        ("1 kib", 1024),
        ("10.0MiB", 10 * 1024**2),
        ("117.2KiB", int(117.2 * 1024)),
        ("3 GiB", 3 * 1024**3),
        ("1 TiB", 1024**4),
        ("1 PiB", 1024**5),
        ("1.0EiB", 1024**6),
        ("1.0B", 1),
    ],
)
def test_parse_size_accepts(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "24 XB",
        "-1 MB",
        "lots",
        "",
        "MB",
        "1 iB",
        "1 MiBB",
        "1 Mi",
        "1 M",
        "1e3 MB",
        "1,5 MB",
        "1 M B",
        "５ MB",
        "1٫5 MB",
        "2\u00a0MB",
    ],
)
def test_parse_size_rejects_and_names_the_string(text: str) -> None:
    with pytest.raises(ValueError, match="invalid memory size") as info:
        parse_size(text)
    assert repr(text) in str(info.value)


def test_parse_size_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="int 5"):
        parse_size(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("num_bytes", "expected"),
    [
        (0, "0.0B"),
        (5, "5.0B"),
        (1023, "1023.0B"),
        (1024, "1.0KiB"),
        (120_000, "117.2KiB"),
        (10 * 1024**2, "10.0MiB"),
        (3 * 1024**3, "3.0GiB"),
        (1024**6, "1.0EiB"),
    ],
)
def test_format_size(num_bytes: int, expected: str) -> None:
    assert format_size(num_bytes) == expected


@pytest.mark.parametrize("num_bytes", [0, 5, 1023, 1024, 120_000, 10 * 1024**2, 3 * 1024**3])
def test_what_is_printed_reads_back(num_bytes: int) -> None:
    """Every size the tool prints is a size it reads (to the printed precision)."""
    printed = format_size(num_bytes)
    assert abs(parse_size(printed) - num_bytes) <= num_bytes * 0.001 + 1
