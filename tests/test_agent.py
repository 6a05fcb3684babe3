"""The hosts' files validated by the real tools: shellcheck, cloud-init's schema, and systemd's syntax."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from redundo import agent
from redundo.tiers import TIERS
from tests.conftest import synth, unwrap


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; .ci/run must install it")
        pytest.skip(f"{name} is not installed")
    return path


def _user_data(tier: str, role: str) -> str:
    syn = synth(tier=tier, activeSide="standby")  # a basic tier's cold standby exists once activated
    instance = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if role in r.name)
    return unwrap(instance.inputs["userData"])


@pytest.mark.parametrize("name", agent.SCRIPTS)
def test_agent_scripts_pass_shellcheck(name, tmp_path):
    path = tmp_path / name
    path.write_text(agent.script(name))
    done = subprocess.run([_tool("shellcheck"), "--severity=style", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("tier", list(TIERS))
@pytest.mark.parametrize("role", ["primary", "standby"])
def test_agent_cloud_config_passes_cloud_init_schema(tier, role, tmp_path):
    path = tmp_path / "user-data"
    path.write_text(_user_data(tier, role))
    done = subprocess.run([_tool("cloud-init"), "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("role", ["primary", "standby"])
def test_agent_cloud_config_top_level_keys_are_cloud_inits_own(role):
    """`cloud-init schema` 22.4 accepts a misspelt top-level key; check them against its schema file."""
    schema_files = list(
        Path("/usr/lib/python3/dist-packages/cloudinit/config/schemas").glob("schema-cloud-config-*.json")
    )
    if not schema_files:
        _tool("cloud-init")  # fails in CI when cloud-init is missing
        pytest.skip("cloud-init's schema file is not installed")
    import json

    schema = json.loads(schema_files[0].read_text())
    known = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        known |= set(definition.get("properties", {}))
    document = yaml.safe_load(_user_data("premium", role))
    assert set(document) <= known, set(document) - known


def test_agent_backup_timer_follows_the_tier_and_bounds_each_run():
    for tier in TIERS.values():
        units = agent.backup_units(tier)
        assert agent.timer_interval_minutes(units["redundo-backup.timer"]) == tier.backup_interval_minutes
        service = units["redundo-backup.service"]
        timeout = int(next(line for line in service.splitlines() if line.startswith("TimeoutStartSec="))[16:-1])
        assert 0 < timeout <= tier.backup_interval_minutes * 60
        assert f"EnvironmentFile={agent.ENV_FILE}" in service and f"ConditionPathExists={agent.ENV_FILE}" in service
        assert "ExecStopPost=/usr/local/sbin/redundo-backup report %n" in service


def test_agent_every_tier_carries_every_unit_so_roles_can_switch():
    """A role switch enables or disables units by name: each tier installs the same set."""
    names = {tier: set(agent.all_units(t)) for tier, t in TIERS.items()}
    assert names["basic"] == names["standard"] == names["premium"]
    assert {"redundo-restore.timer", "redundo-watchdog.timer", *agent.BACKUP_TIMERS} <= names["basic"]


@pytest.mark.parametrize("tier", list(TIERS))
def test_agent_units_pass_systemd_analyze(tier, tmp_path):
    analyze = _tool("systemd-analyze")
    for name, text in agent.all_units(TIERS[tier]).items():
        (tmp_path / name).write_text(text.replace("/usr/local/sbin/", "/bin/true #"))
    done = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())], capture_output=True, text=True
    )
    problems = [
        line
        for line in done.stderr.splitlines()
        if "Unknown key" in line or "Unknown section" in line or "Invalid" in line or "Failed to parse" in line
    ]
    assert problems == [], problems


def test_agent_settings_file_is_shell_quoted(tmp_path):
    text = agent.settings_file(
        agent.AgentSettings.for_tier(
            TIERS["basic"],
            vault_endpoint="https://s3.eu-west-3.amazonaws.com",
            vault_bucket="b",
            vault_region="eu-west-3",
            backup_host="h",
            site_paths=("/var/www", "/srv/it's here"),
        )
    )
    path = tmp_path / "conf"
    path.write_text(text)
    done = subprocess.run(
        ["bash", "-c", f'. "{path}"; printf "%s|" "${{SITE_PATHS[@]}}" "$KEEP_DAILY"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "/var/www|/srv/it's here|30|"


@pytest.mark.parametrize("serves", [True, False], ids=["serves", "does-not-serve"])
def test_agent_watchdog_takes_over_after_the_limit_and_repoints_dns(tmp_path, serves):
    """Against two HTTP servers on 127.0.0.1: the 'primary' (down) and a stand-in for OVH's API; the DNS
    moves only when the restored standby passes its take-over check, and only after the follow restore
    (redundo-restore.timer) is stopped, so it never restores the pre-failure snapshot over the site."""
    requests: list[tuple[str, str, str]] = []
    events = tmp_path / "events"  # systemctl calls and API requests, in the order they happened

    api, base = _ovh_api(requests, events=events)
    restored = tmp_path / "restored"
    conf = tmp_path / "redundo.conf"
    conf.write_text(f"STATE_DIR={tmp_path / 'state'}\n")
    script = tmp_path / "redundo-watchdog"
    script.write_text(agent.script("redundo-watchdog"))
    script.chmod(0o755)
    env = {
        **os.environ,
        "REDUNDO_CONF": str(conf),
        "WATCH_URL": "http://127.0.0.1:9/",
        "WATCH_HOST": "shop.fr",
        "DNS_ZONE": "shop.fr",
        "DNS_RECORD_ID": "4242",
        "SELF_IP": "198.51.100.9",
        "OVH_CLIENT_ID": "id",
        "OVH_CLIENT_SECRET": "secret",
        "OVH_API": base,
        "OVH_TOKEN_URL": f"{base}/token",
        "WATCH_FAIL_LIMIT": "3",
        "REDUNDO_SERVE_CHECK": "true",
    }
    if not serves:
        env["REDUNDO_SERVE_CHECK"] = "false"
    # stand-ins for systemctl and the restore that record their calls
    fake = _fakebin(
        tmp_path,
        systemctl=f'echo "systemctl $*" >> {events}\n',
        restore=f"echo restore >> {events}\ntouch {restored}\n",
    )
    env["PATH"] = f"{fake}:{os.environ['PATH']}"
    env["REDUNDO_RESTORE"] = str(fake / "restore")
    stop_following = [
        "systemctl disable --now redundo-restore.timer",
        "systemctl show -p ActiveState --value redundo-restore.service",
        "restore",
    ]
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "watchdog.armed").write_text("2026-11-26T10:00:00Z\n")  # the primary served once
    try:
        for attempt in range(1, 6):
            done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
            if attempt < 3:
                assert done.returncode == 0, done.stderr
                assert not restored.exists() and requests == []
            elif not serves:
                # Restored, but the take-over check fails: the site's name must not move here.
                assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == (
                    "redundo-watchdog: restored, but this host does not serve shop.fr yet: the site's name stays; "
                    "the next check retries"
                )
            else:
                assert done.returncode == 0, done.stderr
        if not serves:
            # Two take-overs that did not complete: each stopped following before it restored.
            assert requests == [] and not (tmp_path / "state" / "watchdog.took-over").exists()
            assert events.read_text().splitlines() == stop_following * 3
            assert (tmp_path / "state" / "watchdog.follow-stopped").exists()
            # Then the primary answers again (the API stand-in answers 200): following starts again.
            events.unlink()
            done = subprocess.run(
                [str(script)], env={**env, "WATCH_URL": f"{base}/"}, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            assert done.stderr.strip() == (
                "redundo-watchdog: the primary answers again (HTTP 200): the take-over "
                "is off and redundo-restore.timer follows it again"
            )
            assert events.read_text().splitlines() == ["api GET /", "systemctl enable --now redundo-restore.timer"]
            assert not (tmp_path / "state" / "watchdog.follow-stopped").exists()
            return
    finally:
        api.shutdown()
    assert restored.exists()
    assert events.read_text().splitlines() == [
        *stop_following,
        "api POST /token",
        "api PUT /domain/zone/shop.fr/record/4242",
        "api POST /domain/zone/shop.fr/refresh",
    ]
    assert not (tmp_path / "state" / "watchdog.follow-stopped").exists()
    notice = (tmp_path / "state" / "BACKUPS-NOT-RUNNING").read_text()
    assert "NO BACKUPS RUN until 'redundo failover' gives it the writer key" in notice
    assert [(m, p) for m, p, _ in requests] == [
        ("POST", "/token"),
        ("PUT", "/domain/zone/shop.fr/record/4242"),
        ("POST", "/domain/zone/shop.fr/refresh"),
    ]
    assert json.loads(requests[1][2]) == {"target": "198.51.100.9"}
    assert (tmp_path / "state" / "watchdog.took-over").exists()  # attempts 4 and 5 did nothing more


def _fakebin(tmp_path, **tools: str):
    """A directory of stand-in executables, one per keyword: name -> script body (after #!/bin/bash)."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for name, body in tools.items():
        (fake / name).write_text("#!/bin/bash\n" + body)
        (fake / name).chmod(0o755)
    return fake


def _watchdog_env(tmp_path, fake, **extra) -> dict:
    conf = tmp_path / "redundo.conf"
    conf.write_text(f"STATE_DIR={tmp_path / 'state'}\n")
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "state" / "watchdog.armed").write_text("2026-11-26T10:00:00Z\n")
    return {
        **os.environ,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "REDUNDO_CONF": str(conf),
        "WATCH_URL": "http://127.0.0.1:9/",
        "WATCH_HOST": "shop.fr",
        "DNS_ZONE": "shop.fr",
        "DNS_RECORD_ID": "4242",
        "SELF_IP": "198.51.100.9",
        "OVH_CLIENT_ID": "id",
        "OVH_CLIENT_SECRET": "s",
        "OVH_API": "http://127.0.0.1:9",
        "OVH_TOKEN_URL": "http://127.0.0.1:9/token",
        "WATCH_FAIL_LIMIT": "1",
        "REDUNDO_SERVE_CHECK": "true",
        **extra,
    }


def _watchdog(tmp_path, env) -> subprocess.CompletedProcess:
    script = tmp_path / "redundo-watchdog"
    script.write_text(agent.script("redundo-watchdog"))
    script.chmod(0o755)
    return subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("runs_for", [2, 99], ids=["ends", "outlasts-the-limit"])
def test_agent_watchdog_waits_for_a_follow_restore_under_way_before_its_own(tmp_path, runs_for):
    """A follow run the timer began before the take-over is waited for (`systemctl start` would only
    join it); the take-over's restore starts after it ended, or not at all past the wait limit."""
    events = tmp_path / "events"
    # The follow run is "activating" for its first `runs_for` looks, then over.
    fake = _fakebin(
        tmp_path,
        systemctl=f"""echo "systemctl $*" >> {events}
if [ "$1" = show ]; then
  n=$(( $(cat {tmp_path}/looks 2>/dev/null || echo 0) + 1 )); echo $n > {tmp_path}/looks
  if [ $n -le {runs_for} ]; then echo activating; else echo inactive; fi
fi
""",
        restore=f"echo restore >> {events}\n",
    )
    done = _watchdog(
        tmp_path,
        _watchdog_env(
            tmp_path, fake, REDUNDO_RESTORE=str(fake / "restore"), REDUNDO_SERVE_CHECK="false", REDUNDO_WAIT_LIMIT="3"
        ),
    )
    said = done.stderr.strip().splitlines()
    assert "redundo-watchdog: a follow restore (redundo-restore.service) is under way: waiting for it to end" in said
    looks = ["systemctl show -p ActiveState --value redundo-restore.service"]
    if runs_for < 3:
        # It waited, then restored (the stand-in serve check fails, so the name stays).
        assert events.read_text().splitlines() == (
            ["systemctl disable --now redundo-restore.timer"] + looks * (runs_for + 1) + ["restore"]
        )
        assert said[-1].startswith("redundo-watchdog: restored, but this host does not serve shop.fr yet")
    else:
        assert events.read_text().splitlines() == ["systemctl disable --now redundo-restore.timer"] + looks * 4
        assert said[-1] == (
            "redundo-watchdog: a follow restore (redundo-restore.service) still runs after 3 s: "
            "no take-over; the next check retries"
        )
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("systemctl", "said"),
    [
        # `systemctl disable --now redundo-restore.timer` fails: the follow restore could run on.
        ("exit 1\n", "could not stop redundo-restore.timer"),
        # `systemctl show` fails (systemd busy): no proof that no follow restore runs.
        ('[ "$1" = show ] && exit 1\nexit 0\n', "could not read the state of redundo-restore.service"),
    ],
    ids=["timer-not-stopped", "state-unreadable"],
)
def test_agent_watchdog_does_not_take_over_unless_it_knows_no_follow_restore_runs(tmp_path, systemctl, said):
    """No restore, no take-over, the site's name stays; the next check retries."""
    fake = _fakebin(tmp_path, systemctl=systemctl)
    done = _watchdog(tmp_path, _watchdog_env(tmp_path, fake, REDUNDO_RESTORE=f"touch {tmp_path / 'restored'}"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"redundo-watchdog: {said}: no take-over; the next check retries"
    assert not (tmp_path / "restored").exists() and not (tmp_path / "state" / "watchdog.took-over").exists()


def test_agent_watchdog_says_so_when_its_restore_fails_and_moves_nothing(tmp_path):
    fake = _fakebin(tmp_path, systemctl="exit 0\n")
    done = _watchdog(tmp_path, _watchdog_env(tmp_path, fake, REDUNDO_RESTORE="false"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "redundo-watchdog: the restore failed (see its log: journalctl -u redundo-restore.service): the site's "
        "name stays; the next check retries"
    )
    assert not (tmp_path / "state" / "watchdog.moving-name").exists()


def test_agent_watchdog_finishes_a_take_over_whose_name_move_broke_off_even_if_the_primary_is_back(tmp_path):
    """The OVH API fails the record's edit once: the run fails after the take-over's point of no
    return. The next run finishes it (edit and refresh), though the primary answers again by then,
    and never turns the follow restore back on: the record may already point here."""
    requests: list[tuple[str, str, str]] = []
    events = tmp_path / "events"
    fake = _fakebin(tmp_path, systemctl=f'echo "systemctl $*" >> {events}\n')
    api, base = _ovh_api(requests, fail_first_put=True)
    env = _watchdog_env(tmp_path, fake, OVH_API=base, OVH_TOKEN_URL=f"{base}/token", REDUNDO_RESTORE="true")
    state = tmp_path / "state"
    try:
        broke = _watchdog(tmp_path, env)
        assert broke.returncode != 0 and [m for m, _, _ in requests] == ["POST", "PUT"]  # the fault
        assert (state / "watchdog.moving-name").exists() and not (state / "watchdog.took-over").exists()
        requests.clear()
        events.unlink()
        done = _watchdog(tmp_path, {**env, "WATCH_URL": f"{base}/"})  # the primary answers 200 now
    finally:
        api.shutdown()
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0].startswith("redundo-watchdog: finishing the take-over begun at ")
    assert [(m, p) for m, p, _ in requests] == [
        ("POST", "/token"),
        ("PUT", "/domain/zone/shop.fr/record/4242"),
        ("POST", "/domain/zone/shop.fr/refresh"),
    ]  # no check of the primary
    assert not events.exists()  # the follow restore stays off
    assert (state / "watchdog.took-over").exists()
    assert not (state / "watchdog.moving-name").exists() and not (state / "watchdog.follow-stopped").exists()


def test_agent_watchdog_without_watch_settings_exits_cleanly(tmp_path):
    """An active standby's env file holds no WATCH_*/OVH_*: the timer's run logs why and succeeds."""
    conf = tmp_path / "redundo.conf"
    conf.write_text(f"STATE_DIR={tmp_path / 'state'}\n")
    script = tmp_path / "redundo-watchdog"
    script.write_text(agent.script("redundo-watchdog"))
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCH_", "OVH_", "DNS_", "SELF_IP"))}
    done = subprocess.run(
        [str(script)], env={**env, "REDUNDO_CONF": str(conf)}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == (
        "redundo-watchdog: not configured to watch (no WATCH_URL WATCH_HOST DNS_ZONE "
        "DNS_RECORD_ID SELF_IP OVH_CLIENT_ID OVH_CLIENT_SECRET in the settings): "
        "nothing to do"
    )


def _ovh_api(requests: list, *, events=None, fail_first_put: bool = False):
    """A loopback stand-in for OVH's API (token, record edit, zone refresh) that records each
    request as (method, path, body), also in `events` when given; the first PUT may answer 500."""
    import http.server

    failed: list[bool] = []

    class OvhApi(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            fail = fail_first_put and self.command == "PUT" and not failed
            failed.extend([True] if fail else [])
            requests.append((self.command, self.path, body))
            if events is not None:
                with events.open("a") as out:
                    out.write(f"api {self.command} {self.path}\n")
            payload = b'{"access_token": "tok"}' if self.path == "/token" else b"null"
            self.send_response(500 if fail else 200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args) -> None:
            pass

    server = _stand_in(OvhApi)
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _stand_in(handler_cls):
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_agent_watchdog_arms_only_after_the_primary_served_the_site_once(tmp_path):
    """Loopback stand-ins: the 'primary' (down, then 503, then 401, then 503) and OVH's API.

    Misses before arming never take over, however many; a 5xx counts as a miss once armed, and
    any answer below 500 resets the count."""
    import http.server

    primary_status = {"code": 503}
    requests: list[tuple[str, str, str]] = []

    class Primary(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"shop"
            self.send_response(primary_status["code"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    api, base = _ovh_api(requests)
    primary = _stand_in(Primary)
    primary_url = f"http://127.0.0.1:{primary.server_address[1]}/"
    # A port nothing listens on: bound, then closed.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    restored = tmp_path / "restored"
    state = tmp_path / "state"
    conf = tmp_path / "redundo.conf"
    conf.write_text(f"STATE_DIR={state}\n")
    script = tmp_path / "redundo-watchdog"
    script.write_text(agent.script("redundo-watchdog"))
    script.chmod(0o755)
    env = {
        **os.environ,
        "REDUNDO_CONF": str(conf),
        "WATCH_HOST": "shop.fr",
        "DNS_ZONE": "shop.fr",
        "DNS_RECORD_ID": "4242",
        "SELF_IP": "198.51.100.9",
        "OVH_CLIENT_ID": "id",
        "OVH_CLIENT_SECRET": "secret",
        "OVH_API": base,
        "OVH_TOKEN_URL": f"{base}/token",
        "WATCH_FAIL_LIMIT": "3",
        "REDUNDO_RESTORE": f"touch {restored}",
        "REDUNDO_SERVE_CHECK": "true",
    }
    # a stand-in systemctl: the take-over stops the follow restore
    fake = _fakebin(tmp_path, systemctl="exit 0\n")
    env["PATH"] = f"{fake}:{os.environ['PATH']}"

    def check(url: str) -> str:
        done = subprocess.run([str(script)], env={**env, "WATCH_URL": url}, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stderr

    try:
        # A fresh site: nothing answers, then the primary answers 503. Twice the limit, no take-over.
        for _ in range(3):
            assert "not armed" in check(dead_url)
        for _ in range(3):
            assert "not armed" in check(primary_url)
        assert not restored.exists() and requests == [] and not (state / "watchdog.armed").exists()

        # A shop whose "/" asks for a login is up: the same rule as a healthy check arms it.
        primary_status["code"] = 401
        assert "armed: the primary answered for shop.fr (HTTP 401)" in check(primary_url)
        assert (state / "watchdog.armed").exists()

        primary_status["code"] = 503
        assert "(HTTP 503; 1/3)" in check(primary_url)
        assert "(HTTP 503; 2/3)" in check(primary_url)
        primary_status["code"] = 404  # answering, if not well: the count starts again
        check(primary_url)
        primary_status["code"] = 503
        check(primary_url)
        check(primary_url)
        assert not restored.exists() and requests == []
        assert "taking over" in check(dead_url)  # the third miss in a row: down counts like 5xx
    finally:
        api.shutdown()
        primary.shutdown()
    assert restored.exists()
    assert [(m, p) for m, p, _ in requests] == [
        ("POST", "/token"),
        ("PUT", "/domain/zone/shop.fr/record/4242"),
        ("POST", "/domain/zone/shop.fr/refresh"),
    ]
    assert json.loads(requests[1][2]) == {"target": "198.51.100.9"}
