"""The site's names on its OVH zone: foreign address records found and, on request, removed."""

from __future__ import annotations

import pytest

from redundo import dns


class FakeZoneApi:
    """The part of OVH's /domain/zone API the check uses, with its semantics: GET .../record filters
    by fieldType and subDomain (exact), answers ids; an unknown id is a 404; changes need a refresh."""

    class NotFound(Exception):
        pass

    def __init__(self, zone: str, records: list[tuple[str, str, str]]):
        self.zone = zone
        self.records = {
            100 + i: {"id": 100 + i, "zone": zone, "subDomain": s, "fieldType": t, "target": v, "ttl": 0}
            for i, (s, t, v) in enumerate(records)
        }
        self.refreshed = 0
        self.calls: list[tuple[str, str]] = []

    def _check_zone(self, path: str) -> list[str]:
        parts = path.strip("/").split("/")
        assert parts[:3] == ["domain", "zone", self.zone], path
        return parts[3:]

    def get(self, path: str, **params):
        self.calls.append(("GET", path))
        rest = self._check_zone(path)
        if rest == ["record"]:
            return [
                i
                for i, r in self.records.items()
                if all(r[{"fieldType": "fieldType", "subDomain": "subDomain"}[k]] == v for k, v in params.items())
            ]
        if rest[0] == "record" and len(rest) == 2:
            if int(rest[1]) not in self.records:
                raise self.NotFound(path)
            return dict(self.records[int(rest[1])])
        raise AssertionError(path)

    def delete(self, path: str):
        self.calls.append(("DELETE", path))
        rest = self._check_zone(path)
        if int(rest[1]) not in self.records:
            raise self.NotFound(path)
        del self.records[int(rest[1])]

    def post(self, path: str, **body):
        self.calls.append(("POST", path))
        assert self._check_zone(path) == ["refresh"]
        self.refreshed += 1


ZONE = "jeweller-example.fr"
# What OVH puts in a new zone, plus mail and redundo's own host records.
DEFAULTS = [
    ("", "A", "213.186.33.5"),
    ("www", "A", "213.186.33.5"),
    ("", "MX", "1 mx1.mail.ovh.net."),
    ("", "TXT", '"v=spf1 include:mx.ovh.com ~all"'),
]


def test_dns_site_names_cover_www_only_for_an_apex_site():
    assert dns.site_names(ZONE, ZONE) == ("", "www")
    assert dns.site_names(f"shop.{ZONE}", ZONE) == ("shop",)


def test_dns_finds_the_default_address_records_at_the_site_names_and_keeps_the_rest():
    api = FakeZoneApi(ZONE, [*DEFAULTS, ("primary", "A", "198.51.100.7"), ("", "A", "198.51.100.7")])
    found = dns.foreign_records(api, ZONE, dns.site_names(ZONE, ZONE), owned_targets=["198.51.100.7"])
    assert [(r.subdomain, r.fieldtype, r.target) for r in found] == [
        ("", "A", "213.186.33.5"),
        ("www", "A", "213.186.33.5"),
    ]


def test_dns_a_www_cname_to_the_apex_is_the_site_itself():
    api = FakeZoneApi(ZONE, [("www", "CNAME", f"{ZONE}."), ("www", "CNAME", "parking.example.net.")])
    found = dns.foreign_records(api, ZONE, ("", "www"), owned_targets=[])
    assert [r.target for r in found] == ["parking.example.net."]


def test_dns_clean_deletes_exactly_the_foreign_records_then_refreshes_the_zone():
    api = FakeZoneApi(ZONE, [*DEFAULTS, ("primary", "A", "198.51.100.7")])
    found = dns.foreign_records(api, ZONE, ("", "www"), owned_targets=["198.51.100.7"])
    before = dict(api.records)
    assert dns.delete_records(api, ZONE, found) == 2
    assert set(before) - set(api.records) == {r.id for r in found}
    assert {r["fieldType"] for r in api.records.values()} == {"MX", "TXT", "A"}  # mail and host record kept
    assert api.refreshed == 1 and api.calls[-1] == ("POST", f"/domain/zone/{ZONE}/refresh")
    assert dns.foreign_records(api, ZONE, ("", "www"), owned_targets=["198.51.100.7"]) == []


def test_dns_ovh_client_always_names_its_endpoint():
    """ovh.Client() without an endpoint raises InvalidRegion with only the keys set."""
    client = dns.ovh_client(
        "ovh-eu", {"OVH_APPLICATION_KEY": "a", "OVH_APPLICATION_SECRET": "b", "OVH_CONSUMER_KEY": "c"}
    )
    assert client._endpoint == "https://eu.api.ovh.com/1.0"
    with pytest.raises(Exception) as missing:
        dns.ovh_client("ovh-eu", {})
    assert "OVH_APPLICATION_KEY" in str(missing.value)


def test_dns_check_without_ovh_credentials_is_one_line_and_exit_1(tmp_path):
    """As a user meets it: the installed `redundo`, no traceback, the fix named."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith("OVH_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "redundo"), "dns", "check", "--stack", "small-shop"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "OVH_APPLICATION_KEY" in done.stderr


def test_dns_check_cli_lists_the_default_records_and_cleans_them(monkeypatch, tmp_path):
    from redundo.cli.main import app
    from typer.testing import CliRunner

    from tests.conftest import REPO, example_config

    api = FakeZoneApi(ZONE, [*DEFAULTS, ("primary", "A", "198.51.100.7"), ("www", "CNAME", f"{ZONE}.")])
    monkeypatch.setattr(dns, "ovh_client", lambda endpoint, env: api)
    monkeypatch.chdir(REPO)
    domain = example_config()["domain"]
    names = dns.site_names(domain, ZONE)
    runner = CliRunner()
    listed = runner.invoke(app, ["dns", "check", "--stack", "small-shop", "--json"])
    expected = [
        r
        for r in api.records.values()
        if r["subDomain"] in names
        and r["fieldType"] in dns.ADDRESS_TYPES
        and not (r["fieldType"] == "CNAME" and r["target"] == f"{ZONE}.")
    ]
    assert len(expected) == 2 and listed.exit_code == 1, listed.output
    assert sorted(d["id"] for d in __import__("json").loads(listed.stdout)["foreign"]) == sorted(
        r["id"] for r in expected
    )
    cleaned = runner.invoke(app, ["dns", "check", "--stack", "small-shop", "--clean", "--yes"])
    assert cleaned.exit_code == 0, cleaned.output
    assert not set(r["id"] for r in expected) & set(api.records)
    assert runner.invoke(app, ["dns", "check", "--stack", "small-shop"]).exit_code == 0
