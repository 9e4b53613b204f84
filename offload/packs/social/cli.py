"""`offload social ...`: seed follows, posts and engagement, post (fan-out), show trending and a feed."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from offload.cli import render
from offload.cli.errors import fail
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.jobs.enqueue import enqueue
from offload.packs.social.settings import store_of

app = typer.Typer(
    name="social", help="Social: trending, feeds (fan-out on write), search indexing.", no_args_is_help=True
)
KINDS = ("view", "like", "comment", "share")


@app.command()
def seed(
    ctx: typer.Context,
    authors: Annotated[int, typer.Option(min=1, help="Authors (author-1 ...), one post each.")] = 3,
    followers: Annotated[int, typer.Option(min=0, help="Followers of each author (user-1 ...).")] = 50,
    events: Annotated[int, typer.Option(min=0, help="Engagement events over the last week.")] = 200,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 7,
) -> None:
    """Authors with posts and followers, and random engagement events on the posts."""
    store = store_of(runtime_of(ctx))
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    for a in range(1, authors + 1):
        store.add_content(f"post-{a}", f"author-{a}", f"Post {a} by author {a}: notes on topic {a}")
        store.add_followers(f"author-{a}", [f"user-{n}" for n in range(1, followers + 1)])
    store.record_events(
        [
            (f"post-{rng.randint(1, authors)}", rng.choice(KINDS), now - timedelta(hours=rng.uniform(0, 24 * 7)))
            for _ in range(events)
        ]
    )
    render.stdout.print(f"{authors} post(s), {authors * followers} follow(s), {events} event(s)")


@app.command()
def post(
    ctx: typer.Context,
    post_id: Annotated[str, typer.Argument()],
    author_id: Annotated[str, typer.Argument()],
    text: Annotated[str, typer.Argument()],
) -> None:
    """Publish (or edit) a post and queue its fan-out to the author's followers."""
    rt = runtime_of(ctx)
    store_of(rt).add_content(post_id, author_id, text)
    render.emit_json({"post_id": post_id, "jobId": enqueue("social.feed_update", {"post_id": post_id}, runtime=rt)})


@app.command()
def trending(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The latest trending list (run `offload local trigger weekly-trending` or queue social.trending)."""
    latest = store_of(runtime_of(ctx)).get("trending", "latest")
    if latest is None:
        fail("no trending list yet: queue one with `offload jobs add social.trending`")
    if as_json:
        render.emit_json(json.loads(json.dumps(latest, default=float)))  # scores are Decimals in DynamoDB
        return
    render.stdout.print(f"trending at {latest['generated_at'][:19]} from {latest['events']} event(s)")
    table = Table("rank", "content", "score", "events")
    for item in latest["items"]:
        table.add_row(str(item["rank"]), item["content_id"], f"{float(item['score']):.3f}", str(item["events"]))
    render.stdout.print(table)


@app.command()
def feed(ctx: typer.Context, user_id: Annotated[str, typer.Argument()], as_json: JsonOption = False) -> None:
    """A user's feed, newest first."""
    items = store_of(runtime_of(ctx)).feed(user_id)
    if as_json:
        render.emit_json(items)
        return
    table = Table("post", "author", "at")
    for item in items:
        table.add_row(item["post_id"], item["author_id"], item["sk"].split("#")[0][:19])
    render.stdout.print(table)
