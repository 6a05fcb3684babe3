"""The one Debian release every node runs, on every provider.

Both nodes must run the same major release: the profiles install versioned package names (php8.2-*),
and a database dump only restores into a server at least as new (pg_restore 15 cannot read a
PostgreSQL 17 dump). Debian 12 (bookworm) is the release both providers offer and whose names the
profiles use: PHP 8.2, PostgreSQL 15, MariaDB 10.11, restic 0.14. Moving to another release means
changing this number and the PHP version below together (tests/test_debian.py checks both).
"""

from __future__ import annotations

__all__ = ["CODENAME", "DEBIAN_RELEASE", "LIGHTSAIL_BLUEPRINT", "OVH_IMAGE_NAME", "PHP"]

DEBIAN_RELEASE = 12
CODENAME = "bookworm"
PHP = "php8.2"
"""The PHP package prefix of this release."""
OVH_IMAGE_NAME = f"Debian {DEBIAN_RELEASE}"
"""The image name OVH Public Cloud lists for it."""
LIGHTSAIL_BLUEPRINT = f"debian_{DEBIAN_RELEASE}"
"""The Lightsail blueprint id for it."""
