"""AgentInstall: first contact with a host over SSH (pins its host key), then the agent bundle, versioned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi
from pulumi_command import remote

# Wait for cloud-init (packages and host keys come from it) before touching the host.
WAIT = "sudo cloud-init status --wait >/dev/null 2>&1 || true"
HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key.pub"
# What a held host's commands ignore: any change would re-run them against a node that may be gone.
HELD = ["connection", "stdin", "triggers", "create"]


def ssh_connection(args: Mapping[str, Any]) -> remote.ConnectionArgsDict:
    """pulumi-command's connection from a component's host, user, port, key, and pinned host key.

    Without a private key the deployer's ssh-agent is used: pulumi-command reads SSH_AUTH_SOCK itself
    when neither a key nor a socket is given. The socket path is never an input: it changes with each
    login, and any changed connection re-runs every command (only `triggers` replaces; an update runs
    `create` again when there is no `update`).
    """
    connection: remote.ConnectionArgsDict = {"host": args["host"], "user": args["user"], "dial_error_limit": 30}
    if args.get("port"):
        connection["port"] = args["port"]
    if args.get("host_key"):
        connection["host_key"] = args["host_key"]
    if args.get("private_key"):
        connection["private_key"] = args["private_key"]
    return connection


class AgentInstallArgs(TypedDict):
    host: pulumi.Input[str]
    """Address of the host."""
    user: str
    """The sudo user to log in as (debian on OVH, admin on Lightsail, the client's on an adopted server)."""
    private_key: NotRequired[pulumi.Input[str]]
    """SSH private key (secret); without it the deployer's ssh-agent is used."""
    identity: NotRequired[pulumi.Input[str]]
    """What makes the host this host (instance id; address and port when adopted): a change reads the key again."""
    port: NotRequired[int]
    """SSH port (22)."""
    bundle: NotRequired[pulumi.Input[str]]
    """The agent bundle's install script (`AgentBundle.script()`), run as root from stdin; nothing secret."""
    bundle_digest: NotRequired[pulumi.Input[str]]
    """The bundle's content hash (with redundo's version): the step runs again whenever it changes."""
    hold: NotRequired[bool]
    """Leave the host as it is (it may have burned): neither command runs again, nor dials it, until the flag clears."""


class AgentInstall(pulumi.ComponentResource):
    """Pins the host's SSH key at first contact, then installs the agent bundle over that pinned channel.

    pulumi-command checks a host key only when one is given (`connection.hostKey`, parsed as an
    authorized_keys line), and the OVH and Lightsail providers expose no host key, so the first
    contact is trust on first use over the provisioning channel: it carries no secret and only
    reads the public key. Every later command, and `redundo`'s own SSH (drills, failback), is then
    refused by any other key.

    The bundle (scripts, settings, units, web configuration) is a shell archive on stdin whose
    trigger is its content hash: upgrading redundo or changing tier re-runs it on the running host,
    and the user data, which would replace the instance when changed, stays as it was. The same
    component installs the agent on a server redundo did not create (an adopted primary).
    """

    host_key: pulumi.Output[str]
    """The host's `ssh-ed25519 AAAA...` public key, as read at first contact."""
    done: pulumi.Output[str]
    """Resolves once the bundle is in place (role switches wait on it)."""

    def __init__(self, name: str, args: AgentInstallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redundo:index:AgentInstall", name, None, opts)
        base = ssh_connection(args)
        # A failover must never wait on the old node: whatever changes (connection, bundle, identity),
        # both commands keep what they last did there, and nothing dials it.
        held = HELD if args.get("hold") else None
        read_key = remote.Command(
            f"{name}-host-key",
            connection=base,
            create=f"{WAIT}; cat {HOST_KEY_FILE}",
            # A host rebuilt on the same address has a new key: read it again.
            triggers=[args.get("identity") or args["host"]],
            logging=remote.Logging.STDOUT,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=held),
        )
        self.host_key = read_key.stdout.apply(lambda text: " ".join(text.split()[:2]))
        self.done = self.host_key
        if args.get("bundle") is not None:
            install = remote.Command(
                f"{name}-install",
                connection={**base, "host_key": self.host_key},
                create=f"{WAIT} </dev/null; sudo bash -s",
                stdin=args["bundle"],
                triggers=[args.get("bundle_digest", "")],
                logging=remote.Logging.STDOUT_AND_STDERR,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[read_key], ignore_changes=held),
            )
            self.done = install.stdout
        self.register_outputs({"host_key": self.host_key})
