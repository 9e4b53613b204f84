"""`python -m offload.local.moto_server -H HOST -p PORT`: moto's server with the local cloud's patches
(`prepare_moto`), which the cloud applies in its own process too when moto runs there."""

from __future__ import annotations

import base64
import functools
import importlib
import json
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
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
    - the DynamoDB items and SQS messages moto builds are not all kept alive for its dashboard (`_forget_copies`);
    - DynamoDB's item operations answer with their result as JSON, not through moto's model-walking serializer
      (a third of an UpdateItem's time: it asks ~200 questions of each answer);
    - moto's update-expression checks build their node-type table once per check, not once per node they visit,
      and copy the parsed expression they change through pickle rather than deepcopy;
    - a ConditionExpression's text is split into tokens once per distinct text, and parsed once per request,
      not twice;
    - a handler class's action names are listed once, not with inspect.getmembers on every request.
    Measured by bench/local_throughput.py (before and after each, in the same run: docs/architecture.md)."""
    add_query_vectors()  # adds an action: before the action names are remembered
    undos = [
        stop_moto_delivering(),
        make_sqs_linear(),
        _remember_backends(),
        _remember_update_expressions(),
        _one_dynamodb_request_at_a_time(),
        _forget_copies(),
        _item_answers_as_json(),
        _quicker_update_checks(),
        _remember_condition_tokens(),
        _remember_action_names(),
    ]

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


# DynamoDB's item operations: their answers hold items (attribute values), counts, keys and consumed capacity.
ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


def _wire(value: Any) -> Any:
    """A result moto built for an item operation, as its JSON answer carries it: what moto's serializer writes for
    these shapes (None members left out, binary values base64, timestamps as epoch seconds)."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def _item_answers_as_json() -> Callable[[], None]:
    """Answer DynamoDB's item operations by writing their result as JSON. moto 5.2's serializer walks the
    operation's output shape for every value: each attribute value is a structure of ten members, each looked
    up under two spellings, ~200 lookups for one job record, a third of an UpdateItem's time. The result moto
    built is already in the wire's shape (`DynamoResult`: dicts of {"S": ...}); botocore reads both answers
    alike (tests/integration/test_local_moto_speed.py compares them). Errors, paginated results and every other
    operation keep moto's serializer."""
    from moto.core.responses import ActionResult, BaseResponse
    from moto.dynamodb.responses import DynamoHandler

    if "serialized" in vars(DynamoHandler):
        return lambda: None

    def serialized(handler: Any, action_result: ActionResult) -> Any:
        result = action_result.result
        if (
            type(action_result).execute_result is not ActionResult.execute_result
            or isinstance(result, Exception)
            or handler._get_action() not in ITEM_OPERATIONS
        ):
            return BaseResponse.serialized(handler, action_result)
        headers = {"Content-Type": "application/x-amz-json-1.0", **handler.response_headers}
        return 200, headers, json.dumps(_wire(result), separators=(",", ":"))

    setattr(DynamoHandler, "serialized", serialized)  # noqa: B010 (mypy: the signatures differ in name only)

    def undo() -> None:
        del DynamoHandler.serialized

    return undo


def _quicker_update_checks() -> Callable[[], None]:
    """Two costs in moto's UpdateExpression checks (parsing.validators.Validator), the rest of an UpdateItem's
    time. Each of its ten checks walks the expression's tree and, at every node, rebuilds its table of node types
    (`_processing_map()`, a new dict) twice and asks its abstract base classes whether the node is one it
    processes: the table is a constant of the check, so it is built once per check, and the answer is kept per
    node type. Two checks (too many clauses, overlapping paths) run at every clause node and search its subtree: a
    subtree can't break either rule unless the whole expression does, so here they look at the whole expression
    once, and only when it breaks one walk the tree as moto does (the same error, found the same way). And the
    Validator deep-copies the parsed expression before filling in values; loading the tree's pickle (made once)
    makes the same copy (the tree is plain objects with parent links) in a fraction of the time."""
    # moto marks these modules untyped for mypy: reach them as Any.
    validators: Any = importlib.import_module("moto.dynamodb.parsing.validators")
    ast_nodes: Any = importlib.import_module("moto.dynamodb.parsing.ast_nodes")
    DepthFirstTraverser, Node = ast_nodes.DepthFirstTraverser, ast_nodes.Node

    if getattr(DepthFirstTraverser.process, "_offload_memo", False):
        return lambda: None
    original_kinds = DepthFirstTraverser.nodes_to_be_processed
    original_walk = DepthFirstTraverser.traverse_node_recursively
    original_process = DepthFirstTraverser.process
    original_deepcopy = validators.deepcopy
    whole_tree_checks = (validators.ActionCountValidator, validators.OverlappingPathsValidator)

    def table(traverser: Any) -> dict[type, Callable[[Any], Any]]:
        found = traverser.__dict__.get("_offload_map")
        if found is None:
            found = traverser.__dict__["_offload_map"] = traverser._processing_map()
        return found

    def nodes_to_be_processed(traverser: Any) -> tuple[type, ...]:
        kinds = traverser.__dict__.get("_offload_kinds")
        if kinds is None:
            kinds = traverser.__dict__["_offload_kinds"] = tuple(table(traverser))
        return kinds

    def process(traverser: Any, node: Any) -> Any:
        for kind, step in table(traverser).items():
            if isinstance(node, kind):
                return step(node)
        return None

    def wanted(traverser: Any, kind: type) -> bool:
        by_type = traverser.__dict__.get("_offload_wanted")
        if by_type is None:
            by_type = traverser.__dict__["_offload_wanted"] = {}
        found = by_type.get(kind)
        if found is None:
            found = by_type[kind] = issubclass(kind, nodes_to_be_processed(traverser))
        return found

    def traverse_node_recursively(traverser: Any, node: Any, child_id: int = -1) -> Any:
        # moto's walk (ast_nodes.DepthFirstTraverser), depth first, each node after its children; which node
        # types a check processes is looked up by type once, not asked of the ABCs at every node.
        if not isinstance(node, Node):
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                traverser.pre_processing_of_child(node, i)
                traverse_node_recursively(traverser, child_node, i)
        if wanted(traverser, type(node)):
            node = traverser.process(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    pickled: dict[int, tuple[Any, bytes]] = {}  # id(tree) -> (tree, its pickle): the parsed trees moto keeps

    def copy_tree(value: Any, memo: Any = None) -> Any:
        if not isinstance(value, Node) or memo is not None:
            return original_deepcopy(value, memo)
        # The tree handed in is the one parsed for the text (remembered: _remember_update_expressions), which moto
        # never changes (the Validator changes its copy): its pickle is made once and each copy loads it.
        known = pickled.get(id(value))
        if known is None or known[0] is not value:
            known = (value, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
            if len(pickled) < 256:
                pickled[id(value)] = known
        return pickle.loads(known[1])

    def check_once(traverser: Any, node: Any) -> Any:
        try:
            for kind, step in table(traverser).items():
                if isinstance(node, kind):
                    step(node)  # these checks return the node unchanged, or raise
        except Exception:
            return DepthFirstTraverser.traverse(traverser, node)  # moto's walk: its error, from the node it finds
        return node

    process._offload_memo = True  # type: ignore[attr-defined]
    for check in whole_tree_checks:
        check.traverse = check_once
    DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed
    DepthFirstTraverser.process = process
    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively
    validators.deepcopy = copy_tree

    def undo() -> None:
        DepthFirstTraverser.nodes_to_be_processed = original_kinds
        DepthFirstTraverser.process = original_process
        DepthFirstTraverser.traverse_node_recursively = original_walk
        for check in whole_tree_checks:
            del check.traverse
        validators.deepcopy = original_deepcopy

    return undo


def _remember_condition_tokens() -> Callable[[], None]:
    """Memoize the tokens of a ConditionExpression (comparisons.ConditionExpressionParser's lexer), a function of
    its text alone: an UpdateItem parses its condition twice (the names it uses, then the check), and each token
    is found by trying eight regular expressions on the rest of the text. Each parse gets new token objects
    (the later steps build on them), made from the remembered ones."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.__dict__["_lex_condition_expression"]
    if getattr(original, "_offload_memo", False):
        return lambda: None
    known: dict[str, tuple[tuple[Any, ...], ...]] = {}

    def lex(parser: Any) -> Any:
        text = parser.condition_expression
        tokens = known.get(text)
        if tokens is None:
            tokens = tuple((n.nonterminal, n.kind, n.text, n.value) for n in original(parser))  # raises: not kept
            if len(known) < 1024:
                known[text] = tokens
        return deque(parser.Node(nonterminal, kind, t, value, []) for nonterminal, kind, t, value in tokens)

    original_parse = ConditionExpressionParser.__dict__["parse"]
    last = threading.local()  # this thread's last parse: a request runs in one thread

    def parse(parser: Any) -> Any:
        # An UpdateItem (PutItem, DeleteItem) parses its ConditionExpression twice with the same objects: the
        # handler, for the names and values it uses, then the backend, to check it. The second is the first's.
        names, values = parser.expression_attribute_names, parser.expression_attribute_values
        seen = getattr(last, "parse", None)
        if seen is not None and seen[0] == parser.condition_expression and seen[1] is names and seen[2] is values:
            parser.expr_attr_names_found.extend(seen[4])
            parser.expr_attr_values_found.extend(seen[5])
            return seen[3]
        op = original_parse(parser)
        found = (list(parser.expr_attr_names_found), list(parser.expr_attr_values_found))
        last.parse = (parser.condition_expression, names, values, op, *found)
        return op

    lex._offload_memo = True  # type: ignore[attr-defined]
    setattr(ConditionExpressionParser, "_lex_condition_expression", lex)  # noqa: B010 (as above)
    setattr(ConditionExpressionParser, "parse", parse)  # noqa: B010

    def undo() -> None:
        ConditionExpressionParser._lex_condition_expression = original  # type: ignore[method-assign]
        ConditionExpressionParser.parse = original_parse  # type: ignore[method-assign]

    return undo


def _remember_action_names() -> Callable[[], None]:
    """BaseResponse.call_action lists its class's methods with inspect.getmembers on every request, to check the
    action is one; a class's methods are fixed once moto is patched (prepare_moto adds its actions first)."""
    from moto.core import responses

    original = responses.method_names_from_class
    if getattr(original, "_offload_memo", False):
        return lambda: None
    known: dict[Any, frozenset[str]] = {}

    def method_names_from_class(cls: Any) -> frozenset[str]:
        names = known.get(cls)
        if names is None:
            names = known[cls] = frozenset(original(cls))
        return names

    method_names_from_class._offload_memo = True  # type: ignore[attr-defined]
    setattr(responses, "method_names_from_class", method_names_from_class)  # noqa: B010 (a frozenset answers `in`)

    def undo() -> None:
        responses.method_names_from_class = original

    return undo


def server_command(host: str, port: int) -> list[str]:
    """How the local cloud starts a moto server process of its own (all services, or its DynamoDB)."""
    import sys

    return [sys.executable, "-m", "offload.local.moto_server", "--exit-with-parent", "-H", host, "-p", str(port)]


def exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """End this process when the one that started it is gone (killed, even by SIGKILL, its children are
    re-parented): a local cloud's moto server must not outlive the cloud and keep its port."""
    import os

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    import logging
    import os
    import sys

    if "--exit-with-parent" in sys.argv:
        sys.argv.remove("--exit-with-parent")
        exit_with_parent(os.getppid())
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise, into /dev/null
    prepare_moto()
    from moto.server import main

    main()
