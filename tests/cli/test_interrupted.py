"""An interrupted `up` leaves a clear next step, and the next `up` runs on a clean state."""

from __future__ import annotations

from tests.cli.test_guard import PRIMARY_URN, _verbs
from tests.cli.test_up import call, fake, invoke, project  # noqa: F401  (fixtures)

CREATING_PRIMARY = {"type": "creating", "resource": {"urn": PRIMARY_URN, "type": "ovh:CloudProject/instance:Instance",
                                                     "custom": True}}


def test_interrupted_up_says_what_to_run_and_the_next_up_completes_once(project, fake):
    fake.interrupt = {"up": [CREATING_PRIMARY]}
    first = invoke(project, "up", "--tier", "basic", "--yes")
    assert first.exit_code == 130
    assert first.stderr.strip() == ("error: interrupted during `up` of stack 'small-shop': run `redundo up --stack "
                                    "small-shop` again; it says whether the update left a lock (`redundo cancel`) "
                                    "or unfinished operations (`redundo refresh`)")
    assert fake.pending == [CREATING_PRIMARY]  # the fault happened: the engine's state holds an unfinished create

    fake.calls.clear()
    second = invoke(project, "up", "--tier", "basic", "--yes")
    assert second.exit_code == 1
    assert second.stderr.strip() == (
        "error: the last update of stack 'small-shop' was interrupted during creating of small-shop-primary-instance; "
        "run `redundo refresh --stack small-shop` (it reads what exists in the clouds and clears the unfinished "
        "operations), then `redundo up` again")
    assert _verbs(fake) == []  # nothing previewed or sent on a state with unfinished operations

    refreshed = invoke(project, "refresh", "--yes")
    assert refreshed.exit_code == 0, refreshed.output
    assert "--clear-pending-creates" in call(fake, "refresh")[0]
    assert fake.pending == []
    assert "interrupted while creating small-shop-primary-instance: it may exist in the cloud" in " ".join(
        refreshed.stdout.split())

    fake.calls.clear()
    third = invoke(project, "up", "--tier", "basic", "--yes")
    assert third.exit_code == 0, third.output
    assert _verbs(fake) == ["preview", "up"]


def test_locked_stack_points_at_cancel_then_cancel_unlocks(project, fake):
    fake.fail = {"preview": "the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
                            "to end or delete the lock file with `pulumi cancel`."}
    locked = invoke(project, "up", "--tier", "basic", "--yes")
    assert locked.exit_code == 1
    assert locked.stderr.strip() == (
        "error: stack 'small-shop' is locked by another update; if none is running (an interrupted `up` leaves its "
        "lock), run `redundo cancel --stack small-shop`, then `redundo refresh --stack small-shop`, then this again")
    assert _verbs(fake) == ["preview"]
    fake.fail = {}
    unlocked = invoke(project, "cancel", "--yes")
    assert unlocked.exit_code == 0, unlocked.output
    assert any(args[0] == "cancel" for args, _ in fake.calls)
    assert "stack small-shop is unlocked" in unlocked.stdout
