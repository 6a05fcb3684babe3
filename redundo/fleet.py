"""Work over many client stacks at once, on every core: `plan --all`, `check --all`, `status --all`.

Synthesis is CPU-bound Python, so threads would not help; forked worker processes inherit the
loaded SDKs (no re-import) and each synthesizes its share. Results come back in stack order.
"""

from __future__ import annotations

import gc
import os
from typing import Callable, Iterator, Sequence, TypeVar

__all__ = ["map_stacks"]

T = TypeVar("T")
# Below this many stacks a pool costs more than it saves.
POOL_THRESHOLD = 8


class _Collecting:
    """Calls fn, and collects the cyclic garbage of the syntheses once it passes a budget.

    The CLI runs with automatic collection off (it spends a fifth of a plan walking the SDKs'
    classes otherwise). Over many stacks the loaded modules are frozen once, so that a collection
    only walks what the syntheses left behind. Its cost grows with that garbage, not with how
    often it runs, so it runs only when the garbage passes `budget` objects: about 170 stacks'
    worth (a synthesis leaves some 12,000, near 1 MB). `plan --all` over a few hundred stacks
    then never collects; a worker with thousands stays within a few hundred MB."""

    def __init__(self, fn: Callable[[str], T], budget: int = 2_000_000):
        self.fn, self.budget, self.calls = fn, budget, 0

    def __call__(self, name: str) -> T:
        result = self.fn(name)
        self.calls += 1
        if self.calls == 1:
            gc.freeze()
        elif gc.get_count()[0] > self.budget:
            gc.collect()
        return result


def map_stacks(fn: Callable[[str], T], names: Sequence[str], *, workers: int | None = None) -> Iterator[T]:
    """fn(name) for each name, in order; in worker processes when there are enough stacks."""
    fn = _Collecting(fn)
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(names) < POOL_THRESHOLD:
        yield from (fn(name) for name in names)
        return
    # Imported here: a single stack's plan need not pay for the pool machinery.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods():
        yield from (fn(name) for name in names)
        return
    # The first stack runs here, before the fork: the SDK modules a synthesis loads on first use
    # (see _lazy_sdk) and the frozen heap are then shared by every worker, not redone in each.
    yield fn(names[0])
    rest = names[1:]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield from pool.map(fn, rest, chunksize=max(1, len(rest) // (workers * 4)))
