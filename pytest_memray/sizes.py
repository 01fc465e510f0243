"""Reading size strings such as ``"24 MB"`` and printing byte counts such as ``10.0MiB``."""

from __future__ import annotations

import re

_UNIT_EXPONENTS = {"B": 0, "KB": 1, "MB": 2, "GB": 3, "TB": 4, "PB": 5}
_SIZE_PATTERN = re.compile(
    r"^\s*\+?(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[KMGTP]?B)\s*$",
    re.IGNORECASE | re.ASCII,  # ASCII: "５ MB" (a full-width digit) is not a size
)
_PRINTED_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def parse_size(text: str) -> int:
    """Return the number of bytes that ``text`` names, in multiples of 1024.

    ``"24 MB"``, ``"1.5gb"``, ``"+10KB"`` and ``"512 B"`` are accepted: a non-negative integer
    or decimal number, optional spaces, and one of the units B, KB, MB, GB, TB, PB in any case.

    Raises:
        ValueError: naming ``text`` when it is not such a string.
    """
    if not isinstance(text, str):
        raise ValueError(
            f"memory size must be a string such as '24 MB', got {type(text).__name__} {text!r}"
        )
    match = _SIZE_PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"invalid memory size {text!r}: expected a number and a unit "
            f"(B, KB, MB, GB, TB or PB), such as '24 MB'"
        )
    number = float(match.group("number"))
    exponent = _UNIT_EXPONENTS[match.group("unit").upper()]
    return int(number * 1024**exponent)


def format_size(num_bytes: float) -> str:
    """Return ``num_bytes`` with one decimal and a binary unit, such as ``117.2KiB``."""
    value = float(num_bytes)
    for unit in _PRINTED_UNITS[:-1]:
        if abs(value) < 1024.0:
            return f"{value:.1f}{unit}"
        value /= 1024.0
    return f"{value:.1f}{_PRINTED_UNITS[-1]}"
