"""`offload init DIR`: scaffold an app that keeps its jobs in its own repo and depends on offload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer

from offload.cli.errors import fail
from offload.cli.render import stdout

TEMPLATE = "init_template/app"
APP_DIR_PLACEHOLDER = "__app__"
# Files whose names would be special inside the offload package are stored under another name.
RENAMED = {"gitignore": ".gitignore"}
# Short enough that the stack name made from it fits the images pack's media bucket name (29 characters).
NAME = re.compile(r"^[a-z][a-z0-9_]{0,27}$")


def offload_source() -> str | None:
    """Where the scaffold installs offload from: this checkout when offload runs from one (nothing is published)."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "offload" / "catalog.py").is_file():
        return str(root)
    return None


def scaffold(target: Path, name: str, offload: str) -> list[Path]:
    """Write the app's files into `target` (which must be empty or new); returns them, relative."""
    if not NAME.match(name):
        raise ValueError(
            f"app name {name!r} must be a Python package name of at most 28 characters: lower-case letters, "
            "digits and '_', starting with a letter (pass --name)"
        )
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} is not empty: pick a new directory, or empty this one first")
    values = {"{{app}}": name, "{{App}}": "".join(p.capitalize() for p in name.split("_")), "{{offload}}": offload}
    written: list[Path] = []
    root = resources.files("offload").joinpath(TEMPLATE)
    for source in _walk(root):
        relative = Path(str(source)).relative_to(Path(str(root)))
        parts = [name if part == APP_DIR_PLACEHOLDER else RENAMED.get(part, part) for part in relative.parts]
        dest = target.joinpath(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text()
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        dest.write_text(text)
        written.append(dest.relative_to(target))
    return sorted(written)


def _walk(node: Traversable) -> Iterator[Traversable]:
    for child in node.iterdir():
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            yield from _walk(child)
        else:
            yield child


def init(
    directory: Annotated[Path, typer.Argument(help="The new app's directory (created; must be empty).")],
    name: Annotated[str | None, typer.Option(help="The app's package name (default: the directory's name).")] = None,
    offload: Annotated[
        str | None,
        typer.Option(help="Where the app's `make setup` installs offload from: a checkout path or a wheel."),
    ] = None,
) -> None:
    """Scaffold an app: pyproject, cdk.json, app.py, a jobs package with an example job and its test."""
    app_name = name or directory.resolve().name.replace("-", "_").lower()
    source = offload or offload_source()
    if source is None:
        fail(
            "offload is not running from a source checkout, and no package named offload is published: pass "
            "--offload with the path of an offload checkout or a wheel built from one"
        )
    try:
        files = scaffold(directory, app_name, source)
    except ValueError as exc:
        fail(str(exc))
    stdout.print(f"[green]created[/] {app_name} in {directory}: " + ", ".join(str(f) for f in files))
    stdout.print(f"next: cd {directory} && make test   # then `make local` to run it on this machine")
