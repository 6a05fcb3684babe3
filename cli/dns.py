"""The site's names on its OVH zone: `redundo dns check` (and `--clean`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from redundo.cli._app import app, stderr, stdout
from redundo.cli._common import (
    JsonOpt,
    StackOpt,
    YesOpt,
    _confirm,
    _emit_json,
    _one_stack,
    _settings_module,
    stacks_dir,
)

from redundo.errors import OperationError, UsageError

dns_app = typer.Typer(no_args_is_help=True, help="The site's names on its OVH DNS zone.")
app.add_typer(dns_app, name="dns")


def _ovh_endpoint(stack: str) -> str:
    """The stack's `ovh:endpoint` (as the stack program reads it), ovh-eu by default."""
    import yaml

    path = _settings_module().stack_file(stacks_dir(), stack)
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return str((document.get("config") or {}).get("ovh:endpoint") or "ovh-eu")


@dns_app.command("check")
def check(
    stack: StackOpt = None,
    clean: Annotated[
        bool, typer.Option("--clean", help="Delete the records found (after asking), then refresh the zone.")
    ] = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Find address records at the site's names that redundo does not own, such as the A and www
    records OVH puts in a new zone: visitors would be round-robined to them. Run it before the first
    `redundo up`; it exits 1 while any remain. --clean deletes exactly those (mail and other names are
    never touched)."""
    from redundo import dns

    name = _one_stack(stack)
    settings = _settings_module().parse_settings(name, _settings_module().read_stack_config(stacks_dir(), name))
    if not settings.domain or not settings.dns_zone:
        raise UsageError(f"stack {name!r} has no redundo:domain; set it to the site's name, such as shop.example.fr")
    zone = settings.dns_zone
    names = dns.site_names(settings.domain, zone)
    client = dns.ovh_client(_ovh_endpoint(name), dict(os.environ))
    site_sub = names[0]
    try:
        found = dns.foreign_records(client, zone, names, dns.node_addresses(client, zone, site_sub))
        deleted = 0
        if found and clean:
            _confirm(f"Delete {len(found)} record(s) from {zone}: {'; '.join(map(str, found))}?", yes)
            deleted = dns.delete_records(client, zone, found)
    except Exception as exc:  # the ovh client raises its own hierarchy; one line is enough here
        if isinstance(exc, (OperationError, UsageError, typer.Exit, typer.Abort)):
            raise
        raise OperationError(f"the OVH API refused the DNS check on {zone}: {exc}") from None
    shown = ", ".join(f"{n or '@'}" for n in names)
    if json_:
        _emit_json(
            {
                "zone": zone,
                "names": list(names),
                "deleted": deleted,
                "foreign": [
                    {"id": r.id, "subdomain": r.subdomain, "type": r.fieldtype, "target": r.target} for r in found
                ],
            }
        )
    elif not found:
        stdout().print(f"only redundo's records answer for {shown} in {zone}")
    else:
        for record in found:
            stdout().print(f"{'deleted' if deleted else 'not redundo'}: {record}")
    if found and not deleted:
        stderr().print(
            f"{len(found)} record(s) answer for {shown} in {zone} beside redundo's; delete them in "
            f"the OVH control panel or run `redundo dns check --stack {name} --clean`"
        )
        raise typer.Exit(1)
