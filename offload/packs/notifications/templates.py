"""Email templates: Jinja2, from the app's template folder first, then the pack's built-in ones.

A template `NAME` is three files: `NAME.subject.txt`, `NAME.html` and `NAME.txt` (the HTML and
plain-text parts). HTML is autoescaped (a recipient's name can't inject markup); every variable is
strict (a missing one is a clear failed job naming it, never an empty gap in a sent email).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from offload.errors import NonRetryableError

BUILT_IN = Path(__file__).parent / "templates"
PARTS = ("subject.txt", "html", "txt")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@lru_cache(maxsize=8)
def environment(app_folder: str | None) -> jinja2.Environment:
    """One Jinja2 environment per template folder (templates compile once per process)."""
    folders = [str(Path(app_folder))] if app_folder else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(BUILT_IN)]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def available(app_folder: str | None) -> list[str]:
    """The template names both folders offer (those with all three parts)."""
    names = {name.rsplit(".", 2)[0] for name in environment(app_folder).list_templates() if name.endswith(".html")}
    env = environment(app_folder)
    listed = set(env.list_templates())
    return sorted(n for n in names if all(f"{n}.{part}" in listed for part in PARTS))


def render(name: str, variables: dict[str, Any], app_folder: str | None = None) -> RenderedEmail:
    """Subject, HTML and text of template `name` with `variables`; a NonRetryableError naming what is wrong."""
    env = environment(app_folder)
    parts: list[str] = []
    for part in PARTS:
        file = f"{name}.{part}"
        try:
            parts.append(env.get_template(file).render(**variables))
        except jinja2.TemplateNotFound:
            where = f"{app_folder} or the built-in templates" if app_folder else "the built-in templates"
            raise NonRetryableError(
                f"email template {name!r} has no {file} in {where}; templates there: "
                f"{', '.join(available(app_folder)) or 'none'}"
            ) from None
        except jinja2.UndefinedError as exc:
            raise NonRetryableError(
                f"email template {name!r} ({file}) needs a variable that was not given: {exc.message}; "
                f"pass it in the job's vars (given: {', '.join(sorted(variables)) or 'none'})"
            ) from None
        except jinja2.TemplateError as exc:
            raise NonRetryableError(f"email template {name!r} ({file}) does not render: {exc}") from None
    subject = " ".join(parts[0].split())
    if not subject:
        raise NonRetryableError(f"email template {name!r} renders an empty subject ({name}.subject.txt)")
    return RenderedEmail(subject=subject, html=parts[1], text=parts[2])
