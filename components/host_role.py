"""HostRole: what a node does (back up, follow, or wait) and the vault key it needs, set over SSH."""

from __future__ import annotations

import shlex
from typing import NotRequired, TypedDict

import pulumi
from pulumi_command import remote
from redundo.components.agent_install import ssh_connection

from redundo.agent import BIN_DIR, CONF_DIR, ENV_FILE, STATE_DIR

RESTORE_SERVICE = "redundo-restore.service"
WATCHDOG_SERVICE = "redundo-watchdog.service"

# The last switch token this host completed: a switch step that runs again for the same token (a
# command re-created by an upgrade of redundo, a state rebuilt) must not restore over the live site.
SWITCH_TOKEN_FILE = f"{STATE_DIR}/switch.token"
TOOK_OVER_MARKER = f"{STATE_DIR}/watchdog.took-over"
"""Left by the watchdog once it has restored here and moved the site's name to this host."""
MOVING_NAME_MARKER = f"{STATE_DIR}/watchdog.moving-name"
"""Left by the watchdog once it has restored here, checked that it serves, and begun to move the name."""

# Wait for cloud-init (restic and the agent are installed by it) before touching the host.
_WAIT = "sudo cloud-init status --wait >/dev/null 2>&1 || true"
# How long a switch waits for a run of the agent under way on the host (a follow restore, the
# watchdog's take-over, which may itself wait for a follow restore) before it gives up with a line
# saying what to do.
_BUSY_LIMIT = 7200


def _wait_until_idle(unit: str, what: str) -> str:
    """Shell (sh and bash): wait, bounded, until the oneshot `unit` no longer runs; a line a minute."""
    # In braces: the switch's steps are joined with &&, which the loop's own `;` would cut.
    return (
        f"{{ i=0; while :; do st=$(sudo systemctl show -p ActiveState --value {unit}) || "
        f'{{ echo "could not read the state of {unit}: run the same redundo command again" >&2; exit 1; }}; '
        'case "$st" in activating|deactivating) ;; *) break ;; esac; '
        f'if [ $i -ge {_BUSY_LIMIT} ]; then echo "{what} ({unit}) still runs after {_BUSY_LIMIT} s: wait for it '
        f'to end (systemctl status {unit}), then run the same redundo command again" >&2; exit 1; fi; '
        f'if [ $((i % 60)) -eq 0 ]; then echo "{what} ({unit}) is under way: waiting for it to end"; fi; '
        "i=$((i + 1)); sleep 1; done; }"
    )


class HostRoleArgs(TypedDict):
    host: pulumi.Input[str]
    """Address of the host."""
    user: str
    """The image's default sudo user (debian on OVH, admin on Lightsail)."""
    env_file: pulumi.Input[str]
    """The text of /etc/redundo/restic.env: the key this role needs and the repository password (secret)."""
    timers_on: list[str]
    """systemd timers this role runs."""
    timers_off: list[str]
    """systemd timers this role must not run."""
    take_over: NotRequired[bool]
    """Restore the newest snapshot into the live site (and verify it) before the timers start."""
    take_over_token: NotRequired[str]
    """Changes whenever a new take-over is wanted (a failover or failback): only then does the switch step run again."""
    clear_on_switch: NotRequired[list[str]]
    """Files removed on this node whenever the token changes (the watchdog's state), before the timers start."""
    init_env: NotRequired[pulumi.Input[str]]
    """Environment for the one-time `restic init` (secret); only on the node that first backs up."""
    host_key: NotRequired[pulumi.Input[str]]
    """The host's public key pinned at first contact (AgentInstall); any other key is refused."""
    after: NotRequired[list[pulumi.Resource]]
    """Steps that must be done first on this host, such as the agent's install (AgentInstall)."""
    private_key: NotRequired[pulumi.Input[str]]
    """SSH private key (secret); without it the deployer's ssh-agent is used."""
    port: NotRequired[int]
    """SSH port (22)."""


class HostRole(pulumi.ComponentResource):
    """Writes the root-only env file the scripts read and switches the node's timers.

    Instance metadata (user data) is readable by any process on the host and kept by the cloud
    provider; a root-only file written over SSH is readable by root alone. The secrets travel on
    each command's stdin, so they appear in no command line and no log. No command has a delete
    step: a failover must never wait on SSH to a node that has burned.
    """

    done: pulumi.Output[str]
    """Resolves once the role is in place (the failover record waits on it)."""

    def __init__(self, name: str, args: HostRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redundo:index:HostRole", name, None, opts)
        connection = ssh_connection(args)
        env = remote.Command(
            f"{name}-env-file",
            connection=connection,
            create=f"{_WAIT}; sudo install -d -m 0700 {CONF_DIR} && sudo install -m 0600 -o root -g root "
            f"/dev/stdin {ENV_FILE}",
            stdin=args["env_file"],
            triggers=[args["env_file"]],
            logging=remote.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.get("after", []))),
        )
        depends: list[pulumi.Resource] = [env]
        if args.get("init_env"):
            # Exactly once, at provisioning: the agent never creates a repository itself.
            depends.append(
                remote.Command(
                    f"{name}-repository-init",
                    connection=connection,
                    create=f"{_WAIT}; set -a; . /dev/stdin; set +a; "
                    "if restic --no-lock cat config >/dev/null 2>&1; then echo repository exists; else restic init; fi",
                    stdin=args["init_env"],
                    logging=remote.Logging.STDOUT,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[env]),
                )
            )
        token = args.get("take_over_token", "")
        off = "sudo systemctl disable --now " + " ".join(args["timers_off"]) if args["timers_off"] else ""
        switch_steps = [_WAIT]
        if token:
            switch_steps.append(
                f'if [ "$(sudo cat {SWITCH_TOKEN_FILE} 2>/dev/null)" = {shlex.quote(token)} ]; '
                f'then echo "switch {token} was already done on this host"; exit 0; fi'
            )
        switch_steps += ["sudo systemctl daemon-reload"] + ([off] if off else [])
        if args.get("take_over"):
            # The timers are off; a watchdog run already going may be mid-take-over (a failover run
            # while it restores): it is waited for, so that it has finished or given up for good.
            switch_steps.append(_wait_until_idle(WATCHDOG_SERVICE, "the watchdog's take-over"))
            if off:
                # That run may have turned the follow timer on again (the primary answered): off again.
                switch_steps.append(off)
            # A host whose watchdog already took over serves the site, with orders newer than any
            # snapshot: `redundo failover` then only records it, and never restores over it. So
            # too when the watchdog restored, checked and began to move the name, but broke off.
            switch_steps.append(
                f"took_over=$(sudo test -e {TOOK_OVER_MARKER} -o -e {MOVING_NAME_MARKER} && echo yes || true)"
            )
        if args.get("clear_on_switch"):
            switch_steps.append("sudo rm -f " + " ".join(args["clear_on_switch"]))
        if args.get("take_over"):
            # `systemctl start` on a oneshot unit already running joins that run: a follow restore
            # its timer began before the switch would pass for this restore, with the snapshot it
            # picked then. So a run under way is waited for. restore --live verifies every file and
            # the database before it returns.
            switch_steps.append(
                'if [ "$took_over" = yes ]; then echo "this host took over on its own and serves '
                'the site: no restore over it"; else '
                f"{_wait_until_idle(RESTORE_SERVICE, 'a follow restore')}; "
                f"sudo systemctl start {RESTORE_SERVICE}; fi"
            )
            # Complete only when this node serves the restored site for its name: a known page byte
            # for byte and the database's rows, checked before the site's name moves here.
            switch_steps.append(f"sudo {BIN_DIR}/redundo-serve-check")
        if token:
            switch_steps += [
                f"sudo install -d -m 0755 {STATE_DIR}",
                f"printf '%s\\n' {shlex.quote(token)} | sudo tee {SWITCH_TOKEN_FILE} >/dev/null",
            ]
        if args.get("take_over") or (args.get("clear_on_switch") and token):
            # Its own command, replaced only by a new token: any other change (connection, role,
            # env file) is an update, and "true" as the update never restores over the live site again.
            depends.append(
                remote.Command(
                    f"{name}-switch",
                    connection=connection,
                    create=" && ".join(switch_steps),
                    update="true",
                    triggers=[token],
                    logging=remote.Logging.STDOUT_AND_STDERR,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends)),
                )
            )
        steps = [_WAIT, "sudo systemctl daemon-reload"] + ([off] if off else [])
        if args["timers_on"]:
            steps.append("sudo systemctl enable --now " + " ".join(args["timers_on"]))
        role = remote.Command(
            f"{name}-timers",
            connection=connection,
            create=" && ".join(steps),
            triggers=[" ".join(args["timers_on"]), token],
            logging=remote.Logging.STDOUT_AND_STDERR,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        self.done = role.stdout
        self.register_outputs({})
