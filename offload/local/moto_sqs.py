"""moto's SQS without its per-message whole-queue scans, so a deep queue costs the local cloud what a
shallow one does.

moto 5.2 builds a queue's full attribute dict (`Queue.attributes`) in places that read one plain setting
of it: SendMessage reads ContentBasedDeduplication, and ReceiveMessage reads MessageRetentionPeriod once
for every message it hands out. Building that dict counts the queue three times (visible, in flight,
delayed), each count reading the clock once per message. With 10,000 messages waiting, one receive of
ten made 300,000 clock reads: the local cloud spent half its CPU there (bench/local_throughput.py's
profile). `make_sqs_linear()` changes three things and keeps every answer the same:

- inside SendMessage and ReceiveMessage, `Queue.attributes` leaves out the three approximate counts,
  which neither reads (GetQueueAttributes still counts: tests/integration/test_moto_sqs_linear.py);
- the retention check reads the queue's retention period directly;
- the visible-message list and the counts read the clock once per call instead of once per message;
- DeleteMessage finds the message in one pass over the queue instead of two that build lists per message,
  holding the queue's lock (moto's own doesn't, so concurrent deletes and sends lost updates).

And one for correctness: ReceiveMessage picks and marks its messages, and ChangeMessageVisibility changes one,
holding the queue's lock (a long poll waits outside it). moto's receive checks each message's visibility, then
marks it received, with nothing between the two to stop another thread: two pollers receiving at once could both
be handed one message. A worker that finds the job already running takes its copy for a duplicate and deletes it,
which here deleted the one message the running worker still needed for its retry (`make chaos`'s provider-429
scenario lost a job so, once DynamoDB's own process let the pollers' threads run while a call was away).

And one for memory: moto remembers every deleted message's receipt handles (`Queue.deleted_messages`), so
deleting again succeeds as on AWS, and never forgets one (~0.3 KB a message, for as long as the process runs).
A queue here keeps the handles of its last `DELETED_HANDLES_KEPT` deleted messages: a second delete of one of
those (a worker's early acknowledgement, then its event source's, seconds apart) still succeeds; a handle of
an older one is refused (ReceiptHandleIsInvalid, a failed entry in a batch) where SQS would accept it.

Idempotent; applied where offload.local's other moto patches are (offload.local.moto_server.prepare_moto).
"""

from __future__ import annotations

import contextvars
import functools
import json
from collections import deque
from collections.abc import Callable
from typing import Any

_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
_skip_counts = contextvars.ContextVar("offload_sqs_skip_counts", default=False)
_APPLIED = "_offload_linear"
DELETED_HANDLES_KEPT = 10_000  # per queue: the deleted messages whose handles still delete fine


def make_sqs_linear() -> Callable[[], None]:
    """Patch moto's SQS models in this process; returns the undo."""
    from moto.core.utils import camelcase_to_underscores
    from moto.sqs import models
    from moto.sqs.models import Queue, SQSBackend

    if getattr(Queue, _APPLIED, False):
        return lambda: None
    saved = {
        (Queue, "attributes"): Queue.__dict__["attributes"],
        (Queue, "messages"): Queue.__dict__["messages"],
        (Queue, "delete_message"): Queue.__dict__["delete_message"],
        (Queue, "approximate_number_of_messages_delayed"): Queue.__dict__["approximate_number_of_messages_delayed"],
        (Queue, "approximate_number_of_messages_not_visible"): Queue.__dict__[
            "approximate_number_of_messages_not_visible"
        ],
        (SQSBackend, "send_message"): SQSBackend.__dict__["send_message"],
        (SQSBackend, "receive_message"): SQSBackend.__dict__["receive_message"],
        (SQSBackend, "change_message_visibility"): SQSBackend.__dict__["change_message_visibility"],
        (SQSBackend, "is_message_valid_based_on_retention_period"): SQSBackend.__dict__[
            "is_message_valid_based_on_retention_period"
        ],
    }
    full_attributes = saved[(Queue, "attributes")].fget

    def attributes(queue: Queue) -> dict[str, Any]:
        if not _skip_counts.get():
            return full_attributes(queue)
        # The dict moto builds, less the counts (the properties that make building it O(queue)).
        names = [n for n in queue.BASE_ATTRIBUTES if n not in _COUNTS]
        names += queue.FIFO_ATTRIBUTES if queue.fifo_queue else []
        names += queue.KMS_ATTRIBUTES if getattr(queue, "kms_master_key_id", None) else []
        result = {name: getattr(queue, camelcase_to_underscores(name)) for name in names}
        if queue.policy:
            result["Policy"] = queue.policy
        if queue.redrive_policy:
            result["RedrivePolicy"] = json.dumps(queue.redrive_policy)
        return {k: str(v).lower() if isinstance(v, bool) else v for k, v in result.items()}

    def messages(queue: Queue) -> list[Any]:
        now = models.unix_time_millis()
        return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(queue: Queue) -> int:
        now = models.unix_time_millis()
        return sum(1 for m in queue._messages if now < m.delayed_until)

    def not_visible(queue: Queue) -> int:
        now = models.unix_time_millis()
        return sum(1 for m in queue._messages if not now > m.visible_at)

    def delete_message(queue: Queue, receipt_handle: str) -> None:
        # moto's: two passes over the queue, each building every message's list of handles; here one pass.
        # Under the lock moto's add_message appends under: unlocked, two deletes at once each put back the
        # other's message (deleted, it came back after its visibility timeout), and a send during a delete
        # was dropped (tests/integration/test_local_moto_memory.py).
        with queue._messages_lock:
            if receipt_handle in queue.deleted_messages:
                return  # deleted already: deleting again is fine, as on AWS
            for found in queue._messages:
                if found.receipt_handle == receipt_handle or receipt_handle in found._old_receipt_handles:
                    break
            else:
                raise models.ReceiptHandleIsInvalid()
            queue.pending_messages.discard(found)
            handles = [h for h in found.all_receipt_handles if h]
            queue.deleted_messages.update(handles)
            recent: deque[list[str]] = vars(queue).setdefault("_offload_deleted", deque())  # oldest first
            recent.append(handles)
            while len(recent) > DELETED_HANDLES_KEPT:
                queue.deleted_messages.difference_update(recent.popleft())
            queue._messages = [m for m in queue._messages if m is not found]

    def without_counts(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            token = _skip_counts.set(True)
            try:
                return method(*args, **kwargs)
            finally:
                _skip_counts.reset(token)

        return call

    receive = saved[(SQSBackend, "receive_message")]
    change_visibility = saved[(SQSBackend, "change_message_visibility")]

    def receive_message(
        backend: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        # moto's pass over the queue (wait 0: one pass), under the lock its sends append under; the long poll's
        # wait between passes is moto's too (wait_for_messages), outside it.
        queue: Any = backend.get_queue(queue_name)
        polling_end = models.unix_time() + wait_seconds_timeout
        while True:
            with queue._messages_lock:
                got = receive(backend, queue_name, count, 0, visibility_timeout, message_attribute_names)
            if got or not wait_seconds_timeout or models.unix_time() > polling_end:
                return got
            queue.wait_for_messages(1)

    def change_message_visibility(
        backend: SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        queue: Any = backend.get_queue(queue_name)
        with queue._messages_lock:
            change_visibility(backend, queue_name, receipt_handle, visibility_timeout)

    def retained(backend: SQSBackend, queue_name: str, message: Any) -> bool:
        queue: Any = backend.get_queue(queue_name)  # moto sets its attributes from the queue's settings
        period = int(queue.message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > models.unix_time())

    Queue.attributes = property(attributes)  # type: ignore[assignment]
    Queue.messages = property(messages)  # type: ignore[assignment]
    Queue.delete_message = delete_message  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[assignment]
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[assignment]
    SQSBackend.send_message = without_counts(saved[(SQSBackend, "send_message")])  # type: ignore[method-assign]
    SQSBackend.receive_message = without_counts(receive_message)  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = change_message_visibility  # type: ignore[method-assign,assignment]
    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign,assignment]
    setattr(Queue, _APPLIED, True)

    def undo() -> None:
        for (cls, name), value in saved.items():
            setattr(cls, name, value)
        delattr(Queue, _APPLIED)

    return undo
