"""offload's HTTP API: one Lambda behind API Gateway's HTTP API (`offload.api.handler.handler`)."""
