"""`redundo tiers`: the ladder for a budget and a data size."""

from __future__ import annotations

import json
import re

import pytest
from redundo.cli.main import app
from typer.testing import CliRunner

from redundo.pricing import estimate_tiers
from redundo.settings import parse_settings
from tests.conftest import REPO

runner = CliRunner()


def test_tiers_budget_marks_the_best_tier_that_fits():
    estimates = estimate_tiers(parse_settings("example", {"dataGb": 20}, for_deploy=False))
    costs = {e.tier: e.monthly_eur for e in estimates}
    extra = {e.tier: e.redundancy_eur for e in estimates}
    budget = (extra["standard"] + extra["premium"]) / 2  # --budget is what redundancy adds
    result = runner.invoke(
        app, ["--project", str(REPO), "tiers", "--budget", f"{budget:.2f}", "--data-gb", "20", "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["chosen"] == "standard"
    assert [t["monthly_eur"] for t in document["tiers"]] == [costs["basic"], costs["standard"], costs["premium"]]
    assert document["budget_means"] == "redundancy_eur"


def test_tiers_budget_5_finds_basic_and_shows_total_and_extra():
    """€5 of redundancy buys basic, which adds less than that; the line shows both figures."""
    [basic] = [
        e for e in estimate_tiers(parse_settings("example", {"dataGb": 10}, for_deploy=False)) if e.tier == "basic"
    ]
    assert basic.redundancy_eur < 5 < basic.monthly_eur
    result = runner.invoke(
        app, ["--project", str(REPO), "tiers", "--budget", "5", "--data-gb", "10"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert (
        f"€5.00/month for redundancy buys basic: it adds €{basic.redundancy_eur:.2f}/month to the site's own "
        f"server, €{basic.monthly_eur:.2f}/month in total."
    ) in result.stdout
    assert "total €/month" in result.stdout and "redundancy adds €" in result.stdout


def test_tiers_no_tier_fits_exits_1_naming_the_cheapest():
    result = runner.invoke(app, ["--project", str(REPO), "tiers", "--budget", "0.1", "--data-gb", "10"])
    assert result.exit_code == 1
    assert re.match(
        r"error: no tier fits €0\.10/month of redundancy for 10 GB; the cheapest, basic, adds "
        r"€\d+\.\d\d/month \(€\d+\.\d\d/month with the primary's server\)$",
        result.stderr,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "0"], "error: budget 0 is not a positive amount of EUR a month"),
        (["--budget", "-4"], "error: budget -4 is not a positive amount of EUR a month"),
        (["--budget", "cheap"], "error: Invalid value for '--budget'"),
        (["--data-gb", "-1"], "error: --data-gb is -1; pass the site's data size in GB, greater than 0"),
    ],
)
def test_tiers_bad_input_is_a_usage_error(args, message):
    result = runner.invoke(app, ["--project", str(REPO), "tiers", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
