"""Site profiles: what a node must run to serve the site, installed the same way on primary and standby.

A standby that cannot serve is not a standby: both nodes get the profile's web server, runtime and
database server (package names of redundo.debian.DEBIAN_RELEASE), the same nginx site file for the site's name, and the
list of units a live restore reloads (`WEB_SERVICES`). Each profile names the database it keeps
its data in; the stack's `redundo:database` must agree (checked in settings).
"""

from __future__ import annotations

from dataclasses import dataclass

from redundo.debian import PHP

__all__ = [
    "ACME_ROOT",
    "PHP_SOCKET",
    "PROFILES",
    "PROFILE_NAMES",
    "SITE_FILE",
    "SiteProfile",
    "default_profile",
    "nginx_site",
    "web_root",
]

PHP_SOCKET = f"/run/php/{PHP}-fpm.sock"
SITE_FILE = "/etc/nginx/sites-enabled/redundo-site.conf"
# certbot's webroot: the same on both nodes, so a certificate can be issued on whichever serves.
ACME_ROOT = "/var/lib/redundo/acme"
# Package -> the systemd unit it brings that serves the site.
SERVICE_OF = {
    "nginx": "nginx",
    f"{PHP}-fpm": f"{PHP}-fpm",
    "mariadb-server": "mariadb",
    "postgresql": "postgresql",
    "apache2": "apache2",
}


@dataclass(frozen=True)
class SiteProfile:
    name: str
    description: str
    packages: tuple[str, ...]
    """Packages of Debian DEBIAN_RELEASE both nodes install."""
    databases: tuple[str, ...]
    """Values of `redundo:database` this profile accepts, the first being its own."""
    php: bool = False

    @property
    def web_services(self) -> tuple[str, ...]:
        """Units reloaded after a live restore, web server last (it serves what the others give it)."""
        units = [SERVICE_OF[p] for p in self.packages if p in SERVICE_OF and SERVICE_OF[p] != "nginx"]
        return (*units, "nginx") if "nginx" in self.packages else tuple(units)

    @property
    def database_service(self) -> str | None:
        return next((SERVICE_OF[p] for p in self.packages if p in ("mariadb-server", "postgresql")), None)


_WEB = ("nginx", "certbot")
PROFILES: dict[str, SiteProfile] = {
    "static": SiteProfile("static", "nginx serving files", _WEB, ("none",)),
    "php": SiteProfile(
        "php",
        "nginx and PHP-FPM; SQLite or no database",
        (*_WEB, f"{PHP}-fpm", f"{PHP}-sqlite3"),
        ("none", "sqlite"),
        php=True,
    ),
    "wordpress": SiteProfile(
        "wordpress",
        "nginx, PHP-FPM and MariaDB (WordPress, WooCommerce, PrestaShop)",
        (
            *_WEB,
            f"{PHP}-fpm",
            f"{PHP}-mysql",
            f"{PHP}-gd",
            f"{PHP}-curl",
            f"{PHP}-xml",
            f"{PHP}-mbstring",
            f"{PHP}-zip",
            "mariadb-server",
        ),
        ("mysql",),
        php=True,
    ),
    "postgres-app": SiteProfile(
        "postgres-app",
        "nginx, PostgreSQL and PHP-FPM for a PHP or proxied app",
        (*_WEB, f"{PHP}-fpm", f"{PHP}-pgsql", "postgresql"),
        ("postgresql",),
        php=True,
    ),
    "custom": SiteProfile(
        "custom",
        "nginx and your own packages (redundo:customPackages)",
        _WEB,
        ("none", "sqlite", "mysql", "postgresql"),
    ),
}
PROFILE_NAMES = tuple(PROFILES)
_DEFAULT_FOR_DATABASE = {"none": "static", "sqlite": "php", "mysql": "wordpress", "postgresql": "postgres-app"}


def default_profile(database: str) -> str:
    """The profile a stack gets when it names none: the one that runs its database."""
    return _DEFAULT_FOR_DATABASE.get(database, "static")


def web_root(site_paths: tuple[str, ...], domain: str) -> str:
    """Where the site's files live: a directory named after the site under the first backed-up path."""
    return f"{site_paths[0].rstrip('/')}/{domain or 'html'}"


def nginx_site(profile: SiteProfile, *, domain: str, root: str) -> str:
    """The nginx server for the site's name (and www.), identical on primary and standby.

    It is the default server too, so the node answers on its address before DNS points at it (the
    take-over check and the watchdog ask for the site's name on the node's address). HTTP only: a
    certificate is issued on the node that serves (certbot's webroot below), see the README.
    """
    names = f"{domain} www.{domain}" if domain else "_"
    lines = [
        f"# Written by redundo for the {profile.name} profile; the same on primary and standby.",
        "server {",
        "    listen 80 default_server;",
        "    listen [::]:80 default_server;",
        f"    server_name {names};",
        f"    root {root};",
        "    index " + ("index.php index.html index.htm;" if profile.php else "index.html index.htm;"),
        "    location ^~ /.well-known/acme-challenge/ {",
        f"        root {ACME_ROOT};",
        "        default_type text/plain;",
        "    }",
        "    location ~ /\\.(?!well-known) {",
        "        deny all;",
        "    }",
    ]
    if profile.php:
        lines += [
            "    location / {",
            "        try_files $uri $uri/ /index.php?$args;",
            "    }",
            "    location ~ \\.php$ {",
            "        include snippets/fastcgi-php.conf;",
            f"        fastcgi_pass unix:{PHP_SOCKET};",
            "    }",
        ]
    else:
        lines += [
            "    location / {",
            "        try_files $uri $uri/ =404;",
            "    }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"
