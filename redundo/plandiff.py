"""`redundo plan --diff`: what a change (a tier, an agent fix, a provider re-id) would do to a
deployed stack, offline.

"As deployed" is the recorded state when the project's embedded backend holds one (the inputs the
engine last sent, as it recorded them), else the stack file synthesized as it is. "As it would
become" is the stack file (with --tier) synthesized now. Each resource is compared input by input;
inputs held by `ignore_changes` are reported as held, and a change replaces the resource when the
provider says so (`redundo.replacement.FORCE_NEW`, each entry citing its source).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from redundo.replacement import FORCE_NEW, STATEFUL_TYPES, replace_keys
from redundo.synthesis import Synthesis, map_wire

__all__ = [
    "Change",
    "Deployed",
    "DiffReport",
    "deployed_from_state",
    "deployed_from_synthesis",
    "diff",
    "make_diff",
    "state_file",
]

# The engine's marker of an encrypted secret in a state file, and what both sides compare as.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 - the engine's public marker, not a secret
SECRET = "[secret]"  # noqa: S105 - what a secret shows as, not a secret


@dataclass(frozen=True)
class Deployed:
    """One resource as deployed: its type and the inputs the engine last sent."""

    urn: str
    type: str
    inputs: dict[str, Any]


@dataclass
class Change:
    urn: str
    type: str
    name: str
    op: str
    """create, update, replace, delete or same."""
    changed: list[str] = field(default_factory=list)
    """Inputs that change and are sent."""
    replaced_by: list[str] = field(default_factory=list)
    """Of those, the inputs that force a replacement."""
    held: list[str] = field(default_factory=list)
    """Inputs that differ but are held at their deployed value (`ignore_changes`)."""
    source: str = ""
    """Where the provider says the inputs in `replaced_by` force a replacement."""
    stateful: bool = False

    @property
    def destroys_state(self) -> bool:
        return self.stateful and self.op in ("replace", "delete") and not _standby_delete(self)


def _standby_delete(change: Change) -> bool:
    return (
        change.op == "delete" and "redundo:index:Standby$" in change.urn and change.type.endswith("/instance:Instance")
    )


@dataclass
class DiffReport:
    stack: str
    before: str
    """What "as deployed" was read from: the state file, or the stack file."""
    after: str
    changes: list[Change]

    @property
    def destructive(self) -> list[Change]:
        return [c for c in self.changes if c.destroys_state]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "before": self.before,
            "after": self.after,
            "changes": [asdict(c) for c in self.changes if c.op != "same" or c.held],
            "destroys": [c.urn for c in self.destructive],
        }


def _plain(value: Any) -> Any:
    """A state value with each encrypted secret replaced by the SECRET marker."""
    if isinstance(value, dict):
        if _SECRET_SIG in value:
            return SECRET
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _synth_plain(value: Any) -> Any:
    return map_wire(value, secret=lambda v: SECRET)


def state_file(project: Path, stack: str) -> Path | None:
    """The embedded backend's checkpoint of `stack`, if the project has one."""
    root = project / ".redundo" / "state" / ".pulumi" / "stacks"
    for candidate in (root / "redundo" / f"{stack}.json", root / f"{stack}.json"):
        for path in (candidate, candidate.with_name(candidate.name + ".gz")):
            if path.is_file():
                return path
    return None


def deployed_from_state(path: Path) -> list[Deployed]:
    """The custom resources of a checkpoint file, secrets left as markers (they stay encrypted)."""
    raw = path.read_bytes()
    document = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    checkpoint = document.get("checkpoint", document)
    resources = (checkpoint.get("latest") or {}).get("resources") or []
    return [
        Deployed(r["urn"], r["type"], _plain(r.get("inputs") or {}))
        for r in resources
        if r.get("custom") and not r["type"].startswith("pulumi:providers:") and not r.get("delete")
    ]


def deployed_from_synthesis(synthesis: Synthesis) -> list[Deployed]:
    return [
        Deployed(r.urn, r.type, _synth_plain(r.inputs))
        for r in synthesis.resources
        if r.custom and not r.type.startswith("pulumi:providers:")
    ]


def _held(ignore: list[str]) -> set[str]:
    return {path.split(".", 1)[0].split("[", 1)[0] for path in ignore}


def _compare(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The top-level inputs the program now sends differently. An input it stops sending is left
    out: the provider's check fills defaults and computed values, so it may not differ at all."""
    changed = []
    for key, new in after.items():
        if key.startswith("__"):
            continue
        old = before.get(key)
        if SECRET in (old, new):
            # An encrypted value cannot be compared offline; present on both sides counts as kept.
            if (old is None) != (new is None):
                changed.append(key)
        elif old != new:
            changed.append(key)
    return changed


def diff(stack: str, before: list[Deployed], after: Synthesis, *, before_source: str, after_source: str) -> DiffReport:
    """Compare `before` (as deployed) with `after` (as the program would now register it)."""
    old = {d.urn: d for d in before}
    changes: list[Change] = []
    for r in after.resources:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        name = r.urn.rsplit("::", 1)[-1]
        stateful = r.type in STATEFUL_TYPES
        deployed = old.pop(r.urn, None)
        if deployed is None:
            changes.append(Change(r.urn, r.type, name, "create", stateful=stateful))
            continue
        differing = _compare(deployed.inputs, _synth_plain(r.inputs))
        ignored = _held(list((r.options or {}).get("ignore_changes") or []))
        held = [k for k in differing if k in ignored]
        sent = [k for k in differing if k not in ignored]
        forcing = replace_keys(r.type, sent)
        op = "replace" if forcing else "update" if sent else "same"
        entry = FORCE_NEW.get(r.type)
        changes.append(
            Change(r.urn, r.type, name, op, sent, forcing, held, entry.source if (forcing and entry) else "", stateful)
        )
    for gone in old.values():
        changes.append(
            Change(gone.urn, gone.type, gone.urn.rsplit("::", 1)[-1], "delete", stateful=gone.type in STATEFUL_TYPES)
        )
    return DiffReport(stack, before_source, after_source, changes)


def make_diff(project: Path, stack: str, *, tier: str | None = None) -> DiffReport:
    """The diff of `stack` from as deployed to its stack file (on `tier` when given)."""
    from redundo.plan import synthesize_stack
    from redundo.settings import parse_settings, read_stack_config

    raw = read_stack_config(project / "stacks", stack)
    current = parse_settings(stack, raw)
    wanted = {**raw, "tier": tier} if tier is not None else dict(raw)
    target = parse_settings(stack, wanted)
    path = state_file(project, stack)
    if path is not None:
        before = deployed_from_state(path)
        source = f"the recorded state ({path.relative_to(project)})"
    else:
        before = deployed_from_synthesis(synthesize_stack(stack, raw))
        source = f"the stack file (tier {current.tier.name}; no recorded state)"
    return diff(
        stack, before, synthesize_stack(stack, wanted), before_source=source, after_source=f"tier {target.tier.name}"
    )
