"""What the command families share: the common options, the project and its stacks, the deploy target."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from redundo.cli._app import app, stderr, stdout

from redundo.errors import ConfigError, OperationError, UsageError

if TYPE_CHECKING:
    from redundo.settings import StackSettings


StackOpt = Annotated[str | None, typer.Option("--stack", "-s", help="Client stack name (stacks/Pulumi.NAME.yaml).")]

AllOpt = Annotated[bool, typer.Option("--all", help="Every stack in stacks/.")]

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, for machines.")]

TierOpt = Annotated[str | None, typer.Option("--tier", "-t", help="basic, standard or premium.")]

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="State backend URL (file://, s3://, https://api.pulumi.com); default PULUMI_BACKEND_URL, "
        "else .redundo/state in the project.",
    ),
]

InstallOpt = Annotated[
    bool, typer.Option("--install-pulumi", help="Download and install the pulumi CLI if it is missing.")
]

BUDGET_HELP = (
    "What the client pays for redundancy, EUR a month, on top of the site's own server: "
    "picks the strongest tier whose redundancy costs no more."
)

BudgetOpt = Annotated[float | None, typer.Option("--budget", "-b", help=BUDGET_HELP)]

AllowReplaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-replace",
        metavar="URN",
        help="Accept that this run replaces or deletes the stateful resource URN (repeatable); without it such a "
        "run is refused before anything changes.",
    ),
]

DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Say what would happen; send nothing.")]


def _settings_module():
    """redundo.settings, imported on first use (its regular expressions cost start-up time)."""
    from redundo import settings

    return settings


class _State:
    project: Path | None = None
    """The project directory, once found; None until a command asks for it."""
    given: Path | None = None
    """--project or REDUNDO_PROJECT as given."""


_state = _State()

PROJECT_FILE = "Pulumi.yaml"


@app.callback()
def _main(
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            envvar="REDUNDO_PROJECT",
            help="The redundo project directory (holds Pulumi.yaml and stacks/).",
            show_default="the nearest directory upwards with a Pulumi.yaml",
        ),
    ] = None,
) -> None:
    """Off-site backups, a standby and failover for small sites, at a tier that fits the budget."""
    # Found lazily: `tiers` and `drill --local` work anywhere, the rest say clearly when there is none.
    _state.given, _state.project = project, None


def find_project(start: Path) -> Path | None:
    """The nearest directory from `start` upwards that holds a Pulumi.yaml."""
    for directory in (start, *start.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    return None


def project_dir() -> Path:
    """The project every command works in, or a usage error saying how to get one."""
    if _state.project is not None:
        return _state.project
    if _state.given is not None:
        given = _state.given
        if not given.is_dir():
            raise UsageError(
                f"--project {given} is not a directory; pass the folder that holds Pulumi.yaml "
                "(create one with `redundo new DIR`)"
            )
        if not (given / PROJECT_FILE).is_file():
            raise UsageError(
                f"--project {given} has no Pulumi.yaml, so it is not a redundo project; "
                "create one with `redundo new DIR`"
            )
        _state.project = given.resolve()
    else:
        cwd = Path.cwd()
        found = find_project(cwd)
        if found is None:
            raise UsageError(
                f"no redundo project in {cwd} or above (no Pulumi.yaml); cd into one, pass --project DIR, "
                "or create one with `redundo new DIR`"
            )
        _state.project = found
    return _state.project


def stacks_dir() -> Path:
    return project_dir() / "stacks"


def _one_stack(stack: str | None, *, all_option: bool = False) -> str:
    """The stack named, or the only one there is. all_option: the command also takes --all."""
    if stack is not None:
        return stack
    names = _settings_module().stack_names(stacks_dir())
    if len(names) == 1:
        return names[0]
    if not names:
        raise ConfigError(f"no stacks in {stacks_dir()}; create one with `redundo init NAME`")
    choice = "pass --stack NAME or --all" if all_option else "pass --stack NAME"
    raise UsageError(f"there are {len(names)} stacks ({', '.join(names)}); {choice}")


def _stacks(stack: str | None, all_: bool) -> list[str]:
    if all_ and stack is not None:
        raise UsageError("--stack and --all exclude each other; pass one of them")
    if all_:
        names = _settings_module().stack_names(stacks_dir())
        if not names:
            raise ConfigError(f"no stacks in {stacks_dir()}; create one with `redundo init NAME`")
        return names
    return [_one_stack(stack, all_option=True)]


def _emit_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _stderr_is_terminal() -> bool:
    """rich's answer for stderr, without importing rich where it can only say no: it says yes off
    a terminal only when TTY_COMPATIBLE or FORCE_COLOR tells it to."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        tty = False
    if not tty and not {"TTY_COMPATIBLE", "FORCE_COLOR"} & os.environ.keys():
        return False
    return stderr().is_terminal


def _with_progress(results, names: list[str], show: bool):
    """Yield `results`, with a progress bar over the clients on stderr when there are several."""
    if not show or len(names) < 2 or not _stderr_is_terminal():
        # Off a terminal a progress bar is only noise in a log (and a stray line on stderr).
        yield from results
        return
    from rich.progress import Progress

    with Progress(console=stderr(), transient=True) as progress:
        task = progress.add_task("clients", total=len(names))
        for result in results:
            progress.advance(task)
            yield result


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
    except Exception as exc:  # noqa: BLE001 - network, disk: the SDK raises whatever urllib or the installer raises
        raise OperationError(f"could not install the pulumi CLI: {exc}; install it by hand and retry") from None


def _passphrase() -> str:
    """PULUMI_CONFIG_PASSPHRASE, or a prompt when a person is at the terminal."""
    import sys

    value = os.environ.get("PULUMI_CONFIG_PASSPHRASE")
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise OperationError(
            "PULUMI_CONFIG_PASSPHRASE is not set; set it to the passphrase that encrypts this stack's secrets"
        )
    return typer.prompt("Passphrase for the stack's secrets", hide_input=True)


def _target(
    stack: str | None,
    tier: str | None,
    budget: float | None,
    backend: str | None,
    install: bool,
    *,
    needs_credentials: bool = True,
    offline: bool = False,
    can_install: bool = True,
):
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
    backend_url = deploy.resolve_backend(project_dir(), backend, os.environ)
    command = None if offline else _pulumi_command(install)
    missing = (
        []
        if offline
        else deploy.missing_prerequisites(
            settings,
            os.environ,
            cli_needed=command is None,
            credentials_needed=needs_credentials,
            can_install=can_install,
        )
    )
    if missing:
        raise OperationError("; ".join(missing))
    return deploy.Target(
        project=project_dir(),
        settings=settings,
        backend=backend_url,
        passphrase="" if offline else _passphrase(),
        pulumi_command=command,
        tier_override=raw["tier"] if (tier is not None or budget is not None) else None,
    ), raw


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not typer.confirm(question, default=False):
        raise typer.Abort()


def _print_outputs(values: dict[str, tuple[Any, bool]]) -> None:
    from redundo.cli import render

    stdout().print(render.outputs_table(values))


def _settings_for_pricing(stack: str | None, data_gb: float | None) -> StackSettings:
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
