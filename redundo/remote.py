"""Running the hosts' own scripts over SSH, for drills on a deployed stack. The one seam tests mock.

Every connection checks the host's key against the one pinned in the stack's state: each host's
ed25519 key is read once, right after it boots, by the provisioning step (`AgentInstall`) and
exported as `primaryHostKey` / `standbyHostKey`. Nothing here ever trusts a key on first sight.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass

from redundo.agent import BIN_DIR
from redundo.errors import OperationError

# The active node's last backup before the site moves away from it: the shipped script
# `redundo-last-backup` (redundo/agent/), which waits for a backup, prune or verify already running,
# takes a new backup and prints its snapshot id. LAST_BACKUP_WAIT bounds its wait.
LAST_BACKUP_WAIT = 1800
LAST_BACKUP = [f"{BIN_DIR}/redundo-last-backup", "--wait", str(LAST_BACKUP_WAIT)]

__all__ = [
    "LAST_BACKUP",
    "LAST_BACKUP_WAIT",
    "Served",
    "fingerprint",
    "known_hosts_line",
    "serve_check",
    "ssh_run",
    "wait_until_serving",
]


def fingerprint(host_key: str) -> str:
    """The SHA256 fingerprint OpenSSH prints for an authorized_keys-style public key line."""
    try:
        blob = base64.b64decode(host_key.split()[1], validate=True)
    except (IndexError, ValueError):
        return "unreadable key"
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def known_hosts_line(host: str, host_key: str, port: int = 22) -> str:
    """One known_hosts line pinning `host_key` ("ssh-ed25519 AAAA... [comment]") for host:port."""
    parts = host_key.split()
    if len(parts) < 2:
        raise OperationError(f"the pinned SSH host key of {host} is not a public key line; run `redundo up` again")
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {parts[0]} {parts[1]}\n"


def ssh_run(
    host: str,
    user: str,
    command: list[str],
    *,
    host_key: str | None,
    port: int = 22,
    identity: str | None = None,
    timeout: float = 3600,
) -> subprocess.CompletedProcess[str]:
    """Run `command` as root through sudo on `host`, with the deployer's SSH key or agent.

    The host must present `host_key` (pinned at provisioning); any other key is refused.
    """
    if not host_key:
        raise OperationError(f"no SSH host key is pinned for {host}; run `redundo up` so the stack records it")
    with tempfile.TemporaryDirectory(prefix="redundo-ssh-") as scratch:
        known = os.path.join(scratch, "known_hosts")
        with open(known, "w", encoding="utf-8") as out:
            out.write(known_hosts_line(host, host_key, port))
        # ServerAlive: a command may run silently for a long time (a backup), and a NAT on the
        # way would drop an idle connection.
        argv = [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "ServerAliveInterval=30",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            f"HostKeyAlgorithms={host_key.split()[0]}",
            "-o",
            "UpdateHostKeys=no",
            "-o",
            "LogLevel=ERROR",
            "-p",
            str(port),
        ]
        if identity:
            argv += ["-i", identity, "-o", "IdentitiesOnly=yes"]
        argv += [f"{user}@{host}", "sudo " + " ".join(shlex.quote(part) for part in command)]
        try:
            done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise OperationError("ssh is not installed; install openssh-client") from None
        except subprocess.TimeoutExpired:
            raise OperationError(f"the command on {host} did not finish in {timeout:.0f} s") from None
    if done.returncode == 255 and "Host key verification failed" in done.stderr:
        raise OperationError(
            f"{host} did not present the SSH host key pinned when it was provisioned ({fingerprint(host_key)}); "
            "refusing to connect: if the host was rebuilt on purpose, `redundo up` pins its new key"
        )
    return done


@dataclass(frozen=True)
class Served:
    """What a node's take-over check found: a known page of the restored site and the database's rows."""

    path: str
    sha256: str
    db_rows: int


def serve_check(
    host: str, user: str, *, host_key: str | None, port: int = 22, identity: str | None = None, timeout: float = 300
) -> Served:
    """Run the node's own take-over check over SSH (`redundo-serve-check --json`)."""
    import json

    done = ssh_run(
        host,
        user,
        [f"{BIN_DIR}/redundo-serve-check", "--json"],
        host_key=host_key,
        port=port,
        identity=identity,
        timeout=timeout,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise OperationError(f"{host} does not serve the restored site: {last}")
    try:
        found = json.loads(done.stdout)
        return Served(found["path"], found["sha256"], int(found["db_rows"]))
    except (ValueError, KeyError, TypeError):
        raise OperationError(
            f"{host} answered the take-over check with something else than its report; "
            "run `redundo up` so it has the current agent"
        ) from None


def wait_until_serving(
    address: str, host_name: str, *, expect: Served | None = None, timeout: float = 600, every: float = 5
) -> float | None:
    """Seconds until http://address/ answers for `host_name`, or None.

    With `expect`, the answer must be the known page of the restored site, byte for byte (checked
    against its sha256); without, any status below 500.
    """
    import time
    import urllib.error
    import urllib.request

    path = expect.path if expect else "/"
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        request = urllib.request.Request(f"http://{address}{path}", headers={"Host": host_name or address})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the http:// URL above
                if expect is None or hashlib.sha256(answer.read()).hexdigest() == expect.sha256:
                    return time.monotonic() - start
        except urllib.error.HTTPError as exc:
            if expect is None and exc.code < 500:
                return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(every)
    return None
