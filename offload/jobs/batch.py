"""SQS partial batch responses: what Powertools' `BatchProcessor(EventType.SQS,
raise_on_entire_batch_failure=False)` with `process_partial_response` returns, without its import.

Importing `aws_lambda_powertools.utilities.batch` costs ~100 ms of cold start: it imports asyncio
and every event data class (DynamoDB streams, Kinesis, Kafka, S3 batch, ...) for the SQS records a
worker reads. The semantics kept, and proven against Powertools itself in tests/unit/test_batch.py:

- the records of `event["Records"]` run in order, each given to `record_handler` as an SQSRecord;
- a record whose handler raises an Exception is a failure, reported as
  `{"itemIdentifier": <its messageId>}` in `batchItemFailures`, in record order; BaseExceptions
  (KeyboardInterrupt, SystemExit) propagate;
- all records failing is still a partial response (raise_on_entire_batch_failure=False);
- an event that is not a dict raises ValueError, and missing, empty or non-list Records raises
  Powertools' UnexpectedBatchTypeError, with Powertools' messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

logger = logging.getLogger(__name__)

_EVENT_TYPES = "SQS, KinesisDataStreams, DynamoDBStreams, Kafka"
_DOCS = "https://docs.powertools.aws.dev/lambda/python/latest/utilities/batch/#processing-messages-from-sqs"


class SQSRecord(Mapping[str, Any]):
    """One SQS message of a Lambda event: a read-only view of the record dict.

    The properties the worker and the packs' message kinds read are here; any other property of
    Powertools' `SQSRecord` (attributes, message_attributes, json_body, queue_url, decoded_nested_*)
    is answered by a Powertools SQSRecord over the same dict, imported on first use."""

    __slots__ = ("_data", "_powertools")

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._powertools: Any = None

    @property
    def raw_event(self) -> dict[str, Any]:
        return self._data

    @property
    def message_id(self) -> str:
        return self._data["messageId"]

    @property
    def receipt_handle(self) -> str:
        return self._data["receiptHandle"]

    @property
    def body(self) -> str:
        return self._data["body"]

    @property
    def event_source_arn(self) -> str:
        return self._data["eventSourceARN"]

    @property
    def md5_of_body(self) -> str:
        return self._data["md5OfBody"]

    @property
    def event_source(self) -> str:
        return self._data["eventSource"]

    @property
    def aws_region(self) -> str:
        return self._data["awsRegion"]

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in self.__slots__:
            raise AttributeError(name)
        if self._powertools is None:
            from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord as PowertoolsSQSRecord

            self._powertools = PowertoolsSQSRecord(self._data)
        return getattr(self._powertools, name)

    def __repr__(self) -> str:
        return f"SQSRecord({self._data!r})"


def process_partial_response(event: dict[str, Any], record_handler: Callable[[SQSRecord], Any]) -> dict[str, Any]:
    """Run `record_handler` on each record; the failed ones are the partial batch response."""
    try:
        records = event.get("Records", [])
    except AttributeError:
        raise ValueError(
            "Invalid event format. Please ensure batch event is a valid SQS event. \n"
            f"See sample events in our documentation for either {_EVENT_TYPES}: \n {_DOCS}",
        ) from None
    if not records or not isinstance(records, list):
        from aws_lambda_powertools.utilities.batch.exceptions import UnexpectedBatchTypeError

        raise UnexpectedBatchTypeError(f"Unexpected batch event type. Possible values are: {_EVENT_TYPES}")
    failed: list[SQSRecord] = []
    for raw in records:
        record = SQSRecord(raw)
        try:
            record_handler(record)
        except Exception as exc:
            logger.debug(f"Record processing exception: {type(exc)}:{exc}")
            failed.append(record)
    if not failed:
        logger.debug(f"All {len(records)} records successfully processed")
    return {"batchItemFailures": [{"itemIdentifier": record.message_id} for record in failed]}
