"""`redundo status`: is each client's newest backup within its tier's RPO? Read from the vault itself."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redundo.tiers import Tier

__all__ = ["STATUS_DIR", "ClientStatus", "load_status", "read_status", "save_status", "unknown"]

STATUS_DIR = Path(".redundo") / "status"
OK, LATE, MISSING, UNKNOWN = "OK", "LATE", "MISSING", "UNKNOWN"


@dataclass
class ClientStatus:
    stack: str
    tier: str
    state: str
    """OK: the newest backup is within the RPO; LATE: older; MISSING: no backup has reported;
    UNKNOWN: the vault could not be read (see `error`)."""
    rpo_minutes: int
    last_backup_age_seconds: float | None
    last_snapshot: str
    last_failure: str
    snapshot_count: int
    vault_bytes: int
    standby: str
    active_side: str
    monthly_cost_eur: float | None
    checked_at: float
    error: str = ""
    """Why the vault could not be read, when the state is UNKNOWN."""

    @property
    def breached(self) -> bool:
        return self.state != OK

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _value(outputs: Mapping[str, tuple[Any, bool]], key: str, default: Any = None) -> Any:
    return outputs.get(key, (default, False))[0]


def _heartbeat(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as exc:  # botocore raises NoSuchKey as a generated class
        if "NoSuchKey" in type(exc).__name__ or "NoSuchKey" in str(exc) or "404" in str(exc):
            return None
        raise


def read_status(
    stack: str, tier: Tier, outputs: Mapping[str, tuple[Any, bool]], s3: Any, *, now: float | None = None
) -> ClientStatus:
    """One client's status from its deployed outputs and its vault (heartbeats, snapshots, size)."""
    now = time.time() if now is None else now
    bucket = _value(outputs, "vaultBucket")
    host = f"{stack}-site"  # snapshots and heartbeats are the site's, whichever node took them
    beat = _heartbeat(s3, bucket, f"heartbeat/{host}.json")
    failure = _heartbeat(s3, bucket, f"heartbeat/{host}.failed.json")
    count, size = 0, 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            size += item["Size"]
            count += item["Key"].startswith("snapshots/")
    if beat is None:
        age, state = None, MISSING
    else:
        age = now - beat["epoch"]
        state = LATE if age > tier.rpo_minutes * 60 else OK
    last_failure = ""
    if failure and (beat is None or failure["epoch"] > beat["epoch"]):
        last_failure = f"{failure.get('time', '')} {failure.get('unit', '')} {failure.get('result', '')}".strip()
    standby_ip = _value(outputs, "standbyIpv4")
    mode = _value(outputs, "standbyMode", tier.standby_mode)
    return ClientStatus(
        stack=stack,
        tier=tier.name,
        state=state,
        rpo_minutes=tier.rpo_minutes,
        last_backup_age_seconds=age,
        last_snapshot=beat.get("snapshot_id", "") if beat else "",
        last_failure=last_failure,
        snapshot_count=count,
        vault_bytes=size,
        standby=f"{mode} ({standby_ip})" if standby_ip else f"{mode} (not running)",
        active_side=_value(outputs, "activeSide", "primary"),
        monthly_cost_eur=_value(outputs, "monthlyCostEur"),
        checked_at=now,
    )


def unknown(stack: str, tier: Tier | None, error: str, *, now: float | None = None) -> ClientStatus:
    """The status of a client whose vault could not be read: nothing is known of its backups.

    tier is None when the stack file itself could not be read."""
    return ClientStatus(
        stack=stack,
        tier=tier.name if tier else "?",
        state=UNKNOWN,
        rpo_minutes=tier.rpo_minutes if tier else 0,
        last_backup_age_seconds=None,
        last_snapshot="",
        last_failure="",
        snapshot_count=0,
        vault_bytes=0,
        standby="-",
        active_side="-",
        monthly_cost_eur=None,
        checked_at=time.time() if now is None else now,
        error=error,
    )


def save_status(project: Path, status: ClientStatus) -> None:
    directory = project / STATUS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{status.stack}.json").write_text(json.dumps(status.to_dict(), indent=2))


DAMAGED = "damaged"


def load_status(project: Path, stack: str) -> dict[str, Any] | None:
    """The last status saved for `stack`; None when never checked; state "damaged" when unreadable.

    A damaged file (cut short by a full disk, edited by hand) is shown as such, not trusted and
    not fatal: the next `redundo status` rewrites it."""
    path = project / STATUS_DIR / f"{stack}.json"
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {"state": DAMAGED, "checked_at": None}
    if not isinstance(document, dict) or not isinstance(document.get("state"), str):
        return {"state": DAMAGED, "checked_at": None}
    checked = document.get("checked_at")
    if not isinstance(checked, (int, float)) or isinstance(checked, bool):
        document["checked_at"] = None
    return document
