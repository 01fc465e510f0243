"""The layout of the JSON document that ``--memray-json`` writes and the gates read.

Its version and its schema are defined here once, for the writer (:mod:`pytest_memray.reporting`)
and the readers (:mod:`pytest_memray.gates`) alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Version 3: each test's ``notes`` (what the terminal showed about its figures); ``run``
#: (pytest's rootdir, which test ids are relative to, and the xdist workers); ``shards`` in a
#: merged document. Version 2: tests that were not measured have ``peak_bytes: null`` and the
#: reason in ``not_measured``; outcomes tell xfailed, xpassed and interrupted tests apart.
SCHEMA_VERSION = 3
#: The versions the gates read: this one, and version 2 (read as version 3 without notes,
#: rootdir or shards).
READ_VERSIONS = (2, 3)
SCHEMA_FILE = Path(__file__).with_name("json_schema.json")


def document_text(document: Any) -> str:
    """A document as the plugin writes it: indented JSON and a final newline."""
    return json.dumps(document, indent=2) + "\n"
