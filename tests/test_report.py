"""The client's recovery report: the stack's real values, in French and English, a summary apart from
the runbook, and a page that loads nothing from outside."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from redundo import geo
from redundo.pricing import estimate
from redundo.report import BOX_COLOURS, html_report, markdown_report
from redundo.settings import parse_settings, read_stack_file
from redundo.tiers import TIERS
from tests.conftest import STACKS, example_config

NBSP, NNBSP = "\u00a0", "\u202f"


def _prose(markdown: str) -> str:
    """The text outside code spans and the Mermaid block: what French typography applies to."""
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return "".join(markdown.split("`")[0::2])


def test_report_carries_the_stacks_real_values():
    settings = read_stack_file(STACKS, "small-shop")
    text = markdown_report(settings, lang="en", today="2026-11-26")
    cost = estimate(settings)
    for expected in (
        "# Recovery report: jeweller-example.fr",
        "report prepared 26 November 2026",
        "Tier **standard** (pilot light)",
        "| the live site (primary) | OVHcloud | GRA11 | Gravelines, France |",
        "| the backups (vault) | AWS S3 | eu-west-3 | Paris, France |",
        "| the standby (pilot light) | OVHcloud | DE1 | Frankfurt, Germany |",
        f"**{cost.monthly_eur:.2f}**",
        f"at most 90{NBSP}min of changes",
        f"at most 2{NBSP}h",
        "restic --no-lock snapshots --host small-shop-site",
        "sudo mysql < /srv/restore/var/backups/redundo/site.sql",
        "`sudo rsync -a --delete /srv/restore/etc/nginx/ /etc/nginx/`",
        "TTL 300 s",
        "```mermaid",
        "ransomware on the primary, found within 90 days",
        "both OVHcloud and AWS losing their sites in the same hour",
    ):
        assert expected in text, expected
    assert "{" not in text.replace("```mermaid", "")  # no unfilled template field
    assert "Last recovery drill:** none yet" in text


def test_report_cost_rows_add_up_to_the_estimate():
    """The summary's three cost rows are the estimate's parts; redundancy is all but the primary."""
    settings = read_stack_file(STACKS, "small-shop")
    cost = estimate(settings)
    text = markdown_report(settings, lang="en", part="summary")
    rows = [float(m) for m in re.findall(r"^\| the (?:site's server|backups|standby) .*\| ([\d.]+) \|$", text, re.M)]
    assert len(rows) == 3 and sum(rows) == pytest.approx(cost.monthly_eur, abs=0.015)
    redundancy = float(re.search(r"of which redundancy .*\| ([\d.]+) \|", text).group(1))
    assert redundancy == pytest.approx(cost.redundancy_eur, abs=0.015)


def test_report_states_the_last_drill_when_there_is_one():
    settings = read_stack_file(STACKS, "small-shop")
    drill = {
        "passed": True,
        "at": "2026-11-20T03:00:00+00:00",
        "snapshot_id": "0123abcdef",
        "files_checked": 812,
        "rpo_seconds": 1500,
        "rto_seconds": 240,
    }
    text = markdown_report(settings, lang="en", drill=drill)
    assert (
        "**Last recovery drill** (20 November 2026): passed; snapshot 0123abcd restored and verified (812 files); "
        "measured RPO 25.0 min, restore time 4.0 min."
    ) in text
    french = markdown_report(settings, lang="fr", drill=drill)
    assert (
        f"**Dernier exercice de restauration** (20{NBSP}novembre 2026){NBSP}: réussi{NNBSP}; sauvegarde 0123abcd "
        f"restaurée et vérifiée (812{NBSP}fichiers){NNBSP}; RPO mesuré 25,0{NBSP}min"
    ) in french


def test_report_french_is_french_with_french_typography():
    settings = read_stack_file(STACKS, "small-shop")
    cost = estimate(settings)
    text = markdown_report(settings, lang="fr", today="2026-11-01")
    for expected in (
        f"# Rapport de reprise d’activité{NBSP}: jeweller-example.fr",
        "établi le 1er novembre 2026",
        "Formule **standard** (veilleuse)",
        "| le serveur de secours (veilleuse) | OVHcloud | DE1 | Francfort, Allemagne |",
        f"**{cost.monthly_eur:.2f}**".replace(".", ","),
        f"conservée 90{NBSP}jours",
        f"la TVA (20{NBSP}% en France",
        f"environ 8{NBSP}Go",
        "un rançongiciel sur le serveur principal, découvert dans les 90",
        "l’incendie ou l’inondation",
        f"# Procédure de reprise à la main{NBSP}: jeweller-example.fr",
        "Rafraîchir la zone",
        "8. Chargez la base de données",
    ):
        assert expected in text, expected
    prose = _prose(text)
    assert not re.search(r" [:;!?]", prose), "a plain space before French high punctuation"
    assert "'" not in prose, "a straight apostrophe in French prose"
    assert not re.search(r"\d\.\d", prose.replace("1. ", "").replace("0. ", "")), "an English decimal point"
    for english in ("the ", " and ", "backup", "standby", "Recovery", "excluding"):
        assert english not in prose, english


@pytest.mark.parametrize("tier", list(TIERS))
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_report_every_tier_and_topology_renders_in_each_language(tier, lang):
    """Every tier's sentences have a French version, and every region's city and country a name."""
    for overrides in (
        {},
        {
            "backupProvider": "ovh",
            "backupRegion": "DE",
            "standbyProvider": "aws",
            "standbyRegion": "eu-central-1",
            "database": "postgresql",
        },
        {"primaryRegion": "UK1", "standbyRegion": "WAW1", "database": "none", "domain": None},
    ):
        settings = parse_settings("shop", example_config(tier=tier, **overrides))
        text = markdown_report(settings, lang=lang)
        assert "{" not in text.replace("```mermaid", "")
        if lang == "fr":
            for sentence in (*TIERS[tier].survives, *TIERS[tier].does_not_survive):
                assert sentence not in text, sentence
    for location in (*geo.OVH_INSTANCE_REGIONS.values(), *geo.OVH_STORAGE_REGIONS.values(), *geo.AWS_REGIONS.values()):
        from redundo.report import _COUNTRIES

        assert location.country in _COUNTRIES[lang]


def test_report_summary_and_runbook_are_separate_parts():
    settings = read_stack_file(STACKS, "small-shop")
    for lang in ("fr", "en"):
        summary = markdown_report(settings, lang=lang, part="summary")
        runbook = markdown_report(settings, lang=lang, part="runbook")
        both = markdown_report(settings, lang=lang)
        assert both.index(summary.splitlines()[0]) < both.index(runbook.splitlines()[0])
        for freelancer_only in ("restic --no-lock", "pulumi stack output", "sudo ", "RESTIC_PASSWORD"):
            assert freelancer_only not in summary and freelancer_only in runbook
        assert "```mermaid" in summary and "```mermaid" not in runbook
        assert ("€" in summary) and ("12,12" in summary or "12.12" in summary) and "12,12" not in runbook


class _Resources(HTMLParser):
    """Every element and every attribute that could make a browser fetch something."""

    FETCHING = frozenset(
        {
            "src",
            "srcset",
            "href",
            "xlink:href",
            "poster",
            "data",
            "action",
            "formaction",
            "background",
            "manifest",
            "codebase",
            "ping",
        }
    )

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.fetches: list[str] = []
        self.fills: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in self.FETCHING or (key == "style" and "url(" in (value or "")):
                self.fetches.append(f"{tag} {key}={value}")
            if key == "fill":
                self.fills.append(value)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_report_html_loads_nothing_and_carries_the_diagram(lang):
    page = html_report(read_stack_file(STACKS, "small-shop"), lang=lang)
    parser = _Resources()
    parser.feed(page)
    assert parser.fetches == []
    assert not {"script", "link", "img", "iframe", "object", "embed", "image", "use", "foreignobject"} & set(
        parser.tags
    )
    assert "@import" not in page and "url(" not in page.replace("url(#arrow)", "")
    assert not re.search(
        r"https?://", page.replace("https://s3.eu-west-3.amazonaws.com", "").replace("https://jeweller-example.fr/", "")
    ), "a URL other than the runbook's own text"
    assert parser.tags.count("svg") == 1 and parser.tags.count("table") == 2 and "ol" in parser.tags
    assert set(BOX_COLOURS.values()) <= set(parser.fills)
    assert f'<html lang="{lang}">' in page and "flowchart" not in page
