"""B5: a lost primary is rebuilt on purpose. OVH's provider cannot refresh a deleted instance (its
Read errors on a 404) and the primary is protected (the engine refuses to replace it), so failback
has an explicit path: remove it from the state through the Automation API, then update."""

from __future__ import annotations

import subprocess

from tests.cli.test_guard import PRIMARY_URN, RECORD_URN, _verbs
from tests.cli.test_up import (  # noqa: F401
    BUCKET_URN,
    _served,
    _switch_fake,
    call,
    fake,
    invoke,
    project,
)
from tests.fakes import replace_events, summary_event

ROLE = "urn:pulumi:small-shop::redundo::redundo:index:RedundantSite$redundo:index:HostRole$"
HOST_KEY_URN = ROLE + "command:remote:Command::small-shop-primary-host-key"
INSTALL_URN = ROLE + "command:remote:Command::small-shop-primary-agent-install"
HOST_RECORD_URN = RECORD_URN.replace("small-shop-failover-site-record", "small-shop-primary-host-record")
KEY_ID_URN = PRIMARY_URN.replace(
    "ovh:CloudProject/instance:Instance::small-shop-primary-instance",
    "random:index/randomId:RandomId::small-shop-primary-instance-key-id",
)


def _state():
    return [
        {"urn": KEY_ID_URN, "type": "random:index/randomId:RandomId"},
        {
            "urn": PRIMARY_URN,
            "type": "ovh:CloudProject/instance:Instance",
            "protect": True,
            "dependencies": [KEY_ID_URN],
        },
        {
            "urn": HOST_RECORD_URN,
            "type": "ovh:Domain/zoneRecord:ZoneRecord",
            "dependencies": [PRIMARY_URN],
            "propertyDependencies": {"target": [PRIMARY_URN]},
        },
        {"urn": HOST_KEY_URN, "type": "command:remote:Command", "dependencies": [PRIMARY_URN]},
        {
            "urn": INSTALL_URN,
            "type": "command:remote:Command",
            "dependencies": [HOST_KEY_URN],
            "propertyDependencies": {"connection": [HOST_KEY_URN]},
        },
        {"urn": BUCKET_URN, "type": "aws:s3/bucket:Bucket", "protect": True, "retainOnDelete": True},
    ]


def _on_standby(project, fake, mocker):
    path = project / "stacks" / "Pulumi.small-shop.yaml"
    path.write_text(path.read_text() + "  redundo:activeSide: standby\n")
    _switch_fake(fake, "standby")
    fake.state = _state()
    mocker.patch("redundo.remote.ssh_run", return_value=subprocess.CompletedProcess([], 0, "0a1b2c3d4e5f\n", ""))
    mocker.patch("redundo.remote.wait_until_serving", return_value=2.0)
    _served(mocker)


def test_failback_rebuild_primary_removes_the_lost_instance_from_the_state_then_updates(project, fake, mocker):
    _on_standby(project, fake, mocker)
    result = invoke(project, "failback", "--rebuild-primary", "--yes")
    assert result.exit_code == 0, result.output
    verbs = [" ".join(a[:2]) if a[0] == "stack" else a[0] for a, _ in fake.calls]
    assert verbs.index("stack import") < verbs.index("preview") < verbs.index("up")
    kept = {r["urn"]: r for r in fake.imported["deployment"]["resources"]}
    # The protected instance is gone from the state, with the commands that ran on its disk.
    assert PRIMARY_URN not in kept and HOST_KEY_URN not in kept and INSTALL_URN not in kept
    assert not any(r.get("protect") and r["type"].endswith("instance:Instance") for r in kept.values())
    # The vault stays protected; the host record stays (updated in place), its dangling deps dropped.
    assert kept[BUCKET_URN]["protect"] is True
    assert kept[HOST_RECORD_URN]["dependencies"] == []
    assert kept[HOST_RECORD_URN]["propertyDependencies"] == {"target": []}
    assert KEY_ID_URN in kept
    assert "removed from the state (to be built again): small-shop-primary-agent-install, " in " ".join(
        result.stdout.split()
    )
    assert "--refresh" in call(fake, "up")[0]


def test_failback_refresh_error_on_a_deleted_ovh_instance_names_rebuild_primary(project, fake, mocker):
    _on_standby(project, fake, mocker)
    fake.fail = {
        "preview": "refreshing urn:...::small-shop-primary-instance: Error calling Get "
        "/cloud/project/abc/instance/0f1e: OVHcloud API error (status code 404)"
    }
    result = invoke(project, "failback", "--yes")
    assert result.exit_code == 1
    assert "OVH no longer has an instance the state holds" in result.stderr
    assert "`redundo failback --rebuild-primary --stack small-shop`" in " ".join(result.stderr.split())
    assert _verbs(fake) == ["preview"]


def test_guard_does_not_offer_allow_replace_for_a_protected_resource(project, fake):
    fake.state = _state()
    fake.verb_events = {
        "preview": [
            *replace_events(PRIMARY_URN, "ovh:CloudProject/instance:Instance", ["region"]),
            summary_event(replace=1),
        ]
    }
    result = invoke(project, "up", "--tier", "basic", "--yes")
    assert result.exit_code == 1
    line = " ".join(result.stderr.split())
    assert "it is protected, so the engine refuses to replace it whatever --allow-replace says" in line
    assert "redundo failback --rebuild-primary" in line
    assert "--allow-replace '" not in line
    assert _verbs(fake) == ["preview"]


def test_allow_replace_of_a_protected_urn_is_refused_before_the_update(project, fake):
    fake.state = _state()
    fake.verb_events = {
        "preview": [
            *replace_events(PRIMARY_URN, "ovh:CloudProject/instance:Instance", ["region"]),
            summary_event(replace=1),
        ]
    }
    result = invoke(project, "up", "--tier", "basic", "--yes", "--allow-replace", PRIMARY_URN)
    assert result.exit_code == 1
    assert "it is protected" in result.stderr and "--rebuild-primary" in result.stderr
    assert _verbs(fake) == ["preview"]


def test_engine_protection_error_names_the_real_step(project, fake):
    fake.fail = {"preview": f'unable to replace resource "{PRIMARY_URN}" as it is currently marked for protection'}
    result = invoke(project, "up", "--tier", "basic", "--yes")
    assert result.exit_code == 1
    assert "refusing to deploy" in result.stderr and "--rebuild-primary" in result.stderr
