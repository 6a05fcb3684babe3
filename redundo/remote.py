"""Running the hosts' own scripts over SSH, for drills on a deployed stack. The one seam tests mock."""

from __future__ import annotations

import shlex
import subprocess

from redundo.errors import OperationError

__all__ = ["ssh_run", "wait_until_serving"]


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


def wait_until_serving(address: str, host_name: str, *, timeout: float = 600, every: float = 5) -> float | None:
    """Seconds until http://address/ answers for `host_name` (any status below 500), or None."""
    import time
    import urllib.error
    import urllib.request

    start = time.monotonic()
    while time.monotonic() - start < timeout:
        request = urllib.request.Request(f"http://{address}/", headers={"Host": host_name or address})
        try:
            with urllib.request.urlopen(request, timeout=10):
                return time.monotonic() - start
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(every)
    return None
