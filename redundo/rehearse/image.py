"""The hosts' base image: Debian built once from the apt mirror this machine uses, then cached.

The image is keyed by a hash of its recipe (release, mirror, packages, set-up files), so a change
to any of them builds a new one and an unchanged recipe never rebuilds. Packages the stack's user
data asks for are pre-installed, so the guests' own `apt-get install` finds them in place; what is
not pre-installed still installs, through the rehearsal's APT proxy (`net.AptProxy`), from the
same mirror and nowhere else.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from redundo.errors import OperationError

__all__ = ["BASE_PACKAGES", "GUEST_APT_PROXY", "BuildFailed", "Image", "Recipe", "build", "cache_dir", "host_mirrors"]

RELEASE = "bookworm"
# python3-cffi-backend is named because debootstrap does not resolve the virtual package that
# python3-cryptography (cloud-init) needs.
BASE_PACKAGES = (
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "dbus",
    "cloud-init",
    "python3-cffi-backend",
    "openssh-server",
    "ca-certificates",
    "sudo",
    "iproute2",
    "locales",
    "curl",
    "restic",
    "sqlite3",
    "rsync",
    "python3",
    "nftables",
    "kmod",
)
# What a Debian cloud image has and a minimal debootstrap lacks: netbase's /etc/protocols (nftables
# resolves protocol names such as ipv6-icmp with it).
CLOUD_IMAGE_PACKAGES = ("netbase",)
# Where the guest finds the rehearsal's APT proxy (forwarded by qemu to 127.0.0.1 on the host).
GUEST_APT_PROXY = "203.0.113.252:3142"

# Run before cloud-init: the host that boots the image hands it the set-up of its local cloud
# (the names of the cloud's services and the CA that signs their certificates) as a script in
# qemu's firmware config, never in the user data; an image booted elsewhere runs nothing.
_CLOUD_SETUP = """#!/bin/sh
# redundo rehearse: run the local cloud's set-up script from qemu fw_cfg, if there is one.
modprobe qemu_fw_cfg 2>/dev/null || true
f=/sys/firmware/qemu_fw_cfg/by_name/opt/redundo/setup/raw
[ -r "$f" ] || exit 0
exec /bin/sh "$f"
"""
_CLOUD_SETUP_UNIT = """[Unit]
Description=redundo rehearse: the local cloud's names and CA
DefaultDependencies=no
After=local-fs.target
Before=cloud-init-local.service sysinit.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/redundo-rehearsal-cloud
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
"""
_FILES = {
    "etc/fstab": "/dev/vda / ext4 defaults 0 1\n",
    "etc/systemd/network/20-wired.network": "[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n",
    "etc/cloud/cloud.cfg.d/90-rehearsal.cfg": "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\n",
    "etc/locale.gen": "en_US.UTF-8 UTF-8\n",
    "etc/default/locale": "LANG=en_US.UTF-8\n",
    "etc/apt/apt.conf.d/90rehearsal": (
        f'Acquire::http::Proxy "http://{GUEST_APT_PROXY}";\n'
        # The mirror may be a dated snapshot whose Release files have expired.
        'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n'
        'Acquire::Retries "2";\n'
    ),
    "usr/local/sbin/redundo-rehearsal-cloud": _CLOUD_SETUP,
    "etc/systemd/system/redundo-rehearsal-cloud.service": _CLOUD_SETUP_UNIT,
}


def host_mirrors() -> tuple[str, str]:
    """The Debian mirror and security mirror apt is configured with on this machine."""
    main, security = "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
    texts = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.is_file() and (path.suffix in (".list", ".sources") or path.name == "sources.list"):
            texts.append(path.read_text(errors="replace"))
    uris = []
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("URIs:"):
                uris += line.split()[1:]
            elif line.startswith("deb ") and not line.startswith("deb-src"):
                parts = [p for p in line.split()[1:] if not p.startswith("[")]
                uris += parts[:1]
    debian = [u.rstrip("/") for u in uris if "debian" in u and "security" not in u and "debian.org" in u]
    sec = [u.rstrip("/") for u in uris if "debian-security" in u]
    return (debian[0] if debian else main), (sec[0] if sec else security)


# Debian policy 5.6.7: lower-case letters, digits, '+', '-' and '.', starting with a letter or digit.
_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


@dataclass(frozen=True)
class Recipe:
    """Everything the image is made of; its hash names the cached image."""

    packages: tuple[str, ...] = ()
    """Extra packages, beyond BASE_PACKAGES (the user data's `packages:`)."""
    mirror: str = field(default_factory=lambda: host_mirrors()[0])
    security_mirror: str = field(default_factory=lambda: host_mirrors()[1])
    release: str = RELEASE

    def __post_init__(self) -> None:
        # The names reach apt-get inside a root chroot: only Debian package names get there.
        bad = [name for name in self.packages if not _PACKAGE_NAME.fullmatch(name)]
        if bad:
            raise OperationError(
                f"the hosts' user data asks for {bad[0]!r}, which is not a Debian package name; "
                "fix `packages:` in the stack's customCloudConfig"
            )

    @property
    def all_packages(self) -> tuple[str, ...]:
        return tuple(sorted(set(BASE_PACKAGES) | set(CLOUD_IMAGE_PACKAGES) | set(self.packages)))

    def sources(self) -> str:
        return (
            f"Types: deb\nURIs: {self.mirror}\nSuites: {self.release} {self.release}-updates\n"
            f"Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
            f"Types: deb\nURIs: {self.security_mirror}\nSuites: {self.release}-security\n"
            f"Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )

    def key(self) -> str:
        document = {
            "release": self.release,
            "mirror": self.mirror,
            "security": self.security_mirror,
            "packages": self.all_packages,
            "files": _FILES,
            "sources": self.sources(),
            "version": 3,
        }
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Image:
    """A built image: the disk every guest overlays, and the kernel and initrd it boots."""

    dir: Path

    @property
    def disk(self) -> Path:
        return self.dir / "base.qcow2"

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"

    def exists(self) -> bool:
        return all(p.is_file() for p in (self.disk, self.kernel, self.initrd))


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/redundo/rehearse (default ~/.cache/redundo/rehearse)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redundo" / "rehearse"


# The build's tools see this environment and nothing of the caller's: a TMPDIR that exists on the
# host (a test's, a user's) does not exist inside the chroot, and every maintainer script that calls
# mktemp there fails, so dpkg fails the whole upgrade.
_BUILD_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LC_ALL": "C",
    "DEBIAN_FRONTEND": "noninteractive",
}
# A proxy the machine needs to reach its mirror is passed on (debootstrap's wget reads these).
_PASSED_ON = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
# What a mirror says when it failed us for a moment (a sync under way, a dropped connection), on
# apt's or debootstrap's error lines: the step is tried again. Once dpkg itself has failed, never:
# a second try would run on half-configured packages and could cache an image that is not sound.
_TRANSIENT = re.compile(
    r"^(?:E|W): .*(?:Failed to fetch|Couldn't download|Failed getting release file"
    r"|Hash Sum mismatch|Temporary failure|Connection (?:failed|timed out|reset)|Unable to connect"
    r"|Could not connect|Bad header line|Undetermined Error|File has unexpected size)",
    re.M,
)
_DPKG_FAILED = re.compile(r"dpkg: error processing|Sub-process /usr/bin/dpkg returned an error")
TRIES = 3
_PAUSE = 10.0


def _transient(output: str) -> bool:
    return bool(_TRANSIENT.search(output)) and not _DPKG_FAILED.search(output)


def _failed_package(text: str) -> str | None:
    """The package dpkg or debootstrap names as the one that failed, if the output names one."""
    for pattern in (
        r"dpkg: error processing package (\S+)",
        r"Errors were encountered while processing:\s+(\S+)",
        r"Failure trying to run: .* (?:--unpack|--install) .*?/([a-z0-9][a-z0-9+.-]+)_[^/\s]*\.deb",
        r"Couldn't download package (\S+)",
        r"E: Unable to locate package (\S+)",
        r"Package (\S+) has no installation candidate",
    ):
        found = re.findall(pattern, text)
        if found:
            return found[-1]
    return None


def _run(argv: list[str], what: str, log: Path, *, tries: int = 1) -> None:
    """Run one build step, its output appended to `log`; a step that may meet a passing mirror error
    is tried `tries` times. A failure says the step, the package that failed and the log."""
    for attempt in range(1, tries + 1):
        start = log.stat().st_size if log.exists() else 0
        with log.open("a") as out:
            out.write(("$ " if attempt == 1 else f"$ (try {attempt} of {tries}) ") + " ".join(argv) + "\n")
            out.flush()
            env = {**_BUILD_ENV, **{k: v for k, v in os.environ.items() if k in _PASSED_ON}}
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
        if done.returncode == 0:
            return
        with log.open(errors="replace") as read:
            read.seek(start)
            output = read.read()
        if attempt < tries and _transient(output):
            time.sleep(_PAUSE * attempt)
            continue
        package = _failed_package(output)
        lines = [line for line in output.strip().splitlines()[1:] if line.strip()] or ["no output"]
        cause = f"package {package} failed ({lines[-1].strip()})" if package else lines[-1].strip()
        raise BuildFailed(f"building the rehearsal image failed while {what}: {cause}", log)


class BuildFailed(OperationError):
    """A build step failed; `log` is where its whole output is, kept once the build is cleaned up."""

    def __init__(self, message: str, log: Path):
        super().__init__(message)
        self.message, self.log = message, log

    def __str__(self) -> str:
        return f"{self.message} (log: {self.log})"


def build(recipe: Recipe, *, progress=lambda message: None) -> Image:
    """The cached image for `recipe`, built first if missing (one builder at a time per cache)."""
    root = cache_dir() / "images"
    root.mkdir(parents=True, exist_ok=True)
    image = Image(root / recipe.key())
    if image.exists():
        return image
    for tool in ("debootstrap", "qemu-img", "mkfs.ext4"):
        if shutil.which(tool) is None:
            raise OperationError(
                f"{tool} is not installed; install debootstrap qemu-utils e2fsprogs (see .ci/apt.d/rehearse.txt)"
            )
    if os.geteuid() != 0:
        raise OperationError(
            "building the rehearsal image needs root (debootstrap); run once as root, or pass --image PATH"
        )
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if image.exists():
            return image
        progress(f"building the Debian {recipe.release} image {recipe.key()} (once; a few minutes)")
        work = Path(tempfile.mkdtemp(prefix=f"build-{recipe.key()}-", dir=root))
        try:
            try:
                _build_into(recipe, work, progress)
            except BuildFailed as failed:
                # The work tree goes below; its log stays beside the cache for the user to read.
                kept = root / f"build-{recipe.key()}.log"
                _copy_log(failed.log, kept)
                failed.log = kept
                raise
            work.joinpath("recipe.json").write_text(
                json.dumps(
                    {"release": recipe.release, "mirror": recipe.mirror, "packages": recipe.all_packages}, indent=1
                )
            )
            _unmount_under(work)
            for leftover in ("rootfs", "base.raw"):
                path = work / leftover
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            work.rename(image.dir)
        finally:
            if work.exists():
                _unmount_under(work)
                shutil.rmtree(work, ignore_errors=True)
    return image


def _copy_log(source: Path, kept: Path) -> None:
    """Copy the build log beside the cache; a symlink planted at that name is refused, not followed."""
    fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(source.read_bytes())


def _unmount_under(path: Path) -> None:
    """Unmount anything a failed build left mounted inside its tree, before the tree is deleted."""
    prefix = str(path.resolve()) + "/"
    mounts = [
        line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if line.split()[1].startswith(prefix)
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def _base_key(recipe: Recipe) -> str:
    document = {
        "release": recipe.release,
        "mirror": recipe.mirror,
        "security": recipe.security_mirror,
        "packages": BASE_PACKAGES,
        "files": _FILES,
        "sources": recipe.sources(),
        "version": 3,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]


_CHROOT = "set -e; export DEBIAN_FRONTEND=noninteractive LC_ALL=C; mount -t proc proc /proc; trap 'umount /proc' EXIT; "
_APT = "apt-get -o Acquire::http::Proxy=false -o Acquire::Retries=3"


def _debootstrap(argv: list[str], rootfs: Path, log: Path) -> None:
    """debootstrap, tried again from an empty target when the mirror failed it for a moment."""
    for attempt in range(1, TRIES + 1):
        try:
            _run(argv, "running debootstrap", log)
            return
        except BuildFailed:
            output = log.read_text(errors="replace").rsplit("\n$ ", 1)[-1]
            if attempt == TRIES or not _transient(output):
                raise
            _unmount_under(rootfs)
            shutil.rmtree(rootfs, ignore_errors=True)
            time.sleep(_PAUSE * attempt)


def _base_rootfs(recipe: Recipe, rootfs: Path, log: Path, progress) -> None:
    """Debootstrap, set up and upgrade a root file system; kept as a tar in the cache, so that a new
    package list only installs its packages on top of it."""
    tar = cache_dir() / "images" / f"base-{_base_key(recipe)}.tar"
    if tar.is_file():
        rootfs.mkdir()
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-xpf", str(tar)], "unpacking the base file system", log)
        return
    debs = cache_dir() / "debootstrap"
    debs.mkdir(parents=True, exist_ok=True)
    progress("debootstrap of the base system")
    _debootstrap(
        [
            "debootstrap",
            "--variant=minbase",
            f"--cache-dir={debs}",
            f"--include={','.join(BASE_PACKAGES)}",
            recipe.release,
            str(rootfs),
            recipe.mirror,
        ],
        rootfs,
        log,
    )
    for rel, text in _FILES.items():
        path = rootfs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (rootfs / "usr/local/sbin/redundo-rehearsal-cloud").chmod(0o755)
    (rootfs / "etc/apt/sources.list").write_text("")
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(recipe.sources())
    (rootfs / "etc/machine-id").write_text("")
    (rootfs / "etc/hostname").write_text("debian\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
    script = (
        _CHROOT + "locale-gen >/dev/null; "
        f"{_APT} -o APT::Update::Error-Mode=any update -qq; "
        # Up to date with the mirror's updates and security suites, so that the guests'
        # `package_upgrade` has nothing to do unless the mirror moved since the build.
        f"{_APT} dist-upgrade -y -qq; {_APT} -y -qq autoremove --purge; apt-get clean; "
        "systemctl enable systemd-networkd redundo-rehearsal-cloud.service >/dev/null 2>&1; "
        "rm -f /etc/ssh/ssh_host_*; "
    )  # each guest makes its own host keys at first boot
    progress("upgrading the base system from the updates and security suites")
    with _no_services(rootfs):
        _run(["chroot", str(rootfs), "/bin/bash", "-c", script], "upgrading the base system", log, tries=TRIES)
    _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cpf", f"{tar}.tmp", "."], "saving the base file system", log)
    Path(f"{tar}.tmp").rename(tar)


class _no_services:
    """No service may start inside the build's chroot; guests start them at boot as usual."""

    def __init__(self, rootfs: Path):
        self.policy = rootfs / "usr/sbin/policy-rc.d"

    def __enter__(self) -> None:
        self.policy.write_text("#!/bin/sh\nexit 101\n")
        self.policy.chmod(0o755)

    def __exit__(self, *exc: object) -> None:
        self.policy.unlink(missing_ok=True)


def _build_into(recipe: Recipe, work: Path, progress) -> None:
    log = work / "build.log"
    rootfs = work / "rootfs"
    _base_rootfs(recipe, rootfs, log, progress)
    extra = [p for p in recipe.all_packages if p not in BASE_PACKAGES]
    if extra:
        progress(f"installing {len(extra)} packages the hosts' user data asks for: {' '.join(extra)}")
        script = (
            _CHROOT + f"{_APT} -o APT::Update::Error-Mode=any update -qq; "
            f"{_APT} install -y -qq --no-install-recommends {' '.join(extra)}; "
            "apt-get clean; rm -f /etc/ssh/ssh_host_*; "
        )
        with _no_services(rootfs):
            _run(
                ["chroot", str(rootfs), "/bin/bash", "-c", script], "installing packages in the image", log, tries=TRIES
            )
    boot = rootfs / "boot"
    kernels = sorted(boot.glob("vmlinuz-*"))
    initrds = sorted(boot.glob("initrd.img-*"))
    if not kernels or not initrds:
        raise BuildFailed("building the rehearsal image failed: no kernel or initrd in the image", log)
    shutil.copyfile(kernels[-1], work / "vmlinuz")
    shutil.copyfile(initrds[-1], work / "initrd.img")
    raw = work / "base.raw"
    progress("writing the disk image")
    _run(["truncate", "-s", "6G", str(raw)], "sizing the disk", log)
    _run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(rootfs), str(raw)], "making the file system", log)
    _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "base.qcow2")], "converting the disk", log)
