"""Failover and failback: move the site to the other node, as `redundo failover` / `failback` and
the rehearsal both do it (one path, so the rehearsal proves what a user runs)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from redundo.errors import OperationError

if TYPE_CHECKING:
    from redundo.deploy import Target
    from redundo.settings import Side, StackSettings

__all__ = ["LastBackup", "Printer", "Reach", "SwitchResult", "failback", "failover", "refuse_if_active", "switch_steps"]


class Printer(Protocol):
    """Takes the update's engine events (the CLI prints them); `failed` lists the resources that failed."""

    failed: list[tuple[str, str]]

    def __call__(self, event: Any) -> None: ...


def _direct_ssh(address: str) -> tuple[str, int]:
    return address, 22


def _direct_http(address: str) -> str:
    return address


@dataclass(frozen=True)
class Reach:
    """How redundo reaches a node by its public address: directly in production; through local
    forwards in the rehearsal, whose guests have documentation addresses."""

    ssh: Callable[[str], tuple[str, int]] = _direct_ssh
    """The (host, port) to dial for a node's SSH."""
    http: Callable[[str], str] = _direct_http
    """The host[:port] to ask for a node's web pages (with the site's Host header)."""
    identity: str | None = None
    """The deployer's private key file; None uses ssh's own (agent, ~/.ssh)."""


@dataclass(frozen=True)
class LastBackup:
    """The last backup taken on the node the site leaves."""

    snapshot: str
    waited_for: str = ""
    """The unit that was already running and waited for (its run began before the ask), or ""."""


@dataclass
class SwitchResult:
    """What a failover or failback did."""

    side: str
    summary: Any
    outputs: dict[str, Any]
    failed: bool
    """The update reported failed resources (the printer lists them); the serve check did not run."""
    last_backup: LastBackup | None = None
    removed: list[str] = field(default_factory=list)
    """Resources taken out of the state to be built again (--rebuild-primary)."""
    address: str | None = None
    update_seconds: float = 0.0
    served_seconds: float | None = None


def switch_steps(settings: StackSettings, side: str, *, rebuild_primary: bool = False) -> list[str]:
    """What a switch to `side` does, in order, for the user to read before it starts."""
    tier = settings.tier
    site = settings.domain or "the site"
    if side == "standby":
        bring_up = (
            "create the standby (it is cold)"
            if tier.standby_mode == "cold"
            else f"use the running {tier.standby_mode} standby"
        )
        node = f"standby in {settings.standby_location.region} ({settings.standby_location.city})"
    else:
        bring_up = (
            "refresh the state from the clouds (if the primary instance is lost, run with --rebuild-primary: "
            "refresh cannot drop it and it is protected)"
        )
        node = f"primary in {settings.primary_location.region} ({settings.primary_location.city})"
    if rebuild_primary:
        bring_up = (
            "remove the lost primary instance, and the commands that ran on it, from the state (it is "
            "protected and OVH cannot refresh a deleted instance), then build a new one"
        )
    steps = [
        bring_up,
        f"give the {node} the writer key, restore the newest snapshot there and verify every file",
        f"start the backups on it and point {site} at it (TTL {tier.dns_ttl_seconds} s); "
        "the record's update refreshes the OVH zone",
    ]
    if side == "primary":
        steps.insert(0, "take a last backup on the standby (after any backup, prune or check running there)")
    return steps


def refuse_if_active(settings: StackSettings, side: str) -> None:
    """A switch to the side that already serves is a mistake (or an interrupted switch): say which."""
    if settings.active_side == side:
        verb, other = ("failover", "failback") if side == "standby" else ("failback", "failover")
        raise OperationError(
            f"stack {settings.stack!r} already serves from its {side} (if that {verb} "
            f"was interrupted, `redundo up --stack {settings.stack}` finishes it); "
            f"did you mean `redundo {other}`?"
        )


def failover(
    target: Target,
    *,
    printer: Printer,
    say: Callable[[str], None] = lambda line: None,
    reach: Reach = Reach(),
    allow_replace: Iterable[str] = (),
) -> SwitchResult:
    """Make the standby the active node: bring it up, restore and verify there, repoint the site;
    done when the standby serves the restored site."""
    return _switch(target, "standby", printer=printer, say=say, reach=reach, allow_replace=allow_replace)


def failback(
    target: Target,
    *,
    printer: Printer,
    say: Callable[[str], None] = lambda line: None,
    reach: Reach = Reach(),
    allow_replace: Iterable[str] = (),
    rebuild_primary: bool = False,
) -> SwitchResult:
    """Move the site back to the primary: a last backup on the standby first (it has taken the
    site's writes), then the primary (rebuilt if lost) restores it; done when the primary serves."""
    return _switch(
        target,
        "primary",
        printer=printer,
        say=say,
        reach=reach,
        allow_replace=allow_replace,
        rebuild_primary=rebuild_primary,
    )


def _ssh_user(settings: StackSettings, side: str) -> str:
    from redundo.components.redundant_site import SSH_USERS

    return SSH_USERS[settings.standby_provider] if side == "standby" else SSH_USERS["ovh"]


def _last_backup(target: Target, reach: Reach) -> LastBackup:
    """The standby's last backup, through the shipped `redundo-last-backup`."""
    from redundo import deploy, remote
    from redundo.agent import backup_timeout_seconds

    settings = target.settings
    outputs = deploy.outputs(target)
    address = outputs.get("standbyIpv4", (None, False))[0]
    if not address:
        raise OperationError(f"stack {settings.stack!r} reports no standby address; cannot take a last backup")
    host, port = reach.ssh(address)
    done = remote.ssh_run(
        host,
        _ssh_user(settings, "standby"),
        remote.LAST_BACKUP,
        host_key=outputs.get("standbyHostKey", (None, False))[0],
        port=port,
        identity=reach.identity,
        timeout=remote.LAST_BACKUP_WAIT + backup_timeout_seconds(settings.tier) + 300,
    )
    if done.returncode != 0:
        raise OperationError(
            "the last backup on the standby failed, so the primary would restore old data: "
            f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}"
        )
    snapshot = done.stdout.strip()
    if not snapshot:
        raise OperationError("the last backup on the standby printed no snapshot; the failback stops here")
    waited = next((line.split()[0] for line in done.stderr.splitlines() if "is already running" in line), "")
    return LastBackup(snapshot, waited)


def _switch(
    target: Target,
    side: Side,
    *,
    printer: Printer,
    say: Callable[[str], None],
    reach: Reach,
    allow_replace: Iterable[str],
    rebuild_primary: bool = False,
) -> SwitchResult:
    from redundo import deploy, remote

    settings = target.settings
    verb = "failover" if side == "standby" else "failback"
    refuse_if_active(settings, side)
    started = time.monotonic()
    last = None
    if side == "primary":
        say("taking a last backup on the standby (after any backup, prune or check running there) ...")
        last = _last_backup(target, reach)
        say(f"last backup taken: snapshot {last.snapshot[:8]}")
    removed: list[str] = []
    if rebuild_primary:
        removed = deploy.forget_lost_primary(target)
        say("removed from the state (to be built again): " + ", ".join(urn.rsplit("::", 1)[-1] for urn in removed))
    token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    update = deploy.switch(target, side, token, printer, refresh=side == "primary", allow_replace=tuple(allow_replace))
    # The stack now records `side` as active: so does this target, for a caller that goes on with it.
    target.settings = replace(settings, active_side=side, switched_at=token)
    result = SwitchResult(
        side=side,
        summary=update.summary,
        outputs=update.outputs,
        failed=bool(printer.failed),
        last_backup=last,
        removed=removed,
        update_seconds=time.monotonic() - started,
    )
    if result.failed:
        return result
    address_output = update.outputs.get("standbyIpv4" if side == "standby" else "primaryIpv4")
    result.address = address_output.value if address_output is not None else None
    key_output = update.outputs.get("standbyHostKey" if side == "standby" else "primaryHostKey")
    if result.address is None:
        raise OperationError(f"the {verb}'s update reports no address for the {side}; run `redundo up` again")
    # Complete only when the node serves the restored site: its own check (a known page and the
    # database's rows), then the same page fetched from here, byte for byte.
    host, port = reach.ssh(result.address)
    expect = remote.serve_check(
        host,
        _ssh_user(settings, side),
        host_key=key_output.value if key_output else None,
        port=port,
        identity=reach.identity,
    )
    result.served_seconds = remote.wait_until_serving(reach.http(result.address), settings.domain, expect=expect)
    if result.served_seconds is None:
        raise OperationError(
            f"the {side} at {result.address} did not serve the restored site over HTTP after the update "
            f"({result.update_seconds:.0f} s); check the web server and firewall there"
        )
    return result
