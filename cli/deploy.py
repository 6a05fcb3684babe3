"""Deploys through the Automation API: up, preview, destroy, outputs, failover and failback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from redundo.cli._app import app, stdout
from redundo.cli._common import (
    AllowReplaceOpt,
    BackendOpt,
    BudgetOpt,
    DryRunOpt,
    InstallOpt,
    JsonOpt,
    StackOpt,
    TierOpt,
    YesOpt,
    _confirm,
    _emit_json,
    _print_outputs,
    _target,
)

if TYPE_CHECKING:
    pass


def _show_intent(verb: str, target, raw: dict[str, Any]) -> None:
    from redundo.cli import render

    from redundo.plan import Plan, synthesize_stack
    from redundo.pricing import estimate

    settings = target.settings
    plan_ = Plan(settings, synthesize_stack(settings.stack, raw), estimate(settings))
    for part in render.plan_view(plan_):
        stdout().print(part)
    stdout().print(f"State backend: {target.backend}")
    stdout().print(
        f"This will {verb} stack [bold]{settings.stack}[/bold] on tier [bold]{settings.tier.name}[/bold] "
        f"at €{plan_.cost.monthly_eur:.2f}/month in total (redundancy adds €{plan_.cost.redundancy_eur:.2f})."
    )


@app.command()
def up(
    stack: StackOpt = None,
    tier: TierOpt = None,
    budget: BudgetOpt = None,
    yes: YesOpt = False,
    backend: BackendOpt = None,
    install_pulumi: InstallOpt = False,
    allow_replace: AllowReplaceOpt = None,
) -> None:
    """Deploy a client stack for real through the Automation API, gated by the policy pack.

    Shows the tier, its cost and the resource plan first, and asks before anything is sent. A
    preview runs first: a run that would replace or delete the primary, the vault or the repository
    password is refused unless each is named with --allow-replace.
    """
    from redundo.cli import render
    from redundo.cli.progress import EventPrinter

    from redundo import deploy

    target, raw = _target(stack, tier, budget, backend, install_pulumi)
    _show_intent("deploy", target, raw)
    _confirm("Deploy?", yes)
    printer = EventPrinter(stdout())
    result = deploy.up(target, printer, allow_replace or ())
    stdout().print(render.summary_line("up", result.summary.resource_changes, printer))
    _print_outputs({k: (v.value, v.secret) for k, v in result.outputs.items()})
    if printer.failed:
        raise typer.Exit(1)


@app.command()
def preview(
    stack: StackOpt = None,
    tier: TierOpt = None,
    budget: BudgetOpt = None,
    backend: BackendOpt = None,
    install_pulumi: InstallOpt = False,
    allow_replace: AllowReplaceOpt = None,
) -> None:
    """Show what `up` would change in the real clouds (needs the pulumi CLI and credentials)."""
    from redundo.cli import render
    from redundo.cli.progress import EventPrinter

    from redundo import deploy

    target, _ = _target(stack, tier, budget, backend, install_pulumi)
    printer = EventPrinter(stdout())
    result = deploy.preview(target, printer, allow_replace or ())
    stdout().print(render.summary_line("preview", result.change_summary, printer))
    if printer.failed or printer.policy_violations:
        raise typer.Exit(1)


@app.command()
def destroy(
    stack: StackOpt = None, yes: YesOpt = False, backend: BackendOpt = None, install_pulumi: InstallOpt = False
) -> None:
    """Tear down a client stack, except what is protected: the primary, the vault and its password.

    Protected resources stay in the stack and in the cloud; the command lists them and says how to
    remove them on purpose.
    """
    from redundo.cli import render
    from redundo.cli.progress import EventPrinter

    from redundo import deploy
    from redundo.agent import BACKUP_TIMERS

    target, _ = _target(stack, None, None, backend, install_pulumi)
    name = target.settings.stack
    if not yes:
        stdout().print(
            f"This destroys the standby, the keys and the host DNS records of stack [bold]{name}[/bold]. "
            "The primary instance, the vault's bucket and the repository's password are protected: "
            "they are kept. The site's own record is left in the zone, pointing at the node that served."
        )
        if typer.prompt("Type the stack name to confirm") != name:
            raise typer.Abort()
    printer = EventPrinter(stdout())
    result, kept = deploy.destroy(target, printer)
    stdout().print(render.summary_line("destroy", result.summary.resource_changes, printer))
    if kept:
        stdout().print(
            f"kept (protected), still in stack {name}: " + ", ".join(urn.rsplit("::", 1)[-1] for urn, _ in kept)
        )
        stdout().print(
            f"To remove them on purpose: `pulumi state unprotect --stack {name} --all` (same "
            f"PULUMI_BACKEND_URL and passphrase), then `redundo destroy --stack {name}` again. The vault's "
            "bucket is retained in the cloud even then: delete it in the console once its lock has "
            "expired."
        )
    stdout().print(
        "the site's DNS record was left in the zone (retained), still pointing at the node that served "
        "the site; remove it in the OVH console when the site moves elsewhere"
    )
    if kept:
        stdout().print(
            "the kept primary's backup timers now run with deleted vault keys and fail every interval: "
            "stop them on it (`systemctl disable --now " + " ".join(BACKUP_TIMERS) + "`) or delete the instance"
        )
    if printer.failed:
        raise typer.Exit(1)


@app.command()
def refresh(
    stack: StackOpt = None, yes: YesOpt = False, backend: BackendOpt = None, install_pulumi: InstallOpt = False
) -> None:
    """Read the stack's resources back from the clouds; clears what an interrupted `up` left unfinished.

    A create that was cut off may have made a resource the state does not know: each is named, to be
    checked in the provider's console before the next `up`.
    """
    from redundo.cli import render
    from redundo.cli.progress import EventPrinter

    from redundo import deploy

    target, _ = _target(stack, None, None, backend, install_pulumi)
    _confirm(f"Refresh stack {target.settings.stack} from the clouds?", yes)
    printer = EventPrinter(stdout())
    result, unfinished = deploy.refresh(target, printer)
    stdout().print(render.summary_line("refresh", result.summary.resource_changes, printer))
    for urn in unfinished:
        stdout().print(
            f"interrupted while creating {urn.rsplit('::', 1)[-1]}: it may exist in the cloud without "
            "being in the state; delete it there (or import it) before `redundo up`, or it is made twice"
        )
    if printer.failed:
        raise typer.Exit(1)


@app.command()
def cancel(
    stack: StackOpt = None, yes: YesOpt = False, backend: BackendOpt = None, install_pulumi: InstallOpt = False
) -> None:
    """Release the lock an interrupted `up` left on the stack. Only when no other update is running."""
    from redundo import deploy

    target, _ = _target(stack, None, None, backend, install_pulumi, needs_credentials=False)
    _confirm(f"Is no other update of {target.settings.stack} running right now?", yes)
    deploy.cancel(target)
    stdout().print(
        f"stack {target.settings.stack} is unlocked; run `redundo refresh --stack {target.settings.stack}` next"
    )


@app.command()
def outputs(
    stack: StackOpt = None, json_: JsonOpt = False, backend: BackendOpt = None, install_pulumi: InstallOpt = False
) -> None:
    """Print a deployed stack's outputs; secrets stay masked."""
    from redundo import deploy

    target, _ = _target(stack, None, None, backend, install_pulumi, needs_credentials=False)
    values = deploy.outputs(target)
    if json_:
        _emit_json({k: ("[secret]" if secret else v) for k, (v, secret) in values.items()})
    else:
        _print_outputs(values)


def _switch(
    side: str,
    stack: str | None,
    yes: bool,
    dry_run: bool,
    backend: str | None,
    install: bool,
    allow_replace: list[str] | None = None,
    rebuild_primary: bool = False,
) -> None:
    from redundo.cli import render
    from redundo.cli.progress import EventPrinter

    from redundo import operations

    target, _ = _target(stack, None, None, backend, install, offline=dry_run)
    settings = target.settings
    verb = "failover" if side == "standby" else "failback"
    operations.refuse_if_active(settings, side)
    stdout().print(f"{verb} of [bold]{settings.stack}[/bold] to its {side}, as one update:")
    for number, step in enumerate(operations.switch_steps(settings, side, rebuild_primary=rebuild_primary), start=1):
        stdout().print(f"  {number}. {step}")
    if side == "standby":
        stdout().print("  If the primary might still be running, stop it first: two active nodes would both back up.")
    if dry_run:
        stdout().print("dry run: nothing was sent")
        return
    _confirm(f"Start the {verb}?", yes)
    printer = EventPrinter(stdout())
    if side == "standby":
        result = operations.failover(target, printer=printer, say=stdout().print, allow_replace=allow_replace or ())
    else:
        result = operations.failback(
            target,
            printer=printer,
            say=stdout().print,
            allow_replace=allow_replace or (),
            rebuild_primary=rebuild_primary,
        )
    stdout().print(render.summary_line(verb, result.summary.resource_changes, printer))
    if result.failed:
        raise typer.Exit(1)
    served = result.served_seconds or 0.0
    stdout().print(
        f"{settings.domain or settings.stack} is served from the {side} ({result.address}): "
        f"{result.update_seconds + served:.0f} s from the start, the update took {result.update_seconds:.0f} s; "
        f"visitors follow within the TTL ({settings.tier.dns_ttl_seconds} s)"
    )


@app.command()
def failover(
    stack: StackOpt = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    backend: BackendOpt = None,
    install_pulumi: InstallOpt = False,
    allow_replace: AllowReplaceOpt = None,
) -> None:
    """Move the site to its standby: bring it up, restore and verify, repoint DNS; one Pulumi update."""
    _switch("standby", stack, yes, dry_run, backend, install_pulumi, allow_replace)


@app.command()
def failback(
    stack: StackOpt = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    backend: BackendOpt = None,
    install_pulumi: InstallOpt = False,
    allow_replace: AllowReplaceOpt = None,
    rebuild_primary: Annotated[
        bool,
        typer.Option(
            "--rebuild-primary",
            help="The primary instance is lost: remove it (and the commands that ran on it) from the state, "
            "then build a new one. Its disk is gone; the site comes back from the vault.",
        ),
    ] = False,
) -> None:
    """Move the site back to the (rebuilt) primary after a last backup taken on the standby."""
    _switch("primary", stack, yes, dry_run, backend, install_pulumi, allow_replace, rebuild_primary)
