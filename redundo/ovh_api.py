"""The one OVH API call the provider lacks: refreshing a DNS zone, without which a changed record may
not be served (terraform-provider-ovh#1290). Run by the stack as `python -m redundo.ovh_api refresh ZONE`.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["refresh_zone"]


def refresh_zone(zone: str, client: Any = None) -> None:
    """POST /domain/zone/{zone}/refresh with the OVH credentials of the environment."""
    if client is None:
        import ovh

        client = ovh.Client()  # OVH_ENDPOINT, OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY
    client.post(f"/domain/zone/{zone}/refresh")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "refresh":
        sys.stderr.write("usage: python -m redundo.ovh_api refresh ZONE\n")
        return 2
    try:
        refresh_zone(argv[1])
    except Exception as exc:  # the ovh client raises its own hierarchy; one line is enough here
        sys.stderr.write(f"could not refresh the DNS zone {argv[1]}: {exc}\n")
        return 1
    print(f"refreshed DNS zone {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
