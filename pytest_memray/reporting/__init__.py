"""The session's results, gathered on the process that reports, and everything shown or
written from them.

Results travel from the process that ran a test on its reports, under the names
:mod:`.wire` gives (through xdist from a worker, :mod:`.xdist`), as plain data
(:mod:`.results`, summarised by :mod:`.summary`); :mod:`.collector` gathers them, and marks
as not measured, with the reason, every tracked test whose figures never came. At the end
:mod:`.outputs` prints the header line and the MEMRAY REPORT (:mod:`.terminal`), writes the
JSON documents (:mod:`.json_output`) and adds the peaks junit-xml could not write yet
(:mod:`.junit`); :mod:`.html_column` gives pytest-html its column.

May import: pytest, the backend seam (:mod:`pytest_memray.backends.interface` and the
registry's choice; never a backend's library), :mod:`pytest_memray.gates` (the document's
layout), the settings and the core modules. Never :mod:`pytest_memray.per_test`.
"""
