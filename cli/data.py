"""The data path: drill and vault."""

from __future__ import annotations

from typing import Annotated

import typer
from redundo.cli._app import app, stderr, stdout
from redundo.cli._common import (
    BackendOpt,
    JsonOpt,
    StackOpt,
    TierOpt,
    _emit_json,
    _target,
    project_dir,
)

from redundo.errors import OperationError, Stopped, UsageError


@app.command()
def drill(
    local: Annotated[
        bool, typer.Option("--local", help="Drill against a real S3 server started on 127.0.0.1.")
    ] = False,
    stack: StackOpt = None,
    size: Annotated[float, typer.Option("--size", help="Sample site size in MB (--local).")] = 20,
    files: Annotated[int, typer.Option("--files", help="Number of files in the sample site (--local).")] = 200,
    tier: TierOpt = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="The stack's database engine for --local: sqlite, mysql or postgresql (run on local servers).",
        ),
    ] = None,
    json_: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Prove recovery: back up, burn the primary, restore on the standby, verify every byte, measure RPO and RTO.

    --local needs no cloud: it runs the hosts' own scripts against a local S3 server built as the
    tier's vault (versioning, Object Lock, the production key policies) and, with --database mysql or
    postgresql, against local database servers. --stack NAME restores the newest snapshot into a scratch
    directory on the deployed standby.
    """
    from redundo import drill as drill_mod
    from redundo.tiers import get_tier

    if local == (stack is not None):
        raise UsageError("pass either --local or --stack NAME")
    if not size > 0 or files < 1:
        raise UsageError("--size must be more than 0 MB and --files at least 1")
    if database is not None and not local:
        raise UsageError("--database goes with --local; a stack drill uses the stack's own database")
    if database is not None and database not in drill_mod.DATABASES:
        raise UsageError(f"unknown --database {database!r}; use one of: {', '.join(drill_mod.DATABASES)}")
    if local:
        chosen = get_tier(tier or "standard")
        progress = (lambda m: None) if json_ else (lambda m: stderr().print(f"[dim]{m}[/dim]"))
        report = drill_mod.run_local_drill(
            chosen, size_mb=size, files=files, progress=progress, database=database or "sqlite"
        )
    else:
        from redundo import deploy

        if tier is not None:
            raise UsageError("--tier goes with --local; a stack drill uses the stack's own tier")
        target, _ = _target(stack, None, None, backend, False, needs_credentials=False, can_install=False)
        report = drill_mod.run_stack_drill(
            target.settings.tier, deploy.outputs(target), progress=lambda m: stderr().print(f"[dim]{m}[/dim]")
        )
        from redundo.report import save_drill

        save_drill(project_dir(), target.settings.stack, report.to_dict())
    if json_:
        _emit_json(report.to_dict())
    else:
        from redundo.cli import render

        for line in render.drill_lines(report):
            stdout().print(line)
    if not report.passed:
        raise typer.Exit(1)


@app.command()
def rehearse(
    stack: StackOpt = None,
    tier: TierOpt = None,
    json_: JsonOpt = False,
    image: Annotated[
        str | None,
        typer.Option(
            "--image", help="A folder with base.qcow2, vmlinuz and initrd.img to boot instead of the cached image."
        ),
    ] = None,
    s3: Annotated[str, typer.Option("--s3", help="The vault's S3 server: moto or seaweedfs.")] = "moto",
) -> None:
    """Live through a client stack's whole life on real Debian hosts booted on this machine.

    Runs the stack's program against a local stand-in of the clouds (S3 vault, OVH API, instances
    as qemu guests booted from the program's own user data), then: the site serves, the hosts back
    up, the primary burns, the standby takes over, failback. Exit 0 only when every step passed.
    """
    from pathlib import Path

    from redundo.cli._common import _one_stack, _settings_module, stacks_dir

    from redundo.rehearse import scenario
    from redundo.tiers import get_tier

    name = _one_stack(stack)
    raw = _settings_module().read_stack_config(stacks_dir(), name)
    chosen = get_tier(tier or raw.get("tier") or "basic")
    _settings_module().parse_settings(name, {**raw, "tier": chosen.name})
    if s3 not in ("moto", "seaweedfs"):
        raise UsageError(f"unknown S3 server {s3!r}; use moto or seaweedfs")
    if image is not None and not Path(image).is_dir():
        raise UsageError(f"--image {image} is not a folder; pass one holding base.qcow2, vmlinuz and initrd.img")

    def on_step(step) -> None:
        mark = "[green]ok[/green]" if step.passed else "[red]FAILED[/red]"
        line = f"{mark} {step.name} ({step.seconds:.0f} s): {step.detail}"
        stderr().print(line, highlight=False, soft_wrap=True)

    options = scenario.Options(
        stack=name,
        raw=raw,
        tier=chosen,
        image=Path(image) if image else None,
        s3=s3,
        progress=lambda m: stderr().print(f"[dim]{m}[/dim]", highlight=False, soft_wrap=True),
        on_step=on_step,
    )
    try:
        report = scenario.rehearse(options)
    except (KeyboardInterrupt, Stopped) as stop:
        # Every VM, server and temp file is already gone (rehearse cleans up on its way out); a
        # worker thread may still be waiting on a dead guest, so leave without waiting for it.
        how = getattr(stop, "how", "interrupted")  # KeyboardInterrupt has none
        stderr().print(f"rehearsal {how}; its VMs, servers and temporary files were removed", highlight=False)
        import os
        import sys

        sys.stderr.flush()
        os._exit(getattr(stop, "exit_code", 130))
    if json_:
        _emit_json(report.to_dict())
    else:
        rpo = f"{report.rpo_seconds:.0f} s" if report.rpo_seconds is not None else "not measured"
        rto = f"{report.rto_seconds:.0f} s" if report.rto_seconds is not None else "not measured"
        verdict = "[green]passed[/green]" if report.passed else "[red]failed[/red]"
        stdout().print(
            f"rehearsal of {name} on {chosen.name}: {verdict}; RPO {rpo} "
            f"({report.orders_lost if report.orders_lost is not None else '?'} orders lost, promise "
            f"{chosen.rpo_minutes} min), RTO {rto} (promise {chosen.rto_minutes} min)",
            highlight=False,
        )
    if not report.passed:
        raise typer.Exit(1)


vault_app = typer.Typer(no_args_is_help=True, help="Work on a vault directly (recovery after an attack).")

app.add_typer(vault_app, name="vault")


@vault_app.command("undelete")
def vault_undelete(
    stack: StackOpt = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="Vault bucket, when redundo's state is out of reach.")
    ] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="S3 endpoint URL that goes with --bucket.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO time of the attack: undo every delete and overwrite after it.")
    ] = None,
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

        target, _ = _target(stack, None, None, backend, False, needs_credentials=False, can_install=False)
        outputs = deploy.outputs(target)
        bucket, endpoint = outputs["vaultBucket"][0], outputs["vaultEndpoint"][0]
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client("s3", endpoint_url=endpoint)
    try:
        result = vault.undelete(s3, bucket, since=when, dry_run=dry_run)
    except (BotoCoreError, ClientError) as exc:  # credentials, access, network
        raise OperationError(f"could not undelete in {bucket}: {exc}") from None
    verb = "would restore" if dry_run else "restored"
    stdout().print(
        f"{verb} {len(result.markers_removed)} deleted and {len(result.versions_restored)} overwritten "
        f"objects in {bucket}; left {len(result.skipped)} restic locks deleted"
    )
