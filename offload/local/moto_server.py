"""`python -m offload.local.moto_server -H HOST -p PORT`: moto's server with the local cloud's patches
(`prepare_moto`), which the cloud applies in its own process too when moto runs there."""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from typing import Any

from offload.local.moto_sqs import make_sqs_linear
from offload.local.s3vectors_query import add_query_vectors
from offload.local.sqs_events import stop_moto_delivering


def prepare_moto() -> Callable[[], None]:
    """Patch this process's moto for the local cloud; idempotent, returns the undo:
    - delivering SQS messages is left to the cloud's own pollers (offload.local.sqs_events.stop_moto_delivering);
    - S3 Vectors' QueryVectors, which moto lacks, is answered (offload.local.s3vectors_query.add_query_vectors;
      harmless to leave, so the undo keeps it);
    - SQS sends and receives stop scanning the whole queue per message (offload.local.moto_sqs);
    - a request's backend is looked up once per host name, not by listing moto's package directory and
      trying its URL patterns on every request (~0.5 ms a call, on the endpoint and in-process alike);
    - a DynamoDB UpdateExpression is parsed once per distinct text, not twice per UpdateItem (the job store
      sends a handful of texts; moto's Validator deep-copies the tree before it fills in values);
    - DynamoDB requests run one at a time, so a conditional write is atomic as DynamoDB's is;
    - the DynamoDB items and SQS messages moto builds are not all kept alive for its dashboard (`_forget_copies`)."""
    undos = [
        stop_moto_delivering(),
        make_sqs_linear(),
        _remember_backends(),
        _remember_update_expressions(),
        _one_dynamodb_request_at_a_time(),
        _forget_copies(),
    ]
    add_query_vectors()

    def undo() -> None:
        for step in reversed(undos):
            step()

    return undo


def _remember_backends() -> Callable[[], None]:
    """Memoize DomainDispatcherApplication.get_backend_for_host: its answer depends on the host name alone
    (moto's installed modules and its URL pattern index do not change while a process runs)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__dict__["get_backend_for_host"]
    if getattr(original, "_offload_memo", False):
        return lambda: None
    known: dict[str | None, Any] = {}

    def get_backend_for_host(app: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in known:
            known[host] = original(app, host)
        return known[host]

    get_backend_for_host._offload_memo = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign,assignment]

    def undo() -> None:
        DomainDispatcherApplication.get_backend_for_host = original  # type: ignore[method-assign]

    return undo


def _remember_update_expressions() -> Callable[[], None]:
    """Memoize UpdateExpressionParser.make: a pure function of the expression's text, whose tree moto only
    reads (find_clauses) or deep-copies before changing (parsing.validators.Validator)."""
    # moto marks this module untyped for mypy: reach it as Any.
    parser_module: Any = importlib.import_module("moto.dynamodb.parsing.expressions")
    UpdateExpressionParser = parser_module.UpdateExpressionParser
    original = UpdateExpressionParser.__dict__["make"]
    if getattr(original.__func__, "_offload_memo", False):
        return lambda: None
    parse = functools.lru_cache(maxsize=256)(original.__func__)

    def make(cls: type, expression_str: str) -> Any:
        return parse(cls, expression_str)

    make._offload_memo = True  # type: ignore[attr-defined]
    UpdateExpressionParser.make = classmethod(make)

    def undo() -> None:
        UpdateExpressionParser.make = original

    return undo


def _one_dynamodb_request_at_a_time() -> Callable[[], None]:
    """Serialize moto's DynamoDB requests. moto checks an UpdateItem's ConditionExpression against a copy of the
    item and writes afterwards, with nothing to stop another thread in between: two racing conditional starts of
    one job could both succeed and two workers run it (8 threads racing, 22 of 60 rounds had two winners), and a
    query could copy an item mid-update ("dictionary changed size during iteration"). DynamoDB makes each
    request atomic; one lock does here. moto is pure Python under one GIL, so its requests never ran in
    parallel anyway: the lock only stops them interleaving. SQS is left alone: a long poll would hold it."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.__dict__["call_action"]
    if getattr(original, "_offload_lock", False):
        return lambda: None
    lock = threading.RLock()

    @functools.wraps(original)
    def call_action(handler: Any) -> Any:
        with lock:
            return original(handler)

    call_action._offload_lock = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]

    def undo() -> None:
        DynamoHandler.call_action = original  # type: ignore[method-assign]

    return undo


def _forget_copies() -> Callable[[], None]:
    """Let DynamoDB items and SQS messages go when moto is done with them. moto's BaseModel.__new__ appends every
    model object it builds to its class's `instances_tracked`, for its dashboard (/moto-api/data.json), and only
    a reset empties that list. moto builds an Item for each item a request copies (an UpdateItem's old and new
    item, each item a Scan reads: the TTL sweep scans the jobs table every 30 s) and a Message for each message
    sent or received, so every copy stayed alive: in bench/load.py's 3,000 jobs, 6.4 Items (22 KB) and 2 Messages
    (1.8 KB) a job beside its record, more the longer a session runs. Here those two classes' objects are not
    tracked: the tables and queues hold theirs as before and every answer is the same; moto's dashboard lists
    no items or messages. Nothing else reads the lists (S3's reset reads its keys' list, which stays)."""
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models.dynamo_type import Item
    from moto.sqs.models import Message

    def untracked(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)  # BaseModel.__new__ less the append

    patched = [cls for cls in (Item, Message) if "__new__" not in vars(cls)]
    for cls in patched:
        cls.__new__ = staticmethod(untracked)  # type: ignore[method-assign]

    def undo() -> None:
        for cls in patched:
            del cls.__new__

    return undo


if __name__ == "__main__":
    prepare_moto()
    from moto.server import main

    main()
