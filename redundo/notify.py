"""Alerts from `redundo status --notify URL`: one message per change of a client's state, sent
through Apprise (e-mail, Slack, Matrix, Telegram, JSON webhooks and about a hundred more).

A state change is counted per client and per destination: the last state each destination was told
about is kept in `.redundo/notify/<client>.json`, under a hash of the URL (the URL itself holds
tokens and is never written or printed; only Apprise's masked form is shown). A client seen for the
first time is assumed OK, so a LATE or MISSING client is announced at once and a healthy one
quietly. A delivery that fails is not recorded, so the next run tries again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redundo.errors import OperationError, UsageError

__all__ = ["NOTIFY_DIR", "Destination", "deliver", "destinations", "message", "pending"]

NOTIFY_DIR = Path(".redundo") / "notify"
_ASSUMED = "OK"  # what a destination is taken to know about a client it has never heard of


@dataclass(frozen=True)
class Destination:
    """One notification URL, validated by Apprise; `shown` masks its secrets, `key` identifies it."""

    url: str
    key: str
    shown: str

    def __repr__(self) -> str:  # never the URL: it carries tokens
        return f"Destination({self.shown})"


def _quiet_apprise() -> Any:
    import apprise

    # Apprise logs delivery failures with details of the request; redundo reports them itself, masked.
    log = logging.getLogger("apprise")
    log.handlers[:] = [logging.NullHandler()]
    log.propagate = False
    return apprise


def destinations(urls: Iterable[str]) -> list[Destination]:
    """Validate every URL before anything else happens; a bad one is a usage error that shows only its scheme."""
    apprise = _quiet_apprise()
    found = []
    for index, url in enumerate(urls, start=1):
        plugin = apprise.Apprise.instantiate(url.strip()) if url.strip() else None
        if not plugin:
            scheme = url.split("://", 1)[0] if "://" in url else ""
            what = f"scheme {scheme + '://'!r}" if scheme and len(scheme) < 20 and scheme.isalnum() else "no scheme"
            raise UsageError(
                f"--notify #{index} is not a notification URL Apprise can use ({what}); pass one such "
                "as mailto://, slack://, json:// or jsons:// (see Apprise's list of services)"
            )
        found.append(
            Destination(
                url=url.strip(),
                key=hashlib.sha256(url.strip().encode()).hexdigest()[:24],
                shown=plugin.url(privacy=True).split("?", 1)[0],
            )
        )
    return found


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "no backup has ever reported"
    if seconds < 3600:
        return f"newest backup {seconds / 60:.0f} min old"
    if seconds < 2 * 86400:
        return f"newest backup {seconds / 3600:.1f} h old"
    return f"newest backup {seconds / 86400:.1f} days old"


def _rpo(minutes: int) -> str:
    return f"{minutes // 60} h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} min"


def message(status: Any, previous: str | None) -> tuple[str, str]:
    """The title and body announcing that `status.stack` went from `previous` (None: never told) to its state."""
    checked = datetime.fromtimestamp(status.checked_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if status.state == "OK":
        title = f"redundo: {status.stack} is OK again"
    else:
        title = f"redundo: {status.stack} is {status.state}"
    was = f" (was {previous})" if previous else ""
    news = status.error if status.state == "UNKNOWN" else _age(status.last_backup_age_seconds)
    rpo = f", RPO {_rpo(status.rpo_minutes)}" if status.rpo_minutes else ""  # 0: the stack file was unreadable
    tier = f" ({status.tier})" if status.tier != "?" else ""
    body = f"{status.stack}{tier}: {status.state}{was}; {news}{rpo}. Checked {checked}."
    if status.last_failure:
        body += f" Last backup run failed: {status.last_failure}."
    if status.state != "OK":
        body += f" Look at it with `redundo status --stack {status.stack}`."
    return title, body


def _path(project: Path, stack: str) -> Path:
    return project / NOTIFY_DIR / f"{stack}.json"


def _load(project: Path, stack: str) -> dict[str, Any]:
    try:
        data = json.loads(_path(project, stack).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or damaged: start again from "assumed OK"
        return {}
    return data if isinstance(data, dict) else {}


def pending(
    project: Path, results: Iterable[Any], targets: list[Destination]
) -> list[tuple[Destination, Any, str | None]]:
    """(destination, status, state it was last told or None) for each destination whose news is out of date."""
    out = []
    for status in results:
        told = _load(project, status.stack)
        for target in targets:
            record = told.get(target.key)
            previous = record.get("state") if isinstance(record, dict) else None
            if (previous or _ASSUMED) != status.state:
                out.append((target, status, previous))
    return out


def _send(target: Destination, title: str, body: str, state: str) -> bool:
    apprise = _quiet_apprise()
    sender = apprise.Apprise()
    sender.add(target.url)
    kind = apprise.NotifyType.SUCCESS if state == "OK" else apprise.NotifyType.FAILURE
    try:
        return bool(sender.notify(title=title, body=body, notify_type=kind))
    except Exception:  # noqa: BLE001 - a plugin that raises instead of returning False is a failed delivery all the same
        return False


def deliver(
    project: Path,
    results: Iterable[Any],
    targets: list[Destination],
    *,
    send: Callable[[Destination, str, str, str], bool] = _send,
) -> tuple[list[str], list[str]]:
    """Send what changed; record each delivery. Returns (delivered, failed) as masked one-line notes."""
    delivered, failed = [], []
    for target, status, previous in pending(project, results, targets):
        title, body = message(status, previous)
        if send(target, title, body, status.state):
            told = _load(project, status.stack)
            told[target.key] = {"state": status.state, "at": datetime.now(UTC).isoformat(timespec="seconds")}
            path = _path(project, status.stack)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(told, indent=2), encoding="utf-8")
            except OSError as exc:
                raise OperationError(
                    f"sent {status.stack} {status.state} to {target.shown} but cannot record it in "
                    f"{path}: {exc.strerror}; the next run sends it again until that is fixed"
                ) from None
            delivered.append(f"{status.stack} {status.state} to {target.shown}")
        else:
            failed.append(f"{status.stack} {status.state} to {target.shown}")
    return delivered, failed
