"""A stand-in for the `pulumi` CLI at the Automation API's own seam (`PulumiCommand`).

The SDK's real code runs: it builds the argument lists, watches the event log and parses the
JSON replies. The fake records every call and writes the engine events a real run would emit.
"""

from __future__ import annotations

import json
from typing import Any

from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult  # not re-exported by pulumi.automation
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from redundo.errors import CtrlC

HISTORY = [
    {
        "kind": "update",
        "startTime": "2026-11-26T10:00:00.000Z",
        "message": "",
        "environment": {},
        "config": {},
        "result": "succeeded",
        "endTime": "2026-11-26T10:03:00.000Z",
        "resourceChanges": {"create": 24},
        "version": 1,
    }
]


def resource_events(urn: str, type_: str, op: str = "create") -> list[dict[str, Any]]:
    meta = {"op": op, "urn": urn, "type": type_, "provider": ""}
    return [{"resourcePreEvent": {"metadata": meta}}, {"resOutputsEvent": {"metadata": meta}}]


def replace_events(urn: str, type_: str, keys: list[str]) -> list[dict[str, Any]]:
    """A preview's steps for a create-before-delete replacement, as the engine emits them: the
    replacement created, the logical replace, the old one deleted; `keys` force it."""
    diff = {k: {"diffKind": "update-replace", "inputDiff": True} for k in keys}
    steps = []
    for op in ("create-replacement", "replace", "delete-replaced"):
        meta = {"op": op, "urn": urn, "type": type_, "provider": "", "keys": keys, "diffs": keys, "detailedDiff": diff}
        steps.append({"resourcePreEvent": {"metadata": meta}})
    return steps


def summary_event(**changes: int) -> dict[str, Any]:
    return {
        "summaryEvent": {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": changes, "PolicyPacks": {}}
    }


class FakePulumiCommand(auto.PulumiCommand):
    """Records calls; answers `stack output`, `stack history`; streams scripted events for runs."""

    def __init__(
        self,
        events: list[dict[str, Any]] | None = None,
        outputs: dict[str, Any] | None = None,
        secret_outputs: tuple[str, ...] = (),
        fail: dict[str, str] | None = None,
        verb_events: dict[str, list[dict[str, Any]]] | None = None,
    ):
        # super().__init__ would run `pulumi version`; the SDK only needs these two attributes.
        self.command = "pulumi"
        self.version = VersionInfo.parse("3.200.0")  # below 3.206: events go to a log file
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.events = events if events is not None else [summary_event(create=1)]
        self.outputs = outputs or {}
        self.secret_outputs = secret_outputs
        self.fail = fail or {}
        self.state: list[dict[str, Any]] = []
        self.imported: dict[str, Any] | None = None
        """The last `stack import`'s file, as the CLI read it."""
        """The stack's resources as `stack export` lists them."""
        self.pending: list[dict[str, Any]] = []
        self.interrupt: dict[str, list[dict[str, Any]]] = {}
        """verb -> the pending operations a Ctrl-C during that verb leaves in the state (once)."""
        """Operations an interrupted update left in the state (`pending_operations`)."""
        self.verb_events = verb_events or {}
        """Events for one verb only (a preview that differs from the up that follows); else `events`."""

    def verbs(self) -> list[str]:
        return [" ".join(a for a in args if not a.startswith("-"))[:40] for args, _ in self.calls]

    def run(self, args, cwd, additional_env, on_output=None, on_error=None) -> CommandResult:
        args = list(args)
        self.calls.append((args, dict(additional_env)))
        verb = args[0]
        if verb == "refresh" and "--clear-pending-creates" in args and verb not in self.fail:
            self.pending = [op for op in self.pending if op.get("type") != "creating"]
        if verb in self.interrupt:
            # Ctrl-C in the middle of the run: the engine has recorded what it had started.
            self.pending = list(self.interrupt.pop(verb))
            raise CtrlC()  # what the CLI's SIGINT handler raises where the process was
        if verb in ("up", "preview", "destroy", "refresh") and "--event-log" in args:
            events = self.verb_events.get(verb, self.events)
            self._write_events(args[args.index("--event-log") + 1], events if verb not in self.fail else [])
        if verb in self.fail:
            # As the SDK does: the CLI's stderr decides the error class (a lock is a ConcurrentUpdateError).
            raise create_command_error(CommandResult(stdout="", stderr=f"error: {self.fail[verb]}", code=255))
        stdout = ""
        if args[:2] == ["stack", "output"]:
            shown = {
                k: (v if "--show-secrets" in args or k not in self.secret_outputs else "[secret]")
                for k, v in self.outputs.items()
            }
            stdout = json.dumps(shown)
        elif args[:2] == ["stack", "history"]:
            stdout = json.dumps(HISTORY)
        elif args[:2] == ["stack", "import"]:
            with open(args[args.index("--file") + 1], encoding="utf-8") as handle:
                self.imported = json.load(handle)
            self.state = list((self.imported.get("deployment") or {}).get("resources") or [])
        elif args[:2] == ["stack", "export"]:
            stdout = json.dumps(
                {
                    "version": 3,
                    "deployment": {"manifest": {}, "resources": self.state, "pending_operations": self.pending},
                }
            )
        return CommandResult(stdout=stdout, stderr="", code=0)

    @staticmethod
    def _write_events(log: str, events: list[dict[str, Any]]) -> None:
        """The engine's event log: the run's events, then the cancel event the CLI always ends with."""
        with open(log, "a", encoding="utf-8") as handle:
            for n, event in enumerate([*events, {"cancelEvent": {}}]):
                handle.write(json.dumps({"sequence": n, "timestamp": 0, **event}) + "\n")
