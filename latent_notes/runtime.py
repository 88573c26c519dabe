"""One thread policy for the chapters, the tests and anyone importing the package.

Numerical libraries size their thread pools from the number of cores the
*machine* has. In a container with a CPU quota (Binder, Colab, CI) or beside
another busy process, that is too many: the threads wait on one another,
spin, and a chapter that takes 12 seconds can take minutes. This module sizes
every pool from the CPUs this process may really use:

- the CPUs it is allowed to run on (``os.sched_getaffinity``), and
- the cgroup CPU quota, ``cpu.max`` (cgroup v2) or ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us`` (cgroup v1), rounded up.

:func:`default_threads` keeps one of them free for everything else, and
:func:`limit_threads` applies that number to PyTorch (intra-op threads),
to the BLAS and OpenMP libraries already loaded (through ``threadpoolctl``),
and to the environment variables that libraries loaded later, and child
processes, read when they start. Every chapter calls it in its first cell.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

__all__ = ["cpu_quota", "default_threads", "limit_threads", "THREAD_VARIABLES"]

# Read by OpenMP, OpenBLAS, MKL, BLIS, Apple Accelerate and numexpr when they load.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

_CGROUP = Path("/sys/fs/cgroup")


def _affinity_count():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _quota_from_cgroup(root):
    """CPUs allowed by the cgroup quota under ``root``, or None when unlimited or unknown."""
    root = Path(root)
    try:  # cgroup v2: "max 100000" or "150000 100000"
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max" and float(period) > 0:
            return float(quota) / float(period)
        return None
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = float((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = float((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def cpu_quota(cgroup_root=_CGROUP):
    """The number of CPUs this process may use: at least 1.

    The smaller of the CPUs in the process's affinity mask and the cgroup CPU
    quota (rounded up: a quota of 1.5 CPUs allows 2 threads to make progress).

    Parameters
    ----------
    cgroup_root : path, default "/sys/fs/cgroup"
        Where the cgroup file system is mounted (a parameter for testing).

    Returns
    -------
    int
    """
    count = _affinity_count()
    quota = _quota_from_cgroup(cgroup_root)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota - 1e-9)))
    return max(1, int(count))


def default_threads(cgroup_root=_CGROUP):
    """The policy: every CPU of the quota but one, and at least one.

    One CPU is left for everything else that runs beside a computation (the
    Jupyter server, the browser, a test runner, another user's job). Pools
    that claim every CPU stall whenever one of their threads loses its core:
    OpenMP and OpenBLAS threads busy-wait for each other. Measured on the
    book's 2-core machine with one busy process beside it, the GMLC chapter
    did not finish in 300 s with 2 threads and took 26 s with 1; on the idle
    machine 1 thread was as fast for every chapter but the PixelCNN one
    (benchmarks/README.md has the table).
    """
    return max(1, cpu_quota(cgroup_root) - 1)


def limit_threads(n_threads=None):
    """Size PyTorch's, BLAS's and OpenMP's thread pools to ``n_threads``.

    Parameters
    ----------
    n_threads : int, optional
        Default: :func:`default_threads`, or the value of ``OMP_NUM_THREADS``
        when the user has set it to something smaller.

    Returns
    -------
    int
        The number of threads applied.
    """
    if n_threads is None:
        n_threads = default_threads()
        user = os.environ.get("OMP_NUM_THREADS", "")
        if user.isdigit() and int(user) >= 1:
            n_threads = min(n_threads, int(user))
    elif isinstance(n_threads, bool) or not isinstance(n_threads, int):
        raise TypeError(f"n_threads must be a positive int or None; got {n_threads!r}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1; got {n_threads}")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n_threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    else:
        threadpool_limits(limits=n_threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n_threads)
    return n_threads
