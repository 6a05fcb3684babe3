"""redundo's own SSH against a real sshd: the pinned host key connects, any other key is refused."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from redundo import agent, remote
from redundo.errors import OperationError
from tests.sshd import Sshd, keygen, sshd  # noqa: F401  (pytest fixture)


def _run(server: Sshd, host_key: str | None, command: list[str]):
    return remote.ssh_run(
        server.host,
        server.user,
        command,
        host_key=host_key,
        port=server.port,
        identity=str(server.identity),
        timeout=60,
    )


def test_remote_pinned_host_key_connects(sshd):
    done = _run(sshd, sshd.host_key, ["cat", str(sshd.directory / "ssh_host_ed25519_key.pub")])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == sshd.host_key.split()[:2]


def test_remote_another_host_key_is_refused_in_one_line(sshd, tmp_path):
    """A host that presents a key other than the pinned one: nothing runs, one line names host and pinned key."""
    impostor = keygen(tmp_path / "other")
    marker = tmp_path / "ran"
    with pytest.raises(OperationError) as refused:
        _run(sshd, impostor, ["touch", str(marker)])
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{sshd.host} did not present the SSH host key pinned when it was provisioned")
    assert remote.fingerprint(impostor) in message
    assert not marker.exists()


def test_remote_without_a_pinned_key_refuses_before_connecting(sshd, tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(OperationError, match=re.escape("no SSH host key is pinned for 127.0.0.1; run `redundo up`")):
        _run(sshd, None, ["touch", str(marker)])
    assert not marker.exists()


def test_remote_fingerprint_matches_ssh_keygen(sshd):
    import subprocess

    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(sshd.directory / "ssh_host_ed25519_key.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert remote.fingerprint(sshd.host_key) == shown


def test_remote_wait_until_serving_wants_the_restored_page_not_just_a_200():
    """An HTTP server on 127.0.0.1 answers 200 for every path: only the exact bytes of the known page count."""
    import hashlib
    import http.server
    import threading

    pages = {"/about.html": b"restored page\n"}

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"welcome to nginx") if self.headers["Host"] == "shop.fr" else b"other"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    try:
        right = remote.Served("/about.html", hashlib.sha256(b"restored page\n").hexdigest(), 3)
        assert remote.wait_until_serving(address, "shop.fr", expect=right, timeout=5, every=0.1) is not None
        stale = remote.Served("/about.html", hashlib.sha256(b"the page before the fire\n").hexdigest(), 3)
        assert remote.wait_until_serving(address, "shop.fr", expect=stale, timeout=1, every=0.2) is None
        assert remote.wait_until_serving(address, "elsewhere.fr", expect=right, timeout=1, every=0.2) is None
    finally:
        server.shutdown()


def test_remote_last_backup_runs_the_shipped_script_in_one_line():
    """The SSH call is the agent's script and its wait, nothing assembled: the host runs what the tests run."""
    assert remote.LAST_BACKUP == ["/usr/local/sbin/redundo-last-backup", "--wait", str(remote.LAST_BACKUP_WAIT)]


def _last_backup(tmp_path, states: dict[str, list[str]], *, start: str, limit: int = 30, shell: str = "dash"):
    """Run the shipped redundo-last-backup under `shell` with a stand-in systemctl: each `show` of a
    unit answers the next of its `states` (then "inactive"); `start` is the shell run for `systemctl
    start`. Returns the run and the stand-in's calls in order."""
    import os
    import subprocess

    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir(parents=True)
    state.mkdir()
    for unit, answers in states.items():
        (tmp_path / f"{unit}.states").write_text("".join(f"{a}\n" for a in answers))
    calls = tmp_path / "calls"
    (bin_dir / "systemctl").write_text(f"""#!/bin/sh
echo "$*" >> {calls}
if [ "$1" = show ]; then
  f={tmp_path}/"$5".states
  line=$(head -n 1 "$f" 2>/dev/null); [ -n "$line" ] && sed -i 1d "$f"
  echo "${{line:-inactive}}"
  exit 0
fi
if [ "$1" = start ]; then
{start}
fi
""")
    (bin_dir / "systemctl").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "REDUNDO_STATE_DIR": str(state),
    }
    script = Path(agent.__file__).with_name("redundo-last-backup")
    argv = [shell, str(script), "--wait", str(limit)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    return done, calls.read_text().splitlines() if calls.exists() else []


FRESH_BACKUP = (
    'printf \'{"status":"ok","started":%s,"snapshot_id":"0a1b2c3d4e5f"}\' "$(date +%s)" '
    '> "$REDUNDO_STATE_DIR/heartbeat.json"'
)


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_remote_last_backup_waits_for_a_running_backup_then_takes_its_own(tmp_path, shell):
    """A backup (and then a prune) already running: the script waits for both to end, then starts
    a new backup; `systemctl start` never joins the running one. It prints the new snapshot."""
    done, calls = _last_backup(
        tmp_path,
        {
            "redundo-backup.service": ["activating", "activating"],
            "redundo-prune.service": ["inactive", "inactive", "activating"],
        },
        start=FRESH_BACKUP,
        shell=shell,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0a1b2c3d4e5f\n"  # a whole line: what a caller prints after it starts on its own
    assert done.stderr.strip() == (
        "redundo-backup.service is already running; waiting for it to end, then taking the last backup"
    )
    starts = [i for i, c in enumerate(calls) if c.startswith("start")]
    assert [calls[i] for i in starts] == ["start redundo-backup.service"]
    # The start came after the last poll that found a run in progress (the fourth round of three units).
    shows = [i for i, c in enumerate(calls) if c.startswith("show")]
    assert len(shows) == 12 and starts[0] > shows[-1]


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_remote_last_backup_refuses_a_start_that_ran_no_new_backup(tmp_path, shell):
    """`systemctl start` exits 0 but the heartbeat is from before the ask (the unit's start condition
    failed, or it joined an older run): the failback must not go on."""
    old = 'printf \'{"status":"ok","started":1000,"snapshot_id":"old"}\' > "$REDUNDO_STATE_DIR/heartbeat.json"'
    done, _ = _last_backup(tmp_path, {}, start=old, shell=shell)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (
        "redundo-backup.service ran no new backup (see systemctl status redundo-backup.service)"
    )


def test_remote_last_backup_passes_a_failed_backup_on_and_gives_up_after_its_limit(tmp_path):
    failed, _ = _last_backup(tmp_path, {}, start="echo 'Job for redundo-backup.service failed' >&2; exit 3")
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.strip().splitlines() == [
        "Job for redundo-backup.service failed",
        "redundo-backup.service failed (see journalctl -u redundo-backup.service)",
    ]
    stuck, calls = _last_backup(
        tmp_path / "stuck", {"redundo-verify.service": ["activating"] * 10}, start=FRESH_BACKUP, limit=2
    )
    assert stuck.returncode == 1
    assert stuck.stderr.strip().splitlines()[-1] == (
        "redundo-verify.service was still running after 2 s; wait for it to end "
        "(systemctl status redundo-verify.service), then run the failback again"
    )
    assert not any(c.startswith("start") for c in calls)


@pytest.mark.parametrize("args", [["--wait"], ["--wait", "soon"], ["--wait", ""], ["now"], ["--wait", "5", "x"]])
def test_remote_last_backup_refuses_bad_arguments_before_touching_a_unit(tmp_path, args):
    import subprocess

    script = Path(agent.__file__).with_name("redundo-last-backup")
    dash = shutil.which("dash") or "/bin/dash"
    done = subprocess.run([dash, str(script), *args], capture_output=True, text=True, env={"PATH": "/nonexistent"})
    assert done.returncode == 2 and done.stderr == "usage: redundo-last-backup [--wait SECONDS]\n"
