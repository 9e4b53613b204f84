"""Fan-out on write: a post is written into every follower's feed, 25 items per BatchWriteItem.

A job reads the author's followers page by page and after each page saves where it got to
(`fanout#<job id>`, `cursor`): a retry (a crash, a timeout, throttling) starts after the last page written,
not from the start. Feed items are keyed by the post, so a page written twice is the same items.

A post with more followers than `fanout_child_size` is split: the first job walks the follower ids and queues
one child job per `fanout_child_size` followers (`start_after` the previous child's last follower), each under
an idempotency key of the post and its start, so a retried split queues no child twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from offload.jobs.context import JobContext
from offload.packs.social.store import SocialStore, now_iso

if TYPE_CHECKING:
    from offload.runtime import Runtime


def split_into_children(store: SocialStore, rt: Runtime, post: dict[str, Any], child_size: int) -> list[str]:
    """Queue one child job per `child_size` followers when there are more than that; [] when there aren't."""
    from offload.jobs.enqueue import enqueue

    followers = f"followers#{post['author_id']}"
    first, more = store.page(followers, limit=child_size)
    if more is None or not first:
        return []
    children: list[str] = []
    start: str | None = None
    while True:
        children.append(
            enqueue(
                "social.feed_update",
                {"post_id": post["content_id"], "start_after": start, "max_followers": child_size},
                idempotency_key=f"feed:{post['content_id']}:{start or '^'}",
                runtime=rt,
            )
        )
        rows, more = store.page(followers, limit=child_size, start_after=start)
        if more is None:
            return children
        start = rows[-1]["sk"]
        # A last page that is exactly full says "maybe more"; look before queueing an empty child.
        if not store.page(followers, limit=1, start_after=start)[0]:
            return children


def fan_out(
    store: SocialStore,
    ctx: JobContext,
    post: dict[str, Any],
    *,
    page_size: int,
    start_after: str | None,
    limit: int | None,
) -> dict[str, Any]:
    """Write the post into the feeds of its author's followers (after `start_after`, at most `limit`)."""
    followers = f"followers#{post['author_id']}"
    saved = store.get(f"fanout#{ctx.job_id}", "cursor")
    cursor = saved["cursor"] if saved else start_after
    written = int(saved["written"]) if saved else 0
    calls = 0
    sort_key = f"{post['updated_at']}#{post['content_id']}"
    while limit is None or written < limit:
        size = page_size if limit is None else min(page_size, limit - written)
        rows, more = store.page(followers, limit=size, start_after=cursor)
        if rows:
            items = [
                {"pk": f"feed#{r['sk']}", "sk": sort_key, "post_id": post["content_id"], "author_id": post["author_id"]}
                for r in rows
            ]
            calls += store.put_many(items, what="feed items")
            written += len(rows)
            cursor = rows[-1]["sk"]
            store.put(
                {"pk": f"fanout#{ctx.job_id}", "sk": "cursor", "cursor": cursor, "written": written, "at": now_iso()}
            )
            if limit:
                ctx.update_progress(min(100, round(100 * written / limit)))
        if more is None:
            break
    return {"post_id": post["content_id"], "written": written, "batch_calls": calls, "last_follower": cursor}
