"""redundo's own SSH against a real sshd: the pinned host key connects, any other key is refused."""

from __future__ import annotations

import pytest

from redundo import remote
from redundo.errors import OperationError
from tests.sshd import Sshd, keygen, sshd  # noqa: F401  (pytest fixture)


def _run(server: Sshd, host_key: str | None, command: list[str]):
    return remote.ssh_run(server.host, server.user, command, host_key=host_key, port=server.port,
                          identity=str(server.identity), timeout=60)


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
    with pytest.raises(OperationError, match="no SSH host key is pinned for 127.0.0.1; run `redundo up`"):
        _run(sshd, None, ["touch", str(marker)])
    assert not marker.exists()


def test_remote_fingerprint_matches_ssh_keygen(sshd):
    import subprocess

    shown = subprocess.run(["ssh-keygen", "-l", "-f", str(sshd.directory / "ssh_host_ed25519_key.pub")],
                           capture_output=True, text=True, check=True).stdout.split()[1]
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
