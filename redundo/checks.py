"""Evaluate the policy pack in-process against a synthesized stack: CrossGuard without the CLI.

Built from pulumi_policy's public argument classes and `Policy.validate`, mirroring what the
engine's analyzer does: providers are skipped, resource policies see inputs, stack policies see
outputs, secrets are unwrapped, REMEDIATE counts as MANDATORY, and configuration may override a
policy's enforcement level.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from inspect import isawaitable
from pathlib import Path
from typing import Any, Iterable, Mapping

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

__all__ = ["Finding", "StackCheck", "evaluate", "check_stack", "to_json", "to_junit", "to_sarif"]


@dataclass(frozen=True)
class Finding:
    """One violation: which rule, how strongly enforced, on which resource, and what to do."""

    policy: str
    level: str
    message: str
    urn: str
    description: str

    @property
    def mandatory(self) -> bool:
        return self.level == EnforcementLevel.MANDATORY.value

    @property
    def resource(self) -> str:
        return self.urn.rsplit("::", 1)[-1] if self.urn else "(stack)"


def _props(value: Any) -> Any:
    """Mock wire values as the analyzer sees them: secrets unwrapped, unknowns as the sentinel."""
    return map_wire(value, secret=_props, unknown=lambda _: UNKNOWN_STRING_VALUE)


def _options(r: Registered) -> PolicyResourceOptions:
    o = r.options
    return PolicyResourceOptions(o.get("protect", False), o.get("ignore_changes", []),
                                 o.get("delete_before_replace") or None, o.get("aliases", []),
                                 PolicyCustomTimeouts(0, 0, 0), o.get("additional_secret_outputs", []),
                                 r.parent or None)


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


def evaluate(syn: Synthesis, policies: Iterable[Policy],
             config: Mapping[str, Mapping[str, Any]] | None = None) -> list[Finding]:
    """Every violation of `policies` in `syn`, with per-policy `config` as `--policy-pack-config` gives it."""
    config = config or {}
    findings: list[Finding] = []
    resources = [r for r in syn.resources if not r.type.startswith("pulumi:providers:")]
    by_urn = syn.by_urn()

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
                findings.append(Finding(policy.name, level.value, message, urn or default_urn, policy.description))
            return report

        try:
            if isinstance(policy, ResourceValidationPolicy):
                for r in resources:
                    args = ResourceValidationArgs(r.type, unknown_checking_proxy(_props(r.inputs)), r.urn, r.name,
                                                  _options(r), _provider(r, by_urn), policy_config, None)
                    _run(policy.validate(args, reporter(r.urn)))
            elif isinstance(policy, StackValidationPolicy):
                wrapped = {r.urn: PolicyResource(r.type, unknown_checking_proxy(_props(r.outputs)), r.urn, r.name,
                                                 _options(r), _provider(r, by_urn), None, [], {})
                           for r in resources}
                for r in resources:
                    pr = wrapped[r.urn]
                    pr.parent = wrapped.get(r.parent)
                    pr.dependencies = [wrapped[d] for d in r.options.get("dependencies", []) if d in wrapped]
                    pr.property_dependencies = {k: [wrapped[d] for d in v if d in wrapped]
                                                for k, v in r.options.get("property_dependencies", {}).items()}
                _run(policy.validate(StackValidationArgs(list(wrapped.values()), policy_config, None), reporter("")))
        except UnknownValueError as exc:
            findings.append(Finding(policy.name, EnforcementLevel.ADVISORY.value,
                                    f"can't run policy during preview: {exc.message}", "", policy.description))
        except Exception as exc:
            if type(exc).__name__ != "_NotApplicableError":  # pulumi_policy's private "not applicable" signal
                raise
    return findings


@dataclass(frozen=True)
class StackCheck:
    """The findings of one stack."""

    stack: str
    tier: str
    findings: list[Finding]
    error: str = ""
    """Why the stack could not be checked at all (a damaged or invalid stack file)."""

    @property
    def failed(self) -> bool:
        return bool(self.error) or any(f.mandatory for f in self.findings)


STACK_FILE_RULE = "redundo-stack-file-valid"


def failed_check(stack: str, error: str) -> StackCheck:
    """The result for a stack whose file could not be read or validated."""
    return StackCheck(stack, "", [], error)


def check_stack(stacks_dir: Path, stack: str) -> StackCheck:
    """Synthesize `stack` offline and evaluate the shipped pack with its tier's configuration."""
    from redundo.plan import synthesize_stack
    from redundo.policies.rules import POLICIES, tier_config
    from redundo.settings import parse_settings, read_stack_config

    raw = read_stack_config(stacks_dir, stack)
    settings = parse_settings(stack, raw)
    findings = evaluate(synthesize_stack(stack, raw), POLICIES, tier_config(settings.tier))
    return StackCheck(stack, settings.tier.name, findings)


def to_json(results: list[StackCheck]) -> dict[str, Any]:
    return {
        "failed": any(r.failed for r in results),
        "stacks": [{
            "stack": r.stack, "tier": r.tier, "failed": r.failed, **({"error": r.error} if r.error else {}),
            "findings": [{"policy": f.policy, "level": f.level, "resource": f.resource, "urn": f.urn,
                          "message": f.message, "description": f.description} for f in r.findings],
        } for r in results],
    }


def to_junit(results: list[StackCheck]) -> str:
    """JUnit XML: one suite a stack, one case a policy, a failure for each mandatory finding."""
    from xml.etree import ElementTree as ET

    from redundo.policies.rules import POLICIES

    root = ET.Element("testsuites", name="redundo check")
    for r in results:
        if r.error:
            suite = ET.SubElement(root, "testsuite", name=r.stack, tests="1", failures="0", errors="1")
            case = ET.SubElement(suite, "testcase", classname=r.stack, name=STACK_FILE_RULE)
            ET.SubElement(case, "error", message=r.error, type="invalid-stack-file").text = r.error
            continue
        suite = ET.SubElement(root, "testsuite", name=r.stack, tests=str(len(POLICIES)),
                              failures=str(len({f.policy for f in r.findings if f.mandatory})))
        for policy in POLICIES:
            case = ET.SubElement(suite, "testcase", classname=f"{r.stack}", name=policy.name)
            mine = [f for f in r.findings if f.policy == policy.name]
            blocking = [f for f in mine if f.mandatory]
            if blocking:
                failure = ET.SubElement(case, "failure", message=blocking[0].message, type="mandatory")
                failure.text = "\n".join(f"{f.resource}: {f.message}" for f in blocking)
            advisory = [f for f in mine if not f.mandatory]
            if advisory:
                ET.SubElement(case, "system-out").text = "\n".join(f"{f.resource}: {f.message}" for f in advisory)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def to_sarif(results: list[StackCheck]) -> dict[str, Any]:
    """SARIF 2.1.0: one rule a policy, one result a finding, the stack file as the location."""
    from redundo.policies.rules import POLICIES

    rules = [{"id": p.name, "shortDescription": {"text": p.description}} for p in POLICIES]
    if any(r.error for r in results):
        rules.append({"id": STACK_FILE_RULE,
                      "shortDescription": {"text": "The stack file is UTF-8 YAML with valid redundo: keys."}})
    index = {p.name: i for i, p in enumerate(POLICIES)}
    sarif_results = []
    for r in results:
        if r.error:
            sarif_results.append({
                "ruleId": STACK_FILE_RULE, "ruleIndex": len(rules) - 1, "level": "error",
                "message": {"text": r.error},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"stacks/Pulumi.{r.stack}.yaml"}}}],
            })
        for f in r.findings:
            sarif_results.append({
                "ruleId": f.policy,
                "ruleIndex": index.get(f.policy, 0),
                "level": "error" if f.mandatory else "warning",
                "message": {"text": f"{f.resource}: {f.message}"},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"stacks/Pulumi.{r.stack}.yaml"}},
                               "logicalLocations": [{"fullyQualifiedName": f.urn or r.stack}]}],
            })
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "redundo", "rules": rules}},
                  "results": sarif_results}],
    }
