"""Request validation against botocore's SageMaker service model, as the service does it.

Nothing about a member is written here by hand: required members, JSON types, string
lengths, numeric ranges, list and map sizes, enums and patterns all come from the shapes
that ``botocore`` ships, so the emulator refuses exactly what the model says AWS refuses
and follows the model when botocore is upgraded.

Two kinds of refusal, as the real service makes them:

* a member of the wrong JSON type cannot even be read: ``SerializationException``;
* a readable request that breaks a constraint: ``ValidationException`` whose message has
  AWS's form, naming each offending member by its lowerCamelCase path
  (``1 validation error detected: Value 'x' at 'resourceConfig.instanceType' failed to
  satisfy constraint: Member must satisfy enum value set: [...]``).

Unknown members are ignored, as the JSON protocol does for forward compatibility.

NB: botocore's client-side ``ParamValidator`` checks required members, types and minimums
before a request leaves boto3; it does not check maximums, enums or patterns, and it works on
Python values rather than on the JSON wire form, so the server needs its own walk anyway.
Patterns are Java regular expressions with ``\\p{L}``-style classes, which the ``regex``
package understands and ``re`` does not; they are matched against the whole value, as AWS
anchors them.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any, Final

import regex
from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    StringShape,
    StructureShape,
)

from sagemaker_operator.emulator import protocol

logger = logging.getLogger(__name__)

# Java spells characters beyond the BMP as surrogate pairs inside a class; Python strings hold
# whole code points, so the pair range becomes a plain code-point range.
_JAVA_SURROGATE_RANGE: Final = r"\uD800\uDC00-\uDBFF\uDFFF"
_ASTRAL_RANGE: Final = r"\U00010000-\U0010FFFF"

_MAX_SHOWN: Final = 80  # characters of an offending value echoed back, as AWS truncates too


def member_path(parent: str, member: str) -> str:
    """AWS's path form: members in lowerCamelCase, joined by dots."""
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _show(value: Any) -> str:
    if value is None:
        return "null"
    text = value if isinstance(value, str) else str(value)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return f"'{text}'"


class Validator:
    """Checks requests (and, in tests, responses) against the model's shapes."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self._patterns: dict[str, Callable[[str], Any] | None] = {}

    def validate_request(self, operation: OperationModel, params: dict[str, Any]) -> None:
        """Raise :class:`protocol.ApiError` if ``params`` (the JSON body) breaks the model."""
        if operation.input_shape is None:
            return
        self.raise_for(self.problems(operation.input_shape, params))

    @staticmethod
    def raise_for(problems: tuple[list[str], list[str]]) -> None:
        type_errors, constraint_errors = problems
        if type_errors:
            raise protocol.serialization_error(type_errors[0])
        if constraint_errors:
            n = len(constraint_errors)
            noun = "error" if n == 1 else "errors"
            raise protocol.validation_error(
                f"{n} validation {noun} detected: " + "; ".join(constraint_errors)
            )

    def problems(self, shape: Shape, value: Any, path: str = "") -> tuple[list[str], list[str]]:
        """Type errors and constraint errors of ``value`` against ``shape``, in order found."""
        type_errors: list[str] = []
        constraint_errors: list[str] = []
        self._check(shape, value, path, type_errors, constraint_errors)
        return type_errors, constraint_errors

    def _check(
        self, shape: Shape, value: Any, path: str, types: list[str], constraints: list[str]
    ) -> None:
        if value is None:  # null is absence in JSON 1.1; "required" is the parent's concern
            return
        kind = shape.type_name
        where = path or "request"
        if kind == "structure":
            assert isinstance(shape, StructureShape)
            if not isinstance(value, dict):
                types.append(f"Expected an object at '{where}'.")
                return
            for name in shape.required_members:
                if value.get(name) is None:
                    constraints.append(
                        f"Value null at '{member_path(path, name)}' failed to satisfy "
                        "constraint: Member must not be null"
                    )
            for name, member in shape.members.items():
                if name in value:
                    self._check(member, value[name], member_path(path, name), types, constraints)
        elif kind in ("list", "map"):
            assert isinstance(shape, ListShape | MapShape)
            if not isinstance(value, list if kind == "list" else dict):
                types.append(
                    f"Expected {'a list' if kind == 'list' else 'an object'} at '{where}'."
                )
                return
            self._length(shape, value, len(value), path, constraints)
            if isinstance(shape, ListShape):
                for i, item in enumerate(value, start=1):
                    self._check(shape.member, item, f"{path}.{i}.member", types, constraints)
            elif isinstance(value, dict):
                for key, item in value.items():
                    self._check(shape.key, key, f"{path}.key", types, constraints)
                    self._check(shape.value, item, f"{path}.{key}", types, constraints)
        elif kind == "string":
            if not isinstance(value, str):
                types.append(f"Expected a string at '{where}', got {_show(value)}.")
                return
            enum = shape.enum if isinstance(shape, StringShape) else []
            if enum and value not in enum:
                constraints.append(
                    f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
                    f"Member must satisfy enum value set: [{', '.join(enum)}]"
                )
                return
            self._length(shape, value, len(value), path, constraints)
            pattern = shape.metadata.get("pattern")
            if pattern is not None and not self._matches(pattern, value):
                constraints.append(
                    f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
                    f"Member must satisfy regular expression pattern: {pattern}"
                )
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                types.append(f"Expected an integer at '{where}', got {_show(value)}.")
                return
            self._range(shape, value, path, constraints)
        elif kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                types.append(f"Expected a number at '{where}', got {_show(value)}.")
                return
            self._range(shape, value, path, constraints)
        elif kind == "boolean":
            if not isinstance(value, bool):
                types.append(f"Expected a boolean at '{where}', got {_show(value)}.")
        elif kind == "timestamp":
            if parse_timestamp(value) is None:
                types.append(f"Expected a timestamp at '{where}', got {_show(value)}.")
        elif kind == "blob" and not isinstance(value, str):
            types.append(f"Expected base64 text at '{where}'.")

    @staticmethod
    def _length(shape: Shape, value: Any, length: int, path: str, constraints: list[str]) -> None:
        shown = _show(value) if isinstance(value, str) else "'[...]'"
        _bounded(shape, shown, length, "length", path, constraints)

    @staticmethod
    def _range(shape: Shape, value: float, path: str, constraints: list[str]) -> None:
        _bounded(shape, _show(value), value, "value", path, constraints)

    def _matches(self, pattern: str, value: str) -> bool:
        try:
            fullmatch = self._patterns[pattern]
        except KeyError:
            fullmatch = self._patterns[pattern] = _compile(pattern)
        return fullmatch is None or fullmatch(value) is not None


def _compile(pattern: str) -> Callable[[str], Any] | None:
    try:
        return regex.compile(pattern.replace(_JAVA_SURROGATE_RANGE, _ASTRAL_RANGE)).fullmatch
    except regex.error:
        # NB: better to accept a value than to refuse every request to an operation because
        # one pattern in the model is written in a dialect we do not read.
        logger.warning(
            "Pattern %r of the SageMaker model is not checked: it does not compile.", pattern
        )
        return None


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from a JSON timestamp: a number, or ISO 8601 text as AWS also accepts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed.timestamp()
    return None


def _bounded(
    shape: Shape, shown: str, measure: float, what: str, path: str, constraints: list[str]
) -> None:
    """SageMaker's words for a length or value outside the shape's min/max."""
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and measure < low:
        bound = f"greater than or equal to {low}"
    elif high is not None and measure > high:
        bound = f"less than or equal to {high}"
    else:
        return
    constraints.append(
        f"Value {shown} at '{path}' failed to satisfy constraint: Member must have {what} {bound}"
    )
