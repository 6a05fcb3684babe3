"""A private nginx (and PHP-FPM) for tests, serving a site file the stack program rendered.

The site file is used as rendered, adapted only where a test machine must differ from a host: the
listen address and port (127.0.0.1, a free port), and the PHP-FPM socket and nginx's own include
paths (in the server's temporary directory). Each server runs from its own temporary directory and
is stopped at teardown. Under `CI=true` a missing nginx or php-fpm fails the test; elsewhere it skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from redundo import profiles

__all__ = ["WebServer", "get", "start_web", "stop_web"]

START_TIMEOUT = 30.0


def _require(program: str) -> str:
    found = shutil.which(program) or next((p for p in (f"/usr/sbin/{program}",) if os.access(p, os.X_OK)), None)
    if found is None:
        message = f"{program} is not installed (see .ci/apt.d/profiles.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def adapt_site(site: str, *, port: int, php_socket: Path | None) -> str:
    """The rendered site file with only the listen address and the PHP socket changed."""
    assert "    listen 80 default_server;\n" in site
    out = site.replace("    listen 80 default_server;\n", f"    listen 127.0.0.1:{port} default_server;\n")
    out = out.replace("    listen [::]:80 default_server;\n", "")
    if php_socket is not None:
        assert f"unix:{profiles.PHP_SOCKET};" in out
        out = out.replace(f"unix:{profiles.PHP_SOCKET};", f"unix:{php_socket};")
    return out


@dataclass
class WebServer:
    port: int
    directory: Path
    procs: list[subprocess.Popen] = field(default_factory=list)


def _wait_for(ready, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start in {START_TIMEOUT:.0f} s: {log.read_text(errors='replace')[-2000:]}")


def start_web(directory: Path, site: str, *, php: bool) -> WebServer:
    """nginx (and PHP-FPM when `php`) serving `site` (the rendered site file) from `directory`."""
    nginx = _require("nginx")
    directory.mkdir(parents=True, exist_ok=True)
    server = WebServer(_free_port(), directory)
    php_socket = directory / "php-fpm.sock" if php else None
    try:
        if php:
            fpm = _require("php-fpm8.2")
            (directory / "php-fpm.conf").write_text(
                "\n".join(
                    [
                        "[global]",
                        f"pid = {directory / 'php-fpm.pid'}",
                        f"error_log = {directory / 'php-fpm.log'}",
                        "daemonize = no",
                        "[site]",
                        "user = root",
                        "group = root",
                        f"listen = {php_socket}",
                        "pm = static",
                        "pm.max_children = 2",
                        "clear_env = no",
                        "catch_workers_output = yes",
                        "",
                    ]
                )
            )
            log = directory / "php-fpm.out"
            proc = subprocess.Popen(
                [fpm, "-F", "-R", "-y", str(directory / "php-fpm.conf")], stdout=log.open("w"), stderr=subprocess.STDOUT
            )
            server.procs.append(proc)
            _wait_for(php_socket.exists, "php-fpm", proc, log)
        # nginx resolves the site file's relative includes (snippets/fastcgi-php.conf, fastcgi.conf)
        # against the main file's directory: give it the distribution's own files there.
        for name in ("snippets", "fastcgi.conf", "mime.types"):
            (directory / name).symlink_to(Path("/etc/nginx") / name)
        (directory / "site.conf").write_text(adapt_site(site, port=server.port, php_socket=php_socket))
        temp = directory / "temp"
        temp.mkdir()
        (directory / "nginx.conf").write_text(
            "\n".join(
                [
                    "daemon off;",
                    "worker_processes 1;",
                    "user root root;",
                    f"pid {directory / 'nginx.pid'};",
                    f"error_log {directory / 'nginx-error.log'};",
                    "events { worker_connections 64; }",
                    "http {",
                    "  include mime.types;",
                    "  access_log off;",
                    f"  client_body_temp_path {temp}/body;",
                    f"  fastcgi_temp_path {temp}/fastcgi;",
                    f"  proxy_temp_path {temp}/proxy;",
                    f"  uwsgi_temp_path {temp}/uwsgi;",
                    f"  scgi_temp_path {temp}/scgi;",
                    "  include site.conf;",
                    "}",
                    "",
                ]
            )
        )
        log = directory / "nginx.out"
        check = subprocess.run(
            [nginx, "-t", "-q", "-p", str(directory), "-c", str(directory / "nginx.conf")],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused the rendered site file: {check.stderr}")
        proc = subprocess.Popen(
            [nginx, "-p", str(directory), "-c", str(directory / "nginx.conf")],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        server.procs.append(proc)

        def listening() -> bool:
            with socket.socket() as probe:
                probe.settimeout(0.5)
                return probe.connect_ex(("127.0.0.1", server.port)) == 0

        _wait_for(listening, "nginx", proc, log)
    except BaseException:
        stop_web(server)
        raise
    return server


def stop_web(server: WebServer) -> None:
    for proc in reversed(server.procs):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def get(server: WebServer, path: str, host: str) -> tuple[int, bytes]:
    """(status, body) of GET http://127.0.0.1:PORT/path with the Host header `host`."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
