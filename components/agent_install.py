"""AgentInstall: first contact with a host over SSH; pins its host key for every later connection."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
from pulumi_command import remote

# Wait for cloud-init (packages and host keys come from it) before touching the host.
WAIT = "sudo cloud-init status --wait >/dev/null 2>&1 || true"
HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key.pub"


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


class AgentInstall(pulumi.ComponentResource):
    """Reads the host's ed25519 key once, right after it boots, and hands out a connection pinned to it.

    pulumi-command checks a host key only when one is given (`connection.hostKey`, parsed as an
    authorized_keys line), and the OVH and Lightsail providers expose no host key, so the first
    contact is trust on first use over the provisioning channel: it carries no secret and only
    reads the public key. Every later command, and `redundo`'s own SSH (drills, failback), is then
    refused by any other key.
    """

    host_key: pulumi.Output[str]
    """The host's `ssh-ed25519 AAAA...` public key, as read at first contact."""

    def __init__(self, name: str, args: AgentInstallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redundo:index:AgentInstall", name, None, opts)
        base: dict[str, pulumi.Input] = {"host": args["host"], "user": args["user"], "dial_error_limit": 30}
        if args.get("port"):
            base["port"] = args["port"]
        if args.get("private_key"):
            base["private_key"] = args["private_key"]
        elif args.get("agent_socket_path"):
            base["agent_socket_path"] = args["agent_socket_path"]
        read_key = remote.Command(
            f"{name}-host-key",
            connection=base,
            create=f"{WAIT}; cat {HOST_KEY_FILE}",
            logging=remote.Logging.STDOUT,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.host_key = read_key.stdout.apply(lambda text: " ".join(text.split()[:2]))
        self.register_outputs({"host_key": self.host_key})
