"""Recovering a vault after a bad actor used a host's key: undo deletes and overwrites from versions.

A host key cannot delete a version, so whatever it deleted left a delete marker and whatever it
overwrote left the old version behind. This needs a key allowed to list and delete versions: the
operator's, never a host's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["UndeleteResult", "undelete"]

SKIPPED_PREFIXES = ("locks/",)  # old restic locks brought back would block the repository


@dataclass
class UndeleteResult:
    markers_removed: list[str] = field(default_factory=list)
    versions_restored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _entries(s3: Any, bucket: str) -> dict[str, list[dict[str, Any]]]:
    by_key: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            by_key.setdefault(version["Key"], []).append({**version, "marker": False})
        for marker in page.get("DeleteMarkers", []):
            by_key.setdefault(marker["Key"], []).append({**marker, "marker": True})
    for entries in by_key.values():
        # IsLatest first: timestamps have a resolution of a second, and a delete may share one.
        entries.sort(key=lambda e: (e["IsLatest"], e["LastModified"]), reverse=True)
    return by_key


def undelete(s3: Any, bucket: str, *, since: datetime | None = None, dry_run: bool = False) -> UndeleteResult:
    """Make each object current again as it was before `since` (or, without `since`, remove every
    current delete marker). Objects under locks/ are left alone."""
    result = UndeleteResult()
    for key, entries in sorted(_entries(s3, bucket).items()):
        latest = entries[0]
        if key.startswith(SKIPPED_PREFIXES):
            if latest["marker"]:
                result.skipped.append(key)
            continue
        if since is None:
            if latest["marker"]:
                if not dry_run:
                    s3.delete_object(Bucket=bucket, Key=key, VersionId=latest["VersionId"])
                result.markers_removed.append(key)
            continue
        if latest["LastModified"] < since:
            continue
        good = next((e for e in entries if not e["marker"] and e["LastModified"] < since), None)
        if good is None:
            continue  # created after `since`: nothing older to go back to
        if latest["marker"] and entries[1] is good:
            if not dry_run:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=latest["VersionId"])
            result.markers_removed.append(key)
        else:
            if not dry_run:
                s3.copy_object(
                    Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": good["VersionId"]}
                )
            result.versions_restored.append(key)
    return result
