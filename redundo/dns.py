"""The site's names on its OVH zone: find, and on request remove, the records redundo does not own.

A new OVH zone carries default records (an A record at the apex and at www, or a www CNAME). The
Failover component adds the site's A record beside them, not instead of them: resolvers would
round-robin visitors to the old address, and a CNAME at the site's name makes the A record fail.
pulumi-ovh cannot delete a record it does not manage (`ovh.domain.ZoneRecord` creates one record;
`ZoneImport` replaces the whole zone, mail records included), so this check runs before `up`
through the OVH API: `redundo dns check --stack S` lists them, `--clean` deletes exactly those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redundo.errors import OperationError

__all__ = ["ADDRESS_TYPES", "Record", "delete_records", "foreign_records", "ovh_client", "site_names"]

ADDRESS_TYPES = ("A", "AAAA", "CNAME")


@dataclass(frozen=True)
class Record:
    id: int
    subdomain: str
    fieldtype: str
    target: str

    def __str__(self) -> str:
        return f"{self.subdomain or '@'} {self.fieldtype} {self.target} (id {self.id})"


def site_names(domain: str, zone: str) -> tuple[str, ...]:
    """The zone-relative names that answer for the site: its own, and www when the site is the apex."""
    sub = domain[: -len(zone)].rstrip(".") if domain != zone else ""
    return (sub, "www") if sub == "" else (sub,)


def _points_at_apex(target: str, zone: str) -> bool:
    return target.rstrip(".") in ("", "@", zone.rstrip("."))


def foreign_records(client: Any, zone: str, names: Iterable[str], owned_targets: Iterable[str]) -> list[Record]:
    """Address records (A, AAAA, CNAME) at the site's names that point elsewhere than redundo's nodes.

    A www CNAME to the apex of an apex site is the site itself and is kept."""
    names, owned = tuple(names), {t for t in owned_targets if t}
    found = []
    for fieldtype in ADDRESS_TYPES:
        for record_id in client.get(f"/domain/zone/{zone}/record", fieldType=fieldtype):
            raw = client.get(f"/domain/zone/{zone}/record/{record_id}")
            record = Record(int(raw["id"]), raw.get("subDomain") or "", raw["fieldType"], raw["target"])
            if record.subdomain not in names or record.target in owned:
                continue
            if (
                record.fieldtype == "CNAME"
                and record.subdomain == "www"
                and "" in names
                and _points_at_apex(record.target, zone)
            ):
                continue
            found.append(record)
    return sorted(found, key=lambda r: (r.subdomain, r.fieldtype, r.id))


def delete_records(client: Any, zone: str, records: Iterable[Record]) -> int:
    """Delete RECORDS, then refresh the zone (an API change is served only after a refresh)."""
    count = 0
    for record in records:
        client.delete(f"/domain/zone/{zone}/record/{record.id}")
        count += 1
    if count:
        client.post(f"/domain/zone/{zone}/refresh")
    return count


def ovh_client(endpoint: str, env: dict[str, str]) -> Any:
    """An OVH API client for ENDPOINT (ovh-eu, ovh-ca, ...) with the deployer's credentials.

    The endpoint is always passed: ovh.Client() without one raises InvalidRegion."""
    import ovh

    if env.get("OVH_CLIENT_ID") and env.get("OVH_CLIENT_SECRET"):
        return ovh.Client(endpoint=endpoint, client_id=env["OVH_CLIENT_ID"], client_secret=env["OVH_CLIENT_SECRET"])
    keys = ("OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY")
    if not all(env.get(k) for k in keys):
        raise OperationError(
            "OVH credentials: set OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET and "
            "OVH_CONSUMER_KEY (or OVH_CLIENT_ID and OVH_CLIENT_SECRET)"
        )
    return ovh.Client(
        endpoint=endpoint, application_key=env[keys[0]], application_secret=env[keys[1]], consumer_key=env[keys[2]]
    )


def node_addresses(client: Any, zone: str, site_subdomain: str) -> set[str]:
    """The addresses of redundo's own host records (primary.<site>, standby.<site>) in the zone:
    a record at the site's names that points at one of them is the Failover record, or its twin."""
    hosts = {f"{role}.{site_subdomain}" if site_subdomain else role for role in ("primary", "standby")}
    found = set()
    for fieldtype in ("A", "AAAA"):
        for record_id in client.get(f"/domain/zone/{zone}/record", fieldType=fieldtype):
            raw = client.get(f"/domain/zone/{zone}/record/{record_id}")
            if (raw.get("subDomain") or "") in hosts:
                found.add(raw["target"])
    return found
