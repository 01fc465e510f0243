"""Checking decoded JSON, field by field: each problem is one ``DocumentError`` naming the
file and the place, never a traceback and never the whole offending value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DocumentError(ValueError):
    """A document that cannot be used: ``path`` says which, ``reason`` why (one line)."""

    def __init__(self, path: str, reason: str) -> None:
        reason = " ".join(reason.split("\n"))
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class Checker:
    """Type checks that raise a DocumentError naming the file and the place."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> DocumentError:
        return DocumentError(self.path, f"{where} {problem}" if where else problem)

    def obj(
        self,
        where: str,
        value: object,
        required: Sequence[str],
        optional: Sequence[str] = (),
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {kind(value)}")
        missing = [key for key in required if key not in value]
        if missing:
            raise self.fail(where, f"lacks {', '.join(repr(key) for key in missing)}")
        # Keys the layout does not define are left alone (and kept by merge): readers of a
        # later minor addition, or of a key another tool adds, still read the rest.
        return value

    def string(self, where: str, value: object, nullable: bool = False) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string{' or null' if nullable else ''}, got "
                            f"{kind(value)}")  # fmt: skip
        return value

    def count(self, where: str, value: object, nullable: bool = False) -> int | None:
        if value is None and nullable:
            return None
        if not is_int(value) or value < 0:  # type: ignore[operator]
            raise self.fail(
                where,
                f"must be a non-negative integer{' or null' if nullable else ''}, got "
                f"{kind(value)}",
            )
        assert isinstance(value, int)
        return value

    def boolean(self, where: str, value: object) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {kind(value)}")
        return value

    def array(self, where: str, value: object) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be an array, got {kind(value)}")
        return value

    def strings(self, where: str, value: object) -> tuple[str, ...]:
        items = self.array(where, value)
        for index, item in enumerate(items):
            self.string(f"{where}[{index}]", item)
        return tuple(items)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def kind(value: object) -> str:
    """A short description of a JSON value, for error messages (never the whole value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return f"the number {text if len(text) <= 30 else text[:27] + '...'}"
    if isinstance(value, str):
        text = repr(value)
        return f"the string {text if len(text) <= 40 else text[:37] + '...'}"
    if isinstance(value, list):
        return "an array"
    return "an object"
