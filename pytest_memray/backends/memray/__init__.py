"""The memray backend (Linux and macOS, CPython): every allocation, native ones included.

It owns everything it does to be fast, all behind the seam of
:mod:`pytest_memray.backends.interface`: batches of test calls under one Tracker
(:mod:`.batch`), their boundary marks (:mod:`.marks`) and replay (:mod:`.replay`), the
Tracker of a call of its own (:mod:`.per_call`), the checks of a capture file's storage
(:mod:`.storage`), its scratch folders (:mod:`.scratch`) and the notes of which tests to
measure alone (:mod:`.advice`); :mod:`.backend` chooses between them for each call.

May import: :mod:`pytest_memray.backends.interface`, :mod:`pytest_memray.stack`,
:mod:`pytest_memray.files`, and memray. Never the layers above the seam (``per_test``,
``reporting``, ``gates``, ``settings``, ``plugin``), nor the other backends.
"""
