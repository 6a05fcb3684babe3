"""The `pulumi` CLI's place at the Automation API seam, played by the rehearsal's local cloud.

`redundo up`, `failover` and `failback` talk to the engine only through `redundo.deploy`, which
hands a `PulumiCommand` to the Automation API. The rehearsal gives it this one: the SDK's own code
runs (stack selection, config set, up, outputs, history), and each `up` runs the stack program
in-process against `LocalCloud`, which realizes what it registers. So a rehearsed failover goes
through the very code `redundo failover` runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult  # not re-exported by pulumi.automation
from semver import VersionInfo

from redundo.rehearse.cloud import LocalCloud, ResourceFailed

__all__ = ["RehearsalEngine"]

_SECRET = "[secret]"  # noqa: S105 - what a secret shows as, not a secret


class RehearsalEngine(auto.PulumiCommand):
    """Answers the CLI verbs the SDK uses; `up` deploys to the local cloud."""

    def __init__(self, cloud: LocalCloud, program: Callable[[], Any], config: dict[str, tuple[str, bool]]):
        # super().__init__ would look for the real CLI; the SDK needs only these two attributes.
        self.command = "pulumi"
        self.version = VersionInfo.parse("3.200.0")  # below 3.206 the SDK reads events from a log file
        self.cloud = cloud
        self.program = program
        self.config = dict(config)
        """"ns:key" -> (value, secret), as the stack's config would hold it."""
        self.exports: dict[str, tuple[Any, bool]] = {}
        self.history: list[dict[str, Any]] = []
        self.calls: list[list[str]] = []
        self.last_changes: list = []

    def run(self, args, cwd, additional_env, on_output=None, on_error=None) -> CommandResult:
        args = list(args)
        self.calls.append(args)
        verb = [a for a in args if not a.startswith("-")][:2]
        if args[:2] == ["config", "set"]:
            value = args[args.index("--") + 1]
            key = args[2]
            self.config[key if ":" in key else f"redundo:{key}"] = (value, "--secret" in args)
        elif args[:2] == ["config", "set-all"]:
            for i, arg in enumerate(args):
                if arg in ("--plaintext", "--secret"):
                    key, _, value = args[i + 1].partition("=")
                    self.config[key] = (value, arg == "--secret")
        elif args[:2] == ["stack", "output"]:
            shown = {
                k: (v if "--show-secrets" in args or not secret else _SECRET) for k, (v, secret) in self.exports.items()
            }
            return CommandResult(stdout=json.dumps(shown), stderr="", code=0)
        elif args[:2] == ["stack", "export"]:
            resources = [
                {"urn": urn, "type": item.type, "id": item.id, "protect": item.protect}
                for urn, item in self.cloud.state.items()
            ]
            return CommandResult(
                stdout=json.dumps({"version": 3, "deployment": {"resources": resources}}), stderr="", code=0
            )
        elif args[:2] == ["stack", "history"]:
            return CommandResult(stdout=json.dumps(list(reversed(self.history))[:1]), stderr="", code=0)
        elif verb and verb[0] in ("up", "preview"):
            return self._up(args, preview=verb[0] == "preview")
        elif verb and verb[0] in ("destroy", "refresh", "import"):
            raise auto.errors.CommandError(
                CommandResult(stdout="", stderr=f"error: the rehearsal engine does not {verb[0]}", code=255)
            )
        return CommandResult(stdout="", stderr="", code=0)

    def _up(self, args: list[str], *, preview: bool = False) -> CommandResult:
        started = datetime.now(UTC)
        clock = time.monotonic()
        stack = args[args.index("--stack") + 1] if "--stack" in args else "dev"
        config = {k: v for k, (v, _) in self.config.items()}
        events: list[dict[str, Any]] = []
        result, message = "succeeded", ""
        counts: dict[str, int] = {}
        try:
            exports, changes = self.cloud.deploy(
                self.program, stack=stack, config=config, refresh="--refresh" in args, preview=preview
            )
            if not preview:
                self.exports = exports
                self.last_changes = changes
            for change in changes:
                counts[change.op] = counts.get(change.op, 0) + 1
                meta = {
                    "op": change.op,
                    "urn": change.urn,
                    "type": change.type,
                    "provider": "",
                    **({"keys": change.keys} if change.keys else {}),
                }
                events += [{"resourcePreEvent": {"metadata": meta}}, {"resOutputsEvent": {"metadata": meta}}]
        except ResourceFailed as exc:
            result, message = "failed", str(exc)
            events.append({"diagnosticEvent": {"message": message, "color": "never", "severity": "error"}})
        events.append(
            {
                "summaryEvent": {
                    "maybeCorrupt": False,
                    "durationSeconds": int(time.monotonic() - clock),
                    "resourceChanges": counts,
                    "PolicyPacks": {},
                }
            }
        )
        if "--event-log" in args:
            with open(args[args.index("--event-log") + 1], "a", encoding="utf-8") as log:
                for n, event in enumerate([*events, {"cancelEvent": {}}]):
                    log.write(json.dumps({"sequence": n, "timestamp": int(time.time()), **event}) + "\n")
        if preview:
            if result == "failed":
                raise auto.errors.CommandError(CommandResult(stdout="", stderr=f"error: {message}", code=255))
            return CommandResult(stdout="", stderr="", code=0)
        self.history.append(
            {
                "kind": "update",
                "startTime": started.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "message": "",
                "environment": {},
                "config": {},
                "result": result,
                "endTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "resourceChanges": counts,
                "version": len(self.history) + 1,
            }
        )
        if result == "failed":
            raise auto.errors.CommandError(CommandResult(stdout="", stderr=f"error: {message}", code=255))
        return CommandResult(stdout="", stderr="", code=0)
