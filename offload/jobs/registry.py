"""Find a job type's processor function and its payload model, from the catalog's dotted path."""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from offload.catalog import Catalog, CatalogError, import_object
from offload.errors import NonRetryableError


class PayloadError(NonRetryableError):
    """The job's data does not match its type's payload model."""


@dataclass(frozen=True)
class Processor:
    """A job type's function and the pydantic model its data must satisfy."""

    func: Callable[..., Any]
    payload_model: type[BaseModel]


_cache: dict[str, Processor] = {}


def load_processor(catalog: Catalog, type_name: str) -> Processor:
    """Import the processor named by the catalog; the error says what is wrong with the entry."""
    path = catalog.job_type(type_name).processor
    if path in _cache:
        return _cache[path]
    module_name, _, func_name = path.partition(":")
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise TypeError(f"job type {type_name!r}: {module_name} has no function {func_name!r}; fix the processor path")
    params = list(inspect.signature(func).parameters)
    try:
        hints = typing.get_type_hints(func)
    except NameError as exc:  # an annotation names something only imported under TYPE_CHECKING
        raise TypeError(
            f"job type {type_name!r}: {path}'s annotations can't be resolved ({exc}): import the payload model "
            "and JobContext at run time, not under `if TYPE_CHECKING:`"
        ) from None
    model = hints.get(params[0]) if params else None
    if len(params) != 2 or not (inspect.isclass(model) and issubclass(model, BaseModel)):
        raise TypeError(
            f"job type {type_name!r}: {path} must be `def f(data: SomeModel, ctx: JobContext)` "
            "with a pydantic model as the first parameter's annotation"
        )
    _cache[path] = Processor(func=func, payload_model=model)
    return _cache[path]


def validate_payload(catalog: Catalog, type_name: str, data: Any) -> BaseModel:
    """The data parsed into its model, or PayloadError naming each bad field and value."""
    model = load_processor(catalog, type_name).payload_model
    unknown = _unknown_fields(model, data)
    if unknown:
        given = "; ".join(f"data.{name}: unknown field (got {data[name]!r:.60})" for name in unknown)
        raise PayloadError(
            f"invalid payload for {type_name!r}: {given}; its fields are {', '.join(model.model_fields) or 'none'} "
            "(a payload model that takes any field says `model_config = ConfigDict(extra='allow')`)"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PayloadError(describe_validation_error(type_name, exc)) from None


def _unknown_fields(model: type[BaseModel], data: Any) -> list[str]:
    """Top-level keys the model has no field for, unless its config says what to do with extras
    (`extra="allow"` keeps them, `"ignore"` drops them on purpose, `"forbid"` lets pydantic refuse)."""
    if model.model_config.get("extra") is not None or not isinstance(data, dict):
        return []
    known = set(model.model_fields)
    for field in model.model_fields.values():
        known.update(a for a in (field.alias, field.validation_alias) if isinstance(a, str))
    return sorted(str(k) for k in data if k not in known)


def describe_validation_error(type_name: str, exc: ValidationError) -> str:
    """One line per problem: where, what was given, what was expected."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(the whole payload)"
        given = err.get("input")
        shown = "" if err["type"] == "missing" else f" (got {given!r:.60})"
        problems.append(f"data.{where}: {err['msg']}{shown}" if where[0] != "(" else f"{where}: {err['msg']}{shown}")
    return f"invalid payload for {type_name!r}: " + "; ".join(problems)


def verify_catalog(catalog: Catalog, path: str) -> None:
    """Import every processor and hook the catalog names; the first problem is one CatalogError line.

    Synth and `offload local up` call this, so a typo in an app's catalog stops them with the
    app's module, the job type and the fix, not at the first job.
    """
    for jt in catalog.job_types:
        try:
            load_processor(catalog, jt.name)
        except ImportError as exc:
            raise CatalogError(
                f"catalog {path!r}: job type {jt.name!r}: processor {jt.processor!r} does not import ({exc}); "
                "fix the path, or install the package that holds it"
            ) from None
        except (TypeError, AttributeError) as exc:
            raise CatalogError(f"catalog {path!r}: {exc}") from None
    for pack in catalog.packs:
        for hook in (*pack.message_kinds, *pack.on_finish, *(p for p in (pack.cli, pack.infra) if p)):
            try:
                import_object(hook, f"pack {pack.name!r} hook")
            except CatalogError as exc:
                raise CatalogError(f"catalog {path!r}: {exc}") from None
