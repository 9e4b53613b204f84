"""`python -m offload.local.moto_server -H HOST -p PORT`: moto's server with the local cloud's patch that
leaves delivering SQS messages to the cloud's own pollers (offload.local.sqs_events.stop_moto_delivering) and
answers S3 Vectors' QueryVectors, which moto lacks (offload.local.s3vectors_query.add_query_vectors)."""

from __future__ import annotations

from offload.local.s3vectors_query import add_query_vectors
from offload.local.sqs_events import stop_moto_delivering

if __name__ == "__main__":
    stop_moto_delivering()
    add_query_vectors()
    from moto.server import main

    main()
