"""An interrupted `up` leaves a clear next step, and the next `up` runs on a clean state."""

from __future__ import annotations

from tests.cli.test_guard import PRIMARY_URN, _verbs
from tests.cli.test_up import call, fake, invoke, project  # noqa: F401  (fixtures)

CREATING_PRIMARY = {
    "type": "creating",
    "resource": {"urn": PRIMARY_URN, "type": "ovh:CloudProject/instance:Instance", "custom": True},
}


def test_interrupted_up_says_what_to_run_and_the_next_up_completes_once(project, fake):
    fake.interrupt = {"up": [CREATING_PRIMARY]}
    first = invoke(project, "up", "--tier", "basic", "--yes")
    assert first.exit_code == 130
    assert first.stderr.strip() == (
        "error: interrupted during `up` of stack 'small-shop': run `redundo up --stack "
        "small-shop` again; it says whether the update left a lock (`redundo cancel`) "
        "or unfinished operations (`redundo refresh`)"
    )
    assert fake.pending == [CREATING_PRIMARY]  # the fault happened: the engine's state holds an unfinished create

    fake.calls.clear()
    second = invoke(project, "up", "--tier", "basic", "--yes")
    assert second.exit_code == 1
    assert second.stderr.strip() == (
        "error: the last update of stack 'small-shop' was interrupted during creating of small-shop-primary-instance; "
        "run `redundo refresh --stack small-shop` (it reads what exists in the clouds and clears the unfinished "
        "operations), then `redundo up` again"
    )
    assert _verbs(fake) == []  # nothing previewed or sent on a state with unfinished operations

    refreshed = invoke(project, "refresh", "--yes")
    assert refreshed.exit_code == 0, refreshed.output
    assert "--clear-pending-creates" in call(fake, "refresh")[0]
    assert fake.pending == []
    assert "interrupted while creating small-shop-primary-instance: it may exist in the cloud" in " ".join(
        refreshed.stdout.split()
    )

    fake.calls.clear()
    third = invoke(project, "up", "--tier", "basic", "--yes")
    assert third.exit_code == 0, third.output
    assert _verbs(fake) == ["preview", "up"]


def test_locked_stack_points_at_cancel_then_cancel_unlocks(project, fake):
    fake.fail = {
        "preview": "the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
        "to end or delete the lock file with `pulumi cancel`."
    }
    locked = invoke(project, "up", "--tier", "basic", "--yes")
    assert locked.exit_code == 1
    assert locked.stderr.strip() == (
        "error: stack 'small-shop' is locked by another update; if none is running (an interrupted `up` leaves its "
        "lock), run `redundo cancel --stack small-shop`, then `redundo refresh --stack small-shop`, then this again"
    )
    assert _verbs(fake) == ["preview"]
    fake.fail = {}
    unlocked = invoke(project, "cancel", "--yes")
    assert unlocked.exit_code == 0, unlocked.output
    assert any(args[0] == "cancel" for args, _ in fake.calls)
    assert "stack small-shop is unlocked" in unlocked.stdout


def test_interrupted_failover_preview_puts_the_side_back_and_says_nothing_was_sent(project, fake, mocker):
    from tests.cli.test_up import _switch_fake

    _switch_fake(fake)
    fake.interrupt = {"preview": []}
    result = invoke(project, "failover", "--yes")
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        "error: interrupted during the failover's preview of stack 'small-shop'; "
        "nothing was sent and the stack still serves from its primary"
    )
    assert "up" not in _verbs(fake)
    # The side recorded before the preview went back, so that a routine `redundo up` does not fail over.
    sides = [a[-1] for a, _ in fake.calls if a[:3] == ["config", "set", "redundo:activeSide"]]
    assert sides == ["standby", "primary"]


def test_interrupted_failover_update_says_up_finishes_it(project, fake, mocker):
    from tests.cli.test_up import _switch_fake

    _switch_fake(fake)
    fake.interrupt = {"up": []}
    result = invoke(project, "failover", "--yes")
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        "error: interrupted during the failover of stack 'small-shop', which now records its standby as active: run "
        "`redundo up --stack small-shop` to finish it (it says whether the update left a lock, `redundo cancel`, "
        "or unfinished operations, `redundo refresh`)"
    )
    assert [a[-1] for a, _ in fake.calls if a[:3] == ["config", "set", "redundo:activeSide"]] == ["standby"]
