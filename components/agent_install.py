"""AgentInstall: first contact with a host over SSH (pins its host key), then the agent bundle, versioned."""

from __future__ import annotations

from typing import Any, Mapping, NotRequired, TypedDict

import pulumi
from pulumi_command import remote

# Wait for cloud-init (packages and host keys come from it) before touching the host.
WAIT = "sudo cloud-init status --wait >/dev/null 2>&1 || true"
HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key.pub"


def ssh_connection(args: Mapping[str, Any]) -> dict[str, pulumi.Input]:
    """pulumi-command's connection from a component's host, user, port, key or agent socket, and pinned host key."""
    connection: dict[str, pulumi.Input] = {"host": args["host"], "user": args["user"], "dial_error_limit": 30}
    for key in ("port", "host_key"):
        if args.get(key):
            connection[key] = args[key]
    if args.get("private_key"):
        connection["private_key"] = args["private_key"]
    elif args.get("agent_socket_path"):
        connection["agent_socket_path"] = args["agent_socket_path"]
    return connection


class AgentInstallArgs(TypedDict):
    host: pulumi.Input[str]
    """Address of the host."""
    user: str
    """The sudo user to log in as (debian on OVH, admin on Lightsail, the client's on an adopted server)."""
    private_key: NotRequired[pulumi.Input[str]]
    """SSH private key (secret); without it the deployer's ssh-agent is used."""
    agent_socket_path: NotRequired[pulumi.Input[str]]
    """The deployer's ssh-agent socket."""
    port: NotRequired[int]
    """SSH port (22)."""
    bundle: NotRequired[pulumi.Input[str]]
    """The agent bundle's install script (`AgentBundle.script()`), run as root from stdin; nothing secret."""
    bundle_digest: NotRequired[pulumi.Input[str]]
    """The bundle's content hash (with redundo's version): the step runs again whenever it changes."""
    hold: NotRequired[bool]
    """Leave the host as it is (it may have burned): a changed bundle is not sent until the flag clears."""


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
        read_key = remote.Command(
            f"{name}-host-key",
            connection=base,
            create=f"{WAIT}; cat {HOST_KEY_FILE}",
            logging=remote.Logging.STDOUT,
            opts=pulumi.ResourceOptions(parent=self),
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
                # A failover must never wait on the old node: its bundle stays as last delivered.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[read_key],
                                            ignore_changes=["stdin", "triggers"] if args.get("hold") else None),
            )
            self.done = install.stdout
        self.register_outputs({"host_key": self.host_key})
