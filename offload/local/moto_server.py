"""`python -m offload.local.moto_server -H HOST -p PORT`: moto's server with the local cloud's patch that
leaves delivering SQS messages to the cloud's own pollers (offload.local.sqs_events.stop_moto_delivering)."""

from __future__ import annotations

from offload.local.sqs_events import stop_moto_delivering

if __name__ == "__main__":
    stop_moto_delivering()
    from moto.server import main

    main()
