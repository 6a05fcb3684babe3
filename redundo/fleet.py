"""Work over many client stacks at once, on every core: `plan --all`, `check --all`, `status --all`.

Synthesis is CPU-bound Python, so threads would not help; forked worker processes inherit the
loaded SDKs (no re-import) and each synthesizes its share. Results come back in stack order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterator, Sequence, TypeVar

__all__ = ["map_stacks"]

T = TypeVar("T")
# Below this many stacks a pool costs more than it saves.
POOL_THRESHOLD = 8


class _Collecting:
    """Calls fn, and collects the cyclic garbage of a synthesis every few stacks.

    The CLI runs with automatic collection off (it spends a fifth of a plan walking the SDKs'
    classes otherwise). Over many stacks the loaded modules are frozen once, so that each
    collection only walks what the syntheses left behind."""

    def __init__(self, fn: Callable[[str], T], every: int = 10):
        self.fn, self.every, self.calls = fn, every, 0

    def __call__(self, name: str) -> T:
        result = self.fn(name)
        self.calls += 1
        if self.calls == 1:
            gc.freeze()
        elif self.calls % self.every == 0:
            gc.collect()
        return result


def map_stacks(fn: Callable[[str], T], names: Sequence[str], *, workers: int | None = None) -> Iterator[T]:
    """fn(name) for each name, in order; in worker processes when there are enough stacks."""
    fn = _Collecting(fn)
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(names) < POOL_THRESHOLD or "fork" not in multiprocessing.get_all_start_methods():
        yield from (fn(name) for name in names)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield from pool.map(fn, names, chunksize=max(1, len(names) // (workers * 4)))
