"""Running the hosts' own scripts over SSH, for drills on a deployed stack. The one seam tests mock."""

from __future__ import annotations

import shlex
import subprocess

from redundo.errors import OperationError

__all__ = ["ssh_run"]


def ssh_run(host: str, user: str, command: list[str], *, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """Run `command` as root through sudo on `host`, with the deployer's SSH key or agent."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", f"{user}@{host}",
            "sudo " + " ".join(shlex.quote(part) for part in command)]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise OperationError("ssh is not installed; install openssh-client") from None
    except subprocess.TimeoutExpired:
        raise OperationError(f"the drill on {host} did not finish in {timeout:.0f} s") from None
