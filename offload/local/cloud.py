"""The local cloud: a moto server plus the stack's functions, event sources and schedules,
all created from the synthesized template in cdk.out/."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from botocore.config import Config

from offload.catalog import CATALOG_ENV, DEFAULT_CATALOG, CatalogError, load_catalog
from offload.cron import next_fire
from offload.local.api import LocalHttpApi
from offload.local.dynamodb_process import DynamoDBProcess, EndpointServer
from offload.local.inprocess import install as install_in_process
from offload.local.moto_server import prepare_moto, server_command
from offload.local.provision import EventSourceSpec, FunctionSpec, Provisioned, Provisioner, RuleSpec
from offload.local.rules import fire_rule
from offload.local.sfn import enable_execution, route_lambda_tasks
from offload.local.sqs_events import MappingState, deliver_once
from offload.local.template import REGION, Template
from offload.local.timeouts import FunctionKilled, Invocations

# The offload package: a change to it (in a source checkout) makes the template stale too.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
# Outbound requests from local functions may reach loopback receivers (OFFLOAD_HTTP_ALLOW_HOSTS overrides).
LOCAL_ALLOW_HOSTS = "localhost,127.0.0.0/8,::1"
# Inputs to synthesis, relative to the app's root; the app's own packages (folders with an __init__.py)
# and the offload package count too. When their content changes, `up` synthesizes again: the digest of
# the last synthesis is kept in cdk.out/, so an unchanged checkout never pays for a synth.
SYNTH_INPUTS = ("app.py", "cdk.json", "pyproject.toml", "requirements.txt")
SYNTH_STAMP = ".offload-synth-inputs.sha256"
# A poller with nothing to do waits 20 ms, doubling to 640 ms while its queue stays empty.
_IDLE_MIN_S, _IDLE_MAX_S = 0.02, 0.64
_CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=50)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody is listening on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortInUseError(OSError):
    """The local endpoint's port is taken; the message says by what, probably, and the fix."""


def check_port_free(host: str, port: int, *, option: str = "--port") -> None:
    """Raise PortInUseError unless a server could listen on host:port now (as moto's server would)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # moto's server sets it too
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"port {port} on {host} is in use ({exc.strerror}), perhaps by another `offload local up`: "
                f"stop that one, or start this one on a free port with {option} N"
            ) from None


def synthesize_if_stale(cdk_out: Path, stack_name: str, log: Any = print) -> bool:
    """Run `python app.py` when the template is missing or its inputs' content changed; True if it ran."""
    root = cdk_out.parent
    digest = inputs_digest(root)
    if synthesis_is_current(cdk_out, stack_name, digest):
        return False
    log(f"synthesizing {stack_name} into {cdk_out} ...")
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1"}
    proc = subprocess.run([sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        if last.startswith("offload: "):  # a bad catalog: app.py said so in one line
            raise CatalogError(last.removeprefix("offload: "))
        raise RuntimeError(f"synthesis failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    (cdk_out / SYNTH_STAMP).write_text(digest + "\n")
    return True


def synthesis_is_current(cdk_out: Path, stack_name: str, digest: str | None = None) -> bool:
    """True when cdk.out holds the stack's template, synthesized from inputs with this content."""
    stamp = cdk_out / SYNTH_STAMP
    if not (cdk_out / f"{stack_name}.template.json").exists() or not stamp.exists():
        return False
    return stamp.read_text().strip() == (digest or inputs_digest(cdk_out.parent))


def inputs_digest(root: Path) -> str:
    """SHA-256 over the synthesis inputs' paths and content: the app's files and packages, and offload's."""
    sha = hashlib.sha256()
    from offload.project import cdk_context

    context = cdk_context(root)
    named = [context.get("offload:appRequirements")] + [f"{p}.py" for p in context.get("offload:codePackages") or []]
    inputs = [(root, root / name) for name in (*SYNTH_INPUTS, *(n for n in named if n))]
    inputs += [(root, d) for d in sorted(root.iterdir()) if (d / "__init__.py").is_file() and d != PACKAGE_DIR]
    inputs.append((PACKAGE_DIR.parent, PACKAGE_DIR))
    for base, path in inputs:
        if path.is_dir():
            files = sorted(f for f in path.rglob("*.py") if "__pycache__" not in f.parts)
        else:
            files = [path] if path.is_file() else []
        for file in files:
            sha.update(file.relative_to(base).as_posix().encode() + b"\0")
            sha.update(hashlib.sha256(file.read_bytes()).digest())
    return sha.hexdigest()


class LambdaContext:
    """The parts of Lambda's context object handlers use."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = spec.memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{spec.name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = "local"
        self._deadline = time.time() + spec.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


@dataclass
class FunctionStats:
    invocations: int = 0
    records: int = 0
    failed_records: int = 0
    errors: int = 0
    killed: int = 0  # stopped at the timeout or by a crash (counted in errors too, as Lambda counts them)
    busy_s: float = 0.0  # wall seconds inside the handler (what Lambda would bill, on this machine)
    busy_s_by_step: dict[str, float] = field(default_factory=dict)  # state machine tasks: by their "step"


class LocalFunction:
    """One Lambda function, loaded in-process from its staged code with its own environment."""

    def __init__(self, spec: FunctionSpec, extra_env: dict[str, str]) -> None:
        self.spec = spec
        self.env = {**spec.environment, **extra_env}
        self.stats = FunctionStats()
        self._lock = threading.Lock()
        self._handler = self._load()

    def _load(self) -> Any:
        module_path, _, func = self.spec.handler.rpartition(".")
        if not self.spec.code_dir:
            raise RuntimeError(f"function {self.spec.name}: its code asset was not found in cdk.out")
        file = Path(self.spec.code_dir, *module_path.split(".")).with_suffix(".py")
        if not file.is_file():  # a handler that ships in a layer (offload's own): find it on the path
            found = importlib.util.find_spec(module_path)
            if found is None or found.origin is None:
                raise RuntimeError(f"function {self.spec.name}: handler module {module_path!r} not found")
            file = Path(found.origin)
        from offload.runtime import set_default_runtime

        with _environment(self.env):
            set_default_runtime(None)  # each function builds its runtime from its own environment
            module = _import_file(f"_offload_local_{self.spec.logical_id}", file, self.spec.code_dir)
            set_default_runtime(None)
        return getattr(module, func)

    def invoke(self, event: dict[str, Any], context: Any = None, *, limits: Invocations | None = None) -> Any:
        """Call the handler as Lambda would; errors are counted and re-raised. With `limits`, the invocation
        is stopped at the function's timeout (or by `limits.crash`) and raises FunctionKilled."""
        ctx = context or LambdaContext(self.spec)
        began = time.perf_counter()
        try:
            if limits is None:
                response = self._handler(event, ctx)
            else:
                with limits.running(self.spec.name, self.spec.timeout_s):
                    response = self._handler(event, ctx)
        except FunctionKilled as killed:
            with self._lock:
                self.stats.errors += 1
                self.stats.killed += 1
                self.stats.busy_s += time.perf_counter() - began
            logging.getLogger("offload.local").error("%s: %s", ctx.aws_request_id, killed)  # as Lambda logs it
            raise
        except Exception:
            with self._lock:
                self.stats.errors += 1
                self.stats.busy_s += time.perf_counter() - began
            logging.getLogger("offload.local").exception("function %s raised", self.spec.name)
            raise
        with self._lock:
            took = time.perf_counter() - began
            self.stats.busy_s += took
            step = event.get("step") if isinstance(event, dict) else None
            if isinstance(step, str):
                self.stats.busy_s_by_step[step] = self.stats.busy_s_by_step.get(step, 0.0) + took
            self.stats.invocations += 1
            records = len(event.get("Records", [])) if isinstance(event, dict) else 0
            self.stats.records += records
            if isinstance(response, dict):
                self.stats.failed_records += len(response.get("batchItemFailures", []))
        return response


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _import_file(name: str, file: Path, code_dir: str) -> ModuleType:
    if code_dir not in sys.path:
        sys.path.append(code_dir)
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import handler file {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class LocalCloud:
    """Everything `offload local up` runs."""

    stack_name: str = "Offload"
    cdk_out: Path = field(default_factory=lambda: Path.cwd() / "cdk.out")
    port: int = 4566
    host: str = "127.0.0.1"
    api_port: int | None = None  # the first HTTP API's port (default: port + 1); a second API takes the next
    max_pollers_per_source: int = 4
    ttl_sweep_s: float = 30.0
    cron: bool = True
    log: Any = print
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    provisioned: Provisioned | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    server_mode: str = "process"  # or "thread": moto in this process (needed for in-process hooks)
    # In thread mode, this process's own AWS calls skip HTTP (offload.local.inprocess); False keeps loopback HTTP.
    in_process_calls: bool = True
    # In thread mode, DynamoDB runs in a moto process of its own, on the other core (offload.local.dynamodb_process);
    # False keeps it in this process.
    dynamodb_process: bool = True
    _dynamodb: DynamoDBProcess | None = None
    _in_process: Any = None
    _undo_in_process: Any = None
    _session: Any = None
    _server: Any = None
    _server_proc: subprocess.Popen[bytes] | None = None
    _undo_patch: Any = None
    _undo_moto_patches: Any = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _redis: subprocess.Popen[bytes] | None = None
    _redis_command: list[str] = field(default_factory=list)
    apis: list[LocalHttpApi] = field(default_factory=list)
    # SQS-triggered invocations run under their function's timeout; `invocations.crash()` kills running ones.
    invocations: Invocations | None = None

    @property
    def in_process_endpoint(self) -> Any:
        """The handler answering this process's calls in-process (offload.local.inprocess), or None."""
        return self._in_process

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def api_endpoints(self, template: Template) -> tuple[str, ...]:
        """Where the template's HTTP APIs are served: `api_port` and the ports after it (taken: PortInUseError);
        without one, the endpoint's port + 1, or a free port when that is taken (the banner says which)."""
        count = sum(1 for r in template.resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api")
        ports: list[int] = []
        for i in range(count):
            if self.api_port is not None:
                ports.append(self.api_port + i)
                check_port_free(self.host, ports[-1], option="--api-port")
                continue
            wanted = self.port + 1 + i
            try:
                check_port_free(self.host, wanted, option="--api-port")
                ports.append(wanted)
            except PortInUseError:
                ports.append(free_port())
                self.notices.append(f"port {wanted} is in use: the HTTP API is on {ports[-1]} instead (--api-port N)")
        return tuple(f"http://{self.host}:{port}" for port in ports)

    def client(self, service: str) -> Any:
        if self._session is None:  # made after start() installs the in-process handler, so its clients have it
            self._session = boto3.session.Session()
        return self._session.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=_CLIENT_CONFIG,
        )

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> LocalCloud:
        """Synthesize if needed, start the endpoint, create the stack, start delivering."""
        check_port_free(self.host, self.port)  # at once: before synthesis, and before touching anything
        os.environ.update(LOCAL_ENV)
        # Handlers flush metrics on every call; with metrics off locally that only warns.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        logging.getLogger("moto").setLevel(logging.CRITICAL)  # its executor logs every failed state
        if (self.cdk_out.parent / "app.py").is_file():  # an assembly without its app is taken as given
            synthesize_if_stale(self.cdk_out, self.stack_name, self.log)
        template = Template.load(self.cdk_out, self.stack_name)
        api_endpoints = self.api_endpoints(template)
        has_state_machines = any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template.resources.values())
        if has_state_machines:
            # Lambda tasks are routed into this process by patching moto, so moto must run here too.
            self.server_mode = "thread"
        self._start_server()
        self.invocations = Invocations()
        if self.server_mode == "thread" and self.in_process_calls:
            self._in_process, self._undo_in_process = install_in_process(
                self.endpoint, self.invocations, dynamodb=self._dynamodb
            )
        if has_state_machines:
            enable_execution(self.endpoint)
        self.provisioned = Provisioner(template, self.client, api_endpoints=api_endpoints).run()
        redis_url = self._start_redis()
        extra_env = {**LOCAL_ENV, "AWS_ENDPOINT_URL": self.endpoint}
        # Webhook and Discord receivers on this machine are the point of a local cloud: let them be called.
        extra_env["OFFLOAD_HTTP_ALLOW_HOSTS"] = os.environ.get("OFFLOAD_HTTP_ALLOW_HOSTS", LOCAL_ALLOW_HOSTS)
        if redis_url:
            extra_env["REDIS_URL"] = redis_url
        for spec in self.provisioned.functions.values():
            # ElastiCache is not emulated: a function wired to it talks to the local Redis instead.
            if "OFFLOAD_REDIS_URL" in spec.environment:
                spec.environment.pop("OFFLOAD_REDIS_AUTH_SECRET_ARN", None)
                if redis_url:
                    spec.environment["OFFLOAD_REDIS_URL"] = redis_url
                else:
                    spec.environment.pop("OFFLOAD_REDIS_URL")
        _quiet_function_logs(self.cdk_out.parent)
        self._verify_catalogs()
        for name, spec in self.provisioned.functions.items():
            self.functions[name] = LocalFunction(spec, extra_env)
        if has_state_machines:
            self._undo_patch = route_lambda_tasks(lambda name, event: self.functions[name].invoke(event))
        self.outputs = self._publish_outputs(template)
        self._serve_apis(api_endpoints)
        for source in self.provisioned.event_sources:
            self._start_event_source(source)
        self._spawn(self._sweep_ttl, "ttl-sweeper")
        if self.cron:
            for rule in self.provisioned.rules:
                if rule.schedule:
                    self._spawn(lambda r=rule: self._tick(r), f"cron-{rule.name}")
        return self

    def _serve_apis(self, endpoints: tuple[str, ...]) -> None:
        """Each HTTP API on its port: SigV4 checked against the local credentials, the real function in-process."""
        assert self.provisioned is not None
        credentials = {LOCAL_ENV["AWS_ACCESS_KEY_ID"]: LOCAL_ENV["AWS_SECRET_ACCESS_KEY"]}
        log_dir = self.cdk_out.parent / ".offload-local"
        log_dir.mkdir(exist_ok=True)
        for spec, url in zip(self.provisioned.http_apis, endpoints, strict=True):
            missing = sorted(set(spec.integrations.values()) - set(self.functions))
            if missing:
                self.notices.append(f"HTTP API {spec.name}: its function {', '.join(missing)} was not created")
                continue
            api = LocalHttpApi(
                spec,
                lambda name, event: self.functions[name].invoke(event),
                host=self.host,
                port=int(url.rsplit(":", 1)[1]),
                credentials=credentials,
                access_log=log_dir / f"api-{spec.name}.log" if spec.access_log else None,
            )
            self.apis.append(api.start())

    def _verify_catalogs(self) -> None:
        """Every catalog the functions name loads, and its processors and hooks import: else one CatalogError."""
        from offload.jobs.registry import verify_catalog

        assert self.provisioned is not None
        for spec in self.provisioned.functions.values():
            if spec.code_dir and spec.code_dir not in sys.path:
                sys.path.append(spec.code_dir)
        for path in {spec.environment.get(CATALOG_ENV) for spec in self.provisioned.functions.values()}:
            verify_catalog(load_catalog(path), path or DEFAULT_CATALOG)

    def stop(self) -> None:
        """Stop pollers, the cron ticker, the temporary Redis and the endpoint."""
        self._stop.set()
        for api in self.apis:
            api.stop()
        self.apis.clear()
        for t in self._threads:
            t.join(timeout=10)
        if self._redis is not None:
            self._redis.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._redis.wait(timeout=5)
            if self._redis.poll() is None:
                self._redis.kill()
        if self._undo_patch is not None:
            self._undo_patch()
        if self._undo_in_process is not None:
            self._undo_in_process()
        if self._undo_moto_patches is not None:
            self._undo_moto_patches()
        if self._server is not None:
            self._server.stop()
        if self._dynamodb is not None:
            self._dynamodb.stop()
        if self._server_proc is not None:
            self._server_proc.terminate()
            try:
                self._server_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._server_proc.kill()

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_server(self) -> None:
        """The moto server in its own process by default: it then has a core of its own
        instead of sharing this process's GIL with the pollers and functions."""
        os.environ["MOTO_PORT"] = str(self.port)  # moto's Step Functions executor calls back here
        if self.server_mode == "thread":
            self._undo_moto_patches = prepare_moto()
            if self.dynamodb_process:
                self._dynamodb = DynamoDBProcess(self.host, free_port()).start()
            wrap = self._dynamodb.wsgi if self._dynamodb is not None else None
            self._server = EndpointServer(self.host, self.port, wrap).start()
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        else:
            self._server_proc = subprocess.Popen(
                server_command(self.host, self.port),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        deadline = time.time() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex((self.host, self.port)) == 0:
                    break
            if time.time() > deadline or (self._server_proc is not None and self._server_proc.poll() is not None):
                raise OSError(f"the moto server did not start on {self.endpoint} (is the port taken?)")
            time.sleep(0.05)
        # moto keeps its state per process: a second cloud in one process starts from empty.
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10)

    def restart_redis(self, *, down_s: float = 0.0) -> None:
        """Kill this session's redis-server and start it again on the same port, empty, `down_s` seconds later,
        as a rebooted ElastiCache node comes back (`make chaos`'s redis-restart scenario)."""
        if self._redis is None:
            raise RuntimeError(
                "this cloud did not start a redis-server of its own (REDIS_URL is set, or none is installed)"
            )
        self._redis.kill()
        self._redis.wait()
        time.sleep(down_s)
        self._redis = _redis_server(self._redis_command)

    def _start_redis(self) -> str | None:
        if os.environ.get("REDIS_URL"):
            return os.environ["REDIS_URL"]
        binary = shutil.which("redis-server")
        if binary is None:
            self.notices.append("no REDIS_URL and no redis-server on PATH: shared rate limits are off locally")
            return None
        port = free_port()
        self._redis_command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._redis = _redis_server(self._redis_command)
        self.notices.append(f"started a temporary redis-server on 127.0.0.1:{port} for this session")
        return f"redis://127.0.0.1:{port}/0"

    def _publish_outputs(self, template: Template) -> dict[str, str]:
        """Resolve the stack outputs and register them, so describe_stacks finds them (the CLI does)."""
        assert self.provisioned is not None
        resolver = self.provisioned.resolver
        outputs = {name: str(resolver.resolve(o["Value"])) for name, o in template.outputs.items()}
        body = {
            "Resources": {"LocalMarker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {name: {"Value": value} for name, value in outputs.items()},
        }
        # moto warns about the marker resource on every start; it needs none of moto's support.
        warnings.filterwarnings(
            "ignore",
            message=r"Tried to parse AWS::CloudFormation::WaitConditionHandle but it's not supported",
            category=UserWarning,
        )
        self.client("cloudformation").create_stack(StackName=self.stack_name, TemplateBody=json.dumps(body))
        return outputs

    # -- event sources -------------------------------------------------------------------
    def _start_event_source(self, source: EventSourceSpec) -> None:
        assert self.provisioned is not None
        function = self.functions.get(source.function_name)
        url = self.provisioned.queue_urls_by_arn.get(source.queue_arn)
        if function is None or url is None:
            self.notices.append(f"event source {source.logical_id}: its queue or function was not created")
            return
        backlog = threading.Event()
        mapping = MappingState(self.client("lambda"), source.uuid)
        for i in range(max(1, min(source.max_concurrency, self.max_pollers_per_source))):
            self._spawn(
                lambda i=i: self._poll(source, function, url, backlog, mapping, leader=i == 0),
                f"poll-{function.spec.name}-{i}",
            )

    def _poll(
        self,
        source: EventSourceSpec,
        function: LocalFunction,
        url: str,
        backlog: threading.Event,
        mapping: MappingState,
        *,
        leader: bool,
    ) -> None:
        """Like Lambda's event source scaling: one poller watches an idle queue; the others
        join while it has a backlog. Short polls with an idle back-off, because moto's long
        poll spins without sleeping and would eat the server's CPU. A disabled mapping (a
        paused queue) delivers nothing until it is enabled again; its messages wait in SQS. An invocation
        runs under its function's timeout: stopped there, its batch comes back after the visibility timeout."""
        sqs = self.client("sqs")
        idle = _IDLE_MIN_S
        while not self._stop.is_set():
            if not mapping.enabled():
                backlog.clear()
                self._stop.wait(mapping.every_s)
                continue
            if not leader and not backlog.wait(timeout=1.0):
                continue
            try:
                delivered, _ = deliver_once(
                    sqs,
                    url,
                    lambda event, context: function.invoke(event, context, limits=self.invocations),
                    arn=source.queue_arn,
                    batch_size=source.batch_size,
                    report_failures=source.report_failures,
                )
            except FunctionKilled:
                delivered = 1  # stopped (timeout or crash): its batch returns after the visibility timeout
            except Exception:
                delivered = 0  # the function raised: the batch returns after its visibility timeout
            if delivered:
                idle = _IDLE_MIN_S
                backlog.set()
            else:
                backlog.clear()
                self._stop.wait(idle)
                idle = min(idle * 2, _IDLE_MAX_S)

    # -- schedules and TTL ---------------------------------------------------------------
    def trigger(self, rule_name: str) -> list[str]:
        """Fire a rule's targets now, as its schedule would; returns the target ARNs."""
        return fire_rule(self.client, rule_name, invoke_lambda=lambda name, event: self.functions[name].invoke(event))

    def _tick(self, rule: RuleSpec) -> None:
        assert rule.schedule is not None
        while not self._stop.is_set():
            due = next_fire(rule.schedule, time.time())
            if self._stop.wait(max(0.0, due - time.time())):
                return
            try:
                self.trigger(rule.name)
            except Exception:
                logging.getLogger("offload.local").exception("schedule %s could not fire", rule.name)

    def _sweep_ttl(self) -> None:
        while not self._stop.wait(self.ttl_sweep_s):
            self.sweep_expired()

    def sweep_expired(self, now: float | None = None) -> int:
        """Delete items whose TTL attribute has passed (DynamoDB does this within days; we do it now)."""
        assert self.provisioned is not None
        ddb = self.client("dynamodb")
        cutoff = int(time.time() if now is None else now)
        removed = 0
        for table, attribute in self.provisioned.ttl_tables.items():
            keys = [k["AttributeName"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]]
            pages = ddb.get_paginator("scan").paginate(
                TableName=table,
                FilterExpression="#t < :now",
                ExpressionAttributeNames={"#t": attribute},
                ExpressionAttributeValues={":now": {"N": str(cutoff)}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    ddb.delete_item(TableName=table, Key={k: item[k] for k in keys})
                    removed += 1
        return removed

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- reporting -----------------------------------------------------------------------
    def describe(self) -> list[str]:
        """What was created and what was left out, for the start-up banner."""
        assert self.provisioned is not None
        lines = [f"endpoint {self.endpoint}  (export AWS_ENDPOINT_URL={self.endpoint})"]
        lines.append(
            f"{len(self.functions)} functions in-process, {len(self.provisioned.event_sources)} SQS event sources, "
            f"{sum(1 for r in self.provisioned.rules if r.schedule)} schedules, "
            f"{len(self.provisioned.state_machines)} state machines, "
            f"{len(self.provisioned.ttl_tables)} TTL tables swept every {self.ttl_sweep_s:.0f}s"
        )
        mappings = [s for s in self.provisioned.event_sources if s.uuid]
        paused = sum(not s.enabled for s in mappings)
        lines.append(
            f"{len(mappings)} event source mappings in the Lambda API: `offload queues pause|resume Q` holds and "
            f"releases a queue's delivery{f' ({paused} disabled in the template)' if paused else ''}"
        )
        for api in self.apis:
            public = sorted(r.route_key for r in api.spec.routes if r.authorization == "NONE")
            lines.append(
                f"HTTP API {api.spec.name} on {api.url}: {len(api.spec.routes)} routes, SigV4 with the local "
                f"credentials (service execute-api){'; open: ' + ', '.join(public) if public else ''}"
                + (f"; access log .offload-local/api-{api.spec.name}.log" if api.access_log else "")
            )
        if self._dynamodb is not None:
            lines.append(
                f"DynamoDB's tables in a moto process of their own ({self._dynamodb.endpoint}, its own core): "
                "the endpoint forwards DynamoDB requests there"
            )
        for rtype, why in sorted(self.provisioned.skipped.items()):
            lines.append(f"not emulated: {rtype} ({why})")
        lines.extend(self.notices)
        return lines


def _quiet_function_logs(root: Path) -> None:
    """Function logs go to .offload-local/functions.log, not over the terminal's live view."""
    import offload.observability  # noqa: F401  (creates the handler this redirects)

    path = root / ".offload-local" / "functions.log"
    path.parent.mkdir(exist_ok=True)
    stream = path.open("a", buffering=1)
    for name in ("offload", "offload.local"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)


def _redis_server(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
