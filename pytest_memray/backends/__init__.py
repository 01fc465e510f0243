"""Measuring: the seam every backend implements, the registry that finds them, and the two
this distribution ships.

:mod:`.interface` is the seam: what a backend is asked (a ``TrackingRequest``), what it can
do (``Capabilities``) and what it hands back (a ``Measurement``, or ``NotMeasured`` with the
reason), as plain data. :mod:`.registry` finds the backends registered under the
``pytest_memray.backends`` entry points and chooses one at startup, saying why;
:mod:`.builtin` registers :mod:`.memray` and :mod:`.tracemalloc`. Everything a backend does
to be fast (batching, scratch folders, samplers) stays inside its own sub-package.

May import: the standard library, a backend's own measuring library (memray, tracemalloc)
inside that backend's sub-package only, and :mod:`pytest_memray`'s core modules (``stack``,
``files``). Never pytest, nor any other room of the plugin.
"""
