"""``sagemaker-operator run``'s flags, generated from :class:`~sagemaker_operator.config.Settings`.

One click option per field, so a new setting gets its flag by being declared: ``--<field-name>``
with dashes (``--x/--no-x`` for a bool), or the spelling a field names in
``json_schema_extra={"cli_flag": ...}``; its help is the field's description and its
environment twin. The click type follows the annotation: ``str``, ``int``, ``float``, ``bool``,
a ``Literal`` (a choice) or ``list[str]`` (a repeatable option), each optionally ``| None``.

Every option defaults to "not given" and only given ones reach ``Settings(**overrides)``, so
pydantic-settings keeps the precedence: a flag wins over the environment, the environment over
the field's default. (click never reads the environment itself.)
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import click
import pydantic
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from sagemaker_operator.config import Settings

FLAG_KEY = "cli_flag"
_Command = TypeVar("_Command", bound=Callable[..., Any])


def env_name(field: str) -> str:
    """The field's environment twin, e.g. ``SAGEMAKER_OPERATOR_POLL_INTERVAL_SECONDS``."""
    return f"{Settings.model_config.get('env_prefix', '')}{field.upper()}"


def flag(name: str, field: FieldInfo) -> str:
    """The field's flag declaration: its ``cli_flag``, else ``--<name>`` (``--x/--no-x``)."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get(FLAG_KEY), str):
        return str(extra[FLAG_KEY])
    dashed = name.replace("_", "-")
    return f"--{dashed}/--no-{dashed}" if _base(name, field.annotation) is bool else f"--{dashed}"


def option(name: str, field: FieldInfo) -> Callable[[_Command], _Command]:
    """The click option of one field; unset, it yields None (or ``()`` if repeatable)."""
    declaration = flag(name, field)
    annotation = _base(name, field.annotation)
    shown = _shown_default(declaration, field)
    extra = f"env var: {env_name(name)}" + (f"; default: {shown}" if shown is not None else "")
    help_text = f"{field.description or ''}  [{extra}]".lstrip()
    attributes: dict[str, Any] = {"default": None, "help": help_text}
    if annotation is bool:
        attributes["is_flag"] = True
    elif get_origin(annotation) is Literal:
        attributes["type"] = click.Choice([str(value) for value in get_args(annotation)])
    elif get_origin(annotation) is list:
        (item,) = get_args(annotation)
        attributes.update(type=_scalar(name, item), multiple=True, default=())
    else:
        attributes["type"] = _scalar(name, annotation)
    return click.option(declaration, name, **attributes)


def settings_options(command: _Command) -> _Command:
    """Decorate a click command with one option per Settings field, in the fields' order."""
    for name, field in reversed(Settings.model_fields.items()):
        command = option(name, field)(command)
    return command


def overrides(options: Mapping[str, object]) -> dict[str, Any]:
    """The given settings among a command's options: unset ones (None, ``()``) are left out."""
    given: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = options.get(name)
        if value is None or value == ():
            continue
        given[name] = list(value) if isinstance(value, tuple) else value
    return given


def settings(options: Mapping[str, object]) -> Settings:
    """Settings from the given flags over the environment; an invalid value is a usage error."""
    try:
        return Settings(**overrides(options))
    except pydantic.ValidationError as error:
        lines = [_problem(problem) for problem in error.errors()]
        raise click.UsageError("invalid settings:\n  " + "\n  ".join(lines)) from error


def _problem(problem: ErrorDetails) -> str:
    """One validation error, named by the field's flag and environment twin."""
    name = str(problem["loc"][0]) if problem["loc"] else ""
    field = Settings.model_fields.get(name)
    if field is None:
        return f"{name or 'settings'}: {problem['msg']}"
    return f"{flag(name, field).partition('/')[0]} / {env_name(name)}: {problem['msg']}"


def _base(name: str, annotation: Any) -> Any:
    """The annotation without its ``| None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"Settings.{name}: no flag for the union {annotation!r}")
        return rest[0]
    return annotation


def _scalar(name: str, annotation: Any) -> click.ParamType[Any]:
    """The click type of a plain annotation; a type with none fails at import, not at run."""
    scalars = {str: click.STRING, int: click.INT, float: click.FLOAT}
    if annotation not in scalars:
        raise TypeError(f"Settings.{name}: no flag type for {annotation!r}")
    return scalars[annotation]


def _shown_default(declaration: str, field: FieldInfo) -> str | None:
    """The default as ``--help`` shows it: none for None or a factory's; a bool's flag name."""
    default = field.get_default(call_default_factory=True)
    if default is None or default == []:
        return None
    if isinstance(default, bool):
        on, _, off = declaration.partition("/")
        return (on if default else off).lstrip("-")
    return str(default)
