"""A local stand-in of the clouds that *realizes* what the stack program registers.

The program runs unchanged, in-process, behind Pulumi's mocks (`redundo.synthesis`); each
registration is carried out here for real, in the program's dependency order (a resource is
registered only once the ones it depends on have returned):

- the vault bucket and its settings on a local S3 server (moto, IAM enforced; or SeaweedFS), with
  exactly the inputs the program gives;
- IAM users, their policies and access keys on that server;
- OVH instances as qemu guests booted from the program's own user data, byte for byte;
- `command:remote:Command` run over real SSH, with its stdin, against the guest at its address;
- DNS records, the OAuth2 client and its IAM policy in the OVH stand-in (`ovh.OvhStandIn`).

Between runs the cloud keeps its state by URN, as the engine's state file would: a resource whose
inputs did not change is left alone, a changed one is updated (or replaced, where the provider
replaces), and one the program no longer registers is deleted.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import string
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.runtime import rpc

from redundo.rehearse.image import GUEST_APT_PROXY, Image
from redundo.rehearse.net import AptProxy, CertificateAuthority, Relays
from redundo.rehearse.ovh import OvhStandIn
from redundo.rehearse.vm import Forward, Guest
from redundo.synthesis import RecordingMocks, Registered, _Monitor, map_wire

__all__ = ["Change", "LocalCloud", "ResourceFailed"]

S3_ADDRESS = "203.0.113.250"
OVH_ADDRESS = "203.0.113.251"
APT_ADDRESS, APT_PORT = GUEST_APT_PROXY.split(":")
# The public addresses instances get, in order (each a relay on the host, so that a guest can
# reach another guest's web ports, and nothing once that guest is gone).
ADDRESSES = [f"203.0.113.{n}" for n in range(10, 16)]
OVH_NAMES = ("eu.api.ovh.com", "www.ovh.com")
INSTANCE_TYPES = ("ovh:CloudProject/instance:Instance", "aws:lightsail/instance:Instance")


class ResourceFailed(Exception):
    """A resource could not be realized; the message says which and why, in one line."""


@dataclass
class Change:
    urn: str
    type: str
    op: str  # create, update, replace, same, delete
    seconds: float = 0.0
    keys: list[str] = field(default_factory=list)
    """The inputs whose change forces a replacement."""


@dataclass
class _State:
    type: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str
    protect: bool = False


@dataclass
class _Run:
    changes: list[Change] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)


def _plain(value: Any) -> Any:
    return map_wire(value, secret=lambda v: _plain(v))


class _RealizingMocks(RecordingMocks):
    immediate = False  # booting a host takes minutes: the engine's calls run in parallel threads

    def __init__(self, cloud: LocalCloud, run: _Run, *, planning: bool = False):
        super().__init__(preview=planning)
        self.cloud = cloud
        self.run = run
        self.planning = planning

    def new_resource(self, args):
        request = self.tls.request
        urn = _Monitor.make_urn(request.parent, args.typ, args.name)
        inputs = _plain(dict(args.inputs))
        options = {"protect": bool(request.protect), "ignore_changes": list(request.ignoreChanges)}
        started = time.monotonic()
        if self.planning:
            rid, outputs, op, keys = self.cloud.plan_one(urn, args.typ, inputs, options)
            with self.lock:
                self.run.seen.add(urn)
                self.run.changes.append(Change(urn, args.typ, op, 0.0, keys))
            if op == "create":
                return super().new_resource(args)
            record = Registered(
                args.typ,
                args.name,
                dict(args.inputs),
                bool(args.custom),
                args.provider or "",
                rid,
                outputs=dict(outputs),
            )
            with self.lock:
                self.resources.append(record)
            self.tls.last = record
            return rid, dict(outputs)
        try:
            rid, outputs, op = self.cloud.realize(urn, args.typ, args.name, inputs, options)
        except ResourceFailed as exc:
            with self.lock:
                self.run.failures.append(str(exc))
            raise
        except Exception as exc:  # a realization bug must still say which resource
            message = f"{args.name} ({args.typ}): {type(exc).__name__}: {exc}"
            with self.lock:
                self.run.failures.append(message)
            raise ResourceFailed(message) from exc
        with self.lock:
            self.run.seen.add(urn)
            self.run.changes.append(Change(urn, args.typ, op, time.monotonic() - started))
        state = dict(outputs)
        for key in request.additionalSecretOutputs:
            if key in state and not rpc.is_rpc_secret(state[key]):
                state[key] = rpc.wrap_rpc_secret(state[key])
        record = Registered(
            args.typ, args.name, dict(args.inputs), bool(args.custom), args.provider or "", rid, outputs=state
        )
        with self.lock:
            self.resources.append(record)
        self.tls.last = record
        return rid, state


class LocalCloud:
    """The clouds on this machine: S3 server, OVH stand-in, guests, and the state between runs."""

    def __init__(
        self,
        workdir: Path,
        image: Image,
        s3,
        *,
        apt_cache: Path,
        mirrors: list[str],
        progress: Callable[[str], None] = lambda m: None,
        ssh_timeout: float = 900,
    ):
        self.workdir = workdir
        self.image = image
        self.s3 = s3
        self.progress = progress
        self.ssh_timeout = ssh_timeout
        self.state: dict[str, _State] = {}
        self.lock = threading.Lock()
        self.guests: dict[str, Guest] = {}  # by address
        self.retired: list[Guest] = []
        self.ovh = OvhStandIn()
        self.apt = AptProxy(mirrors, apt_cache)
        self.relays = Relays()
        self._names = [*OVH_NAMES]
        self.ca: CertificateAuthority | None = None
        self.address_relays = {a: (self.relays.add(None), self.relays.add(None)) for a in ADDRESSES}
        self._free_addresses = list(ADDRESSES)
        self.ovh_relay = 0
        self.s3_relay = 0
        self.remote_log: list[dict[str, Any]] = []
        self.deployer_env = {"X-Ovh-Application": "rehearsal"}
        self.vault_hosts: list[str] = []
        self._tls_lock = threading.Lock()

    # Lifetime.
    closed = False
    booting = 0
    vault_expected = False
    """True when the program puts its vault on this cloud's S3 server (instances wait for its name)."""

    def close(self) -> None:
        with self.lock:
            self.closed = True
        # A guest being started in a worker thread right now is destroyed by that thread (see
        # _boot); wait for those, so that no qemu outlives the rehearsal.
        deadline = time.monotonic() + 60
        while self.booting and time.monotonic() < deadline:
            time.sleep(0.2)
        with self.lock:
            guests = [*self.guests.values(), *self.retired]
            self.guests.clear()
        for guest in guests:
            guest.destroy()
        for closer in (self.relays.close, self.apt.close, self.ovh.close):
            try:
                closer()
            except Exception:  # noqa: BLE001, S110 - cleanup goes on whatever one part says
                pass

    def _tls(self) -> CertificateAuthority:
        """The CA (made on first use) and the relays that terminate TLS for the S3 endpoint and the OVH API names."""
        with self._tls_lock:  # instances boot in parallel threads
            if self.ca is None:
                ca = CertificateAuthority([*self.vault_hosts, *self._names], self.workdir)
                self.s3_relay = self.relays.add(self.s3.port, tls=ca.server_context)
                if hasattr(self.s3, "on_port_change"):
                    self.s3.on_port_change = lambda port: self.relays.point(self.s3_relay, port)
                self.ovh_relay = self.relays.add(self.ovh.port, tls=ca.server_context)
                self.ca = ca
            return self.ca

    # Running the program.
    def deploy(
        self,
        program: Callable[[], Any],
        *,
        stack: str,
        config: dict[str, str],
        refresh: bool = False,
        preview: bool = False,
    ):
        """One update (or its preview): run `program` against the cloud; returns (exports, changes)."""
        from redundo.synthesis import synthesize

        saved = dict(self.state)
        if refresh:
            self._refresh()
        run = _Run()
        mocks = _RealizingMocks(self, run, planning=preview)
        try:
            try:
                synthesis = synthesize(
                    program, project="redundo", stack=stack, config=config, mocks=mocks, preview=preview
                )
            except Exception as exc:  # noqa: BLE001 - the program may raise anything: the update failed, as in the engine
                first = run.failures[0] if run.failures else f"{type(exc).__name__}: {exc}"
                raise ResourceFailed(first.splitlines()[0] if first else "the program failed") from None
            for urn in [u for u in reversed(list(self.state)) if u not in run.seen]:
                item = self.state[urn]
                if item.protect:
                    raise ResourceFailed(f"resource {urn} cannot be deleted because it is protected")
                started = time.monotonic()
                if not preview:
                    self._delete(urn, self.state.pop(urn))
                run.changes.append(Change(urn, item.type, "delete", time.monotonic() - started))
        finally:
            if preview:
                self.state = saved  # a preview's refresh is not kept
        return synthesis.exports, run.changes

    def _held(self, inputs: dict[str, Any], before: _State | None, ignore: list[str]) -> dict[str, Any]:
        """The inputs with those under ignore_changes kept as they were, as the engine does."""
        if before is None or not ignore:
            return inputs
        held = dict(inputs)
        for key in ignore:
            top = key.split(".")[0].split("[")[0]
            if top in before.inputs:
                held[top] = before.inputs[top]
        return held

    def plan_one(self, urn: str, type_: str, inputs: dict[str, Any], options: dict[str, Any]):
        """What an update would do to one resource, with no side effect: (id, outputs, op, keys)."""
        from redundo.replacement import replace_keys

        with self.lock:
            before = self.state.get(urn)
        if before is None:
            return "", {}, "create", []
        inputs = self._held(inputs, before, options["ignore_changes"])
        if before.inputs == inputs:
            return before.id, before.outputs, "same", []
        changed = sorted(k for k in set(inputs) | set(before.inputs) if inputs.get(k) != before.inputs.get(k))
        keys = replace_keys(type_, changed)
        if type_ in INSTANCE_TYPES and changed:
            keys = keys or changed
        return before.id, before.outputs, ("replace" if keys else "update"), keys

    def _refresh(self) -> None:
        """What `up --refresh` learns from the clouds: an instance that is gone is no longer in the state."""
        for urn, item in list(self.state.items()):
            if item.type in INSTANCE_TYPES:
                guest = self.guests.get(item.outputs.get("_address", ""))
                if guest is None or not guest.alive():
                    self.state.pop(urn)

    def realize(
        self, urn: str, type_: str, name: str, inputs: dict[str, Any], options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any], str]:
        options = options or {"protect": False, "ignore_changes": []}
        with self.lock:
            before = self.state.get(urn)
        inputs = self._held(inputs, before, options["ignore_changes"])
        if before is not None and before.type == type_ and before.inputs == inputs:
            before.protect = options["protect"]
            return before.id, before.outputs, "same"
        handler = getattr(self, "_" + type_.replace(":", "_").replace("/", "_"), None)
        if type_.startswith("pulumi:providers:") or (handler is None and type_.startswith("redundo:")):
            rid, outputs = f"{name}-id", dict(inputs)
        elif handler is None:
            raise ResourceFailed(f"{name}: the rehearsal cannot realize {type_} yet")
        else:
            rid, outputs = handler(name, inputs, before)
        op = "create" if before is None else ("replace" if outputs.get("_replaced") else "update")
        outputs.pop("_replaced", None)
        with self.lock:
            self.state[urn] = _State(type_, inputs, outputs, rid, options["protect"])
        return rid, outputs, op

    def _delete(self, urn: str, item: _State) -> None:
        if item.type in INSTANCE_TYPES:
            self._retire(item.outputs.get("_address", ""))
        elif item.type == "ovh:Domain/zoneRecord:ZoneRecord":
            self._ovh_call("DELETE", f"/domain/zone/{item.inputs['zone']}/record/{item.id}")
            self._ovh_call("POST", f"/domain/zone/{item.inputs['zone']}/refresh")
        elif item.type == "ovh:Me/aPIOAuth2Client:APIOAuth2Client":
            self.ovh.revoke_client(item.id)
        elif item.type == "ovh:Iam/policy:Policy":
            self.ovh.delete_policy(item.id)

    # S3 and IAM.
    def _aws_s3_bucket_Bucket(self, name, inputs, before):
        if before is not None:
            return before.id, {**before.outputs}
        bucket = inputs.get("bucket") or (
            inputs.get("bucketPrefix", "")
            + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))
        )
        self.s3.create_bucket(
            bucket, region=inputs.get("region") or self.s3.region, object_lock=bool(inputs.get("objectLockEnabled"))
        )
        # restic (minio-go) addresses AWS buckets in virtual-host style on the dual-stack endpoint.
        region = self.s3.region
        self.vault_hosts = [
            f"s3.{region}.amazonaws.com",
            f"{bucket}.s3.{region}.amazonaws.com",
            f"s3.dualstack.{region}.amazonaws.com",
            f"{bucket}.s3.dualstack.{region}.amazonaws.com",
        ]
        return bucket, {
            **inputs,
            "bucket": bucket,
            "arn": f"arn:aws:s3:::{bucket}",
            "id": bucket,
            "region": inputs.get("region") or self.s3.region,
        }

    def _aws_s3_bucketOwnershipControls_BucketOwnershipControls(self, name, inputs, before):
        self.s3.admin_call(
            "put_bucket_ownership_controls",
            Bucket=inputs["bucket"],
            OwnershipControls={"Rules": [{"ObjectOwnership": inputs["rule"]["objectOwnership"]}]},
        )
        return inputs["bucket"], dict(inputs)

    def _aws_s3_bucketPublicAccessBlock_BucketPublicAccessBlock(self, name, inputs, before):
        self.s3.admin_call(
            "put_public_access_block",
            Bucket=inputs["bucket"],
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": bool(inputs.get("blockPublicAcls")),
                "IgnorePublicAcls": bool(inputs.get("ignorePublicAcls")),
                "BlockPublicPolicy": bool(inputs.get("blockPublicPolicy")),
                "RestrictPublicBuckets": bool(inputs.get("restrictPublicBuckets")),
            },
        )
        return inputs["bucket"], dict(inputs)

    def _aws_s3_bucketVersioning_BucketVersioning(self, name, inputs, before):
        self.s3.admin_call(
            "put_bucket_versioning",
            Bucket=inputs["bucket"],
            VersioningConfiguration={"Status": inputs["versioningConfiguration"]["status"]},
        )
        return inputs["bucket"], dict(inputs)

    def _aws_s3_bucketServerSideEncryptionConfiguration_BucketServerSideEncryptionConfiguration(
        self, name, inputs, before
    ):
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": r["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
                },
                "BucketKeyEnabled": bool(r.get("bucketKeyEnabled")),
            }
            for r in inputs["rules"]
        ]
        self.s3.admin_call(
            "put_bucket_encryption", Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
        )
        return inputs["bucket"], dict(inputs)

    def _aws_s3_bucketLifecycleConfiguration_BucketLifecycleConfiguration(self, name, inputs, before):
        rules = []
        for r in inputs["rules"]:
            rule: dict[str, Any] = {
                "ID": r["id"],
                "Status": r["status"],
                "Filter": {"Prefix": r.get("filter", {}).get("prefix", "")},
            }
            if "noncurrentVersionExpiration" in r:
                rule["NoncurrentVersionExpiration"] = {
                    "NoncurrentDays": int(r["noncurrentVersionExpiration"]["noncurrentDays"])
                }
            if "expiration" in r:
                rule["Expiration"] = {
                    "ExpiredObjectDeleteMarker": bool(r["expiration"].get("expiredObjectDeleteMarker"))
                }
            if "abortIncompleteMultipartUpload" in r:
                rule["AbortIncompleteMultipartUpload"] = {
                    "DaysAfterInitiation": int(r["abortIncompleteMultipartUpload"]["daysAfterInitiation"])
                }
            rules.append(rule)
        self.s3.admin_call(
            "put_bucket_lifecycle_configuration", Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules}
        )
        return inputs["bucket"], dict(inputs)

    def _aws_s3_bucketObjectLockConfiguration_BucketObjectLockConfiguration(self, name, inputs, before):
        retention = inputs["rule"]["defaultRetention"]
        self.s3.admin_call(
            "put_object_lock_configuration",
            Bucket=inputs["bucket"],
            ObjectLockConfiguration={
                "ObjectLockEnabled": inputs.get("objectLockEnabled", "Enabled"),
                "Rule": {"DefaultRetention": {"Mode": retention["mode"], "Days": int(retention["days"])}},
            },
        )
        return inputs["bucket"], dict(inputs)

    def _aws_s3_bucketPolicy_BucketPolicy(self, name, inputs, before):
        self.s3.put_bucket_policy(inputs["bucket"], inputs["policy"])
        return inputs["bucket"], dict(inputs)

    def _aws_iam_user_User(self, name, inputs, before):
        user = inputs.get("name") or name
        if before is None:
            self.s3.create_user(user, path=inputs.get("path", "/"))
        return user, {**inputs, "name": user, "arn": f"arn:aws:iam::123456789012:user{inputs.get('path', '/')}{user}"}

    def _aws_iam_userPolicy_UserPolicy(self, name, inputs, before):
        self.s3.put_user_policy(inputs["user"], inputs.get("name") or name, inputs["policy"])
        return f"{inputs['user']}:{name}", dict(inputs)

    def _aws_iam_accessKey_AccessKey(self, name, inputs, before):
        key_id, secret = self.s3.create_access_key(inputs["user"])
        return key_id, {**inputs, "id": key_id, "secret": secret, "status": "Active"}

    def _random_index_randomPassword_RandomPassword(self, name, inputs, before):
        length = int(inputs.get("length", 32))
        alphabet = string.ascii_letters + string.digits
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        return "none", {**inputs, "result": value}

    def _random_index_randomId_RandomId(self, name, inputs, before):
        raw = secrets.token_bytes(int(inputs.get("byteLength", 4)))
        return raw.hex(), {
            **inputs,
            "hex": raw.hex(),
            "dec": str(int.from_bytes(raw, "big")),
            "b64Url": "",
            "b64Std": "",
        }

    # Instances.
    def _ovh_CloudProject_instance_Instance(self, name, inputs, before):
        replaced = before is not None
        if before is not None:
            self._retire(before.outputs.get("_address", ""))
        key = (inputs.get("sshKeyCreate") or {}).get("publicKey")
        address = self._boot(name, inputs["userData"], [key] if key else [])
        return f"{name}-{address}", {
            **inputs,
            "id": f"{name}-{address}",
            "addresses": [{"ip": address, "version": 4}],
            "_address": address,
            **({"_replaced": True} if replaced else {}),
        }

    def _boot(self, name: str, user_data: str, public_keys: list[str]) -> str:
        # The instance's user data no longer waits on the vault, so the program may register it
        # first; the guest's names for the vault (and the CA's certificate) need the bucket's name.
        deadline = time.monotonic() + 120
        while self.vault_expected and not self.vault_hosts and time.monotonic() < deadline and not self.closed:
            time.sleep(0.5)
        if self.vault_expected and not self.vault_hosts and not self.closed:
            raise ResourceFailed(
                f"{name}: the vault's bucket was not created within 120 s; its name is needed "
                "before a host can reach it"
            )
        ca = self._tls()
        with self.lock:
            if not self._free_addresses:
                raise ResourceFailed(f"{name}: the rehearsal's cloud has no address left")
            address = self._free_addresses.pop(0)
        forwards = [
            Forward(S3_ADDRESS, 443, self.s3_relay),
            Forward(OVH_ADDRESS, 443, self.ovh_relay),
            Forward(APT_ADDRESS, int(APT_PORT), self.apt.port),
        ]
        for other, (http_relay, https_relay) in self.address_relays.items():
            if other != address:
                forwards += [Forward(other, 80, http_relay), Forward(other, 443, https_relay)]
        hosts = "".join(f"{S3_ADDRESS} {h}\n" for h in self.vault_hosts) + "".join(
            f"{OVH_ADDRESS} {h}\n" for h in self._names
        )
        # Trust the run's CA in the bundle every client reads (OpenSSL, Go, Python); a copy under
        # /usr/local/share keeps it through a later update-ca-certificates.
        setup = (
            f"cat >> /etc/hosts <<'EOF'\n{hosts}EOF\n"
            f"mkdir -p /usr/local/share/ca-certificates\n"
            f"cat > /usr/local/share/ca-certificates/redundo-rehearsal.crt <<'EOF'\n{ca.ca_pem.decode()}EOF\n"
            f"cat /usr/local/share/ca-certificates/redundo-rehearsal.crt >> /etc/ssl/certs/ca-certificates.crt\n"
        )
        guest = Guest(
            name=f"{name}-{address.rsplit('.', 1)[1]}",
            address=address,
            image=self.image,
            user_data=user_data.encode(),
            workdir=self.workdir,
            forwards=forwards,
            public_keys=public_keys,
            fw_cfg={"setup": setup.encode()},
        )
        self.progress(f"booting {name} at {address} from its user data")
        with self.lock:
            if self.closed:
                raise ResourceFailed(f"{name}: the rehearsal is stopping")
            self.booting += 1
        try:
            guest.start()
        finally:
            with self.lock:
                self.booting -= 1
                closed = self.closed
                if not closed:
                    self.guests[address] = guest
        if closed:
            guest.destroy()
            raise ResourceFailed(f"{name}: the rehearsal is stopping")
        http_relay, https_relay = self.address_relays[address]
        self.relays.point(http_relay, guest.http_port)
        self.relays.point(https_relay, guest.https_port)
        return address

    def _retire(self, address: str) -> None:
        guest = self.guests.pop(address, None)
        if address in self.address_relays:
            for relay in self.address_relays[address]:
                self.relays.point(relay, None)
        if guest is not None:
            guest.destroy()
            self.retired.append(guest)

    def kill(self, address: str) -> None:
        """The fire: the guest at `address` is killed and its disk deleted; the cloud is not told."""
        self._retire(address)

    # OVH.
    def _ovh_call(self, method: str, path: str, body: Any = None) -> Any:
        path = path if path.startswith("/v2/") else "/1.0" + path
        status, answer, _, _ = self.ovh.dispatch(
            method,
            path,
            {"X-Ovh-Application": "rehearsal", "Content-Type": "application/json"},
            json.dumps(body).encode() if body is not None else b"",
        )
        with self.ovh.lock:
            from redundo.rehearse.ovh import Call

            self.ovh.calls.append(Call(method, path, body, status, "deployer"))
        if status >= 400:
            raise ResourceFailed(f"OVH API {method} {path}: {status} {answer}")
        return answer

    def _ovh_Domain_zoneRecord_ZoneRecord(self, name, inputs, before):
        zone = inputs["zone"]
        fields = {
            "fieldType": inputs["fieldtype"],
            "subDomain": inputs.get("subdomain", ""),
            "target": inputs["target"],
            "ttl": int(inputs.get("ttl", 0)),
        }
        if (
            before is not None
            and before.inputs.get("zone") == zone
            and before.inputs.get("fieldtype") == inputs["fieldtype"]
        ):
            rid = before.id
            self._ovh_call(
                "PUT", f"/domain/zone/{zone}/record/{rid}", {k: fields[k] for k in ("subDomain", "target", "ttl")}
            )
        else:
            rid = str(self._ovh_call("POST", f"/domain/zone/{zone}/record", fields)["id"])
        # terraform-provider-ovh refreshes the zone after each create, update and delete.
        self._ovh_call("POST", f"/domain/zone/{zone}/refresh")
        return rid, {**inputs, "id": rid}

    def _ovh_Me_aPIOAuth2Client_APIOAuth2Client(self, name, inputs, before):
        answer = self._ovh_call(
            "POST", "/me/api/oauth2/client", {k: inputs.get(k) for k in ("name", "description", "flow")}
        )
        identity = self.ovh.clients[answer["clientId"]]["identity"]
        return answer["clientId"], {
            **inputs,
            "clientId": answer["clientId"],
            "clientSecret": answer["clientSecret"],
            "identity": identity,
        }

    def _ovh_Iam_policy_Policy(self, name, inputs, before):
        answer = self._ovh_call(
            "POST",
            "/v2/iam/policy",
            {
                "name": inputs.get("name"),
                "identities": inputs.get("identities", []),
                "resources": [{"urn": r} for r in inputs.get("resources", [])],
                "permissions": {"allow": [{"action": a} for a in inputs.get("allows", [])]},
            },
        )
        policy = self.ovh.policies[answer["id"]]
        policy["allows"] = list(inputs.get("allows", []))
        return answer["id"], {**inputs, "id": answer["id"]}

    # Commands.
    def deployer_environment(self) -> dict[str, str]:
        """The deployer's environment for local commands: OVH credentials as the README asks for
        (the three application keys), with the OVH API's names answered by the stand-in."""
        ca = self._tls()
        with self._tls_lock:
            if not self.https_proxy:
                self.https_proxy = self.relays.add_connect_proxy(
                    {n: self.ovh.port for n in OVH_NAMES}, ca.server_context
                )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OVH_", "AWS_"))}
        return {
            **env,
            "OVH_APPLICATION_KEY": "rehearsal",
            "OVH_APPLICATION_SECRET": "rehearsal",
            "OVH_CONSUMER_KEY": "rehearsal",
            "HTTPS_PROXY": f"http://127.0.0.1:{self.https_proxy}",
            "https_proxy": f"http://127.0.0.1:{self.https_proxy}",
            "REQUESTS_CA_BUNDLE": str(ca.ca_file),
            "NO_PROXY": "",
            "no_proxy": "",
        }

    https_proxy = 0

    def _command_local_Command(self, name, inputs, before):
        env = {**self.deployer_environment(), **(inputs.get("environment") or {})}
        done = subprocess.run(
            ["/bin/sh", "-c", inputs["create"]],
            check=False,
            input=inputs.get("stdin", ""),
            text=True,
            capture_output=True,
            env=env,
            timeout=600,
        )
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise ResourceFailed(f"{name}: local command exited {done.returncode}: {last}")
        return f"{name}-{secrets.token_hex(4)}", {**inputs, "stdout": done.stdout, "stderr": done.stderr}

    def _command_remote_Command(self, name, inputs, before):
        """As pulumi-command does: a new command (or one whose triggers changed, a replacement) runs
        `create`; any other change runs `update` in place, or `create` when it has none."""
        from redundo.replacement import replace_keys

        connection = inputs["connection"]
        address = connection["host"]
        script, replaced = inputs["create"], False
        if before is not None:
            changed = [k for k in set(inputs) | set(before.inputs) if inputs.get(k) != before.inputs.get(k)]
            replaced = bool(replace_keys("command:remote:Command", changed))
            if not replaced and inputs.get("update"):
                script = inputs["update"]
        stdout, stderr = self.ssh(
            address,
            script,
            user=connection.get("user", "root"),
            stdin=inputs.get("stdin", ""),
            private_key=connection.get("privateKey"),
            host_key=connection.get("hostKey"),
            dial_limit=int(connection.get("dialErrorLimit", 10)),
            name=name,
        )
        # An update keeps the resource's id; a new command or a replacement gets a new one.
        rid = before.id if before is not None and not replaced else f"{name}-{secrets.token_hex(4)}"
        return rid, {**inputs, "stdout": stdout, "stderr": stderr, **({"_replaced": True} if replaced else {})}

    def ssh(
        self,
        address: str,
        command: str,
        *,
        user: str,
        stdin: str = "",
        private_key: str | None = None,
        host_key: str | None = None,
        dial_limit: int = 10,
        name: str = "ssh",
        timeout: float | None = None,
    ) -> tuple[str, str]:
        """Run `command` on the guest at `address` as pulumi-command would: one SSH session, stdin piped.

        With `host_key` the server must present exactly that key; without one the key is not checked
        (pulumi-command's behaviour, which the stack must not rely on)."""
        key = private_key or self.deployer_key
        tmp = Path(tempfile.mkdtemp(dir=self.workdir, prefix="ssh-"))
        try:
            key_file = tmp / "id"
            key_file.touch(mode=0o600)
            key_file.write_text(key if key.endswith("\n") else key + "\n")
            options = [
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=15",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "IdentitiesOnly=yes",
                "-i",
                str(key_file),
            ]
            attempts = 0
            # pulumi-command dials up to dial_error_limit times, each dial waiting up to 15 s and
            # backing off up to 10 s between them: a host still booting gets that long.
            deadline = time.monotonic() + max(dial_limit, 1) * 25
            while True:
                if self.closed:
                    raise ResourceFailed(f"{name}: the rehearsal is stopping")
                guest = self.guests.get(address)
                port = guest.ssh_port if guest is not None and guest.alive() else None
                if port is not None:
                    if host_key:
                        known = tmp / "known_hosts"
                        known.write_text(f"[127.0.0.1]:{port} {host_key.strip()}\n")
                        check = ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}"]
                    else:
                        check = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
                    argv = ["ssh", "-p", str(port), *options, *check, f"{user}@127.0.0.1", command]
                    try:
                        done = subprocess.run(
                            argv,
                            check=False,
                            input=stdin,
                            text=True,
                            capture_output=True,
                            timeout=timeout or self.ssh_timeout,
                        )
                    except subprocess.TimeoutExpired:
                        raise ResourceFailed(
                            f"{name}: the command on {address} did not finish in {timeout or self.ssh_timeout:.0f} s"
                        ) from None
                    self.remote_log.append(
                        {"name": name, "address": address, "exit": done.returncode, "stderr": done.stderr[-2000:]}
                    )
                    if done.returncode != 255 or "Host key verification failed" in done.stderr:
                        break
                attempts += 1
                if time.monotonic() >= deadline:
                    reason = (
                        done.stderr.strip().splitlines()[-1]
                        if port is not None and done.stderr.strip()
                        else "nothing answers at that address"
                    )
                    raise ResourceFailed(f"{name}: could not reach {address} over SSH: {reason}")
                time.sleep(min(10, attempts))
            if done.returncode != 0:
                last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
                raise ResourceFailed(f"{name}: the command on {address} exited {done.returncode}: {last}")
            return done.stdout, done.stderr
        finally:
            for path in tmp.iterdir():
                path.unlink()
            tmp.rmdir()

    deployer_key: str = ""


def shell(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)
