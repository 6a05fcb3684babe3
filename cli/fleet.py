"""Operating many clients: status, init, ls and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from redundo.cli._app import app, stderr, stdout
from redundo.cli._common import (
    AllOpt,
    BackendOpt,
    BudgetOpt,
    JsonOpt,
    StackOpt,
    TierOpt,
    _emit_json,
    _one_stack,
    _settings_module,
    _stacks,
    _target,
    _with_progress,
    project_dir,
    stacks_dir,
)

from redundo.errors import ConfigError, OperationError, UsageError

NotifyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--notify",
        envvar="REDUNDO_NOTIFY",
        show_envvar=True,
        metavar="URL",
        help="Apprise URL (mailto://, slack://, json://, jsons://...) told of each change of state; repeatable. "
        "REDUNDO_NOTIFY takes several, separated by spaces, and keeps tokens off the command line.",
    ),
]


@app.command()
def status(
    stack: StackOpt = None,
    all_: AllOpt = False,
    json_: JsonOpt = False,
    backend: BackendOpt = None,
    notify: NotifyOpt = None,
) -> None:
    """Each client's newest backup against its RPO (OK, LATE, MISSING), read from its vault.

    Exits 1 when any client breaches its RPO, so cron or CI can alert. With --all, a client whose
    vault cannot be read is UNKNOWN and the others are still checked. With --notify, each URL gets
    one message when a client goes OK -> LATE/MISSING/UNKNOWN and one when it is OK again, never more.
    """
    targets = []
    if notify:
        from redundo import notify as notify_mod

        targets = notify_mod.destinations(notify)  # a bad URL stops here, before any stack or vault is read
    import boto3

    from redundo import deploy
    from redundo import status as status_mod

    def read(name: str, target: Any) -> Any:
        outputs = deploy.outputs(target)
        if "vaultBucket" not in outputs:
            raise OperationError(f"stack {name!r} has no deployed vault yet; run `redundo up --stack {name}`")
        s3 = boto3.client(
            "s3",
            endpoint_url=outputs["vaultEndpoint"][0],
            region_name=outputs.get("vaultRegion", ("us-east-1", False))[0],
            aws_access_key_id=outputs["readerAccessKeyId"][0],
            aws_secret_access_key=outputs["readerSecretAccessKey"][0],
        )
        # Whatever reading one client's vault raises (botocore: unreachable vault, refused key; a
        # garbled heartbeat) is an OperationError: with --all, that client is UNKNOWN, the others are read.
        try:
            return status_mod.read_status(name, target.settings.tier, outputs, s3)
        except Exception as exc:  # noqa: BLE001 - see above
            raise OperationError(f"cannot read the vault of {name}: {exc}") from None

    results = []
    names = _stacks(stack, all_)
    for name in _with_progress(iter(names), names, all_):
        try:
            target, _ = _target(name, None, None, backend, False, needs_credentials=False, can_install=False)
        except ConfigError as exc:
            if not all_:
                raise
            # A damaged stack file is this client's problem: the others are still checked.
            result = status_mod.unknown(name, None, str(exc))
        else:
            try:
                result = read(name, target)
            except OperationError as exc:
                if not all_:
                    raise
                # One client's vault out of reach must not silence the others' alerts: it is a state too.
                result = status_mod.unknown(name, target.settings.tier, str(exc))
        status_mod.save_status(project_dir(), result)
        results.append(result)
    if json_:
        _emit_json([r.to_dict() for r in results] if all_ else results[0].to_dict())
    else:
        from redundo.cli import render

        stdout().print(render.status_table(results))
    if targets:
        delivered, failed = notify_mod.deliver(project_dir(), results, targets)
        for note in delivered:
            stderr().print(f"notified: {note}", markup=False)
        if failed:
            raise OperationError(f"could not notify {'; '.join(failed)}; the next run tries again")
    if any(r.breached for r in results):
        raise typer.Exit(1)


@app.command()
def init(
    client: Annotated[str, typer.Argument(help="The client's stack name, such as jeweller-lyon.")],
    domain: Annotated[str, typer.Option("--domain", help="The site's name, such as jeweller-lyon.fr.")],
    tier: TierOpt = None,
    budget: BudgetOpt = None,
    ovh_service_name: Annotated[
        str | None,
        typer.Option("--ovh-service-name", envvar="OVH_CLOUD_PROJECT_SERVICE", help="OVH Public Cloud project id."),
    ] = None,
    ssh_key: Annotated[
        Path | None, typer.Option("--ssh-key", help="OpenSSH public key file.", show_default="~/.ssh/id_ed25519.pub")
    ] = None,
    data_gb: Annotated[float, typer.Option("--data-gb", help="Site data to protect, GB.")] = 10,
    primary_region: Annotated[str, typer.Option("--primary-region")] = "GRA11",
    primary_flavor: Annotated[str, typer.Option("--primary-flavor")] = "d2-2",
    backup_provider: Annotated[str, typer.Option("--backup-provider", help="aws or ovh.")] = "aws",
    standby_provider: Annotated[str, typer.Option("--standby-provider", help="ovh or aws.")] = "ovh",
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="What the site runs: static, php, wordpress, postgres-app or custom.",
            show_default="the one that runs --database; wordpress when neither is given",
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", help="none, sqlite, mysql or postgresql.", show_default="the profile's own"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing stack file.")] = False,
    adopt: Annotated[
        str | None,
        typer.Option(
            "--adopt",
            metavar="HOST",
            help="Adopt the server that already runs the site as the primary: inspect it "
            "over SSH and write what it runs into the stack.",
        ),
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="With --adopt: the sudo user to log in as.")] = None,
    port: Annotated[int, typer.Option("--port", help="With --adopt: the server's SSH port.")] = 22,
    host_key: Annotated[
        str | None,
        typer.Option(
            "--host-key",
            help="With --adopt: the server's ed25519 public key line, to pin it instead of trusting the first answer.",
        ),
    ] = None,
    identity: Annotated[
        Path | None,
        typer.Option("--identity", help="With --adopt: the private key to log in with (default: ssh-agent, ~/.ssh)."),
    ] = None,
) -> None:
    """Write stacks/Pulumi.CLIENT.yaml for a new client, validated, at a tier or within a budget.

    With --adopt HOST the client's running server becomes the primary: redundo inspects it over SSH
    (OS, web server, PHP, database engine and databases, site paths, disk use), creates no primary
    instance, and installs its agent there on `up`.
    """
    import yaml

    from redundo.pricing import best_tier, estimate

    if tier is not None and budget is not None:
        raise UsageError("--tier and --budget exclude each other; pass one of them")
    if not _settings_module().valid_stack_name(client):
        raise UsageError(
            f"invalid client name {client!r}; use lower-case letters, digits and dashes, such as jeweller-lyon"
        )
    path = _settings_module().stack_file(stacks_dir(), client)
    if path.exists() and not force:
        raise OperationError(f"stacks/{path.name} exists; pass --force to overwrite it")
    if not ovh_service_name:
        raise UsageError("the OVH project id is missing; pass --ovh-service-name or set OVH_CLOUD_PROJECT_SERVICE")
    key_path = ssh_key or Path.home() / ".ssh" / "id_ed25519.pub"
    try:
        public_key = key_path.read_text(encoding="utf-8").strip().splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        raise UsageError(
            f"cannot read an SSH public key from {key_path} (not a text file with a key line); "
            "pass --ssh-key FILE.pub, the .pub file, not the private key"
        ) from None
    raw: dict[str, Any] = {
        "tier": tier or "basic",
        "ovhServiceName": ovh_service_name,
        "sshPublicKey": public_key,
        "domain": domain,
        "dataGb": data_gb,
        "primaryRegion": primary_region,
        "primaryFlavor": primary_flavor,
        "backupProvider": backup_provider,
        "standbyProvider": standby_provider,
    }
    if adopt is None and (user or host_key or identity or port != 22):
        raise UsageError("--user, --port, --host-key and --identity go with --adopt HOST; pass --adopt too")
    if adopt is not None:
        # What the server runs decides, unless --profile or --database says otherwise.
        adopted = _adopted(adopt, user, port, host_key, identity)
        found_profile, found_database = adopted.pop("siteProfile"), adopted.pop("database")
        raw |= adopted
        raw |= _profile_and_database(
            profile or (found_profile if database is None else None), database or found_database
        )
    else:
        raw |= _profile_and_database(profile, database)
    settings = _settings_module().parse_settings(client, raw)
    if budget is not None:
        raw["tier"] = best_tier(settings, budget).tier
        settings = _settings_module().parse_settings(client, raw)
    cost = estimate(settings)
    document = {"config": {f"{_settings_module().NAMESPACE}:{k}": v for k, v in raw.items()}}
    stacks_dir().mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# {client}: {domain}, tier {settings.tier.name} ({settings.tier.strategy}), "
        f"about €{cost.monthly_eur:.2f}/month excl. VAT in total, €{cost.redundancy_eur:.2f} of it for redundancy. "
        "Written by `redundo init`.\n" + yaml.safe_dump(document, sort_keys=False),
        encoding="utf-8",
    )
    from redundo.cli.render import minutes

    stdout().print(
        f"wrote stacks/{path.name}: tier {settings.tier.name}, profile {settings.site_profile} "
        f"({settings.profile.description}), RPO {minutes(settings.tier.rpo_minutes)}, "
        f"RTO {minutes(settings.tier.rto_minutes)}, €{cost.monthly_eur:.2f}/month in total "
        f"(redundancy adds €{cost.redundancy_eur:.2f})"
    )


def _adopted(host: str, user: str | None, port: int, host_key: str | None, identity: Path | None) -> dict[str, Any]:
    """The stack keys of an adopted server, from a read-only inspection over SSH."""
    from redundo import adopt as adopt_mod
    from redundo.remote import fingerprint

    if not user:
        raise UsageError("--adopt needs --user, the sudo user redundo logs in as on that server")
    probe = {"primaryHost": host, "primaryUser": user, "primaryPort": port}
    for key, value in probe.items():
        _settings_module()._PARSERS[key][1](value, key)  # a bad host, user or port fails before any connection
    if host_key is None:
        host_key = adopt_mod.scan_host_key(host, port)
        stdout().print(
            f"{host} presents {fingerprint(host_key)} (trusted on first use; compare it with "
            "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the server, or pass --host-key)"
        )
    facts = adopt_mod.inspect_host(
        host, user, port=port, host_key=host_key, identity=str(identity) if identity else None
    )
    for line in facts.summary():
        stdout().print(line, markup=False, highlight=False)
    keys = {**probe, **facts.stack_keys(), "siteProfile": facts.profile}
    if port == 22:
        keys.pop("primaryPort")
    return keys


def _profile_and_database(profile: str | None, database: str | None) -> dict[str, str]:
    """Both keys, each defaulting to what the other implies; a small shop (WordPress) when neither is given."""
    from redundo import profiles

    if profile is not None and profile not in profiles.PROFILES:
        raise UsageError(
            f"--profile {profile!r} is not a site profile; accepted values: {', '.join(profiles.PROFILE_NAMES)}"
        )
    if database is None:
        if profile is None:
            profile = "wordpress"
        database = profiles.PROFILES[profile].databases[0]
    return {"siteProfile": profile or profiles.default_profile(database), "database": database}


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
            row |= {
                "tier": settings.tier.name,
                "domain": settings.domain,
                "monthly_cost_eur": estimate(settings).monthly_eur,
            }
        last = status_mod.load_status(project_dir(), name)
        row["last_status"] = last["state"] if last else None
        row["last_checked"] = last["checked_at"] if last else None
        rows.append(row)
    if json_:
        _emit_json(rows)
        _fail_on_invalid(rows)
        return
    from redundo.cli import render
    from rich.console import Console

    # Wide enough for every name, even into an 80-column pipe: a cut name cannot be pasted back.
    console = Console(highlight=False, width=max(stdout().width, render.clients_width(rows)))
    console.print(render.clients_table(rows))
    _fail_on_invalid(rows)


def _fail_on_invalid(rows: list[dict[str, Any]]) -> None:
    """After listing every client: one line and exit 1 when some stack files are invalid."""
    invalid = [r for r in rows if "error" in r]
    if len(invalid) == 1:
        raise OperationError(f"1 of {len(rows)} stack files are invalid: {invalid[0]['stack']}: {invalid[0]['error']}")
    if invalid:
        raise OperationError(
            f"{len(invalid)} of {len(rows)} stack files are invalid: "
            f"{', '.join(r['stack'] for r in invalid)}; each row says what to fix"
        )


@app.command()
def report(
    stack: StackOpt = None,
    format_: Annotated[str, typer.Option("--format", "-f", help="md, html or pdf (pdf needs --output).")] = "md",
    lang: Annotated[
        str, typer.Option("--lang", "-l", help="fr or en: the language of the client and the runbook.")
    ] = "fr",
    part: Annotated[
        str, typer.Option("--part", help="all, summary (the client's part) or runbook (the freelancer's part).")
    ] = "all",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """A recovery report: the client's summary (what is protected, where, what it survives, cost,
    a diagram) and the runbook to bring the site back by hand. Self-contained: loads nothing."""
    from redundo import report as report_mod

    if format_ not in ("md", "html", "pdf"):
        raise UsageError(f"--format {format_!r} is not one of md, html, pdf")
    if lang not in report_mod.LANGS:
        raise UsageError(f"--lang {lang!r} is not one of {', '.join(report_mod.LANGS)}")
    if part not in report_mod.PARTS:
        raise UsageError(f"--part {part!r} is not one of {', '.join(report_mod.PARTS)}")
    if format_ == "pdf" and output is None:
        raise UsageError("--format pdf writes a file; pass --output FILE.pdf")
    name = _one_stack(stack)
    settings = _settings_module().read_stack_file(stacks_dir(), name)
    drill = report_mod.load_drill(project_dir(), name)
    if format_ == "md":
        text = report_mod.markdown_report(settings, lang=lang, part=part, drill=drill)
    else:
        text = report_mod.html_report(settings, lang=lang, part=part, drill=drill)
    data = report_mod.pdf_report(text) if format_ == "pdf" else text.encode("utf-8")
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise OperationError(f"cannot write {output}: {exc.strerror}") from None
    stdout().print(f"wrote {output}")
