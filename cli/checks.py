"""Checks that need no cloud: plan, tiers and check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from redundo.cli._app import app, stdout
from redundo.cli._common import (
    AllOpt,
    BudgetOpt,
    JsonOpt,
    StackOpt,
    TierOpt,
    _emit_json,
    _settings_for_pricing,
    _settings_module,
    _stacks,
    _with_progress,
    stacks_dir,
)

from redundo.errors import OperationError, UsageError

DiffOpt = Annotated[
    bool,
    typer.Option(
        "--diff",
        help="Compare the stack as deployed (its recorded state, else its stack file) with what it would "
        "become (with --tier): per resource what changes and whether it is replaced; exit 1 when a "
        "stateful resource would be replaced or deleted.",
    ),
]


@app.command()
def plan(
    stack: StackOpt = None, all_: AllOpt = False, tier: TierOpt = None, json_: JsonOpt = False, diff: DiffOpt = False
) -> None:
    """Show what a stack builds, where each copy lives, its RPO/RTO and its itemized monthly cost.

    Runs the real stack program in-process against Pulumi mocks: no pulumi CLI, no credentials,
    no network.
    """
    if diff:
        _plan_diff(stack, all_, tier, json_)
        return
    from redundo.tiers import get_tier

    if tier is not None:
        get_tier(tier)
    names = _stacks(stack, all_)
    if not all_:
        _validate(names[0], tier)  # a bad stack file fails in a blink, before the SDKs load
    from functools import partial

    from redundo.stacks import program  # noqa: F401  loaded once here, shared by the forked workers

    from redundo.fleet import StackFailure, failure_summary, guarded, map_stacks
    from redundo.plan import make_plan

    # With --all a damaged stack file is one failed entry; the other clients are still planned.
    wrap = guarded if all_ else (lambda fn: fn)
    failures: list[StackFailure] = []
    if json_:
        # Workers send back each document already as JSON text, indented for its place in the
        # array with --all: encoding and indenting are pure Python, so they are spread over the
        # cores, and the text is cheaper to pickle than a synthesis.
        texts = []
        plan_json = partial(_plan_json, stacks_dir(), tier, nested=all_)
        for doc in _with_progress(map_stacks(wrap(plan_json), names), names, all_):
            if isinstance(doc, StackFailure):
                failures.append(doc)
                doc = _json_text(doc.to_dict(), nested=all_)
            texts.append(doc)
        _write_json(_json_array(texts) if all_ else texts[0])
    else:
        from redundo.cli import render
        from rich.markup import escape  # not for --json: rich costs start-up time

        for p in _with_progress(map_stacks(wrap(partial(make_plan, stacks_dir(), tier=tier)), names), names, all_):
            if isinstance(p, StackFailure):
                failures.append(p)
                stdout().print(f"[red]stack {p.stack}: not planned[/red]: {escape(p.message)}")
            else:
                for part in render.plan_view(p):
                    stdout().print(part)
            stdout().print()
    if failures:
        raise OperationError(failure_summary(failures, len(names)))


def _validate(name: str, tier: str | None) -> None:
    raw = _settings_module().read_stack_config(stacks_dir(), name)
    _settings_module().parse_settings(name, {**raw, "tier": tier} if tier is not None else raw)


def _plan_diff(stack: str | None, all_: bool, tier: str | None, json_: bool) -> None:
    from redundo.cli._common import _one_stack, project_dir

    from redundo.plandiff import make_diff
    from redundo.tiers import get_tier

    if all_:
        raise UsageError("--diff compares one stack; pass --stack NAME instead of --all")
    if tier is not None:
        tier = get_tier(tier).name
    report = make_diff(project_dir(), _one_stack(stack), tier=tier)
    if json_:
        _emit_json(report.to_dict())
    else:
        for line in _diff_lines(report):
            stdout().print(line, highlight=False, markup=False, soft_wrap=True)
    if report.destructive:
        raise typer.Exit(1)


_DIFF_SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": "="}


def _diff_lines(report) -> list[str]:
    lines = [f"{report.stack}: as deployed ({report.before}) -> as it would become ({report.after})"]
    for c in report.changes:
        if c.op == "same" and not c.held:
            continue
        kind = c.type.split(":", 1)[0] + ":" + c.type.rsplit(":", 1)[-1]
        line = f"  {_DIFF_SYMBOL[c.op]:2} {c.op:8} {kind}  {c.name}"
        if c.replaced_by:
            line += f"  replaced because {', '.join(c.replaced_by)} changed [{c.source}]"
        elif c.changed:
            line += f"  ({', '.join(c.changed)})"
        if c.held:
            line += f"  held at the deployed value (ignore_changes): {', '.join(c.held)}"
        if c.op == "delete" and c.type.endswith("BucketObjectLockConfiguration"):
            line += (
                "  new backups are no longer locked; versions already locked stay locked until their "
                "retain-until date, and object lock stays enabled on the bucket for good"
            )
        lines.append(line)
    if report.destructive:
        lines.append("REPLACES OR DELETES STATEFUL: " + ", ".join(f"{c.name} ({c.op})" for c in report.destructive))
    else:
        removed = [c.name for c in report.changes if c.op == "delete" and c.stateful]
        lines.append(
            "No stateful resource is replaced or deleted."
            + (
                f" The standby's instance is removed ({', '.join(removed)}): the tier's standby is cold, created at "
                "failover."
                if removed
                else ""
            )
        )
    return lines


def _json_text(document: Any, *, nested: bool = False) -> str:
    """json.dumps(document, indent=2); with `nested`, as it appears as an item of such an array."""
    import json

    text = json.dumps(document, indent=2, ensure_ascii=False)
    return "  " + text.replace("\n", "\n  ") if nested else text


def _plan_json(directory: Path, tier: str | None, name: str, *, nested: bool = False) -> str:
    from redundo.plan import make_plan

    return _json_text(make_plan(directory, name, tier=tier).to_dict(), nested=nested)


def _json_array(items: list[str]) -> str:
    """What json.dumps(documents, indent=2) writes, from each document's _json_text(nested=True)."""
    if not items:
        return "[]"
    return "[\n" + ",\n".join(items) + "\n]"


def _write_json(text: str) -> None:
    """typer.echo(text) less its pass over the text for ANSI codes to strip off a terminal: JSON
    holds none (json.dumps escapes every control character), and over a fleet's 50 MB that pass
    was a tenth of a second."""
    import sys

    if sys.stdout is None:  # started with stdout closed: nowhere to write, as with typer.echo
        return
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@app.command()
def tiers(
    budget: BudgetOpt = None,
    data_gb: Annotated[float | None, typer.Option("--data-gb", help="Site data to protect, GB.")] = None,
    stack: StackOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Compare the tiers' promises and itemized monthly costs; with --budget, mark the best that fits."""
    from redundo.cli import render

    from redundo.pricing import best_tier, estimate_tiers

    client = _settings_for_pricing(stack, data_gb)
    estimates = estimate_tiers(client)
    chosen = best_tier(client, budget) if budget is not None else None
    if json_:
        _emit_json(
            {
                "budget_eur": budget,
                "budget_means": "redundancy_eur" if budget is not None else None,
                "data_gb": client.data_gb,
                "chosen": chosen.tier if chosen else None,
                "tiers": [e.to_dict() for e in estimates],
            }
        )
        return
    stdout().print(render.tiers_table(estimates, chosen.tier if chosen else None))
    for line in render.survives_lines(estimates):
        stdout().print(line)
    if budget is not None and chosen is not None:  # chosen only with a budget
        stdout().print(render.budget_line(budget, chosen))


@app.command()
def check(
    stack: StackOpt = None,
    all_: AllOpt = False,
    format_: Annotated[str, typer.Option("--format", "-f", help="text, json, junit or sarif.")] = "text",
    preview: Annotated[
        bool,
        typer.Option(
            "--preview", help="Only as the engine previews a new stack: every provider-computed value unknown."
        ),
    ] = False,
    deployed: Annotated[
        bool, typer.Option("--deployed", help="Only with the computed values known (mocked), as once the stack exists.")
    ] = False,
    allow_unknown: Annotated[
        bool,
        typer.Option("--allow-unknown", help="Do not fail when a mandatory rule cannot decide from what is known."),
    ] = False,
) -> None:
    """Evaluate redundo's policy pack on stacks offline; exit 1 on any mandatory violation.

    By default each stack is evaluated twice: as `pulumi preview` sees a stack being created
    (computed values unknown) and with the computed values known. A mandatory rule that cannot
    decide fails the check too, unless --allow-unknown. The same policies gate
    `pulumi preview --policy-pack policies` where a CLI is installed.
    """
    from redundo.cli import render

    formats = ("text", "json", "junit", "sarif")
    if format_ not in formats:
        raise UsageError(f"--format {format_!r} is not one of {', '.join(formats)}")
    from functools import partial

    names = _stacks(stack, all_)
    if not all_:
        _validate(names[0], None)  # a bad stack file fails in a blink, before the SDKs load
    from redundo.stacks import program  # noqa: F401  loaded once here, shared by the forked workers

    from redundo import checks
    from redundo.fleet import StackFailure, failure_summary, guarded, map_stacks

    if preview and deployed:
        raise UsageError("--preview and --deployed exclude each other; pass neither to evaluate both")
    modes = ("preview",) if preview else ("deployed",) if deployed else checks.MODES
    check_one = partial(checks.check_stack, stacks_dir(), modes=modes, allow_unknown=allow_unknown)
    # With --all a damaged stack file is one failed case; the other clients are still checked.
    results = [
        checks.failed_check(r.stack, r.message) if isinstance(r, StackFailure) else r
        for r in _with_progress(map_stacks(guarded(check_one) if all_ else check_one, names), names, all_)
    ]
    if format_ == "json":
        _emit_json(checks.to_json(results))
    elif format_ == "sarif":
        _emit_json(checks.to_sarif(results))
    elif format_ == "junit":
        typer.echo(checks.to_junit(results))
    else:
        for line in render.check_lines(results):
            stdout().print(line)
    broken = [StackFailure(r.stack, r.error) for r in results if r.error]
    if broken:
        raise OperationError(failure_summary(broken, len(names)))
    if any(r.failed for r in results):
        raise typer.Exit(1)
