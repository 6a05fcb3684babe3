"""`redundo report`: a recovery report a client can read, with the runbook a person follows
when redundo itself is not at hand. Built from the stack's own settings, costs and last drill."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from redundo.pricing import CostEstimate, estimate
from redundo.settings import StackSettings

__all__ = ["markdown_report", "html_report", "DRILL_DIR", "save_drill", "load_drill"]

DRILL_DIR = Path(".redundo") / "drills"


def save_drill(project: Path, stack: str, report: dict[str, Any]) -> None:
    directory = project / DRILL_DIR
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stack}.json").write_text(json.dumps({**report, "at": datetime.now(timezone.utc).isoformat()},
                                                        indent=2))


def load_drill(project: Path, stack: str) -> dict[str, Any] | None:
    path = project / DRILL_DIR / f"{stack}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _minutes(value: float) -> str:
    return f"{value / 60:g} h" if value >= 60 and value % 60 == 0 else f"{value:g} min"


def _diagram(s: StackSettings) -> str:
    p, v, sb = s.primary_location, s.vault_location, s.standby_location
    standby_note = {"cold": "created at failover", "pilot": "running, idle", "warm": "running, restored"}[s.tier.standby_mode]
    site = s.domain or s.stack
    return "\n".join([
        "```mermaid",
        "flowchart LR",
        f'  visitors(["visitors of {site}"]) -->|"DNS A record, TTL {s.tier.dns_ttl_seconds} s"| primary',
        f'  primary["primary: OVH {s.primary_flavor}<br/>{p.region}, {p.city}"] -->|"restic backup every '
        f'{_minutes(s.tier.backup_interval_minutes)}"| vault',
        f'  vault[("vault: {v.provider.upper()} {v.region}<br/>{v.city}, versioned'
        + (f', locked {s.tier.object_lock_days} d' if s.tier.object_lock_days else "") + '")]',
        f'  vault -->|"read-only restore"| standby["standby: {sb.provider.upper()} {s.standby_size.size}<br/>'
        f'{sb.region}, {sb.city}<br/>{standby_note}"]',
        '  visitors -.->|"after failover"| standby',
        "```",
    ])


def markdown_report(s: StackSettings, *, drill: dict[str, Any] | None = None,
                    cost: CostEstimate | None = None, today: str | None = None) -> str:
    """The report in Markdown (GitHub renders its Mermaid diagram)."""
    cost = cost or estimate(s)
    tier = s.tier
    today = today or datetime.now(timezone.utc).date().isoformat()
    site = s.domain or s.stack
    p, v, sb = s.primary_location, s.vault_location, s.standby_location
    bucket = f"redundo-{s.stack}-"[:30]
    endpoint = (f"https://s3.{v.region}.amazonaws.com" if v.provider == "aws"
                else f"https://s3.{v.region.lower()}.io.cloud.ovh.net")
    db = {"none": "no database", "sqlite": "a SQLite database", "mysql": f"the MySQL/MariaDB database `{s.database_name}`",
          "postgresql": f"the PostgreSQL database `{s.database_name}`"}[s.database]
    lines = [
        f"# Recovery report: {site}",
        "",
        f"Client stack `{s.stack}`, prepared {today}. Tier **{tier.name}** ({tier.strategy}).",
        "",
        "## What is protected",
        "",
        f"The site's files ({', '.join(f'`{path}`' for path in s.site_paths)}) and {db}, about {s.data_gb:g} GB. "
        f"A copy is taken every {_minutes(tier.backup_interval_minutes)}, encrypted before it leaves the server, and "
        f"kept {tier.retention_days} days"
        + (f"; for {tier.object_lock_days} days no one, not even an administrator, can delete a copy." if tier.object_lock_days
           else "; the server's own key can add copies but never destroy an old one."),
        "",
        "## Where each copy lives",
        "",
        "| copy | provider | region | city |",
        "| --- | --- | --- | --- |",
        f"| the live site (primary) | OVHcloud | {p.region} | {p.city}, {p.country} |",
        f"| the backups (vault) | {'AWS' if v.provider == 'aws' else 'OVHcloud'} | {v.region} | {v.city}, {v.country} |",
        f"| the standby ({tier.standby_mode}) | {'AWS Lightsail' if sb.provider == 'aws' else 'OVHcloud'} | {sb.region} | "
        f"{sb.city}, {sb.country} |",
        "",
        _diagram(s),
        "",
        "## What this protects against",
        "",
        *[f"- {item}" for item in tier.survives],
        "",
        "And what it does not:",
        "",
        *[f"- {item}" for item in tier.does_not_survive],
        "",
        "## Promises and measurements",
        "",
        f"- **Data you can lose (RPO):** at most {_minutes(tier.rpo_minutes)} of changes.",
        f"- **Time to be back online (RTO):** at most {_minutes(tier.rto_minutes)}.",
    ]
    if drill:
        verdict = "passed" if drill.get("passed") else "FAILED"
        lines.append(f"- **Last recovery drill** ({drill.get('at', '')[:10]}): {verdict}; snapshot "
                     f"{drill.get('snapshot_id', '')[:8]} restored and verified ({drill.get('files_checked', 0)} files); "
                     f"measured RPO {drill.get('rpo_seconds', 0) / 60:.1f} min, restore time "
                     f"{drill.get('rto_seconds', 0) / 60:.1f} min.")
    else:
        lines.append(f"- **Last recovery drill:** none yet. Run `redundo drill --stack {s.stack}`; until then the "
                     "promises above are unproven for this site.")
    lines += [
        "",
        "## Monthly cost",
        "",
        "| part | item | €/month |",
        "| --- | --- | ---: |",
        *[f"| {i.part} | {i.what} | {i.monthly_eur:.2f} |" for i in cost.items],
        f"| | **total, excluding VAT** | **{cost.monthly_eur:.2f}** |",
        "",
        *[f"- Not included: {e}." for e in cost.exclusions],
        "",
        "## Runbook: bringing the site back by hand",
        "",
        "Follow this if the primary is gone and redundo itself is not available. You need the vault's "
        "read-only key and the repository password, kept in the password manager (or "
        f"`pulumi stack output --stack {s.stack} --show-secrets`: `readerAccessKeyId`, `readerSecretAccessKey`, "
        "`repositoryPassword`).",
        "",
        "1. Confirm the primary is really down: the OVHcloud status page and the control panel for "
        f"{p.region} ({p.city}).",
        (f"2. Log in to the standby: `ssh {'admin' if sb.provider == 'aws' else 'debian'}@standby.{site}`."
         if tier.standby_mode != "cold" else
         f"2. Create a Debian instance of flavour {s.standby_size.size} in {sb.region} ({sb.city}) and log in; "
         "install the tools: `sudo apt-get install -y restic sqlite3 rsync`."),
        "3. Load the keys into the shell (type them, do not save them in a file):",
        "   `export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... RESTIC_PASSWORD=...`",
        f"4. Point restic at the vault: `export RESTIC_REPOSITORY=s3:{endpoint}/<bucket>`; the bucket's name "
        f"starts with `{bucket}` (see `vaultBucket` in the stack outputs).",
        f"5. List the backups: `restic --no-lock snapshots --host {s.stack}-site`. Take the newest one.",
        "6. Restore and verify: `sudo -E restic --no-lock restore latest --host "
        f"{s.stack}-site --target /srv/restore --verify`.",
        "7. Put the files in place: " + ", ".join(
            f"`sudo rsync -a --delete /srv/restore{path}/ {path}/`" for path in s.site_paths) + ".",
    ]
    if s.database == "mysql":
        lines.append("8. Load the database: `sudo mysql < /srv/restore/var/backups/redundo/site.sql`.")
    elif s.database == "postgresql":
        lines.append("8. Load the database: `sudo -u postgres pg_restore --clean --if-exists --create "
                     "--dbname postgres /srv/restore/var/backups/redundo/site.pgdump`.")
    elif s.database == "sqlite":
        lines.append("8. Put the database in place: `sudo cp /srv/restore/var/backups/redundo/site.sqlite "
                     "/var/lib/site/site.sqlite`.")
    else:
        lines.append("8. There is no database to load.")
    record = f"`{s.domain[:-len(s.dns_zone)].rstrip('.') or '@'}` in zone `{s.dns_zone}`" if s.domain else "the site's A record"
    lines += [
        f"9. In the OVHcloud control panel, DNS zone of `{s.dns_zone or 'your domain'}`: set {record} to the standby's "
        f"address (TTL {s.tier.dns_ttl_seconds} s), then use *Refresh zone*, or the change may not be served.",
        f"10. Open https://{site}/ and check a recent order or page. Visitors follow within the TTL "
        f"({s.tier.dns_ttl_seconds} s).",
        "",
    ]
    return "\n".join(lines)


def html_report(markdown: str, title: str) -> str:
    """The same report as a standalone HTML page (the diagram renders where Mermaid can load)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    body = body.replace('<pre><code class="language-mermaid">', '<pre class="mermaid">').replace(
        "</code></pre>", "</pre>")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem}"
        "pre{background:#f6f6f6;padding:1rem;overflow:auto}</style>"
        "<script type=\"module\">import mermaid from 'https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs';"
        "mermaid.initialize({startOnLoad:true});</script>"
        f"</head><body>\n{body}</body></html>\n"
    )
