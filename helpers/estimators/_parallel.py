"""Coarse-grained threading for the estimators' blocked loops."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch


def run_parallel(tasks: list) -> list:
    """Run independent blocks on torch's threads, one block per thread, each op single-threaded.

    Returns the tasks' results in order. Coarse-grained: a thread that the OS pauses delays only its
    own block, instead of stalling every small parallel op (torch's own 2-thread ops ran ~5× slower
    than 1 thread on a busy 2-core machine). With one thread (``COURSE_THREADS=1``) it is a plain loop.
    """
    threads = torch.get_num_threads()
    workers = min(threads, len(tasks))
    if workers <= 1:
        return [task() for task in tasks]
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            return [f.result() for f in [pool.submit(task) for task in tasks]]
    finally:
        torch.set_num_threads(threads)
