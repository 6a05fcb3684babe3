"""A local stand-in of the OVH API: DNS zone records, zone refresh, OAuth2 clients and IAM policies.

It answers the calls the stack's resources make when the rehearsal's cloud realizes them, and the
calls the warm standby's watchdog makes by itself (client-credentials token, record edit, zone
refresh). A bearer token is accepted only for what an IAM policy grants its client on that zone,
as OVH's IAM would. Every call is recorded. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call", "OvhStandIn"]


@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int
    who: str
    at: float = field(default_factory=time.time)


class OvhStandIn:
    """The OVH API on 127.0.0.1 (paths as under https://eu.api.ovh.com/1.0 and /v2, and the token URL)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.zones: dict[str, dict[int, dict[str, Any]]] = {}
        self.refreshes: dict[str, int] = {}
        self.clients: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}
        self.calls: list[Call] = []
        self._next_id = 1000
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, answer, who, body = stand_in.dispatch(self.command, self.path, dict(self.headers), raw)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with stand_in.lock:
                    stand_in.calls.append(Call(self.command, self.path, body, status, who))

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="rehearse-ovh", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # The API, as the resources' realization and the guests call it.
    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes):
        path = urllib.parse.urlsplit(raw_path).path
        for prefix in ("/1.0", "/v1"):
            if path.startswith(prefix + "/"):
                path = path[len(prefix) :]
        content_type = headers.get("Content-Type", "")
        if "x-www-form-urlencoded" in content_type:
            body: Any = dict(urllib.parse.parse_qsl(raw.decode()))
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return 400, {"message": "invalid JSON"}, "?", raw.decode(errors="replace")
        if path == "/auth/oauth2/token" and method == "POST":
            return (*self._token(headers, body), body and {k: v for k, v in body.items() if k != "client_secret"})
        if path == "/auth/time" and method == "GET":
            return 200, int(time.time()), "anonymous", None
        who = self._caller(headers)
        if who is None:
            return 401, {"message": "This call has not been granted"}, "anonymous", body
        parts = [p for p in path.split("/") if p]
        with self.lock:
            status, answer = self._route(method, parts, body, who)
        return status, answer, who, body

    def _caller(self, headers: dict[str, str]) -> str | None:
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return self.tokens.get(auth[7:])
        if headers.get("X-Ovh-Application"):
            return "deployer"  # the deployer's application key: the stack's own provider calls
        return None

    def _token(self, headers: dict[str, str], body: Any):
        form = body or {}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        client = self.clients.get(client_id or "")
        if (
            form.get("grant_type") != "client_credentials"
            or client_id is None
            or client is None
            or client["secret"] != secret
        ):
            return 401, {"error": "invalid_client"}, client_id or "anonymous"
        token = secrets.token_hex(16)
        self.tokens[token] = client_id
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "all"}, client_id

    def _allowed(self, who: str, action: str, zone: str) -> bool:
        if who == "deployer":
            return True
        for policy in self.policies.values():
            identity = self.clients[who]["identity"] if who in self.clients else None
            if (
                identity in policy["identities"]
                and f"urn:v1:eu:resource:dnsZone:{zone}" in policy["resources"]
                and action in policy["allows"]
            ):
                return True
        return False

    def _route(self, method: str, parts: list[str], body: Any, who: str):
        if parts[:2] == ["domain", "zone"] and len(parts) >= 3:
            zone = parts[2]
            records = self.zones.setdefault(zone, {})
            rest = parts[3:]
            if rest == ["refresh"] and method == "POST":
                if not self._allowed(who, "dnsZone:apiovh:refresh", zone):
                    return 403, {"message": "not allowed: dnsZone:apiovh:refresh"}
                self.refreshes[zone] = self.refreshes.get(zone, 0) + 1
                return 200, None
            if rest == ["record"] and method == "POST":
                self._next_id += 1
                record = {"id": self._next_id, "zone": zone, **(body or {})}
                records[self._next_id] = record
                return 200, record
            if rest == ["record"] and method == "GET":
                return 200, sorted(records)
            if len(rest) == 2 and rest[0] == "record" and rest[1].isdigit():
                rid = int(rest[1])
                if rid not in records:
                    return 404, {"message": f"record {rid} not found"}
                if method == "GET":
                    return (
                        (200, records[rid])
                        if self._allowed(who, "dnsZone:apiovh:record/get", zone)
                        else (403, {"message": "not allowed: dnsZone:apiovh:record/get"})
                    )
                if method == "PUT":
                    if not self._allowed(who, "dnsZone:apiovh:record/edit", zone):
                        return 403, {"message": "not allowed: dnsZone:apiovh:record/edit"}
                    records[rid].update({k: v for k, v in (body or {}).items() if k in ("target", "ttl", "subDomain")})
                    return 200, None
                if method == "DELETE" and who == "deployer":
                    del records[rid]
                    return 200, None
        if parts == ["me", "api", "oauth2", "client"] and method == "POST" and who == "deployer":
            client_id = secrets.token_hex(8)
            self.clients[client_id] = {
                "secret": secrets.token_hex(16),
                "identity": f"urn:v1:eu:identity:credential:{client_id}",
                **(body or {}),
            }
            return 200, {"clientId": client_id, "clientSecret": self.clients[client_id]["secret"]}
        if parts[:2] == ["me", "api"] and len(parts) == 5 and method == "GET" and who == "deployer":
            client = self.clients.get(parts[4])
            return (200, {"clientId": parts[4], "identity": client["identity"]}) if client else (404, {})
        if parts == ["v2", "iam", "policy"] and method == "POST" and who == "deployer":
            pid = secrets.token_hex(8)
            # The API takes resources as {"urn": ...} objects and actions under permissions.allow;
            # kept here as plain URNs and action names (after the body, which must not override them).
            allow = (body.get("permissions") or {}).get("allow", body.get("allows", []))
            self.policies[pid] = {
                **body,
                "identities": body.get("identities", []),
                "resources": [r["urn"] if isinstance(r, dict) else r for r in body.get("resources", [])],
                "allows": [a["action"] if isinstance(a, dict) else a for a in allow],
            }
            return 200, {"id": pid}
        return 404, {"message": f"no such call in the stand-in: {method} /{'/'.join(parts)}"}

    def revoke_client(self, client_id: str) -> None:
        with self.lock:
            self.clients.pop(client_id, None)
            self.tokens = {t: c for t, c in self.tokens.items() if c != client_id}
            self.calls.append(Call("DELETE", f"/1.0/me/api/oauth2/client/{client_id}", None, 200, "deployer"))

    def delete_policy(self, policy_id: str) -> None:
        with self.lock:
            self.policies.pop(policy_id, None)
            self.calls.append(Call("DELETE", f"/v2/iam/policy/{policy_id}", None, 200, "deployer"))

    # What the rehearsal asks of it.
    def site_record(self, zone: str, subdomain: str) -> dict[str, Any] | None:
        with self.lock:
            for record in self.zones.get(zone, {}).values():
                if record.get("subDomain", "") == subdomain and record.get("fieldType") == "A":
                    return dict(record)
        return None
