"""`redundo status --notify`: one message per change of state, to a real webhook receiver on 127.0.0.1,
with states read from a real local vault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from redundo.localvault import LocalVault
from redundo.tiers import TIERS
from tests.cli.test_clients import _heartbeat, invoke, project  # noqa: F401  (project is a fixture)
from tests.fakes import FakePulumiCommand

TOKEN = "s3cretT0ken4f9"


class _Receiver:
    """A JSON webhook on a free loopback port: records each POST; answers 500 while `failing`."""

    def __init__(self):
        received, receiver = [], self
        self.received: list[dict] = received
        self.failing = False

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.failing:
                    self.send_response(500)
                else:
                    received.append({"path": self.path, **json.loads(body)})
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver():
    with _Receiver() as r:
        yield r


@pytest.fixture
def fleet(project, mocker):
    """Three clients whose states come from a local vault's heartbeats; yields (project, vault)."""
    for name, tier in (("fresh", "premium"), ("late", "standard"), ("missing", "basic")):
        done = invoke(
            project, "init", name, "--domain", f"{name}.fr", "--tier", tier, "--ssh-key", str(project / "key.pub")
        )
        assert done.exit_code == 0, done.output
    with LocalVault() as vault:
        _heartbeat(vault, "fresh-site", 10 * 60)  # premium RPO 30 min
        _heartbeat(vault, "late-site", TIERS["standard"].rpo_minutes * 60 + 3 * 3600)
        outputs = {
            "vaultBucket": vault.bucket,
            "vaultEndpoint": vault.endpoint,
            "vaultRegion": "us-east-1",
            "readerAccessKeyId": vault.reader.access_key_id,
            "readerSecretAccessKey": vault.reader.secret_access_key,
        }
        fake = FakePulumiCommand(outputs=outputs, secret_outputs=("readerSecretAccessKey",))
        mocker.patch("redundo.cli._common._pulumi_command", return_value=fake)
        yield project, vault


def _status(project, url):
    result = invoke(project, "status", "--all", "--notify", url)
    assert TOKEN not in result.stdout and TOKEN not in result.stderr
    return result


def test_status_notify_sends_one_message_per_change_of_state(fleet, receiver):
    project, vault = fleet
    url = f"json://redundo:{TOKEN}@127.0.0.1:{receiver.port}/hook"

    first = _status(project, url)
    assert first.exit_code == 1, first.output  # LATE and MISSING clients
    assert {(m["path"], m["type"]) for m in receiver.received} == {("/hook", "failure")}
    by_client = {m["title"]: m["message"] for m in receiver.received}
    assert set(by_client) == {"redundo: late is LATE", "redundo: missing is MISSING"}  # fresh is OK: nothing to say
    assert by_client["redundo: late is LATE"].startswith("late (standard): LATE; newest backup 4.5 h old, RPO 90 min.")
    assert "missing (basic): MISSING; no backup has ever reported" in by_client["redundo: missing is MISSING"]
    assert "notified: late LATE to json://redundo:****@127.0.0.1" in first.stderr

    again = _status(project, url)
    assert again.exit_code == 1 and len(receiver.received) == 2, "unchanged states were announced again"

    _heartbeat(vault, "late-site", 5 * 60, snapshot="feedbeef")  # late recovers
    _heartbeat(vault, "fresh-site", TIERS["premium"].rpo_minutes * 60 + 20 * 60)  # fresh falls behind
    third = _status(project, url)
    assert third.exit_code == 1
    news = {m["title"]: m for m in receiver.received[2:]}
    assert set(news) == {"redundo: late is OK again", "redundo: fresh is LATE"}
    assert news["redundo: late is OK again"]["type"] == "success"
    assert news["redundo: late is OK again"]["message"].startswith(
        "late (standard): OK (was LATE); newest backup 5 min old"
    )
    assert news["redundo: fresh is LATE"]["message"].startswith("fresh (premium): LATE; newest backup 50 min old")

    assert _status(project, url).exit_code == 1 and len(receiver.received) == 4
    recorded = json.loads((project / ".redundo" / "notify" / "late.json").read_text())
    assert [r["state"] for r in recorded.values()] == ["OK"] and TOKEN not in json.dumps(recorded)


def test_status_notify_retries_a_failed_delivery_at_the_next_run(fleet, receiver):
    project, _vault = fleet
    url = f"json://redundo:{TOKEN}@127.0.0.1:{receiver.port}/hook"
    receiver.failing = True
    failed = _status(project, url)
    assert failed.exit_code == 1 and receiver.received == []
    assert failed.stderr.strip().splitlines()[-1].startswith("error: could not notify ")
    assert "late LATE to json://redundo:****@127.0.0.1" in failed.stderr
    assert not (project / ".redundo" / "notify").exists() or not any((project / ".redundo" / "notify").iterdir())

    receiver.failing = False
    retried = _status(project, url)
    assert {m["title"] for m in receiver.received} == {"redundo: late is LATE", "redundo: missing is MISSING"}
    assert "could not notify" not in retried.stderr


def test_status_notify_counts_changes_per_destination(fleet, receiver):
    """A second URL added later hears about a standing LATE once, the first URL not again."""
    project, _vault = fleet
    first, second = (f"json://127.0.0.1:{receiver.port}/{name}" for name in ("a", "b"))
    invoke(project, "status", "--all", "--notify", first)
    assert {m["path"] for m in receiver.received} == {"/a"} and len(receiver.received) == 2
    invoke(project, "status", "--all", "--notify", first, "--notify", second)
    assert sorted(m["path"] for m in receiver.received) == ["/a", "/a", "/b", "/b"]


def _redundo(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("redundo")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **env},
    )


@pytest.mark.parametrize(
    "url",
    [
        f"nosuchservice://user:{TOKEN}@example.net/x",
        f"https//{TOKEN}@hooks.example.net",
        "",
        f"slack://{TOKEN}",
    ],
)
def test_status_notify_bad_url_is_a_usage_error_before_anything_is_read(tmp_path, url):
    """No project, no stacks, no vault: the URL is refused first, in one line, and its token never shown."""
    started = time.monotonic()
    done = _redundo(["--project", str(tmp_path / "nowhere"), "status", "--all", "--notify", url], cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: --notify #1 is not a notification URL Apprise can use")
    assert TOKEN not in done.stderr and not (tmp_path / "nowhere").exists()
    assert time.monotonic() - started < 60


def test_status_notify_urls_from_the_environment(tmp_path):
    """REDUNDO_NOTIFY holds several URLs; the second one is the bad one here, and is named by position."""
    done = _redundo(
        ["--project", str(tmp_path), "status", "--all"],
        cwd=tmp_path,
        REDUNDO_NOTIFY=f"json://127.0.0.1:9/ok bogus://{TOKEN}",
    )
    assert done.returncode == 2 and done.stderr.startswith("error: --notify #2 is not a notification URL")
    assert TOKEN not in done.stderr


def test_alerts_timer_example_passes_systemd_analyze(tmp_path):
    """The documented service and timer parse; the command they run is this install's `redundo status`."""
    from tests.test_agent import _tool

    analyze = _tool("systemd-analyze")
    docs = Path(__file__).resolve().parents[2] / "docs" / "alerts"
    service = (docs / "redundo-status.service").read_text()
    assert "ExecStart=%h/.local/bin/redundo status --all" in service and "REDUNDO_NOTIFY" in service
    exe = Path(sys.executable).with_name("redundo")
    (tmp_path / "redundo-status.service").write_text(service.replace("%h/.local/bin/redundo", str(exe)))
    (tmp_path / "redundo-status.timer").write_text((docs / "redundo-status.timer").read_text())
    done = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())], capture_output=True, text=True
    )
    problems = [
        line
        for line in done.stderr.splitlines()
        if "Unknown key" in line
        or "Unknown section" in line
        or "Invalid" in line
        or "Failed to parse" in line
        or "not executable" in line
    ]
    assert problems == [], problems


def test_status_notify_an_unreadable_vault_is_announced_and_so_is_its_return(fleet, receiver):
    """The vault goes away: every client is UNKNOWN, each destination hears it once; then it comes back."""
    project, vault = fleet
    url = f"json://redundo:{TOKEN}@127.0.0.1:{receiver.port}/hook"
    _status(project, url)
    assert len(receiver.received) == 2  # late LATE, missing MISSING
    vault.stop()
    try:
        down = _status(project, url)
        assert down.exit_code == 1, down.output
        news = {m["title"]: m["message"] for m in receiver.received[2:]}
        assert set(news) == {f"redundo: {name} is UNKNOWN" for name in ("fresh", "late", "missing")}
        assert news["redundo: late is UNKNOWN"].startswith(
            "late (standard): UNKNOWN (was LATE); cannot read the vault of late: "
        )
        listed = {r["stack"]: r["last_status"] for r in json.loads(invoke(project, "ls", "--json").stdout)}
        assert listed == {"fresh": "UNKNOWN", "late": "UNKNOWN", "missing": "UNKNOWN"}
        assert _status(project, url).exit_code == 1 and len(receiver.received) == 5  # no repeat while down
    finally:
        vault.start()
    back = _status(project, url)
    assert back.exit_code == 1
    news = {m["title"]: m["message"] for m in receiver.received[5:]}
    assert set(news) == {"redundo: fresh is OK again", "redundo: late is LATE", "redundo: missing is MISSING"}
    assert news["redundo: fresh is OK again"].startswith("fresh (premium): OK (was UNKNOWN); newest backup 10 min old")


def test_alerts_env_example_reads_the_same_in_the_shell_cron_runs(tmp_path):
    """The documented alerts.env, sourced as the cron line does, gives redundo both URLs and the passphrase."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    example = text.split("alerts.env <<'END'\n", 1)[1].split("\nEND\n", 1)[0]
    env_file = tmp_path / "alerts.env"
    env_file.write_text(example + "\n")
    done = subprocess.run(
        [
            "sh",
            "-c",
            f'set -a && . "{env_file}" && set +a && printf "%s\\n%s" "$REDUNDO_NOTIFY" "$PULUMI_CONFIG_PASSPHRASE"',
        ],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    urls, passphrase = done.stdout.split("\n")
    assert urls.split() == [
        "mailtos://me:app-password@smtp.example.fr?to=me@example.fr",
        "slack://TokenA/TokenB/TokenC/#alerts",
    ]
    assert passphrase == "the passphrase of your stacks"
    from redundo.notify import destinations

    assert len(destinations(urls.split())) == 2  # both are URLs Apprise accepts


def test_status_notify_a_damaged_record_counts_as_never_told(fleet, receiver):
    """A notify record that is not JSON (an editor, a full disk) is replaced, and the news sent again."""
    project, _vault = fleet
    url = f"json://127.0.0.1:{receiver.port}/hook"
    invoke(project, "status", "--all", "--notify", url)
    record = project / ".redundo" / "notify" / "late.json"
    record.write_bytes(b"\xff{not json")
    again = invoke(project, "status", "--all", "--notify", url)
    assert again.exit_code == 1 and [m["title"] for m in receiver.received].count("redundo: late is LATE") == 2
    assert json.loads(record.read_text())  # rewritten whole


def test_status_notify_an_unwritable_record_is_one_line_after_sending(fleet, receiver):
    project, _vault = fleet
    (project / ".redundo").mkdir(exist_ok=True)
    (project / ".redundo" / "notify").write_text("a file where the folder should be")
    url = f"json://127.0.0.1:{receiver.port}/hook"
    done = invoke(project, "status", "--all", "--notify", url)
    assert done.exit_code == 1 and len(receiver.received) == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: sent late LATE to json://127.0.0.1:")
    assert "cannot record it in" in done.stderr and "the next run sends it again" in done.stderr


def test_notify_message_for_a_client_whose_stack_file_is_unreadable():
    """No tier is known then: the message gives the reason, and no made-up tier or RPO."""
    from redundo import status as status_mod
    from redundo.notify import message

    title, body = message(status_mod.unknown("bakery", None, "stacks/Pulumi.bakery.yaml is not UTF-8", now=0), "OK")
    assert title == "redundo: bakery is UNKNOWN"
    assert body == (
        "bakery: UNKNOWN (was OK); stacks/Pulumi.bakery.yaml is not UTF-8. Checked 1970-01-01 00:00 UTC. "
        "Look at it with `redundo status --stack bakery`."
    )
