"""A private OpenSSH server for tests: 127.0.0.1, a free port, its own host key and one authorized key.

    from tests.sshd import sshd  # noqa: F401  (pytest fixture)

    def test_something(sshd):
        sshd.host_key        # "ssh-ed25519 AAAA..." the server presents
        sshd.identity        # the client's private key file, authorized for sshd.user

The server runs from its own temporary directory and is stopped at teardown. It logs in the user
running the tests (root under CI). Under `CI=true` a missing sshd fails the test; elsewhere it skips.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Sshd", "keygen", "sshd", "start_sshd"]

START_TIMEOUT = 30.0


def _require(program: str, *extra_dirs: str) -> str:
    found = shutil.which(program) or next(
        (f"{d}/{program}" for d in extra_dirs if os.access(f"{d}/{program}", os.X_OK)), None
    )
    if found is None:
        message = f"{program} is not installed (see .ci/apt.d/ssh.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def keygen(path: Path, comment: str = "redundo-test") -> str:
    """A fresh ed25519 key pair at path (private) and path.pub; returns the public key line."""
    subprocess.run(
        [_require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Sshd:
    port: int
    host_key: str
    """The public key line of the key the server presents."""
    identity: Path
    """A private key authorized to log in as `user`."""
    user: str
    directory: Path
    host: str = "127.0.0.1"


def start_sshd(directory: Path, *, sudo_ok: bool = True) -> tuple[Sshd, subprocess.Popen]:
    sshd_bin = _require("sshd", "/usr/sbin")
    host_key_file = directory / "ssh_host_ed25519_key"
    host_key = keygen(host_key_file, "root@redundo-test-host")
    identity = directory / "client_key"
    (directory / "authorized_keys").write_text(keygen(identity) + "\n")
    port = _free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key_file}",
                f"PidFile {directory / 'sshd.pid'}",
                f"AuthorizedKeysFile {directory / 'authorized_keys'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
                "",
            ]
        )
    )
    # sshd refuses to start without its privilege-separation directory (Debian makes it at boot).
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = directory / "sshd.log"
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError(f"sshd did not listen in {START_TIMEOUT:.0f} s: {log.read_text()[-2000:]}")
    return Sshd(port, host_key, identity, getpass.getuser(), directory), proc


@pytest.fixture
def sshd() -> Iterator[Sshd]:
    with tempfile.TemporaryDirectory(prefix="redundo-sshd-") as scratch:
        server, proc = start_sshd(Path(scratch))
        try:
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
