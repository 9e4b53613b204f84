"""A fake OpenAI-compatible HTTP server on 127.0.0.1 with scripted replies, for the real SDK code path.

Usage: `with FakeOpenAIServer() as server: server.script(Reply(...), ...)`, then point a client
at `server.base_url`. Each request takes the next scripted reply, in order, and is recorded
in `server.requests`. A request with nothing scripted gets a 599 whose message says so, which
no test expects, so a missing script fails loudly instead of passing by accident. Reply builders:
chat completions, embeddings, moderations, errors, and the `/v1/videos` jobs (a job, its MP4 content, a delete).
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from offload.testing.scripted_http import RecordedRequest, Reply, ScriptedServer


def chat_completion(content: str | None, *, model: str = "gpt-4o-mini", refusal: str | None = None) -> Reply:
    """A 200 chat.completions answer whose only choice says `content`."""
    return Reply(
        body={
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        }
    )


def embeddings(
    vectors: list[list[float]], *, model: str = "text-embedding-3-small", order: list[int] | None = None
) -> Reply:
    """A 200 embeddings answer; `order` lists the indexes in the order the items are sent."""
    indexes = order if order is not None else list(range(len(vectors)))
    return Reply(
        body={
            "object": "list",
            "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": vectors[i]} for i in indexes],
            "usage": {"prompt_tokens": 10, "total_tokens": 10},
        }
    )


# omni-moderation's categories and the input types it scores each for (images: sexual, violence, self-harm).
MODERATION_INPUT_TYPES: dict[str, list[str]] = {
    "harassment": ["text"],
    "harassment/threatening": ["text"],
    "hate": ["text"],
    "hate/threatening": ["text"],
    "illicit": ["text"],
    "illicit/violent": ["text"],
    "self-harm": ["text", "image"],
    "self-harm/intent": ["text", "image"],
    "self-harm/instructions": ["text", "image"],
    "sexual": ["text", "image"],
    "sexual/minors": ["text"],
    "violence": ["text", "image"],
    "violence/graphic": ["text", "image"],
}


def moderation(
    scores: dict[str, float] | None = None,
    *,
    input_type: Literal["text", "image"] = "text",
    model: str = "omni-moderation-latest",
    flag_at: float = 0.5,
) -> Reply:
    """A 200 /v1/moderations answer for one input of `input_type`: `scores` by category (others 0.0),
    applied input types as omni-moderation gives them, `flagged` for any score of at least `flag_at`."""
    given = scores or {}
    unknown = sorted(set(given) - set(MODERATION_INPUT_TYPES))
    if unknown:
        raise ValueError(f"not omni-moderation categories: {unknown}")
    applied = {c: [input_type] if input_type in types else [] for c, types in MODERATION_INPUT_TYPES.items()}
    all_scores = {c: float(given.get(c, 0.0)) for c in MODERATION_INPUT_TYPES}
    categories = {c: s >= flag_at for c, s in all_scores.items()}
    return Reply(
        body={
            "id": "modr-fake",
            "model": model,
            "results": [
                {
                    "flagged": any(categories.values()),
                    "categories": categories,
                    "category_scores": all_scores,
                    "category_applied_input_types": applied,
                }
            ],
        }
    )


def image_generation(
    image: bytes | str | None = None, *, url: str | None = None, model: str = "gpt-image-1", size: str = "1024x1024"
) -> Reply:
    """A 200 images.generate answer with one image: `image` as PNG bytes or base64 text (`b64_json`), or a `url`.

    Shaped like `model` answers: GPT image models add output_format, size, quality and token usage;
    DALL-E models add a revised_prompt.
    """
    if (image is None) == (url is None):
        raise ValueError("give the image (bytes or base64 text) or a url, not both or neither")
    item: dict[str, Any] = {"url": url} if url is not None else {}
    if image is not None:
        item["b64_json"] = base64.b64encode(image).decode("ascii") if isinstance(image, bytes) else image
    body: dict[str, Any] = {"created": 1_700_000_000, "data": [item]}
    if model.startswith("dall-e"):
        item["revised_prompt"] = "a revised prompt"
    else:
        body |= {
            "output_format": "png",
            "size": size,
            "quality": "medium",
            "usage": {
                "input_tokens": 20,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": 20},
                "output_tokens": 1056,
                "total_tokens": 1076,
            },
        }
    return Reply(body=body)


def api_error(
    status: int, message: str, *, code: str | None = None, error_type: str = "invalid_request_error", **headers: str
) -> Reply:
    """An error answer shaped like OpenAI's (`{"error": {...}}`); header names use _ for -."""
    return Reply(
        status=status,
        body={"error": {"message": message, "type": error_type, "param": None, "code": code}},
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


VideoStatus = Literal["queued", "in_progress", "completed", "failed"]


def video_job(
    video_id: str,
    status: VideoStatus,
    *,
    progress: int | None = None,
    error: tuple[str, str] | None = None,
    model: str = "sora-2",
    seconds: str = "4",
    size: str = "1280x720",
) -> Reply:
    """A 200 video job (`/v1/videos` create and retrieve); `error` is (code, message) for a failed job."""
    done = status in ("completed", "failed")
    return Reply(
        body={
            "id": video_id,
            "object": "video",
            "model": model,
            "status": status,
            "progress": progress if progress is not None else (100 if done else 0),
            "created_at": 1_700_000_000,
            "completed_at": 1_700_000_060 if done else None,
            "expires_at": None,
            "prompt": None,
            "remixed_from_video_id": None,
            "seconds": seconds,
            "size": size,
            "error": {"code": error[0], "message": error[1]} if error else None,
        }
    )


def video_content(data: bytes, *, content_type: str = "video/mp4", cut_after: int | None = None) -> Reply:
    """A 200 binary answer (`/v1/videos/{id}/content`); `cut_after` drops the connection after that many bytes."""
    return Reply(body=data, content_type=content_type, cut_after=cut_after)


def video_deleted(video_id: str) -> Reply:
    """A 200 answer to DELETE /v1/videos/{id}."""
    return Reply(body={"id": video_id, "object": "video.deleted", "deleted": True})


class FakeOpenAIServer(ScriptedServer):
    """A loopback OpenAI-compatible server on a free port answering with scripted replies."""

    thread_name = "fake-openai"
    base_path = "/v1"

    def unscripted(self, request: RecordedRequest) -> Reply:
        """An OpenAI-shaped 599 naming the request."""
        return api_error(599, f"fake server: no scripted reply for {request.method} {request.path}")
