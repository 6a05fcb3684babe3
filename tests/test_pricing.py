"""The cost model: itemized, sourced, ordered by promise, honest about what it leaves out."""

from __future__ import annotations

import pytest

from redundo.errors import OperationError, UsageError
from redundo.pricing import best_tier, catalogue, estimate, estimate_tiers
from redundo.settings import parse_settings
from redundo.tiers import TIERS


def _client(**raw):
    return parse_settings("c", raw, for_deploy=False)


@pytest.mark.parametrize("data_gb", [1, 10, 200])
@pytest.mark.parametrize("backup", ["aws", "ovh"])
def test_pricing_higher_tiers_cost_more_and_promise_more(data_gb, backup):
    estimates = estimate_tiers(_client(dataGb=data_gb, backupProvider=backup))
    costs = [e.monthly_eur for e in estimates]
    tiers = [TIERS[e.tier] for e in estimates]
    assert costs == sorted(costs) and len(set(costs)) == 3
    assert [t.rpo_minutes for t in tiers] == sorted((t.rpo_minutes for t in tiers), reverse=True)
    assert [t.rto_minutes for t in tiers] == sorted((t.rto_minutes for t in tiers), reverse=True)
    assert [t.retention_days for t in tiers] == sorted(t.retention_days for t in tiers)


def test_pricing_total_is_the_sum_of_its_items_and_every_item_is_sourced():
    cost = estimate(_client(tier="premium", dataGb=25))
    assert cost.monthly_eur == round(sum(i.quantity * i.unit_eur for i in cost.items), 2)
    for item in cost.items:
        assert item.source and item.date[:4] == "2026" and item.status in ("V", "S", "U")


def test_pricing_storage_grows_with_data_and_retention():
    small, large = estimate(_client(dataGb=10)), estimate(_client(dataGb=100))

    def storage(c):
        return next(i for i in c.items if i.unit == "GB-month")

    assert storage(large).quantity == pytest.approx(10 * storage(small).quantity)
    row = catalogue().aws_region("eu-west-3")
    assert storage(small).unit_eur == pytest.approx(row["s3_usd_per_gb_month"] / catalogue().usd_per_eur)
    assert storage(small).quantity == pytest.approx(10 * (1 + 0.01 * TIERS["basic"].retention_days))


def test_pricing_cold_standby_costs_nothing_now_and_says_what_it_costs_at_failover():
    cost = estimate(_client(tier="basic"))
    standby = next(i for i in cost.items if i.part == "standby")
    assert standby.monthly_eur == 0 and "cold" in standby.what
    assert any("cold standby costs about €5.71/month while it runs" in e for e in cost.exclusions)


def test_pricing_states_vat_and_restore_egress_as_excluded():
    cost = estimate(_client(dataGb=40))
    text = " ".join(cost.exclusions)
    expected = 40 * catalogue().aws_region("eu-west-3")["egress_usd_per_gb"] / catalogue().usd_per_eur
    assert "VAT" in text and f"about €{expected:.2f} each time" in text


def test_pricing_best_tier_is_the_strongest_that_fits():
    client = _client(dataGb=10)
    extra = {e.tier: e.redundancy_eur for e in estimate_tiers(client)}  # the budget is the extra, not the total
    assert best_tier(client, extra["premium"]).tier == "premium"
    assert best_tier(client, extra["premium"] - 0.01).tier == "standard"
    assert best_tier(client, extra["basic"]).tier == "basic"
    assert best_tier(client, 5).tier == "basic"  # basic adds less than €5 though it costs more in total


def test_pricing_no_tier_fits_names_the_cheapest():
    with pytest.raises(
        OperationError,
        match=r"^no tier fits €0.10/month of redundancy for 10 GB; the cheapest, "
        r"basic, adds €\d+\.\d\d/month \(€\d+\.\d\d/month with the primary's server\)$",
    ):
        best_tier(_client(dataGb=10), 0.1)


@pytest.mark.parametrize("budget", [0, -5, float("nan"), float("inf")])
def test_pricing_rejects_a_budget_that_is_not_a_positive_amount(budget):
    with pytest.raises(UsageError, match="not a positive amount of EUR a month"):
        best_tier(_client(), budget)
