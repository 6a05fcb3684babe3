"""The `redundo` command line. Commands parse, call the domain, render; nothing else lives here.

The cloud SDKs are imported only inside the commands that synthesize or deploy, so that
`redundo --help` and `redundo tiers` start fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from redundo.cli._app import app, stderr, stdout

from redundo.errors import ConfigError, OperationError, UsageError

if TYPE_CHECKING:
    from redundo.settings import StackSettings

__all__ = ["app", "run"]

StackOpt = Annotated[Optional[str], typer.Option("--stack", "-s", help="Client stack name (stacks/Pulumi.NAME.yaml).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every stack in stacks/.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, for machines.")]
TierOpt = Annotated[Optional[str], typer.Option("--tier", "-t", help="basic, standard or premium.")]


def _settings_module():
    """redundo.settings, imported on first use (its regular expressions cost start-up time)."""
    from redundo import settings

    return settings


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
    names = _settings_module().stack_names(stacks_dir())
    if len(names) == 1:
        return names[0]
    if not names:
        raise ConfigError(f"no stacks in {stacks_dir()}; create one with `redundo init NAME` or pass --project")
    raise UsageError(f"there are {len(names)} stacks ({', '.join(names)}); pass --stack NAME or --all")


def _stacks(stack: str | None, all_: bool) -> list[str]:
    if all_ and stack is not None:
        raise UsageError("--stack and --all exclude each other; pass one of them")
    if all_:
        names = _settings_module().stack_names(stacks_dir())
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
    from functools import partial

    from redundo.stacks import program  # noqa: F401  loaded once here, shared by the forked workers

    from redundo.fleet import map_stacks
    from redundo.plan import make_plan
    from redundo.tiers import get_tier

    if tier is not None:
        get_tier(tier)
    names = _stacks(stack, all_)
    if json_:
        # Workers send back the finished documents: cheaper to pickle than whole syntheses.
        documents = list(_with_progress(map_stacks(partial(_plan_document, stacks_dir(), tier), names), names, all_))
        _emit_json(documents if all_ else documents[0])
        return
    from redundo.cli import render

    for p in _with_progress(map_stacks(partial(make_plan, stacks_dir(), tier=tier), names), names, all_):
        for part in render.plan_view(p):
            stdout().print(part)
        stdout().print()


def _plan_document(directory: Path, tier: str | None, name: str) -> dict[str, Any]:
    from redundo.plan import make_plan

    return make_plan(directory, name, tier=tier).to_dict()


def _with_progress(results, names: list[str], show: bool):
    """Yield `results`, with a progress bar over the clients on stderr when there are several."""
    if not show or len(names) < 2:
        yield from results
        return
    from rich.progress import Progress

    with Progress(console=stderr(), transient=True) as progress:
        task = progress.add_task("clients", total=len(names))
        for result in results:
            progress.advance(task)
            yield result


@app.command()
def tiers(
    budget: Annotated[Optional[float], typer.Option("--budget", "-b", help="What the client can pay, EUR a month.")] = None,
    data_gb: Annotated[Optional[float], typer.Option("--data-gb", help="Site data to protect, GB.")] = None,
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
        _emit_json({"budget_eur": budget, "data_gb": client.data_gb,
                    "chosen": chosen.tier if chosen else None,
                    "tiers": [e.to_dict() for e in estimates]})
        return
    stdout().print(render.tiers_table(estimates, chosen.tier if chosen else None))
    for line in render.survives_lines(estimates):
        stdout().print(line)
    if chosen is not None:
        stdout().print(f"€{budget:.2f}/month buys [bold]{chosen.tier}[/bold] at €{chosen.monthly_eur:.2f}/month.")


@app.command()
def check(
    stack: StackOpt = None,
    all_: AllOpt = False,
    format_: Annotated[str, typer.Option("--format", "-f", help="text, json, junit or sarif.")] = "text",
) -> None:
    """Evaluate redundo's policy pack on stacks offline; exit 1 on any mandatory violation.

    The same policies gate `pulumi preview --policy-pack policies` where a CLI is installed.
    """
    from redundo.cli import render
    formats = ("text", "json", "junit", "sarif")
    if format_ not in formats:
        raise UsageError(f"--format {format_!r} is not one of {', '.join(formats)}")
    from functools import partial

    from redundo.stacks import program  # noqa: F401  loaded once here, shared by the forked workers

    from redundo import checks
    from redundo.fleet import map_stacks

    names = _stacks(stack, all_)
    results = list(_with_progress(map_stacks(partial(checks.check_stack, stacks_dir()), names), names, all_))
    if format_ == "json":
        _emit_json(checks.to_json(results))
    elif format_ == "sarif":
        _emit_json(checks.to_sarif(results))
    elif format_ == "junit":
        typer.echo(checks.to_junit(results))
    else:
        for line in render.check_lines(results):
            stdout().print(line)
    if any(r.failed for r in results):
        raise typer.Exit(1)


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
BackendOpt = Annotated[Optional[str], typer.Option(
    "--backend", help="State backend URL (file://, s3://, https://api.pulumi.com); default PULUMI_BACKEND_URL, "
                      "else .redundo/state in the project.")]
InstallOpt = Annotated[bool, typer.Option("--install-pulumi", help="Download and install the pulumi CLI if it is missing.")]
BudgetOpt = Annotated[Optional[float], typer.Option("--budget", "-b", help="Pick the best tier for this many EUR a month.")]


def _pulumi_command(install: bool) -> Any:
    """The PulumiCommand to run: None lets the SDK find `pulumi` on PATH; --install-pulumi fetches it."""
    if not install:
        return None
    import shutil

    if shutil.which("pulumi"):
        return None
    from pulumi import automation as auto

    stderr().print("Installing the pulumi CLI ...")
    try:
        return auto.PulumiCommand.install()
    except Exception as exc:  # network, disk: the SDK raises whatever urllib or the installer raises
        raise OperationError(f"could not install the pulumi CLI: {exc}; install it by hand and retry") from None


def _passphrase() -> str:
    """PULUMI_CONFIG_PASSPHRASE, or a prompt when a person is at the terminal."""
    import sys

    value = os.environ.get("PULUMI_CONFIG_PASSPHRASE")
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise OperationError("PULUMI_CONFIG_PASSPHRASE is not set; set it to the passphrase that encrypts "
                             "this stack's secrets")
    return typer.prompt("Passphrase for the stack's secrets", hide_input=True)


def _target(stack: str | None, tier: str | None, budget: float | None, backend: str | None,
            install: bool, *, needs_credentials: bool = True, offline: bool = False):
    """Validate everything a deploy needs before any call to pulumi: stack, tier, prerequisites.

    offline=True (a dry run) validates the stack only: nothing will be sent, so no CLI, no
    credentials and no passphrase are asked for."""
    from redundo import deploy
    from redundo.pricing import best_tier
    from redundo.tiers import get_tier

    if tier is not None and budget is not None:
        raise UsageError("--tier and --budget exclude each other; pass one of them")
    name = _one_stack(stack)
    raw = _settings_module().read_stack_config(stacks_dir(), name)
    if tier is not None:
        raw["tier"] = get_tier(tier).name
    settings = _settings_module().parse_settings(name, raw)
    if budget is not None:
        chosen = best_tier(settings, budget)
        raw["tier"] = chosen.tier
        settings = _settings_module().parse_settings(name, raw)
    backend_url = deploy.resolve_backend(_state.project, backend, os.environ)
    command = None if offline else _pulumi_command(install)
    missing = [] if offline else deploy.missing_prerequisites(
        settings, os.environ, cli_needed=command is None, credentials_needed=needs_credentials)
    if missing:
        raise OperationError("missing " + "; ".join(missing))
    return deploy.Target(
        project=_state.project,
        settings=settings,
        backend=backend_url,
        passphrase="" if offline else _passphrase(),
        pulumi_command=command,
        tier_override=raw["tier"] if (tier is not None or budget is not None) else None,
    ), raw


def _show_intent(verb: str, target, raw: dict[str, Any]) -> None:
    from redundo.cli import render
    from redundo.plan import Plan, synthesize_stack
    from redundo.pricing import estimate

    settings = target.settings
    plan_ = Plan(settings, synthesize_stack(settings.stack, raw), estimate(settings))
    for part in render.plan_view(plan_):
        stdout().print(part)
    stdout().print(f"State backend: {target.backend}")
    stdout().print(f"This will {verb} stack [bold]{settings.stack}[/bold] on tier [bold]{settings.tier.name}[/bold] "
                 f"at €{plan_.cost.monthly_eur:.2f}/month.")


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not typer.confirm(question, default=False):
        raise typer.Abort()


def _print_outputs(values: dict[str, tuple[Any, bool]]) -> None:
    from redundo.cli import render

    stdout().print(render.outputs_table(values))


@app.command()
def up(stack: StackOpt = None, tier: TierOpt = None, budget: BudgetOpt = None, yes: YesOpt = False,
       backend: BackendOpt = None, install_pulumi: InstallOpt = False) -> None:
    """Deploy a client stack for real through the Automation API, gated by the policy pack.

    Shows the tier, its cost and the resource plan first, and asks before anything is sent.
    """
    from redundo.cli import render
    from redundo.cli.progress import EventPrinter

    from redundo import deploy

    target, raw = _target(stack, tier, budget, backend, install_pulumi)
    _show_intent("deploy", target, raw)
    _confirm("Deploy?", yes)
    printer = EventPrinter(stdout())
    result = deploy.up(target, printer)
    stdout().print(render.summary_line("up", result.summary.resource_changes, printer))
    _print_outputs({k: (v.value, v.secret) for k, v in result.outputs.items()})
    if printer.failed:
        raise typer.Exit(1)


@app.command()
def preview(stack: StackOpt = None, tier: TierOpt = None, budget: BudgetOpt = None,
            backend: BackendOpt = None, install_pulumi: InstallOpt = False) -> None:
    """Show what `up` would change in the real clouds (needs the pulumi CLI and credentials)."""
    from redundo.cli import render
    from redundo.cli.progress import EventPrinter

    from redundo import deploy

    target, _ = _target(stack, tier, budget, backend, install_pulumi)
    printer = EventPrinter(stdout())
    result = deploy.preview(target, printer)
    stdout().print(render.summary_line("preview", result.change_summary, printer))
    if printer.failed or printer.policy_violations:
        raise typer.Exit(1)


@app.command()
def destroy(stack: StackOpt = None, yes: YesOpt = False, backend: BackendOpt = None,
            install_pulumi: InstallOpt = False) -> None:
    """Tear down a client stack. The vault's bucket and its backups are kept."""
    from redundo.cli import render
    from redundo.cli.progress import EventPrinter

    from redundo import deploy

    target, _ = _target(stack, None, None, backend, install_pulumi)
    name = target.settings.stack
    if not yes:
        stdout().print(f"This destroys the instances, keys and DNS records of stack [bold]{name}[/bold]; "
                     "the vault's bucket and its backups are kept.")
        if typer.prompt("Type the stack name to confirm") != name:
            raise typer.Abort()
    printer = EventPrinter(stdout())
    result = deploy.destroy(target, printer)
    stdout().print(render.summary_line("destroy", result.summary.resource_changes, printer))
    if printer.failed:
        raise typer.Exit(1)


@app.command()
def outputs(stack: StackOpt = None, json_: JsonOpt = False, backend: BackendOpt = None,
            install_pulumi: InstallOpt = False) -> None:
    """Print a deployed stack's outputs; secrets stay masked."""
    from redundo import deploy

    target, _ = _target(stack, None, None, backend, install_pulumi, needs_credentials=False)
    values = deploy.outputs(target)
    if json_:
        _emit_json({k: ("[secret]" if secret else v) for k, (v, secret) in values.items()})
    else:
        _print_outputs(values)


@app.command()
def drill(
    local: Annotated[bool, typer.Option("--local", help="Drill against a real S3 server started on 127.0.0.1.")] = False,
    stack: StackOpt = None,
    size: Annotated[float, typer.Option("--size", help="Sample site size in MB (--local).")] = 20,
    files: Annotated[int, typer.Option("--files", help="Number of files in the sample site (--local).")] = 200,
    tier: TierOpt = None,
    json_: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Prove recovery: back up, burn the primary, restore on the standby, verify every byte, measure RPO and RTO.

    --local needs no cloud: it runs the hosts' own scripts against a local S3 server. --stack NAME
    restores the newest snapshot into a scratch directory on the deployed standby.
    """
    from redundo import drill as drill_mod
    from redundo.tiers import get_tier

    if local == (stack is not None):
        raise UsageError("pass either --local or --stack NAME")
    if not size > 0 or files < 1:
        raise UsageError("--size must be more than 0 MB and --files at least 1")
    if local:
        chosen = get_tier(tier or "standard")
        progress = (lambda m: None) if json_ else (lambda m: stderr().print(f"[dim]{m}[/dim]"))
        report = drill_mod.run_local_drill(chosen, size_mb=size, files=files, progress=progress)
    else:
        from redundo import deploy

        if tier is not None:
            raise UsageError("--tier goes with --local; a stack drill uses the stack's own tier")
        target, _ = _target(stack, None, None, backend, False, needs_credentials=False)
        report = drill_mod.run_stack_drill(target.settings.tier, deploy.outputs(target),
                                           progress=lambda m: stderr().print(f"[dim]{m}[/dim]"))
        from redundo.report import save_drill

        save_drill(_state.project, target.settings.stack, report.to_dict())
    if json_:
        _emit_json(report.to_dict())
    else:
        from redundo.cli import render

        for line in render.drill_lines(report):
            stdout().print(line)
    if not report.passed:
        raise typer.Exit(1)


vault_app = typer.Typer(no_args_is_help=True, help="Work on a vault directly (recovery after an attack).")
app.add_typer(vault_app, name="vault")


@vault_app.command("undelete")
def vault_undelete(
    stack: StackOpt = None,
    bucket: Annotated[Optional[str], typer.Option("--bucket", help="Vault bucket, when redundo's state is out of reach.")] = None,
    endpoint: Annotated[Optional[str], typer.Option("--endpoint", help="S3 endpoint URL that goes with --bucket.")] = None,
    since: Annotated[Optional[str], typer.Option(
        "--since", help="ISO time of the attack: undo every delete and overwrite after it.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be restored; change nothing.")] = False,
    backend: BackendOpt = None,
) -> None:
    """Bring back deleted or overwritten backups from their versions (skips restic's locks/).

    Uses the operator's credentials from the environment (AWS_ACCESS_KEY_ID, ...), which must be
    allowed to delete object versions; no host key is.
    """
    from datetime import datetime

    import boto3

    from redundo import vault

    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since {since!r} is not an ISO time; write it as 2026-11-26T03:00:00Z") from None
        if when.tzinfo is None:
            raise UsageError(f"--since {since!r} has no time zone; add Z or +01:00")
    if (bucket is None) != (endpoint is None):
        raise UsageError("--bucket and --endpoint go together")
    if bucket is None:
        from redundo import deploy

        target, _ = _target(stack, None, None, backend, False, needs_credentials=False)
        outputs = deploy.outputs(target)
        bucket, endpoint = outputs["vaultBucket"][0], outputs["vaultEndpoint"][0]
    s3 = boto3.client("s3", endpoint_url=endpoint)
    try:
        result = vault.undelete(s3, bucket, since=when, dry_run=dry_run)
    except Exception as exc:  # botocore's errors: credentials, access, network
        raise OperationError(f"could not undelete in {bucket}: {exc}") from None
    verb = "would restore" if dry_run else "restored"
    stdout().print(f"{verb} {len(result.markers_removed)} deleted and {len(result.versions_restored)} overwritten "
                   f"objects in {bucket}; left {len(result.skipped)} restic locks deleted")


@app.command()
def status(stack: StackOpt = None, all_: AllOpt = False, json_: JsonOpt = False, backend: BackendOpt = None) -> None:
    """Each client's newest backup against its RPO (OK, LATE, MISSING), read from its vault.

    Exits 1 when any client breaches its RPO, so cron or CI can alert.
    """
    import boto3

    from redundo import deploy
    from redundo import status as status_mod

    results = []
    names = _stacks(stack, all_)
    for name in _with_progress(iter(names), names, all_):
        target, _ = _target(name, None, None, backend, False, needs_credentials=False)
        outputs = deploy.outputs(target)
        if "vaultBucket" not in outputs:
            raise OperationError(f"stack {name!r} has no deployed vault yet; run `redundo up --stack {name}`")
        s3 = boto3.client("s3", endpoint_url=outputs["vaultEndpoint"][0],
                          region_name=outputs.get("vaultRegion", ("us-east-1", False))[0],
                          aws_access_key_id=outputs["readerAccessKeyId"][0],
                          aws_secret_access_key=outputs["readerSecretAccessKey"][0])
        try:
            result = status_mod.read_status(name, target.settings.tier, outputs, s3)
        except Exception as exc:  # botocore: unreachable vault, refused key
            raise OperationError(f"cannot read the vault of {name}: {exc}") from None
        status_mod.save_status(_state.project, result)
        results.append(result)
    if json_:
        _emit_json([r.to_dict() for r in results] if all_ else results[0].to_dict())
    else:
        from redundo.cli import render

        stdout().print(render.status_table(results))
    if any(r.breached for r in results):
        raise typer.Exit(1)


@app.command()
def init(
    client: Annotated[str, typer.Argument(help="The client's stack name, such as jeweller-lyon.")],
    domain: Annotated[str, typer.Option("--domain", help="The site's name, such as jeweller-lyon.fr.")],
    tier: TierOpt = None,
    budget: BudgetOpt = None,
    ovh_service_name: Annotated[Optional[str], typer.Option(
        "--ovh-service-name", envvar="OVH_CLOUD_PROJECT_SERVICE", help="OVH Public Cloud project id.")] = None,
    ssh_key: Annotated[Optional[Path], typer.Option(
        "--ssh-key", help="OpenSSH public key file.", show_default="~/.ssh/id_ed25519.pub")] = None,
    data_gb: Annotated[float, typer.Option("--data-gb", help="Site data to protect, GB.")] = 10,
    primary_region: Annotated[str, typer.Option("--primary-region")] = "GRA11",
    primary_flavor: Annotated[str, typer.Option("--primary-flavor")] = "d2-2",
    backup_provider: Annotated[str, typer.Option("--backup-provider", help="aws or ovh.")] = "aws",
    standby_provider: Annotated[str, typer.Option("--standby-provider", help="ovh or aws.")] = "ovh",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing stack file.")] = False,
) -> None:
    """Write stacks/Pulumi.CLIENT.yaml for a new client, validated, at a tier or within a budget."""
    import yaml

    from redundo.pricing import best_tier, estimate

    if tier is not None and budget is not None:
        raise UsageError("--tier and --budget exclude each other; pass one of them")
    if not _settings_module().valid_stack_name(client):
        raise UsageError(f"invalid client name {client!r}; use lower-case letters, digits and dashes, "
                         "such as jeweller-lyon")
    path = _settings_module().stack_file(stacks_dir(), client)
    if path.exists() and not force:
        raise OperationError(f"stacks/{path.name} exists; pass --force to overwrite it")
    if not ovh_service_name:
        raise UsageError("the OVH project id is missing; pass --ovh-service-name or set OVH_CLOUD_PROJECT_SERVICE")
    key_path = ssh_key or Path.home() / ".ssh" / "id_ed25519.pub"
    try:
        public_key = key_path.read_text(encoding="utf-8").strip().splitlines()[0]
    except (OSError, IndexError):
        raise UsageError(f"cannot read an SSH public key from {key_path}; pass --ssh-key FILE.pub") from None
    raw: dict[str, Any] = {
        "tier": tier or "basic", "ovhServiceName": ovh_service_name, "sshPublicKey": public_key, "domain": domain,
        "dataGb": data_gb, "primaryRegion": primary_region, "primaryFlavor": primary_flavor,
        "backupProvider": backup_provider, "standbyProvider": standby_provider,
    }
    settings = _settings_module().parse_settings(client, raw)
    if budget is not None:
        raw["tier"] = best_tier(settings, budget).tier
        settings = _settings_module().parse_settings(client, raw)
    cost = estimate(settings)
    document = {"config": {f"{_settings_module().NAMESPACE}:{k}": v for k, v in raw.items()}}
    stacks_dir().mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {client}: {domain}, tier {settings.tier.name} ({settings.tier.strategy}), "
                    f"about €{cost.monthly_eur:.2f}/month excl. VAT. Written by `redundo init`.\n"
                    + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    stdout().print(f"wrote stacks/{path.name}: tier {settings.tier.name}, RPO {settings.tier.rpo_minutes} min, "
                   f"RTO {settings.tier.rto_minutes} min, €{cost.monthly_eur:.2f}/month")


@app.command("ls")
def list_clients(json_: JsonOpt = False) -> None:
    """List the clients: tier, domain, monthly cost and the last status seen."""
    from redundo import status as status_mod
    from redundo.errors import RedundoError
    from redundo.pricing import estimate

    rows = []
    for name in _settings_module().stack_names(stacks_dir()):
        row: dict[str, Any] = {"stack": name}
        try:
            settings = _settings_module().read_stack_file(stacks_dir(), name)
        except RedundoError as exc:
            row["error"] = str(exc)
        else:
            row |= {"tier": settings.tier.name, "domain": settings.domain,
                    "monthly_cost_eur": estimate(settings).monthly_eur}
        last = status_mod.load_status(_state.project, name)
        row["last_status"] = last["state"] if last else None
        row["last_checked"] = last["checked_at"] if last else None
        rows.append(row)
    if json_:
        _emit_json(rows)
        return
    from redundo.cli import render

    stdout().print(render.clients_table(rows))


@app.command()
def report(
    stack: StackOpt = None,
    format_: Annotated[str, typer.Option("--format", "-f", help="md or html.")] = "md",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """A recovery report for the client: what is protected, where, what it survives, cost, runbook."""
    from redundo import report as report_mod

    if format_ not in ("md", "html"):
        raise UsageError(f"--format {format_!r} is not one of md, html")
    name = _one_stack(stack)
    settings = _settings_module().read_stack_file(stacks_dir(), name)
    text = report_mod.markdown_report(settings, drill=report_mod.load_drill(_state.project, name))
    if format_ == "html":
        text = report_mod.html_report(text, f"Recovery report: {settings.domain or name}")
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OperationError(f"cannot write {output}: {exc.strerror}") from None
    stdout().print(f"wrote {output}")


DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Say what would happen; send nothing.")]


def _switch_steps(settings: "StackSettings", side: str) -> list[str]:
    tier = settings.tier
    site = settings.domain or "the site"
    if side == "standby":
        bring_up = ("create the standby (it is cold)" if tier.standby_mode == "cold"
                    else f"use the running {tier.standby_mode} standby")
        node = f"standby in {settings.standby_location.region} ({settings.standby_location.city})"
    else:
        bring_up = "refresh the state and rebuild the primary if it is gone"
        node = f"primary in {settings.primary_location.region} ({settings.primary_location.city})"
    return [
        bring_up,
        f"give the {node} the writer key, restore the newest snapshot there and verify every file",
        f"start the backups on it and point {site} at it (TTL {tier.dns_ttl_seconds} s), then refresh the OVH zone",
    ]


def _switch(side: str, stack: str | None, yes: bool, dry_run: bool, backend: str | None, install: bool) -> None:
    import time
    from datetime import datetime, timezone

    from redundo.cli import render
    from redundo.cli.progress import EventPrinter

    from redundo import deploy, remote

    target, _ = _target(stack, None, None, backend, install, offline=dry_run)
    settings = target.settings
    if settings.active_side == side:
        other = "failback" if side == "standby" else "failover"
        raise OperationError(f"stack {settings.stack!r} already serves from its {side}; "
                             f"did you mean `redundo {other}`?")
    verb = "failover" if side == "standby" else "failback"
    steps = _switch_steps(settings, side)
    stdout().print(f"{verb} of [bold]{settings.stack}[/bold] to its {side}, as one update:")
    for number, step in enumerate(steps, start=1):
        stdout().print(f"  {number}. {step}")
    if side == "standby":
        stdout().print("  If the primary might still be running, stop it first: two active nodes would both back up.")
    if dry_run:
        stdout().print("dry run: nothing was sent")
        return
    _confirm(f"Start the {verb}?", yes)
    started = time.monotonic()
    if side == "primary":
        # The standby has been taking the site's writes: one last backup before the primary restores.
        outputs = deploy.outputs(target)
        standby_ip = outputs.get("standbyIpv4", (None, False))[0]
        if not standby_ip:
            raise OperationError(f"stack {settings.stack!r} reports no standby address; cannot take a last backup")
        from redundo.components.redundant_site import SSH_USERS

        stdout().print("taking a last backup on the standby ...")
        done = remote.ssh_run(standby_ip, SSH_USERS[settings.standby_provider],
                              ["systemctl", "start", "redundo-backup.service"])
        if done.returncode != 0:
            raise OperationError(f"the last backup on the standby failed, so the primary would restore old data: "
                                 f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    token = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    printer = EventPrinter(stdout())
    result = deploy.switch(target, side, token, printer, refresh=side == "primary")
    updated = time.monotonic() - started
    stdout().print(render.summary_line(verb, result.summary.resource_changes, printer))
    if printer.failed:
        raise typer.Exit(1)
    address = result.outputs.get("standbyIpv4" if side == "standby" else "primaryIpv4")
    address = address.value if address is not None else None
    served = remote.wait_until_serving(address, settings.domain) if address else None
    if served is None:
        stdout().print(f"[red]{side} at {address or '?'} did not answer HTTP[/red] after the update "
                       f"({updated:.0f} s); check the web server there")
        raise typer.Exit(1)
    stdout().print(f"{settings.domain or settings.stack} is served from the {side} ({address}): "
                   f"{updated + served:.0f} s from the start, the update took {updated:.0f} s; "
                   f"visitors follow within the TTL ({settings.tier.dns_ttl_seconds} s)")


@app.command()
def failover(stack: StackOpt = None, yes: YesOpt = False, dry_run: DryRunOpt = False,
             backend: BackendOpt = None, install_pulumi: InstallOpt = False) -> None:
    """Move the site to its standby: bring it up, restore and verify, repoint DNS; one Pulumi update."""
    _switch("standby", stack, yes, dry_run, backend, install_pulumi)


@app.command()
def failback(stack: StackOpt = None, yes: YesOpt = False, dry_run: DryRunOpt = False,
             backend: BackendOpt = None, install_pulumi: InstallOpt = False) -> None:
    """Move the site back to the (rebuilt) primary after a last backup taken on the standby."""
    _switch("primary", stack, yes, dry_run, backend, install_pulumi)


def _settings_for_pricing(stack: str | None, data_gb: float | None) -> "StackSettings":
    """A stack's settings, or the defaults when pricing a client that has no stack yet."""
    raw: dict[str, Any] = {}
    name = "example"
    if stack is not None:
        raw = _settings_module().read_stack_config(stacks_dir(), stack)
        name = stack
    if data_gb is not None:
        if not data_gb > 0:
            raise UsageError(f"--data-gb is {data_gb:g}; pass the site's data size in GB, greater than 0")
        raw["dataGb"] = data_gb
    return _settings_module().parse_settings(name, raw, for_deploy=stack is not None)


def run() -> None:
    """Console-script entry point."""
    import gc

    # A short-lived process: collecting cycles while the SDKs define thousands of classes costs
    # a fifth of a plan and frees nothing. Long loops over stacks collect as they go (fleet).
    gc.disable()
    os.environ.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    app()
