"""Work over many client stacks at once, on every core: `plan --all`, `check --all`, `status --all`.

Synthesis is CPU-bound Python, so threads would not help; forked worker processes inherit the
loaded SDKs (no re-import) and each synthesizes its share. Results come back in stack order.
"""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from redundo.errors import RedundoError

__all__ = ["StackFailure", "failure_summary", "guarded", "map_stacks"]

T = TypeVar("T")
# Below this many stacks a pool costs more than it saves.
POOL_THRESHOLD = 8


class _Collecting(Generic[T]):
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


@dataclass(frozen=True)
class StackFailure:
    """One stack that could not be read or built; the others of a fleet still are."""

    stack: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"stack": self.stack, "error": self.message}


class _Guarded(Generic[T]):
    """fn(name), or a StackFailure when that one stack's file is damaged or invalid."""

    def __init__(self, fn: Callable[[str], T]):
        self.fn = fn

    def __call__(self, name: str) -> T | StackFailure:
        try:
            return self.fn(name)
        except RedundoError as exc:
            return StackFailure(name, str(exc))
        except Exception as exc:  # noqa: BLE001 - one client's oddity must not hide the whole fleet
            return StackFailure(name, f"internal error: {type(exc).__name__}: {exc}")


def guarded(fn: Callable[[str], T]) -> Callable[[str], T | StackFailure]:
    return _Guarded(fn)


def failure_summary(failures: Sequence[StackFailure], total: int) -> str:
    """One line for the end of a fleet run that had failures."""
    if len(failures) == 1:
        return f"1 of {total} stacks failed: {failures[0].message}"
    return (
        f"{len(failures)} of {total} stacks failed ({', '.join(f.stack for f in failures)}); "
        "each is shown above with its fix"
    )


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
    names = names[1:]
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_signals
    )
    # The workers are forked during map(): a signal handled then would raise inside the fork hooks
    # (logging's lock release), where Python ignores the exception and the signal is lost. Held
    # back until the forks are done, it is delivered just after, here.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        try:
            # Small chunks: the last one to finish leaves the other cores idle for its length.
            results = pool.map(fn, names, chunksize=max(1, min(4, len(names) // (workers * 8))))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        yield from results
    except BaseException:
        # Ctrl-C, SIGTERM or a failed stack: stop the workers now rather than let them finish
        # their share of a fleet nobody waits for any more.
        for process in list((pool._processes or {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _worker_signals() -> None:
    """Workers leave Ctrl-C to the parent (which stops them) and die quietly on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # held back by the parent while forking
