"""Drive a policy pack the way the engine does: start it from its PulumiPolicy.yaml's virtualenv,
read its port, and call it over gRPC with resources encoded as the engine encodes them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pulumi
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from redundo.synthesis import Registered, Synthesis

SECRET_SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
CODES = {v: k for k, v in LEVELS.items()}


def virtualenv_of(pack: Path) -> Path:
    """The python environment the engine runs `pack` in: its `runtime.options.virtualenv`, which the
    language host resolves against the pack's directory."""
    runtime = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())["runtime"]
    options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
    assert "virtualenv" in options, f"{pack}/PulumiPolicy.yaml names no virtualenv"
    return (pack / options["virtualenv"]).resolve()


@contextmanager
def running_pack(pack: Path, *, stack: str, dry_run: bool) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack started as the python language host starts one (`python -u -m pulumi.policy ENGINE
    DIR` from the virtualenv, in the pack's directory, PATH led by the venv, no PYTHONPATH), its
    port read from the first line it prints."""
    venv = virtualenv_of(pack)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PULUMI_"))}
    env.update(
        {
            "PATH": f"{venv}/bin:{env.get('PATH', '')}",
            "PULUMI_PROJECT": "redundo",
            "PULUMI_STACK": stack,
            "PULUMI_DRY_RUN": "true" if dry_run else "false",
            "PULUMI_ORGANIZATION": "organization",
        }
    )
    process = subprocess.Popen(
        [str(venv / "bin" / "python"), "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(pack)],
        cwd=pack,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = process.stdout.readline().decode().strip()  # the pack prints its port, then serves
        if not line.isdigit():
            process.kill()
            raise AssertionError(f"the pack did not start: {line!r} {process.stderr.read().decode()[-2000:]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=30)
        try:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
        finally:
            channel.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def engine_value(value: Any) -> Any:
    """A registered wire value as the engine marshals it for an analyzer: secrets kept under their
    signature, unknowns as the unknown sentinel string."""
    if rpc.is_rpc_secret(value):
        return {SECRET_SIG_KEY: SECRET_SIG, "value": engine_value(rpc.unwrap_rpc_secret(value))}
    if isinstance(value, pulumi.output.Unknown):
        return rpc.UNKNOWN
    if isinstance(value, dict):
        return {k: engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [engine_value(v) for v in value]
    return value


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(engine_value(dict(props)), struct_pb2.Struct())


def _options(r: Registered) -> analyzer_pb2.AnalyzerResourceOptions:
    o = r.options
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(o.get("protect")),
        ignoreChanges=o.get("ignore_changes", []),
        deleteBeforeReplace=bool(o.get("delete_before_replace")),
        additionalSecretOutputs=o.get("additional_secret_outputs", []),
        parent=r.parent,
    )


def _provider(r: Registered, by_urn: Mapping[str, Registered]) -> analyzer_pb2.AnalyzerProviderResource | None:
    p = by_urn.get(r.provider_urn)
    if p is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(type=p.type, properties=_struct(p.inputs), urn=p.urn, name=p.name)


def configure(stub: analyzer_pb2_grpc.AnalyzerStub, config: Mapping[str, Mapping[str, Any]]) -> None:
    """Configure the pack as `--policy-pack-config` does: per policy, its level and its properties."""
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for policy in info.policies:
        wanted = dict(config.get(policy.name, {}))
        level = wanted.pop("enforcementLevel", None)
        request.policyConfig[policy.name].CopyFrom(
            analyzer_pb2.PolicyConfig(
                enforcementLevel=CODES[level] if level else policy.enforcementLevel,
                properties=json_format.ParseDict(wanted, struct_pb2.Struct()),
            )
        )
    stub.Configure(request)


def analyze(stub: analyzer_pb2_grpc.AnalyzerStub, syn: Synthesis) -> list[tuple[str, str, str, str]]:
    """Every diagnostic of one preview or update: Analyze per resource (inputs), then AnalyzeStack
    (outputs, parents, dependencies, property dependencies), as (policy, level, urn, message)."""
    by_urn = syn.by_urn()
    resources = [r for r in syn.resources if not r.type.startswith("pulumi:providers:")]
    diagnostics = []
    for r in resources:
        response = stub.Analyze(
            analyzer_pb2.AnalyzeRequest(
                type=r.type,
                properties=_struct(r.inputs),
                urn=r.urn,
                name=r.name,
                options=_options(r),
                provider=_provider(r, by_urn),
            )
        )
        diagnostics += [(d, r.urn) for d in response.diagnostics]
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=_struct(r.outputs),
                urn=r.urn,
                name=r.name,
                options=_options(r),
                provider=_provider(r, by_urn),
                parent=r.parent,
                dependencies=r.options.get("dependencies", []),
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r.options.get("property_dependencies", {}).items()
                },
            )
            for r in resources
        ]
    )
    diagnostics += [(d, "") for d in stub.AnalyzeStack(stack).diagnostics]
    # The engine files a resource policy's diagnostic under the resource it asked about.
    return [(d.policyName, LEVELS[d.enforcementLevel], d.urn or urn, d.message) for d, urn in diagnostics]
