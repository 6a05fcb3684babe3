"""The agent as one versioned bundle, delivered over SSH: scripts, settings, units (and the site's web
configuration), installed atomically and idempotently by a shell archive read from stdin.

The user data only bootstraps a host (packages, firewall). Everything that changes with redundo's
version, the tier or the vault lives here, so upgrading redundo or changing tier re-runs this step
on the running hosts instead of replacing them. Nothing in a bundle is secret.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field

from redundo import __version__
from redundo.agent import BIN_DIR, SCRIPTS, SETTINGS_FILE, AgentSettings, all_units, script, settings_file
from redundo.tiers import Tier

__all__ = ["UNIT_DIR", "VERSION_FILE", "AgentBundle", "BundleFile", "agent_bundle", "files_in_script"]

UNIT_DIR = "/etc/systemd/system"
VERSION_FILE = "/etc/redundo/agent.version"
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]+$")


@dataclass(frozen=True)
class BundleFile:
    path: str
    mode: str
    text: str


@dataclass(frozen=True)
class AgentBundle:
    """What one node gets: files, the Debian packages it needs, and commands run once they are in place."""

    files: tuple[BundleFile, ...]
    packages: tuple[str, ...] = ()
    """Installed when missing (the user data installs them at first boot; this keeps a changed profile rolling)."""
    after: tuple[str, ...] = ()
    """Shell commands run after the files are in place, such as checking and reloading the web server."""
    remove: tuple[str, ...] = field(default=())
    """Paths removed (a distribution's default web site that would answer for every name)."""

    def file(self, path: str) -> BundleFile | None:
        return next((f for f in self.files if f.path == path), None)

    @property
    def digest(self) -> str:
        """Changes whenever anything the node gets changes, and with redundo's version."""
        h = hashlib.sha256(__version__.encode())
        for f in self.files:
            h.update(f"\0{f.path}\0{f.mode}\0".encode() + f.text.encode())
        for part in (*self.packages, "\0", *self.after, "\0", *self.remove):
            h.update(part.encode() + b"\0")
        return h.hexdigest()[:16]

    def script(self) -> str:
        """A bash program for `sudo bash -s`: stage every file, then rename each into place.

        Every file is written beside its target first and renamed over it (a rename is atomic), so a
        run cut short leaves each file either old or new, never half-written; running it twice
        changes nothing.
        """
        lines = [
            "set -euo pipefail",
            "umask 022",
            f"# redundo agent {__version__} bundle {self.digest}",
            # Empty on a host; a directory when the archive is unpacked elsewhere (tests, an image build).
            'root="${REDUNDO_ROOT:-}"',
        ]
        if self.packages:
            wanted = " ".join(shlex.quote(p) for p in self.packages)
            lines += [
                'if [ -z "$root" ]; then',
                f"  missing=$(for p in {wanted}; do dpkg-query -W -f='${{Status}}' \"$p\" 2>/dev/null "
                "| grep -q 'install ok installed' || echo \"$p\"; done)",
                '  if [ -n "$missing" ]; then',
                # The image's lists may be empty (cloud-init did not run, as on Lightsail, whose user
                # data is a launch script) or stale (a security update rotated the pool).
                "    DEBIAN_FRONTEND=noninteractive apt-get update -q",
                "    # shellcheck disable=SC2086",
                "    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing",
                "  fi",
                "fi",
            ]
        for index, f in enumerate(self.files):
            if not _SAFE_PATH.match(f.path) or ".." in f.path.split("/"):
                raise ValueError(f"bundle path {f.path!r} is not a plain absolute path")
            tag = f"REDUNDO_{index}_{hashlib.sha256(f.text.encode()).hexdigest()[:12].upper()}"
            body = f.text if f.text.endswith("\n") else f.text + "\n"
            if f"\n{tag}\n" in "\n" + body:
                raise ValueError(f"bundle file {f.path} contains its own end marker")
            staged = f'"$root"{f.path}.redundo-new'
            lines += [
                f"# file {f.path} {f.mode}",
                f'install -d -m 0755 "$root"{f.path.rsplit("/", 1)[0] or "/"}',
                f"cat > {staged} <<'{tag}'",
                body + tag,
                f"chmod {f.mode} {staged}",
                f"chown 0:0 {staged}",
            ]
        lines.append("# every file is staged: move them into place")
        lines += [f'mv -f "$root"{f.path}.redundo-new "$root"{f.path}' for f in self.files]
        lines += [f'rm -f "$root"{p}' for p in self.remove]
        lines.append('if [ -z "$root" ]; then')
        if any(f.path.startswith(UNIT_DIR + "/") for f in self.files):
            lines.append("  systemctl daemon-reload")
        lines += [f"  {command}" for command in self.after]
        lines.append("  :")
        lines.append("fi")
        lines.append(f"printf '%s\\n' {shlex.quote(f'{__version__} {self.digest}')} > \"$root\"{VERSION_FILE}")
        return "\n".join(lines) + "\n"


def agent_bundle(
    tier: Tier,
    settings: AgentSettings,
    *,
    extra: tuple[BundleFile, ...] = (),
    packages: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
    remove: tuple[str, ...] = (),
) -> AgentBundle:
    """Every node's bundle: the three scripts, the settings file, every unit of the tier, and `extra`."""
    files = [BundleFile(f"{BIN_DIR}/{name}", "0755", script(name)) for name in SCRIPTS]
    files.append(BundleFile(SETTINGS_FILE, "0644", settings_file(settings)))
    files += [BundleFile(f"{UNIT_DIR}/{name}", "0644", text) for name, text in all_units(tier).items()]
    files += list(extra)
    return AgentBundle(tuple(files), packages=packages, after=after, remove=remove)


_FILE_RE = re.compile(
    r"^# file (?P<path>\S+) (?P<mode>\d+)\n.*?<<'(?P<tag>REDUNDO_[0-9]+_[0-9A-F]+)'\n"
    r"(?P<body>.*?)(?<=\n)(?P=tag)\n",
    re.S | re.M,
)


def files_in_script(text: str) -> dict[str, str]:
    """path -> text of every file a bundle's script installs (for policies and tests that read a plan)."""
    return {m.group("path"): m.group("body") for m in _FILE_RE.finditer(text or "")}


def commands_in_script(text: str) -> str:
    """A bundle's script without the files' bodies: the commands it runs on the host."""
    return _FILE_RE.sub(lambda m: f"# file {m.group('path')} {m.group('mode')}\n", text or "")
