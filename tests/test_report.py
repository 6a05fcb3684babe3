"""The client's recovery report: the stack's real values, a diagram, a runbook, and it renders."""

from __future__ import annotations

from html.parser import HTMLParser

from redundo.cli.main import app
from typer.testing import CliRunner

from redundo.pricing import estimate
from redundo.report import html_report, markdown_report
from redundo.settings import read_stack_file
from tests.conftest import REPO, SERVICE, SSH_KEY, STACKS


def test_report_carries_the_stacks_real_values():
    settings = read_stack_file(STACKS, "small-shop")
    text = markdown_report(settings, today="2026-11-26")
    cost = estimate(settings)
    for expected in ("# Recovery report: jeweller-example.fr", "Tier **standard** (pilot light)",
                     "| the live site (primary) | OVHcloud | GRA11 | Gravelines, FR |",
                     "| the backups (vault) | AWS | eu-west-3 | Paris, FR |",
                     "| the standby (pilot) | OVHcloud | DE1 | Frankfurt, DE |",
                     f"**{cost.monthly_eur:.2f}**", "at most 90 min of changes", "at most 2 h",
                     "restic --no-lock snapshots --host small-shop-site",
                     "sudo mysql < /srv/restore/var/backups/redundo/site.sql",
                     "`sudo rsync -a --delete /srv/restore/etc/nginx/ /etc/nginx/`", "TTL 300 s",
                     "```mermaid", "ransomware on the primary, found within 90 days",
                     "both OVHcloud and AWS losing their sites in the same hour"):
        assert expected in text, expected
    assert "{" not in text.replace("```mermaid", "")  # no unfilled template field
    assert "Last recovery drill:** none yet" in text


def test_report_states_the_last_drill_when_there_is_one():
    settings = read_stack_file(STACKS, "small-shop")
    text = markdown_report(settings, drill={"passed": True, "at": "2026-11-20T03:00:00+00:00",
                                            "snapshot_id": "0123abcdef", "files_checked": 812,
                                            "rpo_seconds": 1500, "rto_seconds": 240})
    assert ("**Last recovery drill** (2026-11-20): passed; snapshot 0123abcd restored and verified (812 files); "
            "measured RPO 25.0 min, restore time 4.0 min.") in text


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.classes: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.classes += [v for k, v in attrs if k == "class"]


def test_report_html_renders_tables_lists_and_the_diagram():
    page = html_report(markdown_report(read_stack_file(STACKS, "small-shop")), "Recovery report")
    parser = _Collect()
    parser.feed(page)
    assert parser.tags.count("table") == 2 and "ol" in parser.tags and "h1" in parser.tags
    assert "mermaid" in parser.classes and "flowchart LR" in page


def test_report_cli_writes_html_for_a_new_client(write_stack, tmp_path):
    project = write_stack("bakery", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY, domain="bakery.fr",
                          tier="basic", database="sqlite")
    out = tmp_path / "bakery.html"
    result = CliRunner().invoke(app, ["--project", str(project), "report", "--stack", "bakery", "--format", "html",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Recovery report: bakery.fr" in page and "Create a Debian instance of flavour d2-2 in DE1" in page
    bad = CliRunner().invoke(app, ["--project", str(REPO), "report", "--format", "pdf"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --format 'pdf' is not one of md, html")
