"""`redundo init CLIENT --adopt HOST`: look at a server that already runs the site, over SSH.

One read-only script runs there through sudo and prints `key=value` lines: the OS release, the web
servers and PHP installed, the database servers running (found from their command lines, so that a
server on another port or socket is found too) and their databases, the site's document roots
(from the web servers' configuration) and their disk use. Nothing on the host is changed.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass, field
from typing import Any

from redundo import remote
from redundo.errors import OperationError

__all__ = ["HostFacts", "inspect_host", "scan_host_key"]

# Read-only. Every probe tolerates absence: a missing tool prints nothing.
INSPECT = r"""
set -u
. /etc/os-release 2>/dev/null && echo "os=${PRETTY_NAME:-$ID}"
for web in nginx apache2 httpd caddy lighttpd; do command -v "$web" >/dev/null 2>&1 && echo "web=$web"; done
command -v php >/dev/null 2>&1 && echo "php=$(php -r 'echo PHP_VERSION;' 2>/dev/null)"
roots=$( { grep -rhoE '^[[:space:]]*root[[:space:]]+[^;]+' /etc/nginx/sites-enabled /etc/nginx/conf.d 2>/dev/null \
             | awk '{print $2}';
           grep -rhoiE '^[[:space:]]*DocumentRoot[[:space:]]+[^[:space:]]+' /etc/apache2/sites-enabled 2>/dev/null \
             | awk '{print $2}' | tr -d '"'; } | sort -u)
[ -d /var/www ] && roots=$(printf '%s\n/var/www\n' "$roots")
for root in $(printf '%s\n' "$roots" | sort -u); do
  [ -d "$root" ] || continue
  echo "site_path=$root"
  echo "site_bytes=$(du -sb "$root" 2>/dev/null | cut -f1) $root"
  [ -f "$root/wp-config.php" ] && echo "wordpress=$root"
  find "$root" -maxdepth 2 -name '*.php' -print -quit 2>/dev/null | grep -q . && echo "php_site=$root"
done
echo "disk=$(df -B1 --output=used,size / 2>/dev/null | tail -1)"
ps -eo user=,args= | while read -r owner args; do
  set -- $args
  case "$(basename "$1")" in
    mariadbd|mysqld)
      sock=/run/mysqld/mysqld.sock
      for a in "$@"; do case "$a" in --socket=*) sock=${a#--socket=};; esac; done
      client=$(command -v mariadb || command -v mysql) || continue
      "$client" --no-defaults --socket="$sock" -uroot -N -B \
        -e 'select schema_name from information_schema.schemata' 2>/dev/null \
        | grep -vxE 'information_schema|performance_schema|mysql|sys' | sed "s|^|mysql_db=|"
      ;;
    postgres)
      case " $args " in *" -D "*) ;; *) continue;; esac
      port=5432; dir=/var/run/postgresql; prev=
      for a in "$@"; do
        [ "$prev" = -p ] && port=$a
        case "$a" in unix_socket_directories=*) dir=${a#unix_socket_directories=};; esac
        prev=$a
      done
      runuser -u "$owner" -- psql -X -A -t -h "$dir" -p "$port" -U "$owner" -d postgres \
        -c "select datname from pg_database where not datistemplate and datname <> 'postgres'" 2>/dev/null \
        | sed "s|^|postgresql_db=|"
      ;;
  esac
done
exit 0
"""


@dataclass
class HostFacts:
    """What the inspection found."""

    host: str
    os: str = ""
    web_servers: list[str] = field(default_factory=list)
    php: str = ""
    site_paths: list[str] = field(default_factory=list)
    site_bytes: int = 0
    disk_used_bytes: int = 0
    disk_size_bytes: int = 0
    databases: dict[str, list[str]] = field(default_factory=dict)
    """Engine (mysql, postgresql) -> the databases found on its running servers."""
    wordpress: bool = False
    php_site: bool = False

    @property
    def database(self) -> str:
        """The engine to dump: the one that holds databases (MySQL/MariaDB first), else none."""
        for engine in ("mysql", "postgresql"):
            if self.databases.get(engine):
                return engine
        return "none"

    @property
    def profile(self) -> str:
        """The site profile it looks like (redundo.profiles): the standby is built to run the same."""
        from redundo.profiles import default_profile

        if self.wordpress:
            return "wordpress"
        if self.database != "none":
            return default_profile(self.database)
        return "php" if self.php_site else "static"

    def stack_keys(self) -> dict[str, Any]:
        """The `redundo:` keys this server implies (database, paths, data size, profile)."""
        keys: dict[str, Any] = {
            "sitePaths": self.site_paths or ["/var/www"],
            "database": self.database,
            "dataGb": max(1, math.ceil(self.site_bytes / 1e9)),
        }
        if self.database != "none":
            keys["databaseName"] = self.databases[self.database][0]
        return keys

    def summary(self) -> list[str]:
        dbs = "; ".join(f"{engine}: {', '.join(names)}" for engine, names in self.databases.items() if names)
        return [
            f"{self.host}: {self.os or 'unknown OS'}",
            f"  web: {', '.join(self.web_servers) or 'none found'}; PHP {self.php or 'none'}; profile {self.profile}",
            f"  site paths: {', '.join(self.site_paths) or 'none found'} ({self.site_bytes / 1e6:.1f} MB)",
            f"  databases: {dbs or 'none found'}",
            f"  disk: {self.disk_used_bytes / 1e9:.1f} of {self.disk_size_bytes / 1e9:.1f} GB used",
        ]


def parse(host: str, text: str) -> HostFacts:
    facts = HostFacts(host)
    sizes: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        value = value.strip()
        if not value:
            continue
        if key == "os":
            facts.os = value
        elif key == "web" and value not in facts.web_servers:
            facts.web_servers.append(value)
        elif key == "php":
            facts.php = value
        elif key == "site_path" and value not in facts.site_paths:
            facts.site_paths.append(value)
        elif key == "site_bytes":
            size, _, path = value.partition(" ")
            sizes[path] = int(size) if size.isdigit() else 0
        elif key == "wordpress":
            facts.wordpress = True
        elif key == "php_site":
            facts.php_site = True
        elif key == "disk":
            used, _, size = value.partition(" ")
            if used.isdigit() and size.strip().isdigit():
                facts.disk_used_bytes, facts.disk_size_bytes = int(used), int(size.strip())
        elif key in ("mysql_db", "postgresql_db"):
            names = facts.databases.setdefault(key.removesuffix("_db"), [])
            if value not in names:
                names.append(value)
    # /var/www holds the roots below it: back up the parent once.
    facts.site_paths = [
        p for p in facts.site_paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in facts.site_paths)
    ]
    facts.site_bytes = sum(sizes.get(p, 0) for p in facts.site_paths)
    return facts


def scan_host_key(host: str, port: int = 22) -> str:
    """The host's ed25519 key, read once (trust on first use: the caller shows its fingerprint)."""
    try:
        done = subprocess.run(
            ["ssh-keyscan", "-T", "10", "-t", "ed25519", "-p", str(port), host],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except FileNotFoundError:
        raise OperationError("ssh-keyscan is not installed; install openssh-client") from None
    except subprocess.TimeoutExpired:
        raise OperationError(f"{host}:{port} did not answer SSH in 30 s") from None
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "ssh-ed25519":
            return f"{parts[1]} {parts[2]}"
    raise OperationError(f"{host}:{port} presented no ed25519 SSH host key; check the address and port")


def inspect_host(host: str, user: str, *, port: int = 22, host_key: str, identity: str | None = None) -> HostFacts:
    """Run the read-only inspection on `host` as `user` (through sudo) and parse it."""
    done = remote.ssh_run(
        host, user, ["bash", "-c", INSPECT], host_key=host_key, port=port, identity=identity, timeout=300
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise OperationError(f"could not inspect {host} as {user}: {last}")
    return parse(host, done.stdout)
