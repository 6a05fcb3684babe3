"""User data renders to the very bytes PyYAML's SafeDumper writes, however often it is rendered."""

from __future__ import annotations

import yaml

from redundo import cloud_config
from redundo.agent import AgentSettings
from redundo.tiers import TIERS


def plain(config: dict) -> str:
    return cloud_config.HEADER + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=1000)


def configs():
    for n, tier in enumerate(TIERS.values()):
        agent = AgentSettings.for_tier(tier, vault_endpoint=f"https://s3.eu-west-{n}.amazonaws.com",
                                       vault_bucket=f"redundo-shop-{n}", vault_region=f"eu-west-{n}",
                                       backup_host=f"shop{n}-site", site_paths=("/var/www", f"/srv/shop {n}"),
                                       db_kind=("sqlite", "mysql", "postgresql")[n % 3], db_name="shop")
        for role in ("primary", "standby"):
            yield cloud_config.node_config(hostname=f"shop{n}-{role}", admin_cidrs=["192.0.2.0/24", "2001:db8::/48"],
                                           tier=tier, agent=agent)


def test_render_writes_what_safe_dump_writes_first_time_and_replayed():
    documents = list(configs())
    for config in documents:
        assert cloud_config.render(config) == plain(config)
    # Replayed long scalars, now at other positions in the document as well.
    nested = {"wrapped": {"inner": documents[:2]}, "write_files": documents[2]["write_files"]}
    assert cloud_config.render(nested) == plain(nested)
    for config in reversed(documents):
        assert cloud_config.render(config) == plain(config)
    assert yaml.safe_load(cloud_config.render(documents[0])[len(cloud_config.HEADER):]) == documents[0]
