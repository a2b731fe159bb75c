"""Settings of a process that runs one bulk job: the ``nertag`` command tagging a file or a
stream, or training. They are the process's own (the command owns it); the library never
makes them for a program that imports it.

A large input is read, tagged and written in batches that allocate and drop the same objects
and arrays over and over. With Python's and glibc's defaults that costs about a tenth of the
run: the cyclic garbage collector traverses every batch's records several times, and every
array of over 128 KiB is a fresh mapping whose pages fault in as they are first written.
"""

import gc

# glibc's malloc.h
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3

# young objects between two cyclic collections: a batch of records is a few tens of thousands
GC_YOUNG_OBJECTS = 50_000


def settle_for_bulk_work():
    """Freed memory kept for reuse, and the cyclic collector made to run rarely and never
    over what exists now (the modules, the loaded model): before a fork, that also keeps a
    forked child from copying the pages it would touch."""
    _keep_freed_memory()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])


def _keep_freed_memory():
    """glibc's malloc keeps blocks under 32 MiB on its heap (its largest allowed threshold;
    by default a block over 128 KiB is mapped and unmapped each time) and up to 128 MiB of
    freed memory. The trim threshold is set only once the mmap threshold is accepted: alone it
    would switch off glibc's own raising of the mmap threshold, and every large block would be
    mapped afresh. A no-op where the C library has no mallopt (macOS, musl, Windows)."""
    import ctypes

    try:
        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    except (OSError, TypeError):  # no C library to open this way
        return
    if mallopt is not None and mallopt(_M_MMAP_THRESHOLD, 1 << 25) == 1:  # 1: accepted
        mallopt(_M_TRIM_THRESHOLD, 1 << 27)
