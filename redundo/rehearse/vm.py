"""One rehearsal host: a Debian guest under qemu's software emulation, booted from a NoCloud seed.

Why qemu and not systemd-nspawn, which boots about four times faster: a container shares the
host's network, so a "host" could reach anything this machine reaches, and destroying it would not
take its kernel, disk and addresses with it. A qemu guest has its own kernel, its own disk (an
overlay of the cached image, deleted when the host is destroyed) and user-mode networking with
`restrict=on`: it reaches nothing but the host services forwarded to it with `guestfwd`, and the
host reaches its SSH and web ports only through `hostfwd` on 127.0.0.1. KVM is never used: on
this machine a stock Debian kernel does not boot under it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from redundo.errors import OperationError
from redundo.rehearse.image import Image

__all__ = ["NETWORK", "Forward", "Guest", "free_port"]

# Every guest sits alone in its own user-mode network; addresses in it are the "public" addresses
# the rehearsal's cloud hands out (a documentation range: no packet ever leaves qemu).
NETWORK = "203.0.113.0/24"
GATEWAY = "203.0.113.2"
MEMORY_MB = int(os.environ.get("REDUNDO_REHEARSE_MEMORY_MB", "1280"))


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Forward:
    """A host service the guest may reach: guest_ip:guest_port inside, 127.0.0.1:host_port outside."""

    guest_ip: str
    guest_port: int
    host_port: int


@dataclass
class Guest:
    """A booted guest and everything it owns on the host (overlay disk, seed, console, process)."""

    name: str
    address: str
    """The guest's own address (from DHCP) and the public address the cloud reports for it."""
    image: Image
    user_data: bytes
    workdir: Path
    public_keys: list[str] = field(default_factory=list)
    """The instance's SSH keys, handed over as the cloud's metadata does (not in the user data)."""
    forwards: list[Forward] = field(default_factory=list)
    fw_cfg: dict[str, bytes] = field(default_factory=dict)
    """Files passed through qemu's firmware config (opt/redundo/NAME), never through user data."""
    ssh_port: int = 0
    http_port: int = 0
    https_port: int = 0
    process: subprocess.Popen | None = None
    started_at: float = 0.0

    @property
    def dir(self) -> Path:
        return self.workdir / self.name

    @property
    def console(self) -> Path:
        return self.dir / "console.log"

    def start(self) -> Guest:
        for tool in ("qemu-system-x86_64", "qemu-img", "cloud-localds", "socat"):
            if shutil.which(tool) is None:
                raise OperationError(
                    f"{tool} is not installed; install qemu-system-x86 qemu-utils cloud-image-utils "
                    "socat (see .ci/apt.d/rehearse.txt)"
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        overlay = self.dir / "disk.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(self.image.disk), str(overlay)],
            check=True,
        )
        (self.dir / "user-data").write_bytes(self.user_data)
        meta = f"instance-id: {self.name}\nlocal-hostname: {self.name}\n"
        if self.public_keys:
            meta += "public-keys:\n" + "".join(f"  - {key}\n" for key in self.public_keys)
        (self.dir / "meta-data").write_text(meta)
        subprocess.run(
            ["cloud-localds", str(self.dir / "seed.iso"), str(self.dir / "user-data"), str(self.dir / "meta-data")],
            check=True,
        )
        self.ssh_port, self.http_port, self.https_port = free_port(), free_port(), free_port()
        netdev = [
            f"user,id=n0,restrict=on,net={NETWORK},host={GATEWAY},dhcpstart={self.address}",
            f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22",
            f"hostfwd=tcp:127.0.0.1:{self.http_port}-:80",
            f"hostfwd=tcp:127.0.0.1:{self.https_port}-:443",
        ]
        # One socat per guest connection: qemu's chardev form of guestfwd takes a single connection.
        netdev += [
            f"guestfwd=tcp:{f.guest_ip}:{f.guest_port}-cmd:socat - TCP:127.0.0.1:{f.host_port}" for f in self.forwards
        ]
        argv = [
            "qemu-system-x86_64",
            "-accel",
            "tcg,thread=multi",
            "-cpu",
            "max",
            "-smp",
            "1",
            "-m",
            str(MEMORY_MB),
            "-no-reboot",
            "-display",
            "none",
            "-monitor",
            "none",
            "-nodefaults",
            "-kernel",
            str(self.image.kernel),
            "-initrd",
            str(self.image.initrd),
            "-append",
            "root=/dev/vda rw console=ttyS0 net.ifnames=0",
            "-drive",
            f"file={overlay},if=virtio,format=qcow2",
            "-drive",
            f"file={self.dir / 'seed.iso'},if=virtio,format=raw,readonly=on",
            "-netdev",
            ",".join(netdev),
            "-device",
            "virtio-net-pci,netdev=n0",
            "-serial",
            f"file:{self.console}",
        ]
        for name, data in self.fw_cfg.items():
            path = self.dir / f"fw-{name.replace('/', '_')}"
            path.write_bytes(data)
            argv += ["-fw_cfg", f"name=opt/redundo/{name},file={path}"]
        self.started_at = time.monotonic()
        # Its own process group, so that a Ctrl-C at the terminal reaches redundo, which stops it.
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "qemu.err", "wb"),
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def console_text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def host_keys(self) -> list[str]:
        """The host keys cloud-init printed on the serial console (`ssh-ed25519 AAAA...`)."""
        text = self.console_text()
        match = re.search(r"-----BEGIN SSH HOST KEY KEYS-----(.*?)-----END SSH HOST KEY KEYS-----", text, re.S)
        if not match:
            return []
        return [
            " ".join(line.split()[:2])
            for line in match.group(1).splitlines()
            if line.strip().startswith(("ssh-", "ecdsa-"))
        ]

    def booted_seconds(self) -> float | None:
        """Seconds from the guest's start to cloud-init's "finished" line on its console."""
        match = re.search(r"Cloud-init v\. \S+ finished at .*?Up ([0-9.]+) seconds", self.console_text())
        return float(match.group(1)) if match else None

    def wait_for(self, pattern: str, timeout: float) -> bool:
        """Wait until the console shows `pattern` (a regular expression); False on timeout or death."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            if regex.search(self.console_text()):
                return True
            if not self.alive():
                return False
            time.sleep(1)
        return False

    def destroy(self) -> None:
        """Kill the guest and delete its disk: nothing of it survives."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)
        for path in (self.dir / "disk.qcow2", self.dir / "seed.iso"):
            path.unlink(missing_ok=True)
