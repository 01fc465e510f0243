"""pytest-memray: measure, report and limit the memory that each test allocates.

The plugin itself is loaded by pytest through the ``pytest11`` entry point
(:mod:`pytest_memray.plugin`); this module offers the types that marker arguments use. They
are loaded when first asked for: pytest imports this package in every session, with or
without ``--memray``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "2.0.0.dev0"

__all__ = [
    "LeakedObjectsFilterFunction",
    "LeaksFilterFunction",
    "Stack",
    "StackFrame",
    "__version__",
]

if TYPE_CHECKING:
    from pytest_memray.stack import (
        LeakedObjectsFilterFunction,
        LeaksFilterFunction,
        Stack,
        StackFrame,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pytest_memray import stack

        return getattr(stack, name)
    raise AttributeError(f"module 'pytest_memray' has no attribute {name!r}")
