"""The `redundo` command line. Commands parse, call the domain, render; nothing else lives here.

The cloud SDKs are imported only inside the commands that synthesize or deploy, so that
`redundo --help` and `redundo tiers` start fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from redundo import settings as settings_mod
from redundo.errors import ConfigError, UsageError
from redundo.cli._app import app, stdout
from redundo.cli import render

__all__ = ["app", "run"]

StackOpt = Annotated[Optional[str], typer.Option("--stack", "-s", help="Client stack name (stacks/Pulumi.NAME.yaml).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every stack in stacks/.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, for machines.")]
TierOpt = Annotated[Optional[str], typer.Option("--tier", "-t", help="basic, standard or premium.")]


class _State:
    project: Path = Path(".")


_state = _State()


@app.callback()
def _main(
    project: Annotated[Optional[Path], typer.Option(
        "--project", envvar="REDUNDO_PROJECT", help="The redundo project directory (holds Pulumi.yaml and stacks/).",
        show_default="the nearest directory upwards with a Pulumi.yaml")] = None,
) -> None:
    """Off-site backups, a standby and failover for small sites, at a tier that fits the budget."""
    _state.project = project if project is not None else _find_project(Path.cwd())


def _find_project(start: Path) -> Path:
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    return start


def stacks_dir() -> Path:
    return _state.project / "stacks"


def _one_stack(stack: str | None) -> str:
    """The stack named, or the only one there is."""
    if stack is not None:
        return stack
    names = settings_mod.stack_names(stacks_dir())
    if len(names) == 1:
        return names[0]
    if not names:
        raise ConfigError(f"no stacks in {stacks_dir()}; create one with `redundo init NAME` or pass --project")
    raise UsageError(f"there are {len(names)} stacks ({', '.join(names)}); pass --stack NAME or --all")


def _stacks(stack: str | None, all_: bool) -> list[str]:
    if all_ and stack is not None:
        raise UsageError("--stack and --all exclude each other; pass one of them")
    if all_:
        names = settings_mod.stack_names(stacks_dir())
        if not names:
            raise ConfigError(f"no stacks in {stacks_dir()}; create one with `redundo init NAME`")
        return names
    return [_one_stack(stack)]


def _emit_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


@app.command()
def plan(stack: StackOpt = None, all_: AllOpt = False, tier: TierOpt = None, json_: JsonOpt = False) -> None:
    """Show what a stack builds, where each copy lives, its RPO/RTO and its itemized monthly cost.

    Runs the real stack program in-process against Pulumi mocks: no pulumi CLI, no credentials,
    no network.
    """
    from redundo.plan import make_plan
    from redundo.tiers import get_tier

    if tier is not None:
        get_tier(tier)
    names = _stacks(stack, all_)
    plans = [make_plan(stacks_dir(), name, tier=tier) for name in names]
    if json_:
        documents = [p.to_dict() for p in plans]
        _emit_json(documents if all_ else documents[0])
        return
    for p in plans:
        for part in render.plan_view(p):
            stdout.print(part)
        stdout.print()


@app.command()
def tiers(
    budget: Annotated[Optional[float], typer.Option("--budget", "-b", help="What the client can pay, EUR a month.")] = None,
    data_gb: Annotated[Optional[float], typer.Option("--data-gb", help="Site data to protect, GB.")] = None,
    stack: StackOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Compare the tiers' promises and itemized monthly costs; with --budget, mark the best that fits."""
    from redundo.pricing import best_tier, estimate_tiers

    client = _settings_for_pricing(stack, data_gb)
    estimates = estimate_tiers(client)
    chosen = best_tier(client, budget) if budget is not None else None
    if json_:
        _emit_json({"budget_eur": budget, "data_gb": client.data_gb,
                    "chosen": chosen.tier if chosen else None,
                    "tiers": [e.to_dict() for e in estimates]})
        return
    stdout.print(render.tiers_table(estimates, chosen.tier if chosen else None))
    for line in render.survives_lines(estimates):
        stdout.print(line)
    if chosen is not None:
        stdout.print(f"€{budget:.2f}/month buys [bold]{chosen.tier}[/bold] at €{chosen.monthly_eur:.2f}/month.")


@app.command()
def check(
    stack: StackOpt = None,
    all_: AllOpt = False,
    format_: Annotated[str, typer.Option("--format", "-f", help="text, json, junit or sarif.")] = "text",
) -> None:
    """Evaluate redundo's policy pack on stacks offline; exit 1 on any mandatory violation.

    The same policies gate `pulumi preview --policy-pack policies` where a CLI is installed.
    """
    formats = ("text", "json", "junit", "sarif")
    if format_ not in formats:
        raise UsageError(f"--format {format_!r} is not one of {', '.join(formats)}")
    from redundo import checks

    results = [checks.check_stack(stacks_dir(), name) for name in _stacks(stack, all_)]
    if format_ == "json":
        _emit_json(checks.to_json(results))
    elif format_ == "sarif":
        _emit_json(checks.to_sarif(results))
    elif format_ == "junit":
        typer.echo(checks.to_junit(results))
    else:
        for line in render.check_lines(results):
            stdout.print(line)
    if any(r.failed for r in results):
        raise typer.Exit(1)


def _settings_for_pricing(stack: str | None, data_gb: float | None) -> settings_mod.StackSettings:
    """A stack's settings, or the defaults when pricing a client that has no stack yet."""
    raw: dict[str, Any] = {}
    name = "example"
    if stack is not None:
        raw = settings_mod.read_stack_config(stacks_dir(), stack)
        name = stack
    if data_gb is not None:
        if not data_gb > 0:
            raise UsageError(f"--data-gb is {data_gb:g}; pass the site's data size in GB, greater than 0")
        raw["dataGb"] = data_gb
    return settings_mod.parse_settings(name, raw, for_deploy=stack is not None)


def run() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    app()
