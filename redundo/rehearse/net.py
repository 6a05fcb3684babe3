"""The host side of the guests' network: TLS in front of local services, relays, an APT proxy.

Everything listens on 127.0.0.1 on a port chosen at run time and stops with `close()`. Guests reach
these only through qemu's `guestfwd`; they resolve the clouds' real names (the S3 endpoint, the
OVH API) to forwarded addresses, and trust the run's own CA, whose key never leaves this process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import http.server
import ipaddress
import shutil
import socket
import ssl
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["AptProxy", "CertificateAuthority", "Relays"]


class CertificateAuthority:
    """A throw-away CA and one server certificate for the given names (made per run)."""

    def __init__(self, names: list[str], workdir: Path):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "redundo rehearse CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        alt = [x509.DNSName(n) for n in names]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_pem = ca.public_bytes(serialization.Encoding.PEM)
        self.ca_file = workdir / "ca.crt"
        self.ca_file.write_bytes(self.ca_pem)
        cert_file, key_file = workdir / "server.crt", workdir / "server.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.touch(mode=0o600)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_context.load_cert_chain(cert_file, key_file)


class Relays:
    """TCP relays on 127.0.0.1 in one background event loop: plain, or TLS-terminating.

    A relay's target can change (a public address moving to a rebuilt host) or be None (nothing
    answers there: the connection is closed at once, as a dead host's would time out)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._targets: dict[int, int | None] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._thread = threading.Thread(target=self.loop.run_forever, name="rehearse-relays", daemon=True)
        self._thread.start()

    def add(self, target_port: int | None, *, tls: ssl.SSLContext | None = None) -> int:
        """A new relay to 127.0.0.1:target_port; returns the port it listens on."""

        async def start() -> int:
            server = await asyncio.start_server(lambda r, w: self._pipe(port_box[0], r, w), "127.0.0.1", 0, ssl=tls)
            self._servers.append(server)
            return server.sockets[0].getsockname()[1]

        port_box = [0]
        port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        port_box[0] = port
        self._targets[port] = target_port
        return port

    def add_connect_proxy(self, routes: dict[str, int], tls: ssl.SSLContext) -> int:
        """An HTTPS proxy (CONNECT) for processes on this machine: "host:443" in `routes` is answered
        by 127.0.0.1:routes[host] behind TLS with the run's certificate; any other host is refused."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                writer.close()
                return
            parts = head.split(b"\r\n", 1)[0].decode(errors="replace").split()
            host = parts[1].rsplit(":", 1)[0] if len(parts) >= 2 and parts[0] == "CONNECT" else ""
            if host not in routes:
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                writer.close()
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            try:
                await writer.start_tls(tls)
            except (OSError, ssl.SSLError):
                writer.close()
                return
            await self._pipe_to(routes[host], reader, writer)

        async def start() -> int:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self._servers.append(server)
            return server.sockets[0].getsockname()[1]

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def point(self, port: int, target_port: int | None) -> None:
        self._targets[port] = target_port

    async def _pipe(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._pipe_to(self._targets.get(port), reader, writer)

    async def _pipe_to(self, target: int | None, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if target is None:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            finally:
                try:
                    dst.close()
                except (OSError, RuntimeError):
                    pass

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self.loop.close()


class AptProxy:
    """An HTTP proxy for the guests' apt that fetches from the configured Debian mirrors only.

    Package files (immutable: their names carry the version) are cached in the user cache dir, so
    repeated rehearsals download nothing; index files are fetched anew each time, as apt would.
    Any other host is refused with 403: the proxy is not a way out to the internet."""

    def __init__(self, mirrors: list[str], cache: Path):
        self.hosts = {urllib.parse.urlsplit(m).netloc for m in mirrors}
        self.cache = cache
        self.cache.mkdir(parents=True, exist_ok=True)
        self.requests: list[tuple[str, int]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET(body=False)

            def do_GET(self, body: bool = True) -> None:
                status = proxy.serve(self, body)
                proxy.requests.append((self.path, status))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="rehearse-apt", daemon=True)
        self._thread.start()

    def serve(self, handler: http.server.BaseHTTPRequestHandler, body: bool) -> int:
        url = urllib.parse.urlsplit(handler.path)
        if url.scheme != "http" or url.netloc not in self.hosts:
            return self._reply(handler, 403, b"redundo rehearse: only the configured Debian mirror\n", body)
        immutable = "/pool/" in url.path or "/by-hash/" in url.path
        cached = self.cache / hashlib.sha256(handler.path.encode()).hexdigest()
        if immutable and cached.is_file():
            return self._reply_file(handler, cached, body)
        try:
            with urllib.request.urlopen(handler.path, timeout=120) as upstream:  # noqa: S310 - http://, checked above
                tmp = tempfile.NamedTemporaryFile(dir=self.cache, delete=False)
                with tmp:
                    shutil.copyfileobj(upstream, tmp)
                path = Path(tmp.name)
                if immutable:
                    path.replace(cached)
                    path = cached
                try:
                    return self._reply_file(handler, path, body)
                finally:
                    if not immutable:
                        path.unlink(missing_ok=True)
        except urllib.error.HTTPError as exc:
            return self._reply(handler, exc.code, f"{exc.code} {exc.reason}\n".encode(), body)
        except (urllib.error.URLError, OSError) as exc:
            return self._reply(handler, 502, f"mirror unreachable: {exc}\n".encode(), body)

    @staticmethod
    def _reply(handler, status: int, text: bytes, body: bool) -> int:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(text)))
        handler.end_headers()
        if body:
            handler.wfile.write(text)
        return status

    @staticmethod
    def _reply_file(handler, path: Path, body: bool) -> int:
        handler.send_response(200)
        handler.send_header("Content-Length", str(path.stat().st_size))
        handler.end_headers()
        if body:
            with path.open("rb") as source:
                shutil.copyfileobj(source, handler.wfile)
        return 200

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except OSError:
        return False
