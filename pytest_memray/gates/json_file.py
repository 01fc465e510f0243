"""Reading a JSON file that may be anything: bounded in size and nesting, one error per problem.

The gates read files a user names (a baseline, a document to compare or merge, a saved run).
Whatever they hold, reading them ends in a decoded value or one :class:`DocumentError` naming
the file, never a traceback or a crash: a file larger than :data:`MAX_DOCUMENT_BYTES`, nested
deeper than :data:`MAX_DOCUMENT_DEPTH`, not UTF-8 or not JSON is refused. Imports only the
standard library and :mod:`.checking`.
"""

from __future__ import annotations

import json
import os
import stat
from itertools import accumulate

from pytest_memray.gates.checking import DocumentError
from pytest_memray.sizes import format_size

#: The largest document read: far above any real suite's (a test's entry is about 1 KiB, so
#: this is some 250,000 tests), far below what would exhaust a CI machine's memory.
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024

#: The deepest nesting of arrays and objects read: a report nests some 5 levels. Deeper
#: documents are refused before ``json.loads``, whose C decoder recurses once per level: on
#: WebAssembly (Pyodide) a few thousand levels exhaust the engine's stack and kill the whole
#: interpreter before Python can raise ``RecursionError``. One limit on every platform, so a
#: file is read or refused alike everywhere.
MAX_DOCUMENT_DEPTH = 100

#: The bytes :func:`nesting_depth` drops: all but brackets and quotes.
_NOT_NESTING = bytes(byte for byte in range(256) if byte not in b'[]{}"')
#: How each byte changes the depth.
_NESTING_STEP = tuple(
    {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}.get(b, 0) for b in range(256)
)


def read_text(name: str) -> str:
    """The text of the file ``name``; a DocumentError naming it when it cannot be read."""
    if os.path.isdir(name):  # Windows says "permission denied" when a folder is opened
        raise DocumentError(name, "is a directory, not a JSON report")
    too_big = (
        f"is larger than {format_size(MAX_DOCUMENT_BYTES)}, far more than a pytest-memray "
        "report holds; not read"
    )
    try:
        with open(name, "rb") as stream:
            info = os.fstat(stream.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > MAX_DOCUMENT_BYTES:
                raise DocumentError(name, too_big)
            # Pipes and devices (/dev/zero) have no size: read one byte past the limit.
            data = stream.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise DocumentError(name, "no such file") from None
    except IsADirectoryError:
        raise DocumentError(name, "is a directory, not a JSON report") from None
    except MemoryError:
        raise DocumentError(name, "too large to read into memory here") from None
    except OSError as exc:
        raise DocumentError(name, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(name, too_big)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(name, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def nesting_depth(text: str) -> int:
    """How deeply the arrays and objects of the JSON ``text`` nest, found without recursing.

    Brackets inside strings do not count. For text that is not JSON the figure is only an
    estimate (``json.loads`` says what is wrong with it). A few C passes over the bytes: far
    cheaper than ``json.loads``, which reads the text anyway.
    """
    data = text.encode("utf-8", "surrogatepass")  # UTF-8 puts no ASCII byte inside a letter
    if b"\\" in data:
        # Escaped backslashes, then escaped quotes: neither opens nor closes a string.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only brackets and quotes are left. Two adjacent quotes close one string and open the
    # next, or open and close a string without brackets: dropping them leaves each bracket
    # inside or outside a string as it was, and most of the quotes are gone.
    data = data.translate(None, _NOT_NESTING).replace(b'""', b"")
    if b'"' in data:
        data = b"".join(data.split(b'"')[::2])  # the even parts lie outside strings
    return max(accumulate(map(_NESTING_STEP.__getitem__, data), initial=0))


def decode(name: str, text: str) -> object:
    """``text`` as JSON; a DocumentError naming ``name`` for anything that is not."""
    try:
        # Measured first: json.loads recurses in C once per level (see MAX_DOCUMENT_DEPTH).
        if nesting_depth(text) <= MAX_DOCUMENT_DEPTH:
            return json.loads(text)
    except RecursionError:  # not reached after the scan; kept as a safety net
        pass
    except MemoryError:
        raise DocumentError(name, "too large to read into memory here") from None
    except ValueError as exc:  # JSONDecodeError, and ints longer than Python reads
        raise DocumentError(name, f"not valid JSON: {exc}") from None
    raise DocumentError(
        name,
        f"not a pytest-memray JSON report (nested too deeply: more than {MAX_DOCUMENT_DEPTH} "
        "levels of arrays and objects)",
    )
