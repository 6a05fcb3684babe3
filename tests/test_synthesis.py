"""How a synthesis runs the monitor's calls: in-memory mocks on its own thread, realizing mocks in parallel."""

from __future__ import annotations

import threading

import pulumi
import pulumi_random as random
import pytest

from redundo.synthesis import RecordingMocks, synthesize


class _Threads(RecordingMocks):
    """Notes the thread each registration and invoke is answered on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def new_resource(self, args):
        self.threads.add(threading.get_ident())
        return super().new_resource(args)

    def call(self, args):
        self.threads.add(threading.get_ident())
        return super().call(args)


def _three_passwords() -> None:
    for n in range(3):
        password = random.RandomPassword(f"p{n}", length=16)
        pulumi.export(f"p{n}", password.result)


def test_synthesis_answers_in_memory_mocks_on_the_synthesis_thread():
    """No worker thread is started: every call is answered on the one thread that runs the program."""
    mocks = _Threads()
    before = threading.active_count()
    program_threads: set[int] = set()

    def program() -> None:
        program_threads.add(threading.get_ident())
        _three_passwords()

    syn = synthesize(program, project="t", stack="t", mocks=mocks)
    assert mocks.threads == program_threads and len(program_threads) == 1
    assert threading.active_count() == before
    # The answers still reach the program: secrets stay secret, values arrive.
    assert syn.exports["p0"] == ("mock-password-of-p0", True)
    assert len(syn.by_type("random:index/randomPassword:RandomPassword")) == 3


def test_synthesis_runs_the_calls_of_waiting_mocks_in_parallel():
    """Mocks that wait on real machines (the rehearsal's) get the engine's parallel calls: two
    registrations meet at a barrier that one thread alone would never pass."""
    meet = threading.Barrier(2, timeout=20)

    class Waiting(RecordingMocks):
        immediate = False

        def new_resource(self, args):
            meet.wait()
            return super().new_resource(args)

    def program() -> None:
        random.RandomPassword("a", length=8)
        random.RandomPassword("b", length=8)

    syn = synthesize(program, project="t", stack="t", mocks=Waiting())
    assert sorted(r.name for r in syn.resources) == ["a", "b"]


def test_synthesis_failure_in_a_mock_reaches_the_caller():
    """A mock that raises fails the synthesis with its own error, as a failed engine call would."""

    class Broken(RecordingMocks):
        def new_resource(self, args):
            raise RuntimeError(f"cannot create {args.name}")

    with pytest.raises(Exception, match="cannot create a"):
        synthesize(lambda: random.RandomPassword("a", length=8), project="t", stack="t", mocks=Broken())


def test_synthesis_per_class_answers_are_the_sdks_and_are_put_back_after():
    """What is kept per resource class equals what the SDK computes each time; after the synthesis
    the SDK's own functions are back in place."""
    import pulumi_aws as aws
    from pulumi import _types
    from redundo.components.redundant_site import RedundantSite

    from redundo import synthesis
    from tests.conftest import synth

    own = {name: getattr(_types, name) for name in synthesis._PER_CLASS}
    synth()
    assert {name: getattr(_types, name) for name in synthesis._PER_CLASS} == own
    for cls in (aws.s3.Bucket, aws.iam.AccessKey, random.RandomPassword, RedundantSite):
        for name, cached in synthesis._PER_CLASS.items():
            assert cached(cls) == own[name](cls), (name, cls)
            assert cached(cls) is cached(cls)
    assert own["resource_types"](RedundantSite)  # the component's annotated outputs are typed
