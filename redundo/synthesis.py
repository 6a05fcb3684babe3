"""Run a Pulumi program in-process against mocks: no CLI, no engine, no credentials, no network.

Each call gets its own thread, contextvars context and event loop, and resets the runtime's root
resource and pending-output bookkeeping, so many stacks can be synthesized in one process and
nothing leaks between them. The mocks behave like the engine where the stock ones do not: engine
style URNs, `additionalSecretOutputs` honoured, plausible computed outputs, duplicate URNs refused.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.runtime
from pulumi import _types
from pulumi.runtime import resource as _resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, _resolve_callbacks
from pulumi.runtime.proto import provider_pb2, resource_pb2
from pulumi.runtime.stack import Stack, run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop

__all__ = ["RecordingMocks", "Registered", "Synthesis", "map_wire", "synthesize"]

ACCOUNT_ID = "123456789012"


@dataclass
class Registered:
    """One resource as the engine would have seen it registered."""

    type: str
    name: str
    inputs: dict[str, Any]
    """Wire form: camelCase keys; secret values wrapped as the engine wraps them (`rpc.is_rpc_secret`)."""
    custom: bool
    provider: str
    """The explicit provider reference "urn::id", or "" for a default provider."""
    id: str
    outputs: dict[str, Any] = field(default_factory=dict)
    urn: str = ""
    parent: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def provider_urn(self) -> str:
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


@dataclass
class Synthesis:
    """Everything a program registered and exported."""

    resources: list[Registered]
    invokes: list[tuple[str, dict[str, Any]]]
    exports: dict[str, tuple[Any, bool]]
    """Export name -> (value, is_secret)."""

    def by_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def by_urn(self) -> dict[str, Registered]:
        return {r.urn: r for r in self.resources}


def map_wire(value: Any, *, secret: Callable[[Any], Any], unknown: Callable[[Any], Any] = lambda v: v) -> Any:
    """A registered wire value rebuilt with each secret passed to `secret` (given the unwrapped value)
    and each preview unknown to `unknown`."""
    if rpc.is_rpc_secret(value):
        return secret(rpc.unwrap_rpc_secret(value))
    if isinstance(value, pulumi.output.Unknown):
        return unknown(value)
    if isinstance(value, dict):
        return {k: map_wire(v, secret=secret, unknown=unknown) for k, v in value.items()}
    if isinstance(value, list):
        return [map_wire(v, secret=secret, unknown=unknown) for v in value]
    return value


def _ovh_flavors(args: Mapping[str, Any]) -> dict[str, Any]:
    region = args.get("region", "")
    name = args.get("nameFilter", "")
    flavor = {
        "available": True,
        "capabilities": [],
        "disk": 25.0,
        "id": f"flavor-{name}-{region}".lower(),
        "inboundBandwidth": 100.0,
        "name": name,
        "osType": "linux",
        "planCodes": {"hourly": f"{name}.consumption", "monthly": f"{name}.monthly.postpaid"},
        "quota": 10.0,
        "ram": 2048.0,
        "region": region,
        "type": "ovh.d2",
        "vcpus": 1.0,
    }
    return {
        "flavors": [flavor],
        "id": region,
        "nameFilter": name,
        "region": region,
        "serviceName": args.get("serviceName", ""),
    }


def _ovh_images(args: Mapping[str, Any]) -> dict[str, Any]:
    """Two Debian releases, as OVH lists several: the program must pick its own by name."""
    region = args.get("region", "")
    images = [
        {
            "creationDate": "2026-08-01T00:00:00Z",
            "flavorType": "",
            "id": f"image-debian{release}-{region}".lower(),
            "minDisk": 0.0,
            "minRam": 0.0,
            "name": f"Debian {release}",
            "planCode": "",
            "region": region,
            "size": 3.0,
            "status": "active",
            "tags": [],
            "type": "linux",
            "user": "debian",
            "visibility": "public",
        }
        for release in (12, 13)
    ]
    return {
        "flavorType": "",
        "id": region,
        "images": images,
        "osType": "linux",
        "region": region,
        "serviceName": args.get("serviceName", ""),
    }


def _mock_host_key(seed: str) -> str:
    """A well-formed ed25519 public key line, the same for the same seed."""
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + hashlib.sha256(seed.encode()).digest()
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} root@{seed}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every registration and answers with the computed outputs the real providers give.

    With `preview=True` it answers as the engine does when a stack is first previewed: a new
    resource's outputs are its inputs, its id and every provider-computed value are unknown."""

    immediate = True
    """Every answer is computed in memory at once: the synthesis runs the monitor's calls on its
    own thread (see _Inline). Mocks that wait on real machines set it False, so that their calls
    run in parallel worker threads as a real engine's would."""

    def __init__(self, preview: bool = False) -> None:
        self.preview = preview
        self.lock = threading.Lock()
        self.resources: list[Registered] = []
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        self.tls = threading.local()
        self._given: set[str] = set()

    def _next_address(self, base: str, name: str) -> str:
        # From the name, not the order of registration: resources that wait on outputs register in
        # whatever order those resolve, and a host's address must not change between two runs.
        with self.lock:
            last = 1 + int(hashlib.sha256(name.encode()).hexdigest(), 16) % 250
            while f"{base}.{last}" in self._given:
                last = last % 250 + 1
            self._given.add(f"{base}.{last}")
            return f"{base}.{last}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid = args.resource_id or f"{args.name}-id"
        state = dict(args.inputs)
        t = args.typ
        if t == "aws:s3/bucket:Bucket":
            state.setdefault("bucket", state.get("bucketPrefix", "") + "0123456789")
            state["arn"] = f"arn:aws:s3:::{state['bucket']}"
            rid = state["bucket"]
        elif t == "aws:iam/user:User":
            state["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:user{state.get('path', '/')}{args.name}"
            state.setdefault("name", args.name)
        elif t == "aws:iam/accessKey:AccessKey":
            rid = f"AKIA{abs(hash(args.name)) % 10**12:012d}MOCK"
            state["secret"] = f"mock-secret-of-{args.name}"
        elif t == "random:index/randomPassword:RandomPassword":
            state["result"] = f"mock-password-of-{args.name}"
        elif t == "random:index/randomId:RandomId":
            digest = hashlib.sha256(args.name.encode()).hexdigest()[: 2 * int(state.get("byteLength", 4))]
            state |= {"hex": digest, "dec": str(int(digest, 16))}
            rid = digest
        elif t == "ovh:CloudProject/instance:Instance":
            state["addresses"] = [{"ip": self._next_address("203.0.113", args.name), "version": 4}]
        elif t == "aws:lightsail/instance:Instance":
            state["publicIpAddress"] = self._next_address("198.51.100", args.name)
            state.setdefault("name", args.name)
        elif t == "aws:lightsail/keyPair:KeyPair":
            state.setdefault("name", args.name)
        elif t == "ovh:CloudProject/s3Credential:S3Credential":
            state["accessKeyId"] = f"ovh-access-{args.name}"
            state["secretAccessKey"] = f"mock-secret-of-{args.name}"
        elif t == "command:remote:Command":
            # What the host prints: its public key for the command that reads it, nothing otherwise.
            create = str(state.get("create", ""))
            state["stdout"] = _mock_host_key(args.name) + "\n" if create.endswith("ssh_host_ed25519_key.pub") else ""
            state["stderr"] = ""
        elif t == "ovh:CloudProject/user:User":
            rid = f"user-{args.name}"
        if self.preview:
            # Nothing is created yet: the provider echoes the inputs and marks what it would compute
            # as unknown; "" is how an unknown id travels.
            computed = {k: pulumi.output.Unknown() for k in state if k not in args.inputs}
            rid, state = "", {**dict(args.inputs), **computed}
        request = getattr(self.tls, "request", None)
        if request is not None:
            for key in request.additionalSecretOutputs:
                if key in state and not rpc.is_rpc_secret(state[key]):
                    state[key] = rpc.wrap_rpc_secret(state[key])
        record = Registered(t, args.name, dict(args.inputs), bool(args.custom), args.provider or "", rid, outputs=state)
        with self.lock:
            self.resources.append(record)
        self.tls.last = record
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        with self.lock:
            self.invokes.append((args.token, dict(args.args)))
        function = args.token  # the invoked function's name, such as aws:index/getCallerIdentity:getCallerIdentity
        if function == "ovh:CloudProject/getFlavors:getFlavors":
            return _ovh_flavors(args.args)
        if function == "ovh:CloudProject/getImages:getImages":
            return _ovh_images(args.args)
        if function == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
                "userId": "AIDAEXAMPLE",
                "id": ACCOUNT_ID,
            }
        return {}


def _finish(coroutine: Any) -> Any:
    """The value of `coroutine`, run to its end here and now.

    Serializing a mock's answer awaits nothing that is still pending (its values are plain data),
    so the coroutine ends at its first step. The stock monitor pumps an event loop for it instead,
    which cannot be done from the loop's own thread (see _Inline)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("serializing a mock's answer waited on a pending value; the mocks must answer plain data")


class _Inline(ThreadPoolExecutor):
    """The synthesis loop's executor: each monitor call runs at once, on the loop's own thread.

    The SDK hands every engine call to an executor because a real one blocks on gRPC. The mocks
    answer from memory, and the hop to a worker thread and back (a thread and an event loop per
    worker, a wake-up through the loop's self-pipe for each of a plan's 60-odd calls) was a
    quarter of a synthesis. The result arrives as an already completed future, which the loop
    hands back on its next turn, as it would a worker's. No thread is ever started."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, as a worker thread would
            future.set_exception(exc)
        return future


class _Monitor(pulumi.runtime.mocks.MockMonitor):
    """Adds URN, parent and options to each record; builds the engine's URNs."""

    mocks: RecordingMocks

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        # The stock monitor runs on executor threads and gives each its own event loop, which it
        # never closes; they are collected here and closed when the synthesis ends.
        self.thread_loops: set[asyncio.AbstractEventLoop] = set()

    def _note_loop(self) -> None:
        with suppress(RuntimeError):
            self.thread_loops.add(asyncio.get_event_loop())

    def Invoke(self, request):
        # As MockMonitor.Invoke, the reply serialized without pumping an event loop (see _finish).
        try:
            _ensure_event_loop()  # deserializing a resource reference needs one
            args = rpc.deserialize_properties(request.args)
            if request.tok == "pulumi:pulumi:getResource":
                registered = self.resources.get(args["urn"])
                if registered is None:
                    raise Exception(f"unknown resource {args['urn']}")
                return resource_pb2.ResourceInvokeResponse(
                    failures=None, **{"return": _finish(rpc.serialize_properties(registered._asdict(), {}))}
                )
            answer = self.mocks.call(MockCallArgs(token=request.tok, args=args, provider=request.provider))
            ret, failures = (
                (answer, None)
                if isinstance(answer, dict)
                else (
                    answer[0],
                    [provider_pb2.CheckFailure(property=prop, reason=reason) for prop, reason in answer[1]],
                )
            )
            return resource_pb2.ResourceInvokeResponse(
                failures=failures, **{"return": _finish(rpc.serialize_properties(ret, {}))}
            )
        finally:
            self._note_loop()

    def ReadResource(self, request):
        try:
            _ensure_event_loop()
            state = rpc.deserialize_properties(request.properties)
            id_, state = self.mocks.new_resource(
                MockResourceArgs(
                    typ=request.type, name=request.name, inputs=state, provider=request.provider, resource_id=request.id
                )
            )
            props = _finish(rpc.serialize_properties(state, {}))
            urn = self.make_urn(request.parent, request.type, request.name)
            self.resources[urn] = self.ResourceRegistration(urn, id_, state)
            return resource_pb2.ReadResourceResponse(urn=urn, properties=props)
        finally:
            self._note_loop()

    @staticmethod
    def make_urn(parent: str, type_: str, name: str) -> str:
        # The stock mock keeps only the last parent type and includes the root Stack's; the engine
        # qualifies with the parent's full type chain and leaves the Stack out.
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request):
        self.mocks.tls.last = None
        self.mocks.tls.request = request
        try:
            response = self._register(request)
        finally:
            self._note_loop()
        record = self.mocks.tls.last
        if record is not None:
            record.urn, record.parent = response.urn, request.parent
            record.options = {
                "protect": request.protect,
                "retain_on_delete": request.retainOnDelete,
                "additional_secret_outputs": list(request.additionalSecretOutputs),
                "dependencies": list(request.dependencies),
                "property_dependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
                "aliases": [str(a) for a in request.aliases],
                "delete_before_replace": request.deleteBeforeReplace,
                "ignore_changes": list(request.ignoreChanges),
            }
        return response

    def _register(self, request):
        # As MockMonitor.RegisterResource, the reply serialized without pumping an event loop.
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        id_, state = self.mocks.new_resource(
            MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
                transforms=_resolve_callbacks(request.transforms),
            )
        )
        obj = _finish(rpc.serialize_properties(state, {}))
        self.resources[urn] = self.ResourceRegistration(urn, id_, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=obj)

    def RegisterResourceOutputs(self, request):
        # The engine keeps what a component registers as its outputs; the stock mock drops it.
        outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        with self.mocks.lock:
            for record in self.mocks.resources:
                if record.urn == request.urn:
                    record.outputs = dict(outputs)
        return super().RegisterResourceOutputs(request)


def _quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # After a failure, orphaned output futures flood stderr; the first error is re-raised instead.
    if context.get("message") != "Future exception was never retrieved":
        loop.default_exception_handler(context)


def _no_stack_trace() -> Any:
    from pulumi.runtime.proto import source_pb2

    return source_pb2.StackTrace()


def _once_per_class(compute: Callable[[type], Any]) -> Callable[[type], Any]:
    results: dict[type, Any] = {}

    def cached(cls: type) -> Any:
        try:
            return results[cls]
        except KeyError:
            results[cls] = found = compute(cls)
            return found

    return cached


# The SDK works out a resource class's property names and types (typing.get_type_hints over its
# annotations, a fresh class each time) at every registration and every set of outputs; they
# depend on the class alone, and over many stacks that was a tenth of the work. Its callers only
# read the dicts.
_PER_CLASS = {
    name: _once_per_class(getattr(_types, name))
    for name in ("resource_types", "resource_pulumi_to_py_names", "resource_py_to_pulumi_names")
}


def synthesize(
    program: Callable[[], Any],
    *,
    project: str,
    stack: str,
    config: Mapping[str, str] | None = None,
    preview: bool = False,
    mocks: RecordingMocks | None = None,
) -> Synthesis:
    """Run `program` as stack `stack` of `project` with `config` ("ns:key" -> string) under mocks
    (`mocks`, or fresh RecordingMocks)."""
    mocks = mocks if mocks is not None else RecordingMocks(preview=preview)
    monitor = _Monitor(mocks)
    exports: dict[str, tuple[Any, bool]] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        if mocks.immediate:
            loop.set_default_executor(_Inline())
        # This loop's tasks, to cancel what is left at the end. asyncio.all_tasks(loop) would scan
        # every task the process ever made that is not yet collected; with the CLI's collection
        # off, that grew by some 350 tasks with each stack of a fleet.
        tasks: list[asyncio.Task] = []

        def track(loop: asyncio.AbstractEventLoop, coro: Any, context: Any = None) -> asyncio.Task:
            task = asyncio.Task(coro, loop=loop, context=context)
            tasks.append(task)
            return task

        loop.set_task_factory(track)
        loop.set_exception_handler(_quiet)
        asyncio.set_event_loop(loop)
        try:
            _settings.ROOT.set(None)
            _settings.SETTINGS.outputs = set()
            _settings.SETTINGS.lock = threading.Lock()
            pulumi.runtime.set_all_config(dict(config or {}), [])
            pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
            root = _settings.get_root_resource()
            if not isinstance(root, Stack):
                raise RuntimeError(f"pulumi's set_mocks left {root!r} as the root resource, not a Stack")

            async def body() -> None:
                program()

            loop.run_until_complete(run_pulumi_func(body))
            for key, value in root.outputs.items():
                if isinstance(value, pulumi.Output):
                    exports[key] = (loop.run_until_complete(value.future()), loop.run_until_complete(value.is_secret()))
                else:
                    exports[key] = (value, False)
        finally:
            for task in [t for t in tasks if not t.done()]:
                task.cancel()
                with suppress(BaseException):
                    loop.run_until_complete(task)
            # Each task holds the loop, which holds the factory, which holds this list: emptied, the
            # tasks are freed now rather than at the next collection.
            tasks.clear()
            if not mocks.immediate:
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            for thread_loop in monitor.thread_loops - {loop}:
                if not thread_loop.is_closed():
                    thread_loop.close()
            asyncio.set_event_loop(None)

    errors: list[BaseException] = []

    def thread() -> None:
        try:
            contextvars.copy_context().run(run)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=thread, name=f"synth-{stack}")
    # The SDK walks the Python stack of every registration for the engine's source positions;
    # the mocks never read them, and over many stacks it was a sixth of the work.
    engine_stack_trace, _resource._get_stack_trace = _resource._get_stack_trace, _no_stack_trace
    per_registration = {name: getattr(_types, name) for name in _PER_CLASS}
    for name, cached in _PER_CLASS.items():
        setattr(_types, name, cached)
    try:
        worker.start()
        worker.join()
    finally:
        _resource._get_stack_trace = engine_stack_trace
        for name, compute in per_registration.items():
            setattr(_types, name, compute)
    if errors:
        raise errors[0]
    seen: set[str] = set()
    for record in mocks.resources:
        if record.urn in seen:
            raise ValueError(f"duplicate resource URN {record.urn} (the engine would refuse it)")
        seen.add(record.urn)
    return Synthesis(mocks.resources, mocks.invokes, exports)
