"""The catalog: the one place that declares queues and job types.

Both the CDK stacks (one queue + DLQ + worker per queue, alarms, timeouts) and the
runtime (validation, retries, timeouts) read this module, so a number changed here
changes the deployed stack and the worker together. It imports nothing heavy: CDK
synth and the CLI import it without pulling in boto3 or the processors.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

# SQS caps a message's delay and a visibility timeout change at these values.
SQS_MAX_DELAY_S = 900
SQS_MAX_VISIBILITY_S = 43_200
# CloudWatch namespace of the workers' metrics: the stack sets it and alarms on it.
METRICS_NAMESPACE = "Offload"
# SQS keeps a message this long by default (the stack keeps the default): an age alarm above it never fires.
SQS_DEFAULT_RETENTION_S = 345_600
# The shortest oldest-message age worth an alarm: CloudWatch reports the metric once a minute.
MIN_MAX_AGE_S = 60
# Lambda's SQS event source accepts maximumConcurrency in this range.
MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1000
# Lambda's memory range (MB).
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10_240
# A queue's name ends up in SQS queue names (`<stack>-<queue>-<lane>-dlq`, at most 80 characters)
# and CloudFormation ids; a job type's in metrics dimensions, events and records.
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
TYPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


class CatalogError(ValueError):
    """The catalog contradicts itself or AWS limits."""


class UnknownJobTypeError(KeyError):
    """A job type name is not in the catalog."""

    def __init__(self, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"unknown job type {name!r}.{hint} Known types: {', '.join(sorted(known))}")
        self.message = str(self.args[0])

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Backoff:
    """How long to wait before retry number n (1-based): base * 2^(n-1), or base every time."""

    kind: Literal["exponential", "fixed"] = "exponential"
    delay_s: float = 1.0
    max_delay_s: float = SQS_MAX_DELAY_S

    def __post_init__(self) -> None:
        if self.kind not in ("exponential", "fixed"):
            raise CatalogError(f"backoff kind {self.kind!r} is not 'exponential' or 'fixed'")
        if self.delay_s < 0 or self.max_delay_s < self.delay_s:
            raise CatalogError(
                f"backoff delays must satisfy 0 <= delay_s <= max_delay_s, got {self.delay_s}/{self.max_delay_s}"
            )

    def delay_for(self, retry: int) -> float:
        """Seconds to wait before the given retry (retry 1 follows the first failed attempt)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        raw = self.delay_s if self.kind == "fixed" else self.delay_s * 2 ** (retry - 1)
        return min(raw, self.max_delay_s)

    def as_dict(self) -> dict[str, object]:
        """The JSON shape stored on a job record."""
        return {"kind": self.kind, "delay_s": self.delay_s, "max_delay_s": self.max_delay_s}


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` job starts per `period_s`, shared by every worker of the queue."""

    limit: int
    period_s: int = 60
    fail_open: bool = False

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period_s < 1:
            raise CatalogError(f"rate limit must be at least 1 per 1 s, got {self.limit}/{self.period_s}s")


@dataclass(frozen=True)
class Lane:
    """A priority lane of a queue: jobs with priority >= min_priority (up to the next lane) use it.

    Each lane is its own SQS queue with its own event source and concurrency, so a backlog in
    one lane never delays another: high-priority jobs wait only behind high-priority jobs, and
    the lowest lane keeps its own workers, so it is never starved.
    """

    name: str
    min_priority: int
    concurrency: int


@dataclass(frozen=True)
class QueueSpec:
    """One SQS queue with its DLQ and worker function."""

    name: str
    concurrency: int
    batch_size: int = 10
    attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    timeout_s: int = 60
    memory_mb: int = 512
    rate_limit: RateLimit | None = None
    # Ceiling for per-job `attempts` overrides; the DLQ redrive's maxReceiveCount follows from it
    # (`max_receive_count`).
    max_attempts: int = 10
    lanes: tuple[Lane, ...] = ()
    # Alarm when the oldest message has waited longer than this (seconds); None: `oldest_age_alarm_s`'s default.
    max_age_s: int | None = None

    def __post_init__(self) -> None:
        if not QUEUE_NAME.fullmatch(self.name):
            raise CatalogError(
                f"queue name {self.name!r} must be 1-40 letters, digits, '-' or '_', starting with a letter or digit"
            )
        for lane in self.lanes:
            if not QUEUE_NAME.fullmatch(lane.name):
                raise CatalogError(f"queue {self.name!r}: lane name {lane.name!r} must look like a queue name")
        if not (MIN_MEMORY_MB <= self.memory_mb <= MAX_MEMORY_MB):
            raise CatalogError(
                f"queue {self.name!r}: memory_mb {self.memory_mb} must be "
                f"{MIN_MEMORY_MB}..{MAX_MEMORY_MB} (Lambda's range)"
            )
        if self.max_age_s is not None and not (MIN_MAX_AGE_S <= self.max_age_s <= SQS_DEFAULT_RETENTION_S):
            raise CatalogError(
                f"queue {self.name!r}: max_age_s {self.max_age_s} must be {MIN_MAX_AGE_S}..{SQS_DEFAULT_RETENTION_S} "
                "(CloudWatch's one-minute resolution up to SQS's four-day retention); leave it out for the default "
                "derived from timeout_s and backoff"
            )
        if self.lanes:
            names = [lane.name for lane in self.lanes]
            if len(set(names)) != len(names) or min(lane.min_priority for lane in self.lanes) != 0:
                raise CatalogError(
                    f"queue {self.name!r}: lane names must be unique and one lane must start at priority 0"
                )
            if sum(lane.concurrency for lane in self.lanes) != self.concurrency:
                raise CatalogError(
                    f"queue {self.name!r}: its lanes' concurrency must add up to the queue's {self.concurrency}"
                )
            for lane in self.lanes:
                if not (MIN_CONCURRENCY <= lane.concurrency <= MAX_CONCURRENCY):
                    raise CatalogError(
                        f"queue {self.name!r} lane {lane.name!r}: concurrency {lane.concurrency} is outside "
                        f"{MIN_CONCURRENCY}..{MAX_CONCURRENCY}"
                    )
        if not (MIN_CONCURRENCY <= self.concurrency <= MAX_CONCURRENCY):
            raise CatalogError(
                f"queue {self.name!r}: concurrency {self.concurrency} is outside SQS's "
                f"maximumConcurrency range {MIN_CONCURRENCY}..{MAX_CONCURRENCY}"
            )
        if not (1 <= self.batch_size <= 10):
            raise CatalogError(f"queue {self.name!r}: batch_size {self.batch_size} must be 1..10")
        if not (1 <= self.attempts <= self.max_attempts):
            raise CatalogError(
                f"queue {self.name!r}: attempts {self.attempts} must be 1..max_attempts ({self.max_attempts})"
            )
        if not (1 <= self.timeout_s <= 900):
            raise CatalogError(f"queue {self.name!r}: timeout_s {self.timeout_s} must be 1..900 (Lambda's limit)")
        if self.visibility_timeout_s > SQS_MAX_VISIBILITY_S:
            raise CatalogError(f"queue {self.name!r}: 6 x timeout exceeds SQS's 12 h visibility limit")

    @property
    def base_lane(self) -> Lane:
        """The lane the queue's own SQS queue serves (priority 0 and up, or everything)."""
        return min(self.lanes, key=lambda lane: lane.min_priority) if self.lanes else Lane("", 0, self.concurrency)

    @property
    def extra_lanes(self) -> tuple[Lane, ...]:
        """Lanes with an SQS queue of their own."""
        return tuple(lane for lane in self.lanes if lane is not self.base_lane)

    def lane_for(self, priority: int) -> Lane:
        """The lane a job of this priority goes to."""
        fitting = [lane for lane in self.lanes if lane.min_priority <= priority]
        return max(fitting, key=lambda lane: lane.min_priority) if fitting else self.base_lane

    @property
    def oldest_age_alarm_s(self) -> int:
        """The oldest-message age that raises the queue's alarm: `max_age_s`, else one visibility timeout
        (a crashed worker's message comes back after it) plus the longest backoff delay, at least 5 minutes."""
        if self.max_age_s is not None:
            return self.max_age_s
        return min(max(300, self.visibility_timeout_s + round(self.backoff.max_delay_s)), SQS_DEFAULT_RETENTION_S)

    @property
    def max_receive_count(self) -> int:
        """The redrive policy's maxReceiveCount: the backstop for messages whose worker died before it could decide.

        The worker fails a job from its record's attempts, so this only has to stay above what a job's messages
        can be received without the worker deciding: one receive per attempt, one to fail a job whose last attempt
        stopped its invocation, and as many again as the attempts for batches stopped by a batch-mate
        (docs/architecture.md, "Process"). At `max_attempts` a job whose every attempt crashed was dead-lettered
        by SQS with its record still `active`."""
        return 2 * self.max_attempts + 1

    @property
    def visibility_timeout_s(self) -> int:
        """AWS asks for at least 6x the consuming function's timeout."""
        return 6 * self.timeout_s


@dataclass(frozen=True)
class JobType:
    """A kind of job: which queue runs it, which function processes it, and its policy."""

    name: str
    queue: str
    processor: str  # "package.module:function"; the function's first parameter is a pydantic model
    attempts: int | None = None
    backoff: Backoff | None = None
    timeout_s: int | None = None
    priority: int = 5
    description: str = ""

    def __post_init__(self) -> None:
        if not TYPE_NAME.fullmatch(self.name):
            raise CatalogError(
                f"job type name {self.name!r} must be 1-100 letters, digits, '.', '_', ':' or '-', "
                "starting with a letter or digit (e.g. 'mail.send')"
            )
        if self.timeout_s is not None and self.timeout_s < 1:
            raise CatalogError(f"job type {self.name!r}: timeout_s {self.timeout_s} must be at least 1 second")
        if self.priority < 0:
            raise CatalogError(
                f"job type {self.name!r}: priority {self.priority} must be 0 or more (higher runs sooner)"
            )


@dataclass(frozen=True)
class Schedule:
    """An EventBridge rule that enqueues a job on a cron schedule (UTC, EventBridge's 6 fields)."""

    name: str
    cron: str  # e.g. "0 2 * * ? *" for every day at 02:00 UTC
    job_type: str
    data: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        from offload.cron import ScheduleError, check_cron

        fields = self.cron.split()
        if len(fields) != 6 or "?" not in (fields[2], fields[4]):
            raise CatalogError(
                f"schedule {self.name!r}: {self.cron!r} must be EventBridge's 6-field cron "
                "(minute hour day-of-month month day-of-week year) with '?' in day-of-month or day-of-week"
            )
        try:
            check_cron(self.cron)
        except ScheduleError as exc:
            raise CatalogError(f"schedule {self.name!r}: {exc}") from None

    @property
    def expression(self) -> str:
        """The rule's ScheduleExpression."""
        return f"cron({self.cron})"


@dataclass(frozen=True)
class S3Trigger:
    """Objects created under `prefix` in the media bucket become jobs of `job_type` (via S3 -> SQS)."""

    prefix: str
    job_type: str


@dataclass(frozen=True)
class RetryPolicy:
    """The resolved retry/timeout policy of one job (type defaults, then per-job overrides)."""

    attempts: int
    backoff: Backoff
    timeout_s: int


@dataclass(frozen=True)
class Pack:
    """One capability: its queues, job types, schedules, triggers and limits, plus the code that
    plugs it into the generic pieces, each named by a "module:attribute" path so that declaring
    a pack imports nothing heavy.

    - `message_kinds`: functions `(body: dict, record, worker) -> bool` the worker asks, in order,
      about a message body that is not an offload job message; True means handled.
    - `on_finish`: functions `(job, runtime) -> None` called when a job reaches a terminal state.
    - `infra`: a CDK construct class `(scope, id, *, ctx: PackContext)` that provisions what the
      pack's job types need beyond queues and workers (buckets, tables, state machines).
    - `cli`: a typer app, added to the `offload` command under the pack's name.
    - `options`: the pack's own settings as the app chose them (JSON values), read by its construct
      (e.g. `video_pack(loudness_normalise=True)`); each pack validates its own.
    """

    name: str
    queues: tuple[QueueSpec, ...] = ()
    job_types: tuple[JobType, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    s3_triggers: tuple[S3Trigger, ...] = ()
    resource_limits: dict[str, RateLimit] = field(default_factory=dict)
    message_kinds: tuple[str, ...] = ()
    on_finish: tuple[str, ...] = ()
    infra: str | None = None
    cli: str | None = None
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", self.name):
            raise CatalogError(f"pack name {self.name!r} must be lower-case letters, digits, '-' or '_'")
        for path in (*self.message_kinds, *self.on_finish, *(p for p in (self.infra, self.cli) if p)):
            if ":" not in path:
                raise CatalogError(f"pack {self.name!r}: {path!r} must look like 'module:attribute'")

    def with_options(self, model: Any, options: dict[str, Any]) -> Pack:
        """This pack with `options` checked by the pack's pydantic `model` now (a bad one raises naming it),
        kept as the JSON its construct reads (only the options given, so defaults stay the model's)."""
        checked = model.model_validate(options)
        return dataclasses.replace(self, options=checked.model_dump(mode="json", exclude_unset=True))


@dataclass(frozen=True)
class Catalog:
    """All queues and job types, validated against each other.

    An app builds it with `Catalog.compose(core, images, Pack("myapp", ...))`; `packs` keeps the
    parts, so the stack and the worker can ask which packs (and their hooks and constructs) are in.
    """

    queues: tuple[QueueSpec, ...]
    job_types: tuple[JobType, ...]
    schedules: tuple[Schedule, ...] = ()
    s3_triggers: tuple[S3Trigger, ...] = ()
    # Shared limits on outside services, taken by the steps that call them (ctx.rate_limit).
    resource_limits: dict[str, RateLimit] = field(default_factory=dict)
    packs: tuple[Pack, ...] = ()

    @classmethod
    def compose(cls, *parts: Pack | Catalog) -> Catalog:
        """One catalog from packs (and catalogs); a name used by two parts is refused, naming both."""
        packs: list[Pack] = []
        for part in parts:
            if isinstance(part, Catalog):
                packs.extend(
                    part.packs
                    or (
                        Pack(
                            "app",
                            part.queues,
                            part.job_types,
                            part.schedules,
                            part.s3_triggers,
                            dict(part.resource_limits),
                        ),
                    )
                )
            elif isinstance(part, Pack):
                packs.append(part)
            else:
                raise CatalogError(f"Catalog.compose takes packs and catalogs, got {type(part).__name__}: {part!r}")
        _refuse_clashes(packs)
        return cls(
            queues=tuple(q for p in packs for q in p.queues),
            job_types=tuple(t for p in packs for t in p.job_types),
            schedules=tuple(s for p in packs for s in p.schedules),
            s3_triggers=tuple(t for p in packs for t in p.s3_triggers),
            resource_limits={k: v for p in packs for k, v in p.resource_limits.items()},
            packs=tuple(packs),
        )

    @property
    def message_kinds(self) -> tuple[str, ...]:
        """Every pack's message kinds, in pack order, each once."""
        return tuple(dict.fromkeys(k for p in self.packs for k in p.message_kinds))

    @property
    def on_finish(self) -> tuple[str, ...]:
        """Every pack's on-finish hooks, in pack order, each once."""
        return tuple(dict.fromkeys(h for p in self.packs for h in p.on_finish))

    def pack(self, name: str) -> Pack | None:
        """The pack called `name`, or None when the catalog doesn't include it."""
        return next((p for p in self.packs if p.name == name), None)

    def pack_of(self, type_name: str) -> Pack | None:
        """The pack that declares a job type."""
        return next((p for p in self.packs if any(t.name == type_name for t in p.job_types)), None)

    def __post_init__(self) -> None:
        names = [q.name for q in self.queues]
        if len(set(names)) != len(names):
            raise CatalogError(f"queue names repeat: {names}")
        types = [t.name for t in self.job_types]
        if len(set(types)) != len(types):
            raise CatalogError(f"job type names repeat: {types}")
        schedules = [s.name for s in self.schedules]
        if len(set(schedules)) != len(schedules):
            raise CatalogError(f"schedule names repeat: {schedules}")
        for jt in self.job_types:
            if jt.queue not in names:
                raise CatalogError(
                    f"job type {jt.name!r} names unknown queue {jt.queue!r} (queues: {', '.join(names)}): "
                    "declare the queue in the same pack, compose the pack that has it, or fix the name"
                )
            q = self.queue(jt.queue)
            if jt.timeout_s is not None and jt.timeout_s > q.timeout_s:
                raise CatalogError(
                    f"job type {jt.name!r}: timeout_s {jt.timeout_s} exceeds its queue's function timeout {q.timeout_s}"
                )
            if jt.attempts is not None and not (1 <= jt.attempts <= q.max_attempts):
                raise CatalogError(f"job type {jt.name!r}: attempts must be 1..{q.max_attempts}")
            if ":" not in jt.processor:
                raise CatalogError(f"job type {jt.name!r}: processor {jt.processor!r} must look like 'module:function'")
        for a in self.s3_triggers:
            for b in self.s3_triggers:
                if a is not b and b.prefix.startswith(a.prefix):
                    raise CatalogError(
                        f"S3 trigger prefixes {a.prefix!r} and {b.prefix!r} overlap, which S3 refuses for one "
                        "bucket: make them disjoint (e.g. 'uploads/images/' and 'uploads/docs/')"
                    )
        _refuse_id_clashes("queue", names)
        _refuse_id_clashes("pack", [p.name for p in self.packs])
        for trigger in self.s3_triggers:
            if trigger.job_type not in types:
                raise CatalogError(
                    f"S3 trigger {trigger.prefix!r} names unknown job type {trigger.job_type!r}: declare the job "
                    "type, compose the pack that has it, or fix the name"
                )
        for sched in self.schedules:
            if sched.job_type not in types:
                raise CatalogError(
                    f"schedule {sched.name!r} names unknown job type {sched.job_type!r}: declare the job type, "
                    "compose the pack that has it, or fix the name"
                )

    def queue(self, name: str) -> QueueSpec:
        """The queue called `name`."""
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(f"unknown queue {name!r}; queues: {', '.join(q.name for q in self.queues)}")

    def job_type(self, name: str) -> JobType:
        """The job type called `name`, or UnknownJobTypeError naming the closest one."""
        for jt in self.job_types:
            if jt.name == name:
                return jt
        raise UnknownJobTypeError(name, [t.name for t in self.job_types])

    def trigger_for(self, key: str) -> S3Trigger | None:
        """The S3 trigger whose prefix an object key falls under (longest prefix wins)."""
        matches = [t for t in self.s3_triggers if key.startswith(t.prefix)]
        return max(matches, key=lambda t: len(t.prefix)) if matches else None

    def types_of(self, queue: str) -> list[JobType]:
        """The job types that run on a queue."""
        return [t for t in self.job_types if t.queue == queue]

    def policy(self, type_name: str, *, attempts: int | None = None, backoff: Backoff | None = None) -> RetryPolicy:
        """Queue defaults, overridden by the job type, overridden by the job."""
        jt = self.job_type(type_name)
        q = self.queue(jt.queue)
        resolved = attempts if attempts is not None else jt.attempts if jt.attempts is not None else q.attempts
        if not (1 <= resolved <= q.max_attempts):
            raise ValueError(
                f"attempts={resolved} for {type_name!r} is outside 1..{q.max_attempts} "
                f"(queue {q.name!r} max_attempts); pick a value in that range"
            )
        return RetryPolicy(
            attempts=resolved,
            backoff=backoff or jt.backoff or q.backoff,
            timeout_s=jt.timeout_s or q.timeout_s,
        )


def _refuse_id_clashes(kind: str, names: list[str]) -> None:
    """Names that differ only in punctuation or case become the same CloudFormation id: refuse them."""
    seen: dict[str, str] = {}
    for name in names:
        key = re.sub(r"[^0-9a-z]", "", name.lower())
        if key in seen and seen[key] != name:
            raise CatalogError(
                f"{kind} names {seen[key]!r} and {name!r} differ only in punctuation or case, so the stack would "
                "give them the same resource ids: rename one"
            )
        seen[key] = name


def _refuse_clashes(packs: list[Pack]) -> None:
    """A queue, job type, schedule, trigger prefix or limit declared by two packs: name both."""
    kinds = {
        "pack": lambda p: [p.name],
        "queue": lambda p: [q.name for q in p.queues],
        "job type": lambda p: [t.name for t in p.job_types],
        "schedule": lambda p: [s.name for s in p.schedules],
        "S3 trigger prefix": lambda p: [t.prefix for t in p.s3_triggers],
        "resource limit": lambda p: list(p.resource_limits),
    }
    for kind, names_of in kinds.items():
        owner: dict[str, str] = {}
        for pack in packs:
            for name in names_of(pack):
                if name in owner:
                    raise CatalogError(
                        f"{kind} {name!r} is declared by both pack {owner[name]!r} and pack {pack.name!r}: "
                        "rename one, or leave one of the packs out of Catalog.compose"
                    )
                owner[name] = pack.name


# What a deployment runs when nothing names a catalog: every built-in pack.
DEFAULT_CATALOG = "offload.packs:everything"
CATALOG_ENV = "OFFLOAD_CATALOG"
CATALOG_CONTEXT = "offload:catalog"


def import_object(path: str, what: str) -> Any:
    """The object a "module:attribute" path names; the error says which `what` it was for and the fix."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise CatalogError(f"{what} {path!r} must look like 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except CatalogError as exc:
        raise CatalogError(f"{what} {path!r}: {exc}") from None
    except ImportError as exc:
        raise CatalogError(
            f"{what} {path!r}: module {module_name!r} does not import ({exc}); run from the app's directory "
            "or install its package"
        ) from None
    if not hasattr(module, attr):
        raise CatalogError(f"{what} {path!r}: module {module_name!r} has no {attr!r}; fix the name or the path")
    return getattr(module, attr)


def load_catalog(path: str | None = None) -> Catalog:
    """The catalog a "module:attribute" path names (default: every built-in pack).

    The error is one line that names the path and the fix, for synth, the workers, the CLI and
    `offload local up` alike.
    """
    path = path or DEFAULT_CATALOG
    try:
        catalog = import_object(path, "catalog")
    except CatalogError as exc:
        raise CatalogError(f"{exc}; the catalog is named by {CATALOG_CONTEXT!r} in cdk.json or {CATALOG_ENV}") from None
    if not isinstance(catalog, Catalog):
        raise CatalogError(
            f"catalog {path!r} is a {type(catalog).__name__}, not a Catalog: define "
            f"`{path.partition(':')[2]} = Catalog.compose(...)` there, or fix the path"
        )
    return catalog
