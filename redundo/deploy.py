"""The one seam over `pulumi.automation`: real deploys of the same program `redundo plan` synthesizes.

Everything here runs the `pulumi` CLI, which needs the provider plugins and cloud credentials.
Tests hand the workspace a fake `PulumiCommand`; the CLI layer patches nothing else. State lives
in an embedded `file://` backend inside the project unless a team backend is given.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redundo.errors import OperationError, Stopped
from redundo.settings import NAMESPACE, StackSettings

__all__ = [
    "PROJECT",
    "STATE_DIR",
    "Interrupted",
    "ReplacementRefused",
    "Target",
    "cancel",
    "destroy",
    "missing_prerequisites",
    "open_stack",
    "outputs",
    "pending_operations",
    "preview",
    "refresh",
    "resolve_backend",
    "switch",
    "up",
]

PROJECT = "redundo"
STATE_DIR = Path(".redundo") / "state"
POLICY_CONFIG_DIR = Path(".redundo") / "policy-config"
POLICY_PACK_DIR = Path(".redundo") / "policy-pack"

OVH_KEYS = ("OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY")
OVH_OAUTH_KEYS = ("OVH_CLIENT_ID", "OVH_CLIENT_SECRET")
AWS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
INSTALL_HINT = "install it with `curl -fsSL https://get.pulumi.com | sh`"
INSTALL_OPTION_HINT = " or pass --install-pulumi"


class ReplacementRefused(OperationError):
    """A run would replace or delete a stateful resource that was not allowed by URN."""


class Interrupted(OperationError):
    """The user interrupted a run (Ctrl-C, or SIGTERM: exit 143); the message says what to run next."""

    exit_code = 130
    stop: BaseException | None = None
    """What stopped it (a CtrlC or SigTerm): a caller that stops whole (the rehearsal) raises it again."""


def resolve_backend(project: Path, explicit: str | None, env: Mapping[str, str]) -> str:
    """--backend, else PULUMI_BACKEND_URL, else the embedded file:// directory in the project."""
    url = explicit or env.get("PULUMI_BACKEND_URL")
    if url:
        if not url.startswith(("file://", "s3://", "https://", "gs://", "azblob://")):
            raise OperationError(
                f"backend {url!r} is not a state backend URL; use file://DIR, s3://BUCKET or https://api.pulumi.com"
            )
        return url
    return (project / STATE_DIR).resolve().as_uri()


def missing_prerequisites(
    settings: StackSettings,
    env: Mapping[str, str],
    *,
    cli_needed: bool = True,
    credentials_needed: bool = True,
    can_install: bool = False,
    which: Callable[[str], str | None] = shutil.which,
) -> list[str]:
    """What must be in place before a deploy, each as a clause: the CLI and each provider's credentials.

    can_install: the command offers --install-pulumi, so the hint may name it."""
    missing = []
    if cli_needed and which("pulumi") is None:
        hint = INSTALL_HINT + (INSTALL_OPTION_HINT if can_install else "")
        missing.append(f"the pulumi CLI is not on PATH ({hint})")
    if not credentials_needed:
        return missing
    if not (all(env.get(k) for k in OVH_KEYS) or all(env.get(k) for k in OVH_OAUTH_KEYS)):
        absent = [k for k in OVH_KEYS if not env.get(k)]
        missing.append(f"OVH credentials are missing: set {', '.join(absent)} (or OVH_CLIENT_ID and OVH_CLIENT_SECRET)")
    uses_aws = "aws" in (settings.backup_provider, settings.standby_provider)
    if uses_aws and not (all(env.get(k) for k in AWS_KEYS) or env.get("AWS_PROFILE")):
        absent = [k for k in AWS_KEYS if not env.get(k)]
        missing.append(f"AWS credentials are missing: set {', '.join(absent)} (or AWS_PROFILE)")
    return missing


@dataclass
class Target:
    """Which stack to act on, where its state lives, and how to reach the CLI."""

    project: Path
    settings: StackSettings
    backend: str
    passphrase: str
    pulumi_command: Any = None
    """A `pulumi.automation.PulumiCommand`; None finds `pulumi` on PATH."""
    tier_override: str | None = None


def open_stack(target: Target):
    """Create or select the stack in its backend and record the tier chosen for this run."""
    from pulumi import automation as auto

    from redundo.stacks.program import main

    if target.backend.startswith("file://"):
        Path(target.backend[len("file://") :]).mkdir(parents=True, exist_ok=True)
    options = auto.LocalWorkspaceOptions(
        work_dir=str(target.project),
        pulumi_command=target.pulumi_command,
        secrets_provider="passphrase",
        env_vars={
            "PULUMI_BACKEND_URL": target.backend,
            "PULUMI_CONFIG_PASSPHRASE": target.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        },
    )
    try:
        stack = auto.create_or_select_stack(
            stack_name=target.settings.stack, project_name=PROJECT, program=main, opts=options
        )
        if target.tier_override:
            # The stack file is the source of truth: the chosen tier is written there, not passed aside.
            stack.set_config(f"{NAMESPACE}:tier", auto.ConfigValue(target.tier_override))
    except auto.errors.CommandError as exc:
        raise OperationError(f"could not open stack {target.settings.stack!r}: {_first_line(exc)}") from None
    return stack


def _policy_args(target: Target) -> dict[str, list[str]]:
    """The shipped pack and this stack's tier limits, so that the engine gates the deploy too."""
    from redundo.policies.rules import tier_config

    config_dir = target.project / POLICY_CONFIG_DIR
    config_dir.mkdir(parents=True, exist_ok=True)
    config_file = config_dir / f"{target.settings.stack}.json"
    config_file.write_text(json.dumps(tier_config(target.settings.tier), indent=2))
    return {"policy_packs": [str(runnable_policy_pack(target.project))], "policy_pack_configs": [str(config_file)]}


def policy_pack_dir() -> Path:
    """The installed pack (PulumiPolicy.yaml and __main__.py), wherever redundo is installed."""
    import redundo.policies

    return Path(redundo.policies.__file__).resolve().parent


def runnable_policy_pack(project: Path) -> Path:
    """The shipped pack, set to run in the python environment redundo itself runs in.

    The engine starts a Python pack in the virtualenv its PulumiPolicy.yaml names, resolved
    against the pack's directory. The shipped file names the project's `.venv`, which holds for a
    checkout; an installed redundo (a CI runner's venv, pipx) lives elsewhere, so deploys hand the
    engine a copy under `.redundo/policy-pack` naming this interpreter's environment."""
    import sys

    import yaml

    source = policy_pack_dir()
    pack = project / POLICY_PACK_DIR
    pack.mkdir(parents=True, exist_ok=True)
    shipped = yaml.safe_load((source / "PulumiPolicy.yaml").read_text())
    options = {"toolchain": "pip"}
    if sys.prefix != sys.base_prefix:  # a virtualenv; otherwise the python on PATH is the one
        options["virtualenv"] = sys.prefix
    shipped["runtime"] = {"name": "python", "options": options}
    (pack / "PulumiPolicy.yaml").write_text(yaml.safe_dump(shipped, sort_keys=False))
    shutil.copyfile(source / "__main__.py", pack / "__main__.py")
    return pack


def _first_line(exc: BaseException) -> str:
    """The CLI's own error line out of a CommandError's dump of code, stdout and stderr."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[-1] if lines else type(exc).__name__


def _run(verb: str, action: Callable[[], Any], stack_name: str = "") -> Any:
    from pulumi import automation as auto

    try:
        return action()
    except auto.errors.ConcurrentUpdateError:
        name = stack_name or "STACK"
        raise OperationError(
            f"stack {name!r} is locked by another update; if none is running (an interrupted `up` leaves its "
            f"lock), run `redundo cancel --stack {name}`, then `redundo refresh --stack {name}`, then this again"
        ) from None
    except auto.errors.CommandError as exc:
        if "marked for protection" in str(exc):
            from redundo.replacement import PROTECTED_STEP

            raise OperationError(
                f"pulumi {verb} failed: it would replace a resource marked for protection; {PROTECTED_STEP}"
            ) from None
        if _lost_instance(str(exc)):
            name = stack_name or "STACK"
            raise OperationError(
                f"pulumi {verb} failed: OVH no longer has an instance the state holds (the provider cannot read a "
                "deleted instance, so refresh fails on it); if it is the primary, run `redundo failback "
                f"--rebuild-primary --stack {name}`: it removes the lost primary from the state and builds a new "
                "one"
            ) from None
        raise OperationError(f"pulumi {verb} failed: {_first_line(exc)}") from None


def _lost_instance(text: str) -> bool:
    """terraform-provider-ovh resourceCloudProjectInstanceRead returns "Error calling Get
    /cloud/project/{sn}/instance/{id}" on a 404 instead of dropping the resource (no SetId(""))."""
    return "Error calling Get /cloud/project/" in text and "/instance/" in text


PRIMARY_INSTANCE_MARK = "redundo:index:PrimarySite$ovh:CloudProject/instance:Instance::"


def forget_lost_primary(target: Target) -> list[str]:
    """Remove a lost primary instance from the stack's state, with the commands that ran on its disk,
    so that the next update builds a new one and provisions it from scratch.

    The instance is protected (the engine refuses to replace it) and OVH's provider cannot refresh it
    once it is gone, so neither refresh nor --allow-replace can rebuild it. Its A record and the
    vault stay: the record is updated in place to the new address. Returns the removed URNs."""
    stack = open_stack(target)
    name = target.settings.stack
    _refuse_if_interrupted(stack, name)
    state = _run("stack export", stack.export_stack, name)
    deployment = state.deployment or {}
    resources = deployment.get("resources") or []
    gone = {r["urn"] for r in resources if PRIMARY_INSTANCE_MARK in r["urn"]}
    if not gone:
        raise OperationError(
            f"stack {name!r} holds no primary instance in its state; run `redundo failback "
            f"--stack {name}` without --rebuild-primary"
        )

    def refs(r: dict[str, Any]) -> set[str]:
        deps = set(r.get("dependencies") or [])
        for more in (r.get("propertyDependencies") or {}).values():
            deps.update(more or [])
        return deps

    # Commands that ran on the lost disk (host key pin, agent install, role, repository check) run
    # again on the new host: they go with it, transitively.
    grew = True
    while grew:
        grew = False
        for r in resources:
            if r["urn"] not in gone and r.get("type", "").startswith("command:") and refs(r) & gone:
                gone.add(r["urn"])
                grew = True
    kept = []
    for r in resources:
        if r["urn"] in gone or r.get("parent") in gone:
            gone.add(r["urn"])
            continue
        # The engine checks the imported state: nothing may depend on a resource it no longer holds
        # (the host record is updated to the new instance's address on the next update).
        if r.get("dependencies"):
            r["dependencies"] = [d for d in r["dependencies"] if d not in gone]
        if r.get("propertyDependencies"):
            r["propertyDependencies"] = {
                k: [d for d in v or [] if d not in gone] for k, v in r["propertyDependencies"].items()
            }
        if r.get("deletedWith") in gone:
            del r["deletedWith"]
        kept.append(r)
    deployment["resources"] = kept
    _run("stack import", lambda: stack.import_stack(state), name)
    return sorted(gone)


def pending_operations(stack) -> list[tuple[str, str]]:
    """What an interrupted update left unfinished, from the state: (operation, urn) pairs."""
    state = _run("stack export", stack.export_stack)
    operations = (state.deployment or {}).get("pending_operations") or []
    return [(op.get("type", "?"), (op.get("resource") or {}).get("urn", "?")) for op in operations]


def _refuse_if_interrupted(stack, name: str) -> None:
    pending = pending_operations(stack)
    if pending:
        what = ", ".join(f"{op} of {urn.rsplit('::', 1)[-1]}" for op, urn in pending)
        raise OperationError(
            f"the last update of stack {name!r} was interrupted during {what}; run `redundo refresh --stack {name}` "
            "(it reads what exists in the clouds and clears the unfinished operations), then `redundo up` again"
        )


def _guarded_preview(
    stack,
    target: Target,
    verb: str,
    allow_replace: Iterable[str],
    on_event: Callable[[Any], None] | None = None,
    *,
    refresh: bool = False,
):
    """Preview first and refuse, before anything changes, a run that would replace or delete a
    stateful resource (the primary, the vault, its lock, the repository password) not allowed by URN."""
    from redundo.replacement import PROTECTED_STEP, ReplacementGuard, refusal

    guard = ReplacementGuard(allow_replace)

    def both(event: Any) -> None:
        guard(event)
        if on_event is not None:
            on_event(event)

    try:
        result = _run(
            "preview",
            lambda: stack.preview(on_event=both, color="never", refresh=refresh or None, **_policy_args(target)),
            target.settings.stack,
        )
    except OperationError as exc:
        if "marked for protection" in str(exc):
            raise ReplacementRefused(
                f"refusing to {verb}: the preview would replace a protected resource; "
                f"{PROTECTED_STEP}; nothing was changed"
            ) from None
        raise
    protected = {urn for urn, _ in protected_resources(stack)} if (guard.hazards or guard.accepted) else set()
    if guard.hazards:
        raise ReplacementRefused(refusal(verb, guard.hazards.values(), protected))
    if guard.accepted & protected:
        names = ", ".join(sorted(guard.accepted & protected))
        raise ReplacementRefused(
            f"refusing to {verb}: --allow-replace names {names}; {PROTECTED_STEP}; nothing was changed"
        )
    return result


def up(target: Target, on_event: Callable[[Any], None], allow_replace: Iterable[str] = ()):
    """Deploy the stack under the policy pack, after a preview that found nothing stateful to
    replace or delete; returns the engine's UpResult."""
    stack = open_stack(target)
    name = target.settings.stack
    _refuse_if_interrupted(stack, name)
    _guarded_preview(stack, target, "deploy", allow_replace)
    try:
        return _run("up", lambda: stack.up(on_event=on_event, color="never", **_policy_args(target)), name)
    except (KeyboardInterrupt, Stopped) as stop:
        raise _stopped(
            stop,
            f"during `up` of stack {name!r}: run `redundo up --stack {name}` again; it says "
            "whether the update left a lock (`redundo cancel`) or unfinished operations "
            "(`redundo refresh`)",
        ) from None


def refresh(target: Target, on_event: Callable[[Any], None]):
    """Read every resource back from the clouds and drop the creates an interrupted update left
    unfinished; returns the engine's RefreshResult and those creates' URNs (which may exist as
    orphans in the clouds)."""
    stack = open_stack(target)
    name = target.settings.stack
    unfinished = [urn for op, urn in pending_operations(stack) if op == "creating"]
    result = _run("refresh", lambda: stack.refresh(on_event=on_event, color="never", clear_pending_creates=True), name)
    return result, unfinished


def cancel(target: Target) -> None:
    """Release the lock an interrupted update left on the stack (the CLI's `pulumi cancel`)."""
    stack = open_stack(target)
    _run("cancel", stack.cancel, target.settings.stack)


def preview(target: Target, on_event: Callable[[Any], None], allow_replace: Iterable[str] = ()):
    """Preview the stack under the policy pack; returns the engine's PreviewResult. Raises
    ReplacementRefused (after the events were shown) when `up` would refuse."""
    stack = open_stack(target)
    _refuse_if_interrupted(stack, target.settings.stack)
    return _guarded_preview(stack, target, "deploy", allow_replace, on_event)


def destroy(target: Target, on_event: Callable[[Any], None]):
    """Destroy every unprotected resource of the stack; returns the engine's DestroyResult and the
    resources kept because they are protected, as (urn, type) pairs.

    A plain destroy fails as a whole on the first protected resource; excluding them destroys the
    rest and says what stays (the primary, the vault, the repository password)."""
    stack = open_stack(target)
    result = _run("destroy", lambda: stack.destroy(on_event=on_event, color="never", exclude_protected=True))
    return result, protected_resources(stack)


def protected_resources(stack) -> list[tuple[str, str]]:
    """The stack's protected resources, from its state (only URNs and types are read)."""
    state = _run("stack export", stack.export_stack)
    resources = (state.deployment or {}).get("resources") or []
    return [(r["urn"], r["type"]) for r in resources if r.get("protect")]


def switch(
    target: Target,
    side: str,
    token: str,
    on_event: Callable[[Any], None],
    *,
    refresh: bool = False,
    allow_replace: Iterable[str] = (),
):
    """Make `side` the active node: record it in the stack's config, then one update under the pack.

    The program does the rest in order: bring the node up, restore and verify on it, move the
    site's record (the provider refreshes the zone). refresh=True first reconciles the state with the clouds (a
    burned primary that must be rebuilt)."""
    from pulumi import automation as auto

    stack = open_stack(target)
    try:
        stack.set_config(f"{NAMESPACE}:activeSide", auto.ConfigValue(side))
        stack.set_config(f"{NAMESPACE}:switchedAt", auto.ConfigValue(token))
    except auto.errors.CommandError as exc:
        raise OperationError(
            f"could not record the switch in stack {target.settings.stack!r}: {_first_line(exc)}"
        ) from None

    def undo() -> None:
        # Nothing was sent: the stack's recorded side goes back to what it was, or the next
        # routine `redundo up` would carry out the switch.
        stack.set_config(f"{NAMESPACE}:activeSide", auto.ConfigValue(target.settings.active_side))
        if target.settings.switched_at:
            stack.set_config(f"{NAMESPACE}:switchedAt", auto.ConfigValue(target.settings.switched_at))
        else:
            stack.remove_config(f"{NAMESPACE}:switchedAt")

    verb = "failover" if side == "standby" else "failback"
    try:
        _guarded_preview(
            stack, target, "fail over" if side == "standby" else "fail back", allow_replace, refresh=refresh
        )
    except ReplacementRefused:
        undo()
        raise
    except (KeyboardInterrupt, Stopped) as stop:
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            undo()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise _stopped(
            stop,
            f"during the {verb}'s preview of stack {target.settings.stack!r}; nothing was "
            f"sent and the stack still serves from its {target.settings.active_side}",
        ) from None
    try:
        return _run(
            "up", lambda: stack.up(on_event=on_event, color="never", refresh=refresh or None, **_policy_args(target))
        )
    except (KeyboardInterrupt, Stopped) as stop:
        name = target.settings.stack
        raise _stopped(
            stop,
            f"during the {verb} of stack {name!r}, which now records its {side} as active: "
            f"run `redundo up --stack {name}` to finish it (it says whether the update left a "
            "lock, `redundo cancel`, or unfinished operations, `redundo refresh`)",
        ) from None


def _stopped(stop: BaseException, what: str) -> Interrupted:
    """The one-line Interrupted for a Ctrl-C or SIGTERM `stop`, with its exit code."""
    stopped = Interrupted(f"{getattr(stop, 'how', 'interrupted')} {what}")
    stopped.exit_code = getattr(stop, "exit_code", Interrupted.exit_code)
    stopped.stop = stop
    return stopped


def outputs(target: Target) -> dict[str, tuple[Any, bool]]:
    """The stack's outputs as name -> (value, is_secret)."""
    stack = open_stack(target)
    result = _run("stack output", stack.outputs)
    return {name: (value.value, value.secret) for name, value in result.items()}
