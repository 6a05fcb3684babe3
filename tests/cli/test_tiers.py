"""`redundo tiers`: the ladder for a budget and a data size."""

from __future__ import annotations

import json

import pytest
from redundo.cli.main import app
from typer.testing import CliRunner

from redundo.pricing import estimate_tiers
from redundo.settings import parse_settings
from tests.conftest import REPO

runner = CliRunner()


def test_tiers_budget_marks_the_best_tier_that_fits():
    costs = {e.tier: e.monthly_eur for e in estimate_tiers(parse_settings("example", {"dataGb": 20}, for_deploy=False))}
    budget = (costs["standard"] + costs["premium"]) / 2
    result = runner.invoke(app, ["--project", str(REPO), "tiers", "--budget", f"{budget:.2f}", "--data-gb", "20", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["chosen"] == "standard"
    assert [t["monthly_eur"] for t in document["tiers"]] == [costs["basic"], costs["standard"], costs["premium"]]


def test_tiers_no_tier_fits_exits_1_naming_the_cheapest():
    result = runner.invoke(app, ["--project", str(REPO), "tiers", "--budget", "2", "--data-gb", "10"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no tier fits €2.00/month for 10 GB; the cheapest, basic, costs €")


@pytest.mark.parametrize(("args", "message"), [
    (["--budget", "0"], "error: budget 0 is not a positive amount of EUR a month"),
    (["--budget", "-4"], "error: budget -4 is not a positive amount of EUR a month"),
    (["--budget", "cheap"], "error: Invalid value for '--budget'"),
    (["--data-gb", "-1"], "error: --data-gb is -1; pass the site's data size in GB, greater than 0"),
])
def test_tiers_bad_input_is_a_usage_error(args, message):
    result = runner.invoke(app, ["--project", str(REPO), "tiers", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
