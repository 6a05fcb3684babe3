"""Evaluate the policy pack in-process against a synthesized stack: CrossGuard without the CLI.

Built from pulumi_policy's public argument classes and `Policy.validate`, mirroring what the
engine's analyzer does: providers are skipped, resource policies see inputs, stack policies see
outputs, secrets are unwrapped, REMEDIATE counts as MANDATORY, and configuration may override a
policy's enforcement level.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from inspect import isawaitable
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)

from redundo.synthesis import Registered, Synthesis, map_wire

__all__ = [
    "MODES",
    "Finding",
    "StackCheck",
    "check_stack",
    "evaluate",
    "merge_modes",
    "to_json",
    "to_junit",
    "to_sarif",
]


MODES = ("preview", "deployed")
"""preview: as the engine evaluates a stack being created, every provider-computed value unknown;
deployed: with the computed values the mocks give, as after the stack exists."""

VIOLATION, UNKNOWN = "violation", "unknown"


@dataclass(frozen=True)
class Finding:
    """One outcome of a rule: a violation, or (outcome "unknown") a rule that could not decide.

    Says which rule, how strongly enforced, on which resource, what to do, and in which modes."""

    policy: str
    level: str
    message: str
    urn: str
    description: str
    outcome: str = VIOLATION
    modes: tuple[str, ...] = ()

    @property
    def mandatory(self) -> bool:
        return self.level == EnforcementLevel.MANDATORY.value

    @property
    def undecided(self) -> bool:
        return self.outcome == UNKNOWN

    @property
    def resource(self) -> str:
        return self.urn.rsplit("::", 1)[-1] if self.urn else "(stack)"


def _props(value: Any) -> Any:
    """Mock wire values as the analyzer sees them: secrets unwrapped, unknowns as the sentinel."""
    return map_wire(value, secret=_props, unknown=lambda _: UNKNOWN_STRING_VALUE)


def _options(r: Registered) -> PolicyResourceOptions:
    o = r.options
    return PolicyResourceOptions(
        o.get("protect", False),
        o.get("ignore_changes", []),
        o.get("delete_before_replace") or None,
        o.get("aliases", []),
        PolicyCustomTimeouts(0, 0, 0),
        o.get("additional_secret_outputs", []),
        r.parent or None,
    )


def _provider(r: Registered, by_urn: Mapping[str, Registered]) -> PolicyProviderResource | None:
    p = by_urn.get(r.provider_urn)
    if p is None:
        return None
    return PolicyProviderResource(p.type, unknown_checking_proxy(_props(p.inputs)), p.urn, p.name)


def _run(result: Any) -> None:
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


def _level(policy: Policy, config: Mapping[str, Mapping[str, Any]]) -> EnforcementLevel:
    configured = config.get(policy.name, {}).get("enforcementLevel")
    level = EnforcementLevel(configured) if configured else (policy.enforcement_level or EnforcementLevel.ADVISORY)
    return EnforcementLevel.MANDATORY if level == EnforcementLevel.REMEDIATE else level


def evaluate(
    syn: Synthesis,
    policies: Iterable[Policy],
    config: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    mode: str = "deployed",
) -> list[Finding]:
    """Every violation of `policies` in `syn`, with per-policy `config` as `--policy-pack-config` gives it.

    A rule that reads a value the engine cannot know yet gives an "unknown" finding at the rule's
    own level, where the engine would only print an advisory "can't run policy"."""
    config = config or {}
    findings: list[Finding] = []
    resources = [r for r in syn.resources if not r.type.startswith("pulumi:providers:")]
    by_urn = syn.by_urn()
    modes = (mode,)

    for policy in policies:
        level = _level(policy, config)
        if level == EnforcementLevel.DISABLED:
            continue
        policy_config = {k: v for k, v in config.get(policy.name, {}).items() if k != "enforcementLevel"}
        schema = getattr(policy, "config_schema", None)
        if schema is not None:
            for key, spec in schema.properties.items():
                if "default" in spec:
                    policy_config.setdefault(key, spec["default"])

        def reporter(default_urn: str, policy: Policy = policy, level: EnforcementLevel = level):
            def report(message: str, urn: str | None = None) -> None:
                findings.append(
                    Finding(policy.name, level.value, message, urn or default_urn, policy.description, modes=modes)
                )

            return report

        def run(validation: Any, urn: str, policy: Policy = policy, level: EnforcementLevel = level) -> None:
            try:
                _run(validation())
            except UnknownValueError as exc:
                findings.append(
                    Finding(
                        policy.name,
                        level.value,
                        f"cannot decide at preview: {exc.message}",
                        urn,
                        policy.description,
                        UNKNOWN,
                        modes,
                    )
                )
            except Exception as exc:
                if type(exc).__name__ != "_NotApplicableError":  # pulumi_policy's private "not applicable" signal
                    raise

        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:  # the engine's Analyze: one call a resource, its inputs
                args = ResourceValidationArgs(
                    r.type,
                    unknown_checking_proxy(_props(r.inputs)),
                    r.urn,
                    r.name,
                    _options(r),
                    _provider(r, by_urn),
                    policy_config,
                    None,
                )
                run(partial(policy.validate, args, reporter(r.urn)), r.urn)
        elif isinstance(policy, StackValidationPolicy):  # AnalyzeStack: every resource, its outputs
            wrapped = {
                r.urn: PolicyResource(
                    r.type,
                    unknown_checking_proxy(_props(r.outputs)),
                    r.urn,
                    r.name,
                    _options(r),
                    _provider(r, by_urn),
                    None,
                    [],
                    {},
                )
                for r in resources
            }
            for r in resources:
                pr = wrapped[r.urn]
                pr.parent = wrapped.get(r.parent)
                pr.dependencies = [wrapped[d] for d in r.options.get("dependencies", []) if d in wrapped]
                pr.property_dependencies = {
                    k: [wrapped[d] for d in v if d in wrapped]
                    for k, v in r.options.get("property_dependencies", {}).items()
                }
            stack_args = StackValidationArgs(list(wrapped.values()), policy_config, None)
            run(partial(policy.validate, stack_args, reporter("")), "")
    return findings


def merge_modes(per_mode: Iterable[list[Finding]]) -> list[Finding]:
    """Findings of several modes as one list: a finding seen in more than one mode is listed once."""
    merged: dict[tuple, Finding] = {}
    for findings in per_mode:
        for f in findings:
            key = (f.policy, f.level, f.message, f.urn, f.outcome)
            seen = merged.get(key)
            merged[key] = f if seen is None else replace(seen, modes=seen.modes + f.modes)
    return list(merged.values())


@dataclass(frozen=True)
class StackCheck:
    """The findings of one stack."""

    stack: str
    tier: str
    findings: list[Finding]
    allow_unknown: bool = False
    """Whether a mandatory rule that could not decide is let through (`--allow-unknown`)."""
    modes: tuple[str, ...] = MODES

    @property
    def blocking(self) -> list[Finding]:
        """What fails the check: mandatory violations, and mandatory rules that could not decide."""
        return [f for f in self.findings if f.mandatory and (not f.undecided or not self.allow_unknown)]

    error: str = ""
    """Why the stack could not be checked at all (a damaged or invalid stack file)."""

    @property
    def failed(self) -> bool:
        return bool(self.error) or bool(self.blocking)


STACK_FILE_RULE = "redundo-stack-file-valid"


def failed_check(stack: str, error: str) -> StackCheck:
    """The result for a stack whose file could not be read or validated."""
    return StackCheck(stack, "", [], error=error)


def check_stack(
    stacks_dir: Path, stack: str, *, modes: Iterable[str] = MODES, allow_unknown: bool = False
) -> StackCheck:
    """Synthesize `stack` offline in each mode and evaluate the shipped pack with its tier's configuration."""
    from redundo.plan import synthesize_stack
    from redundo.policies.rules import POLICIES, tier_config
    from redundo.settings import parse_settings, read_stack_config

    raw = read_stack_config(stacks_dir, stack)
    settings = parse_settings(stack, raw)
    modes = tuple(modes)
    findings = merge_modes(
        evaluate(
            synthesize_stack(stack, raw, preview=mode == "preview"), POLICIES, tier_config(settings.tier), mode=mode
        )
        for mode in modes
    )
    return StackCheck(stack, settings.tier.name, findings, allow_unknown, modes)


def _tag(f: Finding) -> str:
    """How a finding names itself in text: rule, resource, message, and the modes it holds in."""
    kind = "cannot decide" if f.undecided else f.level
    return f"{kind}: {f.policy}: {f.resource}: {f.message} [{', '.join(f.modes)}]"


def to_json(results: list[StackCheck]) -> dict[str, Any]:
    return {
        "failed": any(r.failed for r in results),
        "stacks": [
            {
                "stack": r.stack,
                "tier": r.tier,
                "failed": r.failed,
                **({"error": r.error} if r.error else {}),
                "modes": list(r.modes),
                "allow_unknown": r.allow_unknown,
                "findings": [
                    {
                        "policy": f.policy,
                        "level": f.level,
                        "outcome": f.outcome,
                        "modes": list(f.modes),
                        "blocking": f in r.blocking,
                        "resource": f.resource,
                        "urn": f.urn,
                        "message": f.message,
                        "description": f.description,
                    }
                    for f in r.findings
                ],
            }
            for r in results
        ],
    }


def to_junit(results: list[StackCheck]) -> str:
    """JUnit XML: one suite a stack, one case a policy; a failure for each blocking finding (a
    mandatory violation, or a mandatory rule that could not decide unless allowed)."""
    from xml.etree import ElementTree as ET

    from redundo.policies.rules import POLICIES

    root = ET.Element("testsuites", name="redundo check")
    for r in results:
        if r.error:
            suite = ET.SubElement(root, "testsuite", name=r.stack, tests="1", failures="0", errors="1")
            case = ET.SubElement(suite, "testcase", classname=r.stack, name=STACK_FILE_RULE)
            ET.SubElement(case, "error", message=r.error, type="invalid-stack-file").text = r.error
            continue
        blocking = r.blocking
        suite = ET.SubElement(
            root, "testsuite", name=r.stack, tests=str(len(POLICIES)), failures=str(len({f.policy for f in blocking}))
        )
        for policy in POLICIES:
            case = ET.SubElement(suite, "testcase", classname=f"{r.stack}", name=policy.name)
            mine = [f for f in r.findings if f.policy == policy.name]
            failing = [f for f in mine if f in blocking]
            if failing:
                kind = "mandatory" if any(not f.undecided for f in failing) else "undecided"
                failure = ET.SubElement(case, "failure", message=failing[0].message, type=kind)
                failure.text = "\n".join(_tag(f) for f in failing)
            others = [f for f in mine if f not in blocking]
            if others:
                ET.SubElement(case, "system-out").text = "\n".join(_tag(f) for f in others)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def to_sarif(results: list[StackCheck]) -> dict[str, Any]:
    """SARIF 2.1.0: one rule a policy, one result a finding, the stack file as the location."""
    from redundo.policies.rules import POLICIES

    rules = [{"id": p.name, "shortDescription": {"text": p.description}} for p in POLICIES]
    if any(r.error for r in results):
        rules.append(
            {
                "id": STACK_FILE_RULE,
                "shortDescription": {"text": "The stack file is UTF-8 YAML with valid redundo: keys."},
            }
        )
    index = {p.name: i for i, p in enumerate(POLICIES)}
    sarif_results = []
    for r in results:
        if r.error:
            sarif_results.append(
                {
                    "ruleId": STACK_FILE_RULE,
                    "ruleIndex": len(rules) - 1,
                    "level": "error",
                    "message": {"text": r.error},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"stacks/Pulumi.{r.stack}.yaml"}}}],
                }
            )
        blocking = r.blocking
        for f in r.findings:
            text = f"{f.resource}: {f.message}" if not f.undecided else f"{f.resource}: could not decide: {f.message}"
            sarif_results.append(
                {
                    "ruleId": f.policy,
                    "ruleIndex": index.get(f.policy, 0),
                    "level": "error" if f in blocking else "warning",
                    "message": {"text": text},
                    "locations": [
                        {
                            "physicalLocation": {"artifactLocation": {"uri": f"stacks/Pulumi.{r.stack}.yaml"}},
                            "logicalLocations": [{"fullyQualifiedName": f.urn or r.stack}],
                        }
                    ],
                    "properties": {"modes": list(f.modes), "outcome": f.outcome},
                }
            )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "redundo", "rules": rules}}, "results": sarif_results}],
    }
