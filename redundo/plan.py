"""`redundo plan`: synthesize a stack offline and describe what it would build, where, and at what cost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redundo.pricing import CostEstimate, estimate
from redundo.settings import NAMESPACE, StackSettings, parse_settings, read_stack_config
from redundo.synthesis import Synthesis, map_wire, synthesize

__all__ = ["SECRET_MASK", "Plan", "make_plan", "mask_secrets", "pulumi_config", "synthesize_stack"]

PROJECT = "redundo"
SECRET_MASK = "[secret]"  # noqa: S105 - what a secret shows as, not a secret


def pulumi_config(raw: Mapping[str, Any]) -> dict[str, str]:
    """The `redundo:` keys as the engine hands them to a program: namespaced strings, lists as JSON."""
    return {
        f"{NAMESPACE}:{k}": json.dumps(v) if isinstance(v, (list, dict)) else str(v)
        for k, v in raw.items()
        if v is not None
    }


def synthesize_stack(stack: str, raw: Mapping[str, Any], *, preview: bool = False) -> Synthesis:
    """Run the real stack program for `stack` with config `raw` against mocks; with `preview`, as
    the engine previews a stack not yet created (every provider-computed value unknown)."""
    from redundo.stacks.program import (
        main,  # imports the cloud SDKs: only when a plan is made
    )

    return synthesize(main, project=PROJECT, stack=stack, config=pulumi_config(raw), preview=preview)


def mask_secrets(value: Any) -> Any:
    """`value` with every secret replaced by "[secret]"."""
    return map_wire(value, secret=lambda _: SECRET_MASK)


@dataclass(frozen=True)
class Plan:
    """What a stack would build: its settings, the synthesized resources and the cost."""

    settings: StackSettings
    synthesis: Synthesis
    cost: CostEstimate

    def resources(self) -> list[dict[str, Any]]:
        """Every resource in registration order, secrets masked: inputs, the outputs the mocks
        computed (`mocked_outputs`: plausible, never a provider's answer), dependencies and
        property dependencies by URN, which is what an analyzer is fed."""
        by_urn = self.synthesis.by_urn()
        rows = []
        for r in self.synthesis.resources:
            provider = by_urn.get(r.provider_urn)
            rows.append(
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "custom": r.custom,
                    "parent": r.parent,
                    "provider": provider.name if provider else "",
                    "provider_urn": r.provider_urn,
                    "inputs": mask_secrets(r.inputs),
                    "mocked_outputs": mask_secrets(r.outputs),
                    "dependencies": list(r.options.get("dependencies", [])),
                    "property_dependencies": {
                        k: list(v) for k, v in r.options.get("property_dependencies", {}).items() if v
                    },
                    "options": resource_options(r),
                }
            )
        return rows

    def locations(self) -> list[dict[str, str]]:
        """Where each copy of the site lives."""
        s = self.settings
        standby = s.standby_location
        rows = [
            {"role": "primary", "what": f"site on OVH {s.primary_flavor}", **_where(s.primary_location)},
            {
                "role": "vault",
                "what": "backups (restic, versioned"
                + (f", locked {s.tier.object_lock_days} days)" if s.tier.object_lock_days else ")"),
                **_where(s.vault_location),
            },
            {"role": "standby", "what": f"{s.tier.standby_mode} standby on {s.standby_size.size}", **_where(standby)},
        ]
        return rows

    def to_dict(self) -> dict[str, Any]:
        tier = self.settings.tier
        exports = {k: (SECRET_MASK if secret else value) for k, (value, secret) in self.synthesis.exports.items()}
        return {
            "stack": self.settings.stack,
            "tier": tier.name,
            "strategy": tier.strategy,
            "rpo_minutes": tier.rpo_minutes,
            "rto_minutes": tier.rto_minutes,
            "monthly_cost_eur": self.cost.monthly_eur,
            "redundancy_cost_eur": self.cost.redundancy_eur,
            "cost": self.cost.to_dict(),
            "locations": self.locations(),
            "outputs": exports,
            "resources": self.resources(),
        }


def resource_options(r) -> dict[str, Any]:
    """What protects a resource: `protect`, `retainOnDelete`, `ignoreChanges`, and its explicit
    `dependsOn` (its dependencies that no input carries)."""
    options = r.options or {}
    through_inputs = {u for urns in (options.get("property_dependencies") or {}).values() for u in urns}
    return {
        "protect": bool(options.get("protect")),
        "retainOnDelete": bool(options.get("retain_on_delete")),
        "ignoreChanges": list(options.get("ignore_changes") or []),
        "dependsOn": [u for u in options.get("dependencies") or [] if u not in through_inputs],
    }


def _where(loc) -> dict[str, str]:
    return {"provider": loc.provider, "region": loc.region, "city": loc.city, "country": loc.country}


def make_plan(stacks_dir: Path, stack: str, *, tier: str | None = None) -> Plan:
    """Read, validate and synthesize `stack` (optionally on another tier) into a Plan."""
    raw = read_stack_config(stacks_dir, stack)
    if tier is not None:
        raw = {**raw, "tier": tier}
    settings = parse_settings(stack, raw)
    return Plan(settings, synthesize_stack(stack, raw), estimate(settings))
