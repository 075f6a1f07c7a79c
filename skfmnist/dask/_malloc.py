"""glibc malloc thresholds for processes that run TensorFlow.

glibc serves an allocation above its mmap threshold with a fresh ``mmap`` and
returns it with ``munmap`` when it is freed. By default the threshold rises
to the largest block a process has freed (up to 32 MiB), so a training loop
that allocates the same tensors every step soon reuses heap memory. Setting
any malloc threshold explicitly turns that adjustment off: Dask's nanny sets
``MALLOC_TRIM_THRESHOLD_=65536`` in every worker it starts, which leaves the
mmap threshold at 128 KiB for good. Every weight gradient of a dense layer
is then a fresh mapping, zeroed page by page by the kernel.
``benchmarks/bench_search.py`` measures a search on Dask workers with and
without these thresholds (``benchmarks/results/search.json``, the row "no
malloc thresholds"); :class:`skfmnist.dask.LeanWorker` applies this module to
running workers.
"""

import ctypes
import platform

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems: where its own
#: adjustment stops.
MMAP_THRESHOLD = 32 * 1024 * 1024

#: Whether :func:`settle_malloc_thresholds` succeeded in this process.
settled = False


def settle_malloc_thresholds():
    """Set glibc's thresholds to where its own adjustment would settle.

    The mmap threshold goes to 32 MiB and the trim threshold to twice that,
    as glibc does when it raises the mmap threshold by itself. A process
    keeps up to 64 MiB of freed memory per malloc arena for reuse instead of
    handing it back to the system at once.

    Returns
    -------
    settled : bool
        False where the C library is not glibc (macOS, Windows, musl) or
        refused a value; nothing changes there.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    global settled
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD)
    )
    settled = settled or ok
    return ok
