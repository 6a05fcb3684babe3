"""HostCredentials: the vault's key and the repository password, delivered over SSH, never in user data."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
from pulumi_command import remote

from redundo.agent import CONF_DIR, ENV_FILE

# Wait for cloud-init (restic and the agent are installed by it) before touching the host.
_WAIT = "sudo cloud-init status --wait >/dev/null 2>&1 || true"


class HostCredentialsArgs(TypedDict):
    host: pulumi.Input[str]
    """Address of the host."""
    user: str
    """The image's default sudo user (debian on OVH, admin on Lightsail)."""
    env_file: pulumi.Input[str]
    """The text of /etc/redundo/restic.env (secret)."""
    init_env: NotRequired[pulumi.Input[str]]
    """Environment for the one-time `restic init` (secret); absent on hosts that only read."""
    private_key: NotRequired[pulumi.Input[str]]
    """SSH private key (secret); without it the deployer's ssh-agent is used."""
    agent_socket_path: NotRequired[pulumi.Input[str]]
    """The deployer's ssh-agent socket."""


class HostCredentials(pulumi.ComponentResource):
    """Writes the root-only env file the agent reads and, on the primary, creates the repository once.

    Instance metadata (user data) is readable by any process on the host and kept by the cloud
    provider; a root-only file written over SSH is readable by root alone. The secrets travel on
    the command's stdin, so they appear in no command line and no log.
    """

    def __init__(self, name: str, args: HostCredentialsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redundo:index:HostCredentials", name, None, opts)
        connection: dict[str, pulumi.Input[str | int]] = {"host": args["host"], "user": args["user"],
                                                          "dial_error_limit": 30}
        if args.get("private_key"):
            connection["private_key"] = args["private_key"]
        elif args.get("agent_socket_path"):
            connection["agent_socket_path"] = args["agent_socket_path"]
        env = remote.Command(
            f"{name}-env-file",
            connection=connection,
            create=f"{_WAIT}; sudo install -d -m 0700 {CONF_DIR} && sudo install -m 0600 -o root -g root "
                   f"/dev/stdin {ENV_FILE}",
            delete=f"sudo rm -f {ENV_FILE}",
            stdin=args["env_file"],
            triggers=[args["env_file"]],
            logging=remote.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.get("init_env"):
            # Exactly once, at provisioning: the agent never creates a repository itself.
            remote.Command(
                f"{name}-repository-init",
                connection=connection,
                create=f"{_WAIT}; set -a; . /dev/stdin; set +a; "
                       "if restic cat config >/dev/null 2>&1; then echo repository exists; else restic init; fi",
                stdin=args["init_env"],
                logging=remote.Logging.STDOUT,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[env]),
            )
        self.register_outputs({})
