"""Human output: rich tables and trees for plans, costs and tiers. Machines get --json instead."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from redundo.pricing import CostEstimate
from redundo.tiers import TIERS

if TYPE_CHECKING:
    from redundo.plan import Plan

__all__ = ["cost_table", "minutes", "plan_view", "tiers_table"]


def minutes(value: int) -> str:
    """60 -> '1 h', 1680 -> '28 h', 20 -> '20 min'."""
    if value >= 60 and value % 60 == 0:
        return f"{value // 60} h"
    return f"{value} min"


def _short_type(type_: str) -> str:
    # "aws:s3/bucketVersioning:BucketVersioning" -> "aws:BucketVersioning"
    package, _, rest = type_.partition(":")
    return f"{package}:{rest.rsplit(':', 1)[-1]}" if rest else type_


def resource_tree(plan: Plan) -> Tree:
    rows = [r for r in plan.resources() if not r["type"].startswith("pulumi:providers:")]
    children: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        children.setdefault(row["parent"], []).append(row)
    roots = [r for r in rows if r["parent"] not in {x["urn"] for x in rows}]
    tree = Tree(f"stack [bold]{plan.settings.stack}[/bold]")

    def add(node: Tree, row: dict[str, Any]) -> None:
        label = f"{_short_type(row['type'])}  {row['name']}"
        if row["provider"]:
            label += f"  [dim](provider {row['provider']})[/dim]"
        branch = node.add(label)
        for child in children.get(row["urn"], []):
            add(branch, child)

    for root in roots:
        add(tree, root)
    return tree


def locations_table(plan: Plan) -> Table:
    table = Table(title="Where each copy lives", title_justify="left")
    for column in ("role", "what", "provider", "region", "city"):
        table.add_column(column)
    for row in plan.locations():
        table.add_row(
            row["role"], row["what"], row["provider"].upper(), row["region"], f"{row['city']}, {row['country']}"
        )
    return table


def cost_table(cost: CostEstimate) -> Table:
    table = Table(title=f"Monthly cost, tier {cost.tier}, {cost.data_gb:g} GB (EUR, excl. VAT)", title_justify="left")
    table.add_column("part")
    table.add_column("item")
    table.add_column("€/month", justify="right")
    table.add_column("price of", justify="right")
    table.add_column("src")
    sources = _sources(cost)
    for item in cost.items:
        flag = "" if item.status == "V" else f" \\[{item.status}]"
        table.add_row(
            item.part, item.what, f"{item.monthly_eur:.2f}", item.date, f"\\[{sources.index(item.source) + 1}]{flag}"
        )
    table.add_row("", "[bold]total[/bold]", f"[bold]{cost.monthly_eur:.2f}[/bold]", "", "")
    table.add_row("", "of which redundancy", f"{cost.redundancy_eur:.2f}", "", "")
    return table


def _sources(cost: CostEstimate) -> list[str]:
    return list(dict.fromkeys(item.source for item in cost.items))


def cost_notes(cost: CostEstimate) -> list[str]:
    lines = [f"\\[{n}] {source}" for n, source in enumerate(_sources(cost), start=1)]
    lines += ["Assumes: " + a for a in cost.assumptions]
    lines += ["Not included: " + e for e in cost.exclusions]
    if any(i.status != "V" for i in cost.items):
        lines.append("\\[S] secondary source only; \\[U] unverified or conflicting, the higher figure is used")
    return lines


def plan_view(plan: Plan) -> list[Any]:
    """The renderables of `redundo plan`, in order."""
    tier = plan.settings.tier
    header = (
        f"[bold]{plan.settings.stack}[/bold]: tier [bold]{tier.name}[/bold] ({tier.strategy}), "
        f"RPO {minutes(tier.rpo_minutes)}, RTO {minutes(tier.rto_minutes)}, "
        f"€{plan.cost.monthly_eur:.2f}/month in total, of which redundancy €{plan.cost.redundancy_eur:.2f}"
    )
    return [header, resource_tree(plan), locations_table(plan), cost_table(plan.cost), *cost_notes(plan.cost)]


def tiers_table(estimates: list[CostEstimate], chosen: str | None) -> Table:
    table = Table(title="Tiers (EUR a month, excl. VAT)", title_justify="left")
    for column in ("", "tier", "strategy", "RPO", "RTO", "standby", "total €/month", "redundancy adds €"):
        table.add_column(column, justify="right" if "€" in column else "left")
    for cost in estimates:
        tier = TIERS[cost.tier]
        mark = "→" if cost.tier == chosen else ""
        table.add_row(
            mark,
            tier.name,
            tier.strategy,
            minutes(tier.rpo_minutes),
            minutes(tier.rto_minutes),
            tier.standby_mode,
            f"{cost.monthly_eur:.2f}",
            f"{cost.redundancy_eur:.2f}",
        )
    return table


def budget_line(budget: float, chosen: CostEstimate) -> str:
    """What a redundancy budget buys, with the total the client pays including the primary."""
    return (
        f"€{budget:.2f}/month for redundancy buys [bold]{chosen.tier}[/bold]: it adds "
        f"€{chosen.redundancy_eur:.2f}/month to the site's own server, €{chosen.monthly_eur:.2f}/month in total."
    )


def survives_lines(estimates: list[CostEstimate]) -> list[str]:
    """What each tier survives and what it does not, in a client's words."""
    lines = []
    for cost in estimates:
        tier = TIERS[cost.tier]
        lines.append(f"[bold]{tier.name}[/bold] survives: " + "; ".join(tier.survives) + ".")
        lines.append("  not: " + "; ".join(tier.does_not_survive) + ".")
    return lines


def check_lines(results: list[Any]) -> list[str]:
    """`redundo check` as text: one line a finding, naming the rule, the resource and the fix."""
    lines = []
    for r in results:
        if r.error:
            lines.append(f"[red]FAIL[/red] {r.stack}: invalid stack file: {escape(r.error)}")
            continue
        violations = [f for f in r.findings if not f.undecided]
        blocking = sum(1 for f in violations if f.mandatory)
        advisory = len(violations) - blocking
        undecided = len(r.findings) - len(violations)
        verdict = "[red]FAIL[/red]" if r.failed else "[green]ok[/green]"
        lines.append(
            f"{verdict} {r.stack} (tier {r.tier}, {' and '.join(r.modes)}): {blocking} mandatory, "
            f"{advisory} advisory, {undecided} undecided"
        )
        for f in r.findings:
            kind = "undecided" if f.undecided else f.level
            lines.append(
                f"  {kind:9} {f.policy}: {f.resource}: {escape(f.message)} " + escape(f"[{', '.join(f.modes)}]")
            )
    return lines


def summary_line(verb: str, changes: Any, printer: Any) -> str:
    """One line at the end of a run: what changed, what failed, what the policies said."""
    counts = {getattr(k, "value", str(k)): v for k, v in (changes or {}).items()}
    changed = ", ".join(f"{n} {op}" for op, n in sorted(counts.items()) if op != "same" and n)
    parts = [f"{verb}: {changed or 'no changes'}"]
    if printer.failed:
        parts.append(f"[red]{len(printer.failed)} failed[/red]: " + ", ".join(escape(n) for n, _ in printer.failed))
    if printer.policy_violations:
        parts.append(f"{len(printer.policy_violations)} policy finding(s)")
    return "; ".join(parts)


def outputs_table(values: dict[str, tuple[Any, bool]]) -> Table:
    table = Table(title="Outputs", title_justify="left")
    table.add_column("name")
    table.add_column("value")
    for name, (value, secret) in sorted(values.items()):
        table.add_row(
            name, "\\[secret]" if secret else escape(json.dumps(value) if not isinstance(value, str) else value)
        )
    return table


def drill_lines(report: Any) -> list[str]:
    """`redundo drill` as text: what came back, how exactly, and RPO/RTO against the promise."""
    verdict = "[green]PASSED[/green]" if report.passed else "[red]FAILED[/red]"
    lines = [f"{verdict}: tier {report.tier}, snapshot {report.snapshot_id[:8] or '-'} ({report.snapshot_time or '-'})"]
    if report.size_bytes:
        lines.append(
            f"  site: {report.files} files, {report.size_bytes / 1e6:.1f} MB; full backup "
            f"{report.backup_seconds:.2f} s, incremental {report.incremental_seconds:.2f} s"
        )
    lines.append(
        f"  verified by {report.verified_by}: {report.files_checked} files, "
        f"{len(report.files_mismatched)} different; database {report.db_integrity}"
    )
    if getattr(report, "vault_lock_days", 0):
        lines.append(
            f"  vault: Object Lock COMPLIANCE {report.vault_lock_days} days; heartbeat "
            f"{report.heartbeat_lock or 'NOT LOCKED'}"
        )
    if report.orders_at_backup:
        lines.append(
            f"  orders: {report.orders_restored} restored of {report.orders_at_backup} at the last backup; "
            f"{report.orders_lost_since_backup} sold after it were lost (that is the RPO)"
        )
    rpo_ok = report.rpo_seconds <= report.rpo_promise_minutes * 60
    rto_ok = report.rto_seconds <= report.rto_promise_minutes * 60
    lines.append(
        f"  RPO measured {report.rpo_seconds:.1f} s (promise {minutes(report.rpo_promise_minutes)}: "
        f"{'kept' if rpo_ok else 'BROKEN'})"
    )
    lines.append(
        f"  RTO measured {report.rto_seconds:.1f} s for the restore path (promise "
        f"{minutes(report.rto_promise_minutes)}: {'kept' if rto_ok else 'BROKEN'}); instance start and DNS "
        "are not in this figure"
    )
    for name in report.files_mismatched[:10]:
        lines.append(f"  [red]different:[/red] {escape(name)}")
    for problem in report.problems:
        lines.append(f"  [red]problem:[/red] {escape(problem)}")
    return lines


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def status_table(results: list[Any]) -> Table:
    table = Table(title="Backups against the RPO", title_justify="left")
    for column in (
        "client",
        "tier",
        "state",
        "last backup",
        "RPO",
        "snapshots",
        "vault",
        "standby",
        "active",
        "€/month",
    ):
        table.add_column(column)
    colour = {"OK": "green", "LATE": "red", "MISSING": "red"}
    for r in results:
        state = f"[{colour.get(r.state, 'yellow')}]{r.state}[/]"
        if r.last_failure:
            state += f" (last run failed {escape(r.last_failure)})"
        if r.error:
            state += f" ({escape(r.error)})"
        table.add_row(
            r.stack,
            r.tier,
            state,
            _age(r.last_backup_age_seconds),
            minutes(r.rpo_minutes),
            str(r.snapshot_count),
            f"{r.vault_bytes / 1e6:.1f} MB",
            escape(r.standby),
            r.active_side,
            f"{r.monthly_cost_eur:.2f}" if r.monthly_cost_eur is not None else "-",
        )
    return table


def clients_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Clients", title_justify="left")
    # Names and domains are identifiers a freelancer copies into the next command: never cut them.
    table.add_column("client", no_wrap=True, min_width=max((len(r["stack"]) for r in rows), default=6))
    table.add_column("tier")
    table.add_column("domain", no_wrap=True, min_width=max((len(r.get("domain") or "") for r in rows), default=6))
    table.add_column("€/month", justify="right")
    table.add_column("last status", overflow="fold")
    for row in rows:
        if "error" in row:
            table.add_row(row["stack"], "[red]invalid[/red]", "", "", escape(row["error"]))
            continue
        last = row["last_status"]
        shown = (
            "[red]damaged status file[/red] (`redundo status` rewrites it)"
            if last == "damaged"
            else last or "not checked"
        )
        table.add_row(row["stack"], row["tier"], row["domain"] or "-", f"{row['monthly_cost_eur']:.2f}", shown)
    return table


def clients_width(rows: list[dict[str, Any]]) -> int:
    """Columns the clients table needs so that no name or domain is cut."""
    names = max((len(r["stack"]) for r in rows), default=6)
    domains = max((len(r.get("domain") or "") for r in rows), default=6)
    return names + domains + 60
