"""`redundo report`: a recovery report a client can read, and the runbook a person follows when
redundo itself is not at hand. Built from the stack's own settings, costs and last drill.

Two parts, each a document of its own: the client's summary (what is protected, where, what it
survives, the promises, the cost, a diagram) and the freelancer's runbook (the commands, by hand).
French and English are both first-class: the shops redundo serves are French.

The HTML is self-contained: the diagram is an inline SVG drawn here, there is no script, no
stylesheet, font or image to fetch, so it renders offline and in a mail client. The PDF is the
same HTML laid out by WeasyPrint, with every fetch refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from typing import Any

from redundo.errors import OperationError
from redundo.pricing import CostEstimate, estimate
from redundo.settings import StackSettings

__all__ = [
    "BOX_COLOURS",
    "DRILL_DIR",
    "LANGS",
    "PARTS",
    "diagram_svg",
    "html_report",
    "load_drill",
    "markdown_report",
    "pdf_report",
    "save_drill",
]

DRILL_DIR = Path(".redundo") / "drills"
LANGS = ("fr", "en")
PARTS = ("all", "summary", "runbook")

NBSP, NNBSP = "\u00a0", "\u202f"  # French: no-break space before ":" and in "13,60 €"; narrow before ";!?"

BOX_COLOURS = {"visitors": "#e4e7ec", "primary": "#cfe3ff", "vault": "#ffe6a8", "standby": "#c8f0d4"}
"""Fill of each box of the diagram, used nowhere else on the page (the rendering test looks for them)."""
_STROKES = {"visitors": "#5b6472", "primary": "#1f5fbf", "vault": "#a66a00", "standby": "#23794a"}


def save_drill(project: Path, stack: str, report: dict[str, Any]) -> None:
    directory = project / DRILL_DIR
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stack}.json").write_text(json.dumps({**report, "at": datetime.now(UTC).isoformat()}, indent=2))


def load_drill(project: Path, stack: str) -> dict[str, Any] | None:
    path = project / DRILL_DIR / f"{stack}.json"
    if not path.exists():
        return None
    try:
        drill = json.loads(path.read_bytes())
    except (OSError, ValueError):
        drill = None
    if not isinstance(drill, dict):
        from redundo.errors import ConfigError

        raise ConfigError(
            f"{DRILL_DIR / path.name} is damaged; run `redundo drill --stack {stack}` again "
            "to record a fresh drill, or delete the file"
        )
    return drill


# --- words -------------------------------------------------------------------------------------

_COUNTRIES = {
    "en": {"FR": "France", "DE": "Germany", "GB": "United Kingdom", "PL": "Poland", "CA": "Canada"},
    "fr": {"FR": "France", "DE": "Allemagne", "GB": "Royaume-Uni", "PL": "Pologne", "CA": "Canada"},
}
_CITIES_FR = {"Frankfurt": "Francfort", "London": "Londres", "Warsaw": "Varsovie"}
_MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_STRATEGY = {
    "en": {"backup & restore": "backup and restore", "pilot light": "pilot light", "warm standby": "warm standby"},
    "fr": {
        "backup & restore": "sauvegarde et restauration",
        "pilot light": "veilleuse",
        "warm standby": "secours à chaud",
    },
}
_MODE = {
    "en": {"cold": "cold", "pilot": "pilot light", "warm": "warm"},
    "fr": {"cold": "à froid", "pilot": "veilleuse", "warm": "à chaud"},
}
_MODE_NOTE = {
    "en": {"cold": "created at failover", "pilot": "running, idle", "warm": "running, up to date"},
    "fr": {"cold": "créé à la bascule", "pilot": "allumé, au repos", "warm": "allumé, à jour"},
}

# What each tier survives, in the client's language. Keyed by the tier's own English sentence, so a
# sentence added to a tier without its French shows up in the tests, not as English in a French report.
_TIER_TEXT_FR = {
    "the primary's data centre burning or flooding": (
        "l’incendie ou l’inondation du centre de données du serveur principal"
    ),
    "the primary instance deleted or its disk lost": "le serveur principal supprimé ou son disque perdu",
    "a file deleted or overwritten by mistake (restore an older snapshot)": (
        "un fichier supprimé ou écrasé par erreur (on restaure une sauvegarde plus ancienne)"
    ),
    "both OVHcloud and AWS losing their sites in the same hour": (
        "OVHcloud et AWS perdant leurs sites dans la même heure"
    ),
    "changes made after the last backup (see RPO)": (
        "les modifications faites après la dernière sauvegarde (voir la perte de données maximale)"
    ),
    "ransomware holding the primary's key longer than 30 days": (
        "un rançongiciel détenant la clé du serveur principal plus de 30 jours"
    ),
    "ransomware on the primary, found within 90 days": (
        "un rançongiciel sur le serveur principal, découvert dans les 90 jours"
    ),
    "an attacker holding the vault's administrator account": "un attaquant détenant le compte administrateur du coffre",
    "ransomware on the primary, found within 180 days": (
        "un rançongiciel sur le serveur principal, découvert dans les 180 jours"
    ),
    "an attacker deleting backups with any key, for the 30-day lock": (
        "un attaquant effaçant des sauvegardes avec n’importe quelle clé, pendant les 30 jours du verrouillage"
    ),
    "the primary going dark at night with nobody awake: the standby takes over after 5 missed checks": (
        "le serveur principal qui s’éteint la nuit, sans personne d’éveillé : le serveur de secours prend le relais "
        "après 5 contrôles manqués"
    ),
}
_TIER_TEXT_EN = {
    "a file deleted or overwritten by mistake (restore an older snapshot)": (
        "a file deleted or overwritten by mistake (an older backup is restored)"
    ),
}


def _tier_text(sentence: str, lang: str) -> str:
    if lang == "fr":
        return _TIER_TEXT_FR[sentence]
    return _TIER_TEXT_EN.get(sentence, sentence)


def _number(value: float, lang: str, digits: int = 2) -> str:
    text = f"{value:,.{digits}f}"
    return text.replace(",", NNBSP).replace(".", ",") if lang == "fr" else text


def _eur(value: float, lang: str) -> str:
    return f"{_number(value, lang)}{NBSP}€" if lang == "fr" else f"€{_number(value, lang)}"


def _gb(value: float, lang: str) -> str:
    text = f"{value:g}"
    return f"{text.replace('.', ',')}{NBSP}Go" if lang == "fr" else f"{text} GB"


def _duration(minutes: float) -> str:
    return f"{minutes / 60:g}{NBSP}h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes:g}{NBSP}min"


def _every(minutes: int, lang: str) -> str:
    named = {
        "en": {60: "every hour", 24 * 60: "once a day"},
        "fr": {60: "toutes les heures", 24 * 60: "une fois par jour"},
    }
    return named[lang].get(minutes) or (
        f"every {_duration(minutes)}" if lang == "en" else f"toutes les {_duration(minutes)}"
    )


def _date(iso: str, lang: str) -> str:
    day = date.fromisoformat(iso[:10])
    if lang == "fr":
        return f"{'1er' if day.day == 1 else day.day} {_MONTHS_FR[day.month - 1]} {day.year}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def _city(name: str, lang: str) -> str:
    return _CITIES_FR.get(name, name) if lang == "fr" else name


def _french_typography(markdown: str) -> str:
    """No-break spaces where French typography wants them, in prose only (never inside `code`)."""
    out, fenced = [], False
    for line in markdown.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        if fenced or line.startswith("```"):
            out.append(line)
            continue
        parts = line.split("`")
        for i in range(0, len(parts), 2):  # even parts are outside code spans
            text = parts[i]
            text = re.sub(r" :", NBSP + ":", text)
            text = re.sub(r" ([;!?])", NNBSP + r"\1", text)
            text = text.replace("« ", "«" + NBSP).replace(" »", NBSP + "»")
            text = re.sub(r"(\d) (?=[%€A-Za-zÀ-ÿ])", r"\1" + NBSP, text)
            parts[i] = text
        out.append("`".join(parts))
    return "\n".join(out)


# --- facts shared by every rendering -------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    s: StackSettings
    cost: CostEstimate
    drill: dict[str, Any] | None
    today: str
    lang: str

    @property
    def site(self) -> str:
        return self.s.domain or self.s.stack

    def part_eur(self, part: str) -> float:
        return sum(i.monthly_eur for i in self.cost.items if i.part == part)

    @property
    def stored_gb(self) -> float:
        return sum(i.quantity for i in self.cost.items if i.part == "vault" and i.unit == "GB-month")

    @property
    def egress_eur_per_gb(self) -> float:
        return next((i.unit_eur for i in self.cost.items if i.part == "vault" and i.unit == "GB"), 0.0)

    @property
    def standby_running_eur(self) -> float:
        """What the standby costs a month while it runs (a cold standby's line is priced at quantity 0)."""
        return next((i.unit_eur for i in self.cost.items if i.part == "standby"), 0.0)

    def provider(self, provider: str, *, compute: bool = False) -> str:
        if provider == "aws":
            return "AWS Lightsail" if compute else "AWS S3"
        return "OVHcloud"


def _facts(
    s: StackSettings, lang: str, drill: dict[str, Any] | None, cost: CostEstimate | None, today: str | None
) -> _Facts:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}")
    return _Facts(s, cost or estimate(s), drill, today or datetime.now(UTC).date().isoformat(), lang)


# --- the client's summary ------------------------------------------------------------------------


def _summary(f: _Facts) -> list[str]:
    s, tier, lang = f.s, f.s.tier, f.lang
    p, v, sb = s.primary_location, s.vault_location, s.standby_location
    countries = _COUNTRIES[lang]
    paths = ", ".join(f"`{path}`" for path in s.site_paths)
    mode = _MODE[lang][tier.standby_mode]
    strategy = _STRATEGY[lang][tier.strategy]
    redundancy = f.cost.monthly_eur - round(f.part_eur("primary"), 2)
    if lang == "fr":
        db = {
            "none": "aucune base de données",
            "sqlite": "sa base SQLite",
            "mysql": f"sa base MySQL/MariaDB `{s.database_name}`",
            "postgresql": f"sa base PostgreSQL `{s.database_name}`",
        }[s.database]
        keep = (
            f" ; pendant {tier.object_lock_days} jours, personne, pas même un administrateur, ne peut effacer "
            "une copie."
            if tier.object_lock_days
            else " ; la clé du serveur peut ajouter des copies, jamais en détruire une ancienne."
        )
        lines = [
            f"# Rapport de reprise d’activité : {f.site}",
            "",
            f"Client `{s.stack}`, rapport établi le {_date(f.today, lang)}. Formule **{tier.name}** ({strategy}).",
            "",
            "## Ce qui est protégé",
            "",
            f"Les fichiers du site ({paths}) et {db}, environ {_gb(s.data_gb, lang)}. Une copie est faite "
            f"{_every(tier.backup_interval_minutes, lang)}, chiffrée avant de quitter le serveur, et conservée "
            f"{tier.retention_days} jours{keep}",
            "",
            "## Où se trouve chaque copie",
            "",
            "| copie | fournisseur | région | ville |",
            "| --- | --- | --- | --- |",
            f"| le site en ligne (serveur principal) | OVHcloud | {p.region} | {_city(p.city, lang)}, "
            f"{countries[p.country]} |",
            f"| les sauvegardes (coffre) | {f.provider(v.provider)} | {v.region} | {_city(v.city, lang)}, "
            f"{countries[v.country]} |",
            f"| le serveur de secours ({mode}) | {f.provider(sb.provider, compute=True)} | {sb.region} | "
            f"{_city(sb.city, lang)}, {countries[sb.country]} |",
            "",
            _mermaid(f),
            "",
            "## Contre quoi le site est protégé",
            "",
            *[f"- {_tier_text(item, lang)}" for item in tier.survives],
            "",
            "Et contre quoi il ne l’est pas :",
            "",
            *[f"- {_tier_text(item, lang)}" for item in tier.does_not_survive],
            "",
            "## Engagements et mesures",
            "",
            f"- **Données que vous pouvez perdre (RPO) :** au plus {_duration(tier.rpo_minutes)} de modifications.",
            f"- **Délai de remise en ligne (RTO) :** au plus {_duration(tier.rto_minutes)}.",
        ]
        if f.drill:
            d = f.drill
            verdict = "réussi" if d.get("passed") else "ÉCHOUÉ"
            lines.append(
                f"- **Dernier exercice de restauration** ({_date(d.get('at', f.today), lang)}) : {verdict} ; "
                f"sauvegarde {d.get('snapshot_id', '')[:8]} restaurée et vérifiée ({d.get('files_checked', 0)} "
                f"fichiers) ; RPO mesuré {_number(d.get('rpo_seconds', 0) / 60, lang, 1)} min, durée de "
                f"restauration {_number(d.get('rto_seconds', 0) / 60, lang, 1)} min."
            )
        else:
            lines.append(
                "- **Dernier exercice de restauration :** aucun pour l’instant ; tant qu’il n’a pas eu "
                "lieu, les engagements ci-dessus ne sont pas vérifiés pour ce site."
            )
        standby_what = (
            f"le serveur de secours ({s.standby_size.size}, {sb.region}, {mode} : créé seulement lors d’une bascule)"
            if tier.standby_mode == "cold"
            else f"le serveur de secours ({s.standby_size.size}, {sb.region}, {mode})"
        )
        lines += [
            "",
            "## Coût mensuel",
            "",
            "| poste | € HT par mois |",
            "| --- | ---: |",
            f"| le serveur du site ({s.primary_flavor}, {p.region}) | {_number(f.part_eur('primary'), lang)} |",
            f"| les sauvegardes ({f.provider(v.provider)} {v.region} : {_gb(round(f.stored_gb, 1), lang)} stockés, "
            f"requêtes et transferts) | {_number(f.part_eur('vault'), lang)} |",
            f"| {standby_what} | {_number(f.part_eur('standby'), lang)} |",
            f"| **total hors taxes** | **{_number(f.cost.monthly_eur, lang)}** |",
            f"| dont la redondance (sauvegardes et secours) | {_number(redundancy, lang)} |",
            "",
            "Non compris :",
            "",
            "- la TVA (20 % en France, 19 % en Allemagne) ;",
            f"- une restauration complète télécharge environ {_gb(s.data_gb, lang)} depuis le coffre : environ "
            f"{_eur(s.data_gb * f.egress_eur_per_gb, lang)} à chaque fois ;",
            (
                f"- le serveur de secours coûte environ {_eur(f.standby_running_eur, lang)} par mois tant qu’il tourne "
                "après une bascule ;"
                if tier.standby_mode == "cold"
                else "- le trafic supplémentaire du serveur de secours pendant qu’il sert le site après une bascule ;"
            ),
            "- le nom de domaine et sa zone DNS (inclus avec un domaine enregistré chez OVHcloud).",
            "",
        ]
        return lines
    db = {
        "none": "no database",
        "sqlite": "its SQLite database",
        "mysql": f"its MySQL/MariaDB database `{s.database_name}`",
        "postgresql": f"its PostgreSQL database `{s.database_name}`",
    }[s.database]
    keep = (
        f"; for {tier.object_lock_days} days no one, not even an administrator, can delete a copy."
        if tier.object_lock_days
        else "; the server's own key can add copies but never destroy an old one."
    )
    lines = [
        f"# Recovery report: {f.site}",
        "",
        f"Client `{s.stack}`, report prepared {_date(f.today, lang)}. Tier **{tier.name}** ({strategy}).",
        "",
        "## What is protected",
        "",
        f"The site's files ({paths}) and {db}, about {_gb(s.data_gb, lang)}. A copy is taken "
        f"{_every(tier.backup_interval_minutes, lang)}, encrypted before it leaves the server, and kept "
        f"{tier.retention_days} days{keep}",
        "",
        "## Where each copy lives",
        "",
        "| copy | provider | region | city |",
        "| --- | --- | --- | --- |",
        f"| the live site (primary) | OVHcloud | {p.region} | {p.city}, {countries[p.country]} |",
        f"| the backups (vault) | {f.provider(v.provider)} | {v.region} | {v.city}, {countries[v.country]} |",
        f"| the standby ({mode}) | {f.provider(sb.provider, compute=True)} | {sb.region} | {sb.city}, "
        f"{countries[sb.country]} |",
        "",
        _mermaid(f),
        "",
        "## What this protects against",
        "",
        *[f"- {_tier_text(item, lang)}" for item in tier.survives],
        "",
        "And what it does not:",
        "",
        *[f"- {_tier_text(item, lang)}" for item in tier.does_not_survive],
        "",
        "## Promises and measurements",
        "",
        f"- **Data you can lose (RPO):** at most {_duration(tier.rpo_minutes)} of changes.",
        f"- **Time to be back online (RTO):** at most {_duration(tier.rto_minutes)}.",
    ]
    if f.drill:
        d = f.drill
        verdict = "passed" if d.get("passed") else "FAILED"
        lines.append(
            f"- **Last recovery drill** ({_date(d.get('at', f.today), lang)}): {verdict}; snapshot "
            f"{d.get('snapshot_id', '')[:8]} restored and verified ({d.get('files_checked', 0)} files); "
            f"measured RPO {d.get('rpo_seconds', 0) / 60:.1f} min, restore time "
            f"{d.get('rto_seconds', 0) / 60:.1f} min."
        )
    else:
        lines.append(
            "- **Last recovery drill:** none yet; until one is run, the promises above are unproven for this site."
        )
    standby_what = (
        f"the standby ({s.standby_size.size}, {sb.region}, {mode}: created only at failover)"
        if tier.standby_mode == "cold"
        else f"the standby ({s.standby_size.size}, {sb.region}, {mode})"
    )
    lines += [
        "",
        "## Monthly cost",
        "",
        "| part | € a month, excl. VAT |",
        "| --- | ---: |",
        f"| the site's server ({s.primary_flavor}, {p.region}) | {_number(f.part_eur('primary'), lang)} |",
        f"| the backups ({f.provider(v.provider)} {v.region}: {_gb(round(f.stored_gb, 1), lang)} stored, requests "
        f"and transfer) | {_number(f.part_eur('vault'), lang)} |",
        f"| {standby_what} | {_number(f.part_eur('standby'), lang)} |",
        f"| **total, excluding VAT** | **{_number(f.cost.monthly_eur, lang)}** |",
        f"| of which redundancy (backups and standby) | {_number(redundancy, lang)} |",
        "",
        "Not included:",
        "",
        "- VAT (20% in France, 19% in Germany);",
        f"- a full restore downloads about {_gb(s.data_gb, lang)} from the vault: about "
        f"{_eur(s.data_gb * f.egress_eur_per_gb, lang)} each time;",
        (
            f"- the standby costs about {_eur(f.standby_running_eur, lang)} a month while it runs after a failover;"
            if tier.standby_mode == "cold"
            else "- the standby's extra traffic while it serves after a failover;"
        ),
        "- the domain name and its DNS zone (included with a domain registered at OVHcloud).",
        "",
    ]
    return lines


# --- the freelancer's runbook --------------------------------------------------------------------


def _runbook(f: _Facts) -> list[str]:
    s, tier, lang = f.s, f.s.tier, f.lang
    p, v, sb = s.primary_location, s.vault_location, s.standby_location
    bucket = f"redundo-{s.stack}-"[:30]
    endpoint = (
        f"https://s3.{v.region}.amazonaws.com"
        if v.provider == "aws"
        else f"https://s3.{v.region.lower()}.io.cloud.ovh.net"
    )
    user = "admin" if sb.provider == "aws" else "debian"
    ttl = tier.dns_ttl_seconds
    restore = f"sudo -E restic --no-lock restore latest --host {s.stack}-site --target /srv/restore --verify"
    rsync = ", ".join(f"`sudo rsync -a --delete /srv/restore{path}/ {path}/`" for path in s.site_paths)
    db_command = {
        "mysql": "sudo mysql < /srv/restore/var/backups/redundo/site.sql",
        "postgresql": "sudo -u postgres pg_restore --clean --if-exists --create --dbname postgres "
        "/srv/restore/var/backups/redundo/site.pgdump",
        "sqlite": "sudo cp /srv/restore/var/backups/redundo/site.sqlite /var/lib/site/site.sqlite",
    }.get(s.database)
    label = s.domain[: -len(s.dns_zone)].rstrip(".") or "@" if s.domain else ""
    secrets = "`readerAccessKeyId`, `readerSecretAccessKey`, `repositoryPassword`"
    if lang == "fr":
        record = f"l’enregistrement `{label}` de la zone `{s.dns_zone}`" if s.domain else "l’enregistrement A du site"
        lines = [
            f"# Procédure de reprise à la main : {f.site}",
            "",
            f"Pour la personne qui exploite le site (client `{s.stack}`, formule {tier.name}), si le serveur principal "
            "est perdu et que redundo n’est pas disponible. Il faut la clé en lecture seule du coffre et le mot de "
            "passe du dépôt, gardés dans le gestionnaire de mots de passe (ou "
            f"`pulumi stack output --stack {s.stack} --show-secrets` : {secrets}).",
            "",
            "1. Vérifiez que le serveur principal est vraiment hors service : la page d’état d’OVHcloud et l’espace "
            f"client pour {p.region} ({_city(p.city, lang)}).",
            (
                f"2. Connectez-vous au serveur de secours : `ssh {user}@standby.{f.site}`."
                if tier.standby_mode != "cold"
                else f"2. Créez une instance Debian de gabarit {s.standby_size.size} dans {sb.region} "
                f"({_city(sb.city, lang)}) et connectez-vous ; installez les outils : "
                "`sudo apt-get install -y restic sqlite3 rsync`."
            ),
            "3. Chargez les clés dans le shell (tapez-les, ne les enregistrez pas dans un fichier) :",
            "   `export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... RESTIC_PASSWORD=...`",
            f"4. Indiquez le coffre à restic : `export RESTIC_REPOSITORY=s3:{endpoint}/<bucket>` ; le nom du "
            f"compartiment commence par `{bucket}` (voir `vaultBucket` dans les sorties de la pile).",
            f"5. Listez les sauvegardes : `restic --no-lock snapshots --host {s.stack}-site`. Prenez la plus récente.",
            f"6. Restaurez et vérifiez : `{restore}`.",
            f"7. Remettez les fichiers en place : {rsync}.",
            (
                f"8. Chargez la base de données : `{db_command}`."
                if s.database in ("mysql", "postgresql")
                else f"8. Remettez la base en place : `{db_command}`."
                if db_command
                else "8. Il n’y a pas de base de données à charger."
            ),
            f"9. Dans l’espace client OVHcloud, zone DNS `{s.dns_zone or 'de votre domaine'}` : faites pointer "
            f"{record} vers l’adresse du serveur de secours (TTL {ttl} s), puis cliquez sur « Rafraîchir la zone », "
            "sans quoi la modification risque de ne pas être servie.",
            f"10. Ouvrez https://{f.site}/ et vérifiez une commande ou une page récente. Les visiteurs suivent dans "
            f"le délai du TTL ({ttl} s).",
            "",
            "Après la reprise : lancez `redundo failover --stack " + s.stack + "` dès que redundo est de nouveau "
            f"disponible, pour l’inscrire dans la pile, puis `redundo drill --stack {s.stack}` une fois par trimestre"
            + (" ; aucun exercice n’a encore eu lieu pour ce site." if not f.drill else "."),
            "",
        ]
        return lines
    record = f"`{label}` in zone `{s.dns_zone}`" if s.domain else "the site's A record"
    return [
        f"# Runbook: bringing {f.site} back by hand",
        "",
        f"For whoever operates the site (client `{s.stack}`, tier {tier.name}), if the primary is gone and redundo "
        "itself is not available. You need the vault's read-only key and the repository password, kept in the "
        f"password manager (or `pulumi stack output --stack {s.stack} --show-secrets`: {secrets}).",
        "",
        f"1. Confirm the primary is really down: the OVHcloud status page and the control panel for {p.region} "
        f"({p.city}).",
        (
            f"2. Log in to the standby: `ssh {user}@standby.{f.site}`."
            if tier.standby_mode != "cold"
            else f"2. Create a Debian instance of flavour {s.standby_size.size} in {sb.region} ({sb.city}) and log in; "
            "install the tools: `sudo apt-get install -y restic sqlite3 rsync`."
        ),
        "3. Load the keys into the shell (type them, do not save them in a file):",
        "   `export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... RESTIC_PASSWORD=...`",
        f"4. Point restic at the vault: `export RESTIC_REPOSITORY=s3:{endpoint}/<bucket>`; the bucket's name "
        f"starts with `{bucket}` (see `vaultBucket` in the stack outputs).",
        f"5. List the backups: `restic --no-lock snapshots --host {s.stack}-site`. Take the newest one.",
        f"6. Restore and verify: `{restore}`.",
        f"7. Put the files in place: {rsync}.",
        (
            f"8. Load the database: `{db_command}`."
            if s.database in ("mysql", "postgresql")
            else f"8. Put the database in place: `{db_command}`."
            if db_command
            else "8. There is no database to load."
        ),
        f"9. In the OVHcloud control panel, DNS zone of `{s.dns_zone or 'your domain'}`: set {record} to the "
        f"standby's address (TTL {ttl} s), then use *Refresh zone*, or the change may not be served.",
        f"10. Open https://{f.site}/ and check a recent order or page. Visitors follow within the TTL ({ttl} s).",
        "",
        f"Afterwards: run `redundo failover --stack {s.stack}` once redundo is available again, to record the switch "
        f"in the stack, and `redundo drill --stack {s.stack}` once a quarter"
        + ("; no drill has been run for this site yet." if not f.drill else "."),
        "",
    ]


# --- the diagram ---------------------------------------------------------------------------------


def _labels(f: _Facts) -> dict[str, Any]:
    s, tier, lang = f.s, f.s.tier, f.lang
    p, v, sb = s.primary_location, s.vault_location, s.standby_location
    lock = (
        f", {'verrouillé' if lang == 'fr' else 'locked'} {tier.object_lock_days}{NBSP}{'j' if lang == 'fr' else 'd'}"
        if tier.object_lock_days
        else ""
    )
    if lang == "fr":
        return {
            "visitors": ["visiteurs de", f.site],
            "primary": ["serveur principal", f"OVH {s.primary_flavor}", f"{p.region}, {_city(p.city, lang)}"],
            "vault": [
                "coffre de sauvegardes",
                f"{v.provider.upper()} {v.region}",
                f"{_city(v.city, lang)}, versionné{lock}",
            ],
            "standby": [
                "serveur de secours",
                f"{sb.provider.upper()} {s.standby_size.size}",
                f"{sb.region}, {_city(sb.city, lang)}",
                _MODE_NOTE[lang][tier.standby_mode],
            ],
            "dns": ["enregistrement DNS", f"A, TTL {tier.dns_ttl_seconds}{NBSP}s"],
            "backup": ["sauvegarde restic", _every(tier.backup_interval_minutes, lang)],
            "restore": ["restauration", "en lecture seule"],
            "failover": "après une bascule",
            "title": f"Schéma de reprise de {f.site}",
        }
    return {
        "visitors": ["visitors of", f.site],
        "primary": ["primary", f"OVH {s.primary_flavor}", f"{p.region}, {p.city}"],
        "vault": ["backup vault", f"{v.provider.upper()} {v.region}", f"{v.city}, versioned{lock}"],
        "standby": [
            "standby",
            f"{sb.provider.upper()} {s.standby_size.size}",
            f"{sb.region}, {sb.city}",
            _MODE_NOTE[lang][tier.standby_mode],
        ],
        "dns": ["DNS A record", f"TTL {tier.dns_ttl_seconds}{NBSP}s"],
        "backup": ["restic backup", _every(tier.backup_interval_minutes, lang)],
        "restore": ["read-only", "restore"],
        "failover": "after failover",
        "title": f"Recovery topology of {f.site}",
    }


def _mermaid(f: _Facts) -> str:
    """The diagram for Markdown readers (GitHub renders Mermaid); HTML and PDF get the SVG instead."""
    t = _labels(f)

    def box(key: str) -> str:
        return "<br/>".join(t[key])

    return "\n".join(
        [
            "```mermaid",
            "flowchart LR",
            f'  visitors(["{box("visitors")}"]) -->|"{", ".join(t["dns"])}"| primary',
            f'  primary["{box("primary")}"] -->|"{" ".join(t["backup"])}"| vault',
            f'  vault[("{box("vault")}")]',
            f'  vault -->|"{" ".join(t["restore"])}"| standby["{box("standby")}"]',
            f'  visitors -.->|"{t["failover"]}"| standby',
            "```",
        ]
    )


def _text(
    x: float,
    y: float,
    lines: list[str],
    *,
    size: int = 13,
    width: float = 200,
    anchor: str = "middle",
    weight_first: bool = False,
    colour: str = "#1b1f24",
) -> str:
    """Centred lines of SVG text; a line too long for `width` is squeezed to fit rather than overflowing."""
    out = []
    for i, line in enumerate(lines):
        attrs = ""
        if len(line) * size * 0.58 > width:  # a conservative estimate of a sans-serif line's width
            attrs = f' textLength="{width:.0f}" lengthAdjust="spacingAndGlyphs"'
        weight = ' font-weight="bold"' if weight_first and i == 0 else ""
        out.append(
            f'<text x="{x:.0f}" y="{y + i * (size + 4):.0f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{colour}"{weight}{attrs}>{escape(line)}</text>'
        )
    return "".join(out)


def diagram_svg(s: StackSettings, *, lang: str = "en") -> str:
    """The recovery topology as one inline SVG element: four boxes, the backup and restore arrows, and
    the way visitors take after a failover. Drawn here, at report time; nothing to load."""
    f = _facts(s, lang, None, None, "2000-01-01")
    t = _labels(f)
    fill, stroke = BOX_COLOURS, _STROKES
    font = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
    parts = [
        f'<svg class="diagram" viewBox="0 0 880 300" width="880" height="300" '
        f'role="img" aria-labelledby="diagram-title" font-family="{font}">',
        f'<title id="diagram-title">{escape(t["title"])}</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#3b4048"/></marker></defs>',
        # visitors: a pill
        f'<rect x="10" y="45" width="160" height="80" rx="40" fill="{fill["visitors"]}" '
        f'stroke="{stroke["visitors"]}" stroke-width="2"/>',
        _text(90, 80, t["visitors"], width=140),
        # primary
        f'<rect x="310" y="35" width="210" height="100" rx="8" fill="{fill["primary"]}" '
        f'stroke="{stroke["primary"]}" stroke-width="2"/>',
        _text(415, 68, t["primary"], width=190, weight_first=True),
        # vault: a cylinder
        f'<path d="M640,50 A110,14 0 0 1 860,50 V140 A110,14 0 0 1 640,140 Z" fill="{fill["vault"]}" '
        f'stroke="{stroke["vault"]}" stroke-width="2"/>',
        f'<path d="M640,50 A110,14 0 0 0 860,50" fill="none" stroke="{stroke["vault"]}" stroke-width="2"/>',
        _text(750, 88, t["vault"], width=200, weight_first=True),
        # standby
        f'<rect x="640" y="190" width="220" height="100" rx="8" fill="{fill["standby"]}" '
        f'stroke="{stroke["standby"]}" stroke-width="2" '
        f'stroke-dasharray="{"6 4" if s.tier.standby_mode == "cold" else "none"}"/>',
        _text(750, 214, t["standby"], width=200, weight_first=True),
        # arrows
        '<g stroke="#3b4048" stroke-width="2" fill="none">'
        '<path d="M170,85 H306" marker-end="url(#arrow)"/>'
        '<path d="M520,85 H636" marker-end="url(#arrow)"/>'
        '<path d="M750,155 V186" marker-end="url(#arrow)"/>'
        '<path d="M90,125 V265 H636" stroke-dasharray="7 5" marker-end="url(#arrow)"/>'
        "</g>",
        _text(238, 52, t["dns"], size=11, width=130, colour="#3b4048"),
        _text(580, 52, t["backup"], size=11, width=115, colour="#3b4048"),
        _text(740, 166, t["restore"], size=11, width=130, anchor="end", colour="#3b4048"),
        _text(370, 257, [t["failover"]], size=11, width=260, colour="#3b4048"),
        "</svg>",
    ]
    return "".join(parts)


# --- renderings ----------------------------------------------------------------------------------


def _parts(f: _Facts, part: str) -> list[tuple[str, str]]:
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}")
    chosen = []
    if part in ("all", "summary"):
        chosen.append(("summary", "\n".join(_summary(f))))
    if part in ("all", "runbook"):
        chosen.append(("runbook", "\n".join(_runbook(f))))
    if f.lang == "fr":
        chosen = [(name, _french_typography(text)) for name, text in chosen]
    return chosen


def markdown_report(
    s: StackSettings,
    *,
    lang: str = "en",
    part: str = "all",
    drill: dict[str, Any] | None = None,
    cost: CostEstimate | None = None,
    today: str | None = None,
) -> str:
    """The report in Markdown (GitHub renders its Mermaid diagram); the runbook follows a rule."""
    f = _facts(s, lang, drill, cost, today)
    return "\n---\n\n".join(text for _, text in _parts(f, part))


_CSS = (
    "body{font-family:'DejaVu Sans','Liberation Sans',Arial,Helvetica,sans-serif;color:#1b1f24;max-width:58rem;"
    "margin:2rem auto;padding:0 1rem;line-height:1.5;font-size:15px}"
    "h1{font-size:1.6rem;margin:0 0 .5rem}h2{font-size:1.2rem;margin-top:1.6rem;border-bottom:1px solid #d0d4da}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #c4c9d0;padding:.3rem .6rem;"
    "vertical-align:top}th{background:#f1f3f5;text-align:left}"
    "code{font-family:'DejaVu Sans Mono',monospace;font-size:.85em;background:#f4f5f7;padding:0 .2em;"
    "overflow-wrap:anywhere}"
    "figure.diagram{margin:1rem 0}figure.diagram svg{max-width:100%;height:auto}"
    "section.runbook{margin-top:3rem;padding-top:1rem;border-top:3px solid #1b1f24}"
    "section.runbook ol li{margin:.35rem 0}"
    "@page{size:A4;margin:16mm 14mm}"
    "@media print{body{max-width:none;margin:0;padding:0;font-size:10.5pt}"
    "section.runbook{break-before:page;border-top:none;margin-top:0}figure.diagram{break-inside:avoid}"
    "table{break-inside:avoid}}"
)


def html_report(
    s: StackSettings,
    *,
    lang: str = "en",
    part: str = "all",
    drill: dict[str, Any] | None = None,
    cost: CostEstimate | None = None,
    today: str | None = None,
) -> str:
    """The report as one self-contained HTML page: inline SVG diagram, inline style, no script, no link."""
    from markdown_it import MarkdownIt

    f = _facts(s, lang, drill, cost, today)
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    figure = f'<figure class="diagram">{diagram_svg(s, lang=lang)}</figure>'
    sections = []
    for name, text in _parts(f, part):
        body = md.render(text)
        body = re.sub(r'<pre><code class="language-mermaid">.*?</code></pre>', lambda _: figure, body, flags=re.S)
        sections.append(f'<section class="{name}">\n{body}</section>')
    title = f"Rapport de reprise d’activité : {f.site}" if lang == "fr" else f"Recovery report: {f.site}"
    if lang == "fr":
        title = title.replace(" :", NBSP + ":")
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"the report loads nothing from outside; refused {url}")


def pdf_report(html: str) -> bytes:
    """The HTML report laid out as an A4 PDF by WeasyPrint, with every URL fetch refused."""
    try:
        import weasyprint
    except ImportError:
        raise OperationError("PDF output needs WeasyPrint; install it with `pip install 'redundo[pdf]'`") from None
    except OSError as exc:  # cffi could not load pango: the Debian libraries are missing
        raise OperationError(
            f"PDF output needs the pango libraries ({exc}); install them with "
            "`sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0`"
        ) from None
    return weasyprint.HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
