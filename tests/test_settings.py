"""Validation of the `redundo:` stack keys: one message naming the key and what is accepted."""

from __future__ import annotations

import re

import pytest

from redundo import geo
from redundo.errors import ConfigError
from redundo.settings import parse_settings, read_stack_file
from tests.conftest import SERVICE, SSH_KEY, STACKS

BASE = {"ovhServiceName": SERVICE, "sshPublicKey": SSH_KEY}


def test_settings_example_stack_is_valid():
    settings = read_stack_file(STACKS, "small-shop")
    assert settings.tier.name == "standard" and settings.domain == "jeweller-example.fr"
    assert settings.dns_zone == "jeweller-example.fr"


@pytest.mark.parametrize("primary", sorted(geo.OVH_INSTANCE_REGIONS))
@pytest.mark.parametrize("provider", ["aws", "ovh"])
def test_settings_defaults_put_vault_and_standby_in_another_city(primary, provider):
    s = parse_settings("c", {**BASE, "primaryRegion": primary, "backupProvider": provider, "standbyProvider": provider})
    assert not s.vault_location.same_city(s.primary_location)
    assert not s.standby_location.same_city(s.primary_location)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tier", "gold", "redundo:tier is 'gold'; accepted values: basic, standard, premium"),
        ("primaryRegion", "MARS1", "redundo:primaryRegion is 'MARS1'; accepted values: GRA7, GRA9"),
        ("primaryFlavor", "x9-1", "redundo:primaryFlavor is 'x9-1'; accepted values: d2-2, d2-4"),
        ("backupProvider", "gcp", "redundo:backupProvider is 'gcp'; accepted values: aws, ovh"),
        (
            "backupRegion",
            "us-east-1",
            "redundo:backupRegion is 'us-east-1', not a aws storage region redundo knows; "
            "accepted values: eu-west-3, eu-central-1",
        ),
        ("standbyRegion", "eu-west-3", "redundo:standbyRegion is 'eu-west-3', not a ovh compute region"),
        ("domain", "not a domain", "redundo:domain is 'not a domain', not a valid domain name"),
        ("dataGb", "-5", "redundo:dataGb is '-5'; it must be a number greater than 0"),
        ("dataGb", "lots", "redundo:dataGb is 'lots'; it must be a number greater than 0"),
        ("dataGb", 0, "redundo:dataGb is 0; it must be a number greater than 0"),
        ("sshPublicKey", "hunter2", "redundo:sshPublicKey is not an OpenSSH public key"),
        ("ovhServiceName", "my-project", "redundo:ovhServiceName is 'my-project'; it must be the 32-hex-digit id"),
        ("sitePaths", ["var/www"], "redundo:sitePaths has 'var/www'; give absolute paths"),
        ("adminCidrs", ["10.0.0.300/32"], "redundo:adminCidrs has '10.0.0.300/32', not a network"),
        ("primryRegion", "GRA11", "unknown key redundo:primryRegion; accepted keys: tier, "),
        ("standbyFlavor", "nano_3_0", "redundo:standbyFlavor is 'nano_3_0'; accepted values for a ovh standby"),
    ],
)
def test_settings_invalid_value_names_key_and_accepted_values(key, value, message):
    with pytest.raises(ConfigError) as caught:
        parse_settings("c", {**BASE, key: value})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_settings_missing_deploy_key_names_the_stack_file():
    with pytest.raises(ConfigError, match=r"^redundo:sshPublicKey is missing; set it in stacks/Pulumi.c.yaml$"):
        parse_settings("c", {"ovhServiceName": SERVICE})


def test_settings_pricing_needs_no_deploy_keys():
    assert parse_settings("c", {"dataGb": "3"}, for_deploy=False).data_gb == 3.0


def test_settings_domain_must_sit_inside_its_zone():
    with pytest.raises(ConfigError, match="is not inside redundo:dnsZone"):
        parse_settings("c", {**BASE, "domain": "shop.fr", "dnsZone": "other.fr"})
    assert parse_settings("c", {**BASE, "domain": "www.shop.fr"}).dns_zone == "shop.fr"


def test_settings_standby_size_follows_the_tier_unless_pinned():
    pilot = parse_settings("c", {**BASE, "tier": "standard", "primaryFlavor": "d2-8"})
    warm = parse_settings("c", {**BASE, "tier": "premium", "primaryFlavor": "d2-8"})
    pinned = parse_settings("c", {**BASE, "tier": "premium", "standbyFlavor": "d2-4"})
    assert (pilot.standby_size.size, warm.standby_size.size, pinned.standby_size.size) == ("d2-2", "d2-8", "d2-4")


def test_settings_malformed_yaml_is_one_line(tmp_path):
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  redundo:tier: [basic\n")
    with pytest.raises(ConfigError, match=r"^[^/]+/Pulumi.bad.yaml is not valid YAML at line \d+ \(.*\); fix the file"):
        read_stack_file(tmp_path, "bad")


def test_settings_unknown_and_invalid_stack_names(tmp_path):
    with pytest.raises(ConfigError, match="unknown stack 'ghost'"):
        read_stack_file(tmp_path, "ghost")
    with pytest.raises(ConfigError, match=re.escape("invalid stack name '../etc'")):
        read_stack_file(tmp_path, "../etc")


@pytest.mark.parametrize(
    ("domain", "zone"),
    [
        ("shop.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("www.bijouterie-rouen.fr", "bijouterie-rouen.fr"),
        ("shop.example.com.au", "example.com.au"),
    ],
)
def test_settings_dns_zone_follows_the_public_suffix_list(domain, zone):
    """The zone is the registrable domain, not the last two labels (co.uk is a suffix, not a zone)."""
    settings = parse_settings("c", {"domain": domain}, for_deploy=False)
    assert settings.dns_zone == zone


def test_settings_domain_that_is_a_public_suffix_is_refused():
    with pytest.raises(ConfigError, match=r"^redundo:domain 'co.uk' is a public suffix"):
        parse_settings("c", {"domain": "co.uk"}, for_deploy=False)


def test_settings_public_suffix_list_is_read_offline(monkeypatch):
    """The bundled snapshot is used: any socket use while loading it fails the test."""
    import socket

    from redundo import settings as settings_mod

    settings_mod._icann_rules.cache_clear()
    settings_mod._public_suffixes.cache_clear()

    def no_network(*args, **kwargs):
        raise AssertionError("the Public Suffix List must not be fetched")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert settings_mod.registered_domain("a.b.example.co.uk") == "example.co.uk"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"primaryHost": "203.0.113.10"}, "redundo:primaryHost is set without redundo:primaryUser"),
        ({"primaryUser": "debian"}, "redundo:primaryUser is set without redundo:primaryHost"),
        ({"primaryHost": "bad host!", "primaryUser": "debian"}, "redundo:primaryHost is 'bad host!', not a host name"),
        ({"primaryHost": "shop.fr", "primaryUser": "Root Admin"}, "redundo:primaryUser is 'Root Admin', not a Unix"),
        ({"primaryHost": "shop.fr", "primaryUser": "debian", "primaryPort": "99999"}, "redundo:primaryPort is '99999'"),
    ],
)
def test_settings_adopted_primary_needs_a_valid_host_and_user(keys, message):
    import re

    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        parse_settings("adopted", {"ovhServiceName": SERVICE, "sshPublicKey": SSH_KEY, **keys})


def test_settings_zone_from_the_rules_of_one_tld_matches_the_whole_list():
    """Reading only the rules under a domain's top-level label gives the zone the whole ICANN list
    gives, for a domain under every rule of the list (wildcards and exceptions included)."""
    from publicsuffixlist import PublicSuffixList

    from redundo import settings as settings_mod

    whole = PublicSuffixList(only_icann=True)
    rules = [
        line.split(" ")[0] for line in settings_mod._icann_rules().splitlines() if line and not line.startswith("//")
    ]
    names = [rule.lstrip("!").replace("*", "any") for rule in rules]
    # Every name a stack can hold (its domain is ASCII), and a few with a Unicode top-level label.
    domains = [f"shop.example.{name}" for name in names] + names
    domains = [d for d in domains if d.isascii()] + ["shop.example.\u4e2d\u56fd", "example.\u0440\u0444"]
    domains += ["shop.example.unknowntld", "example.city.kawasaki.jp", "a.b.c.kawasaki.jp", "www.ck"]
    for domain in sorted(domains, key=lambda d: d.rpartition(".")[2]):  # one parse per top-level label
        tld = domain.rpartition(".")[2]
        assert settings_mod._public_suffixes(tld).privatesuffix(domain) == whole.privatesuffix(domain), domain
    assert len(rules) > 5000 and len(domains) > 10000  # the ICANN section was found and read
